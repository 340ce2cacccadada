//! The GLEIF Golden Copy (LEI-CDF as CSV, columns named by the flattened XML paths) as a
//! file register: the full file streamed row by row into the in-memory index, delta files
//! applied on top, all read again only when a file changed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::courts::Courts;
use super::file::{load_cached, FileRegister};
use super::index::RecordIndex;
use super::RegisterError;
use crate::config::GoldenCopyConfig;
use crate::domain::model::{Field, Record};
use crate::domain::packed::Packer;

const ADDRESS: &[(&str, Field)] = &[
    ("PostalCode", Field::Postcode),
    ("City", Field::City),
    ("Country", Field::Country),
];
const HQ_ADDRESS: &[(&str, Field)] = &[
    ("PostalCode", Field::HqPostcode),
    ("City", Field::HqCity),
    ("Country", Field::HqCountry),
];

/// Single-valued columns and their canonical field.
const COLUMNS: &[(&str, Field)] = &[
    ("Entity.LegalName", Field::LegalName),
    ("Entity.LegalForm.EntityLegalFormCode", Field::LegalFormCode),
    ("Entity.LegalForm.OtherLegalForm", Field::LegalForm),
    (
        "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
        Field::RegisterNumber,
    ),
    ("Entity.SuccessorEntity.SuccessorLEI", Field::SuccessorLei),
    (
        "Entity.SuccessorEntity.SuccessorEntityName",
        Field::SuccessorName,
    ),
    ("Entity.LegalAddress.AddressNumber", Field::HouseNumber),
    ("Registration.LastUpdateDate", Field::RegisterUpdated),
];

const LEI: &str = "LEI";
const STATUS: &str = "Entity.EntityStatus";
const RA: &str = "Entity.RegistrationAuthority.RegistrationAuthorityID";

/// Where each column of a file goes.
struct Layout {
    lei: usize,
    single: Vec<(usize, Field)>,
    street: Vec<usize>,
    hq_street: Vec<usize>,
    /// (name column, type column)
    other_names: Vec<(usize, Option<usize>)>,
    status: Option<usize>,
    ra: Option<usize>,
}

/// Documented column prefixes; a header outside them is not a Golden Copy file.
fn documented(header: &str) -> bool {
    header == LEI || header.starts_with("Entity.") || header.starts_with("Registration.")
}

impl Layout {
    fn of(headers: &csv::StringRecord, path: &str) -> Result<Layout, String> {
        let unknown: Vec<&str> = headers.iter().filter(|h| !documented(h)).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{path}: columns {} are not Golden Copy (LEI-CDF) columns, which are `LEI`, `Entity.…` and `Registration.…`; is this the right file?",
                unknown.iter().take(5).map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        let at = |name: &str| headers.iter().position(|h| h == name);
        let lei = at(LEI).ok_or_else(|| format!("{path}: no `LEI` column"))?;
        at("Entity.LegalName").ok_or_else(|| format!("{path}: no `Entity.LegalName` column"))?;
        let mut single: Vec<(usize, Field)> = COLUMNS
            .iter()
            .filter_map(|(name, field)| Some((at(name)?, *field)))
            .collect();
        for (prefix, fields) in [
            ("Entity.LegalAddress.", ADDRESS),
            ("Entity.HeadquartersAddress.", HQ_ADDRESS),
        ] {
            single.extend(
                fields
                    .iter()
                    .filter_map(|(name, field)| Some((at(&format!("{prefix}{name}"))?, *field))),
            );
        }
        let street = |prefix: &str| -> Vec<usize> {
            std::iter::once(format!("{prefix}FirstAddressLine"))
                .chain((1..=3).map(|i| format!("{prefix}AdditionalAddressLine.{i}")))
                .filter_map(|c| at(&c))
                .collect()
        };
        let other_names = (1..)
            .map_while(|i| {
                let base = format!("Entity.OtherEntityNames.OtherEntityName.{i}");
                Some((at(&base)?, at(&format!("{base}.type"))))
            })
            .collect();
        Ok(Layout {
            lei,
            single,
            street: street("Entity.LegalAddress."),
            hq_street: street("Entity.HeadquartersAddress."),
            other_names,
            status: at(STATUS),
            ra: at(RA),
        })
    }

