"""Writes the small register files the examples in config/examples/ read, from the demo
reference register (config/demo/reference-organisations.csv, itself synthetic), so that
every example runs as it is against the demo CRM:
    python3 scripts/example-data.py
- data/firmen.csv: a German export (semicolon-separated, German headers);
- data/companies.jsonl: a purchased dump, one nested JSON object a line;
- data/lei2-golden-copy.csv: the entities with an LEI, in Golden Copy (LEI-CDF) columns."""
import csv, json, os

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "config", "examples", "data")
with open(os.path.join(ROOT, "config", "demo", "reference-organisations.csv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
os.makedirs(OUT, exist_ok=True)

with open(os.path.join(OUT, "firmen.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, delimiter=";")
    w.writerow(["Nummer", "Firma", "Strasse", "Hausnr", "PLZ", "Ort", "USt-IdNr"])
    for r in rows:
        w.writerow([r["register_id"], r["name"], r["street"], r["house_number"], r["postcode"],
                    r["city"], r["vat_id"]])

with open(os.path.join(OUT, "companies.jsonl"), "w", encoding="utf-8") as f:
    for r in rows:
        obj = {
            "company_id": r["register_id"],
            "name": r["name"],
            "address": {"street": r["street"], "number": r["house_number"], "zip": r["postcode"], "city": r["city"], "country": r["country"]},
            "vat": r["vat_id"] or None,
            "court": r["register_court"] or None,
            "register_no": r["register_number"] or None,
            "web": r["website"] or None,
        }
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")

STATUS = {"active": "ACTIVE"}
with open(os.path.join(OUT, "lei2-golden-copy.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["LEI", "Entity.LegalName", "Entity.LegalAddress.FirstAddressLine",
                "Entity.LegalAddress.City", "Entity.LegalAddress.Country",
                "Entity.LegalAddress.PostalCode", "Entity.LegalJurisdiction",
                "Entity.EntityStatus", "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
                "Registration.RegistrationStatus"])
    for r in rows:
        if not r["lei"]:
            continue
        street = f"{r['street']} {r['house_number']}".strip()
        w.writerow([r["lei"], r["name"], street, r["city"], r["country"], r["postcode"],
                    r["country"], STATUS.get(r["status"], "INACTIVE"), r["register_number"], "ISSUED"])
