//! A register held in a CSV file (a purchased dump, an export, the demo reference data),
//! read in full and indexed in memory for identifier lookups and blocking.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::index::RecordIndex;
use super::{BoxFuture, Lookup, Register, RegisterError};
use crate::config::FileRegisterConfig;
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::score::TermFrequencies;

pub struct FileRegister {
    name: String,
    index: RecordIndex,
}

impl FileRegister {
    pub fn load(name: &str, config: &FileRegisterConfig) -> Result<FileRegister, RegisterError> {
        let bad = |problem: String| RegisterError::BadData {
            register: name.to_string(),
            problem,
        };
        let path = config.path.display().to_string();
        let delimiter = u8::try_from(config.delimiter).map_err(|_| {
            bad(format!(
                "delimiter {:?} is not a single byte",
                config.delimiter
            ))
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_path(&config.path)
            .map_err(|e| {
                bad(format!(
                    "cannot read {path}: {e}; check [register.{name}].path"
                ))
            })?;
        let headers = reader
            .headers()
            .map_err(|e| bad(format!("{path}: cannot read the header row: {e}")))?
            .clone();
        let position = |column: &str| {
            headers
                .iter()
                .position(|h| h.trim() == column)
                .ok_or_else(|| {
                    bad(format!(
                        "{path} has no column `{column}`; its columns are: {}",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ))
                })
        };
        let id_at = position(&config.id_column)?;
        let mapped: Vec<(Field, usize)> = config
            .columns
            .iter()
            .map(|(field, column)| position(column).map(|i| (*field, i)))
            .collect::<Result<_, _>>()?;

        let mut records = Vec::new();
        let mut seen = BTreeSet::new();
        for row in reader.records() {
            let row = row.map_err(|e| {
                let line = e
                    .position()
                    .map_or(String::from("?"), |p| p.line().to_string());
                bad(format!("{path}, line {line}: {e}; fix or remove that row"))
            })?;
            let line = row.position().map_or(0, |p| p.line());
            let id = row.get(id_at).unwrap_or_default().trim();
            if id.is_empty() {
                return Err(bad(format!(
                    "{path}, line {line}: empty `{}`; every row needs an id",
                    config.id_column
                )));
            }
            if !seen.insert(id.to_string()) {
                return Err(bad(format!(
                    "{path}, line {line}: id `{id}` appears twice; ids must be unique"
                )));
            }
            let mut record = Record::new(id);
            for (field, at) in &mapped {
                if let Some(v) = row.get(*at).map(str::trim).filter(|v| !v.is_empty()) {
                    record.values.insert(*field, v.to_string());
                }
            }
            records.push(record);
        }
        Ok(FileRegister {
            name: name.to_string(),
            index: RecordIndex::new(records, config.blocking.clone()),
        })
    }
}

impl Register for FileRegister {
    fn name(&self) -> &str {
        &self.name
    }

    fn candidates<'a>(
        &'a self,
        kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>> {
        Box::pin(async move {
            records
                .iter()
                .map(|r| {
                    Ok(self
                        .index
                        .candidates(kind, r)
                        .into_iter()
                        .cloned()
                        .collect())
                })
                .collect()
        })
    }

    fn term_frequencies(&self, kind: EntityKind) -> Option<Arc<TermFrequencies>> {
        Some(self.index.term_frequencies(kind))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use super::*;

    fn config(path: &std::path::Path) -> FileRegisterConfig {
        FileRegisterConfig {
            path: path.to_path_buf(),
            id_column: "id".into(),
            delimiter: ',',
            blocking: Default::default(),
            columns: BTreeMap::from([
                (Field::LegalName, "name".to_string()),
                (Field::Postcode, "plz".to_string()),
                (Field::VatId, "vat".to_string()),
            ]),
        }
    }

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    #[test]
    fn finds_by_identifier_and_by_block() {
        let f = write("id,name,plz,vat\nR1,Alpha GmbH,10115,DE136695976\nR2,Beta AG,80331,\nR3,Gamma KG,20095,\n");
        let reg = FileRegister::load("t", &config(f.path())).unwrap();
        let by_vat = reg.index.candidates(
            EntityKind::Organisation,
            &Record::new("c").with(Field::VatId, "de 136 695 976"),
        );
        assert_eq!(
            by_vat.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["R1"]
        );
        let by_postcode_and_name = reg.index.candidates(
            EntityKind::Organisation,
            &Record::new("c")
                .with(Field::Postcode, "80331")
                .with(Field::LegalName, "Beta Handels AG"),
        );
        assert_eq!(by_postcode_and_name[0].id, "R2");
        let by_sound_and_area = reg.index.candidates(
            EntityKind::Organisation,
            &Record::new("c")
                .with(Field::LegalName, "Gama KG")
                .with(Field::Postcode, "20099"),
        );
        assert_eq!(by_sound_and_area[0].id, "R3");
        assert!(reg
            .index
            .candidates(
                EntityKind::Organisation,
                &Record::new("c").with(Field::LegalName, "Nobody")
            )
            .is_empty());
    }

    #[test]
    fn malformed_rows_name_the_line() {
        let f = write("id,name,plz,vat\nR1,Alpha GmbH,10115,\nR2,Beta AG\n");
        let err = FileRegister::load("t", &config(f.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_columns_list_the_real_ones() {
        let f = write("id,firma,plz,vat\n");
        let err = FileRegister::load("t", &config(f.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no column `name`") && err.contains("firma"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_and_empty_ids_are_refused() {
        let f = write("id,name,plz,vat\nR1,A,1,\nR1,B,2,\n");
        assert!(FileRegister::load("t", &config(f.path()))
            .err()
            .unwrap()
            .to_string()
            .contains("twice"));
        let f = write("id,name,plz,vat\n,A,1,\n");
        assert!(FileRegister::load("t", &config(f.path()))
            .err()
            .unwrap()
            .to_string()
            .contains("empty `id`"));
    }
}