    fn record(&self, row: &csv::StringRecord, courts: &Courts) -> Option<Record> {
        let cell = |i: usize| row.get(i).map(str::trim).filter(|v| !v.is_empty());
        let lei = cell(self.lei)?;
        let mut r = Record::new(lei).with(Field::Lei, lei);
        for (i, field) in &self.single {
            if let Some(v) = cell(*i) {
                r.values.insert(*field, v.to_string());
            }
        }
        let joined = |cols: &[usize]| {
            let parts: Vec<&str> = cols.iter().filter_map(|i| cell(*i)).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        };
        if let Some(s) = joined(&self.street) {
            r.values.insert(Field::Street, s);
        }
        if let Some(s) = joined(&self.hq_street) {
            r.values.insert(Field::HqStreet, s);
        }
        let (mut previous, mut other) = (Vec::new(), Vec::new());
        for (name, kind) in &self.other_names {
            if let Some(n) = cell(*name) {
                match kind.and_then(cell) {
                    Some("PREVIOUS_LEGAL_NAME") => previous.push(n),
                    _ => other.push(n),
                }
            }
        }
        for (field, names) in [(Field::PreviousNames, previous), (Field::OtherNames, other)] {
            if !names.is_empty() {
                r.values.insert(field, names.join(" | "));
            }
        }
        if let Some(status) = self.status.and_then(cell) {
            r.values.insert(Field::Status, status.to_lowercase());
        }
        if let Some(court) = self.ra.and_then(cell).and_then(|ra| courts.name_of_ra(ra)) {
            r.values.insert(Field::RegisterCourt, court.clone());
        }
        Some(r)
    }
}

/// Streams `path`, handing every mapped row to `each`; the raw file is never held.
fn stream(path: &Path, courts: &Courts, mut each: impl FnMut(Record)) -> Result<u64, String> {
    let shown = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{shown}: cannot read the header row: {e}"))?
        .clone();
    let layout = Layout::of(&headers, &shown)?;
    let mut row = csv::StringRecord::new();
    let mut rows = 0;
    loop {
        match reader.read_record(&mut row) {
            Ok(false) => return Ok(rows),
            Ok(true) => {
                rows += 1;
                let line = row.position().map_or(0, |p| p.line());
                let record = layout
                    .record(&row, courts)
                    .ok_or_else(|| format!("{shown}, line {line}: empty `LEI`"))?;
                each(record);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(format!("{shown}, line {line}: {e}; is the file complete?"));
            }
        }
    }
}

pub fn load(name: &str, config: &GoldenCopyConfig) -> Result<FileRegister, RegisterError> {
    let bad = |problem: String| RegisterError::BadData {
        register: name.to_string(),
        problem,
    };
    let paths: Vec<&Path> = std::iter::once(config.path.as_path())
        .chain(config.deltas.iter().map(|p| p.as_path()))
        .collect();
    let index = load_cached(name, format!("{config:?}"), &paths, || {
        let courts = Courts::load(&config.courts);
        // Deltas are small: read them first, so the full file's rows they replace are
        // skipped while streaming and every record is held once.
        let mut newer: HashMap<String, Record> = HashMap::new();
        for delta in &config.deltas {
            stream(delta, &courts, |r| {
                newer.insert(r.id.clone(), r);
            })
            .map_err(bad)?;
        }
        let mut records = Packer::default();
        stream(&config.path, &courts, |r| {
            if !newer.contains_key(&r.id) {
                records.push(&r);
            }
        })
        .map_err(bad)?;
        let newer: BTreeMap<String, Record> = newer.into_iter().collect();
        for r in newer.values() {
            records.push(r);
        }
        Ok(RecordIndex::new(records.finish(), config.blocking.clone()))
    })?;
    Ok(FileRegister::from_index(name, index))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const HEADER: &str = "LEI,Entity.LegalName,Entity.OtherEntityNames.OtherEntityName.1,Entity.OtherEntityNames.OtherEntityName.1.type,Entity.LegalAddress.FirstAddressLine,Entity.LegalAddress.AdditionalAddressLine.1,Entity.LegalAddress.City,Entity.LegalAddress.Region,Entity.LegalAddress.Country,Entity.LegalAddress.PostalCode,Entity.HeadquartersAddress.FirstAddressLine,Entity.HeadquartersAddress.City,Entity.HeadquartersAddress.Country,Entity.HeadquartersAddress.PostalCode,Entity.LegalJurisdiction,Entity.LegalForm.EntityLegalFormCode,Entity.EntityStatus,Entity.RegistrationAuthority.RegistrationAuthorityID,Entity.RegistrationAuthority.RegistrationAuthorityEntityID,Registration.LastUpdateDate,Registration.RegistrationStatus";

    fn file(rows: &[&str]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "{HEADER}").unwrap();
        for r in rows {
            writeln!(f, "{r}").unwrap();
        }
        f
    }

    fn config(full: &Path, deltas: &[&Path]) -> GoldenCopyConfig {
        GoldenCopyConfig {
            path: full.to_path_buf(),
            deltas: deltas.iter().map(|p| p.to_path_buf()).collect(),
            courts: BTreeMap::new(),
            blocking: Default::default(),
        }
    }

    const FRAPORT: &str = "5299001ERX0K10IZUL40,Fraport AG Frankfurt Airport Services Worldwide,Flughafen Frankfurt/Main AG,PREVIOUS_LEGAL_NAME,Flughafen,Geb. 178,Frankfurt am Main,DE-HE,DE,60547,Flughafen,Frankfurt am Main,DE,60547,DE,6QQB,ACTIVE,RA000242,HRB 7042,2025-04-09T08:12:40Z,ISSUED";

    #[test]
    fn maps_the_documented_columns() {
        let f = file(&[FRAPORT]);
        let reg = load("gc-map", &config(f.path(), &[])).unwrap();
        let found = reg.index.candidates(
            crate::domain::model::EntityKind::Organisation,
            &Record::new("c").with(Field::Lei, "5299001ERX0K10IZUL40"),
        );
        let r = &found[0];
        let expect = [
            (
                Field::LegalName,
                "Fraport AG Frankfurt Airport Services Worldwide",
            ),
            (Field::PreviousNames, "Flughafen Frankfurt/Main AG"),
            (Field::Street, "Flughafen, Geb. 178"),
            (Field::City, "Frankfurt am Main"),
            (Field::Postcode, "60547"),
            (Field::Country, "DE"),
            (Field::HqCity, "Frankfurt am Main"),
            (Field::LegalFormCode, "6QQB"),
            (Field::Status, "active"),
            (Field::RegisterNumber, "HRB 7042"),
            (Field::RegisterCourt, "Frankfurt am Main"),
            (Field::RegisterUpdated, "2025-04-09T08:12:40Z"),
        ];
        for (field, value) in expect {
            assert_eq!(r.get(field), Some(value), "{field}");
        }
    }

    #[test]
    fn deltas_replace_rows_of_the_full_file() {
        let full = file(&[FRAPORT]);
        let delta = file(&[&FRAPORT
            .replace("ACTIVE", "INACTIVE")
            .replace("2025-04-09", "2026-11-20")]);
        let reg = load("gc-delta", &config(full.path(), &[delta.path()])).unwrap();
        let index = &reg.index;
        assert_eq!(index.len(), 1);
        let r = &index.candidates(
            crate::domain::model::EntityKind::Organisation,
            &Record::new("c").with(Field::Lei, "5299001ERX0K10IZUL40"),
        )[0];
        assert_eq!(r.get(Field::Status), Some("inactive"));
    }

    #[test]
    fn foreign_headers_and_cut_off_files_are_refused_clearly() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "id,name\n1,x").unwrap();
        let err = load("gc-foreign", &config(f.path(), &[]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`id`") && err.contains("Golden Copy"), "{err}");

        let f = file(&[FRAPORT, "529900GRZ2BQY5ZM9N49,PUMA SE"]);
        let err = load("gc-cut", &config(f.path(), &[]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
