//! A register held in a local file (a purchased dump, an export, the demo reference data):
//! CSV or JSON Lines with a column mapping, streamed row by row into an in-memory index.
//! The index is kept for the life of the process and read again only when a file changed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tracing::{info, warn};

use super::index::RecordIndex;
use super::{BoxFuture, Lookup, Register, RegisterError};
use crate::config::{FileFormat, FileRegisterConfig};
use crate::domain::excerpt::{oversized, quoted};
use crate::domain::model::{EntityKind, Field, Record};
use crate::domain::packed::Packer;

pub struct FileRegister {
    name: String,
    pub(super) index: Arc<RecordIndex>,
}

/// What identifies a loaded index: the configuration it was read with and, per file, its
/// size and modification time.
type Fingerprint = (String, Vec<(PathBuf, u64, Option<SystemTime>)>);

/// Indexes loaded in this process, by register name.
static LOADED: Mutex<BTreeMap<String, (Fingerprint, Arc<RecordIndex>)>> =
    Mutex::new(BTreeMap::new());

fn fingerprint(name: &str, config: String, paths: &[&Path]) -> Result<Fingerprint, RegisterError> {
    let files = paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).map_err(|e| RegisterError::BadData {
                register: name.to_string(),
                problem: format!(
                    "cannot read {}: {e}; check [register.{name}] paths",
                    p.display()
                ),
            })?;
            Ok((p.to_path_buf(), meta.len(), meta.modified().ok()))
        })
        .collect::<Result<_, RegisterError>>()?;
    Ok((config, files))
}

/// The index of register `name`, loaded by `load` unless the same files, unchanged, were
/// loaded before with the same configuration.
pub fn load_cached(
    name: &str,
    config: String,
    paths: &[&Path],
    load: impl FnOnce() -> Result<RecordIndex, RegisterError>,
) -> Result<Arc<RecordIndex>, RegisterError> {
    // One load at a time: two jobs on one register, or the daemon's start check beside its
    // first pass, then read a file once and never hold two copies of it.
    static LOADING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    let print = fingerprint(name, config, paths)?;
    let lock = || LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((known, index)) = lock().get(name) {
        if *known == print {
            info!(
                register = name,
                records = index.len(),
                "register files unchanged; not read again"
            );
            return Ok(index.clone());
        }
    }
    // Drop the outdated index first, so a reload does not hold two copies at its peak.
    lock().remove(name);
    let started = Instant::now();
    let index = Arc::new(load()?);
    info!(
        register = name,
        records = index.len(),
        load_ms = started.elapsed().as_millis() as u64,
        "register loaded"
    );
    lock().insert(name.to_string(), (print, index.clone()));
    Ok(index)
}

impl FileRegister {
    pub fn from_index(name: &str, index: Arc<RecordIndex>) -> FileRegister {
        FileRegister {
            name: name.to_string(),
            index,
        }
    }

    pub fn load(name: &str, config: &FileRegisterConfig) -> Result<FileRegister, RegisterError> {
        let index = load_cached(
            name,
            format!("{config:?}"),
            &[&config.path],
            || match config.format {
                FileFormat::Csv => load_csv(name, config),
                FileFormat::Jsonl => load_jsonl(name, config),
            },
        )?;
        Ok(FileRegister::from_index(name, index))
    }
}

fn bad(name: &str, problem: String) -> RegisterError {
    RegisterError::BadData {
        register: name.to_string(),
        problem,
    }
}

/// Rows skipped for a value over `max_field_bytes`, told once per load.
#[derive(Default)]
struct Skipped {
    rows: u64,
    first: Option<(u64, String)>,
}

impl Skipped {
    /// Whether `record` (from `line`) is to be skipped.
    fn oversized(&mut self, config: &FileRegisterConfig, record: &Record, line: u64) -> bool {
        let values = std::iter::once(("id", record.id.as_str()))
            .chain(record.values.iter().map(|(f, v)| (f.as_str(), v.as_str())));
        let Some(problem) = oversized(values, config.max_field_bytes) else {
            return false;
        };
        self.rows += 1;
        self.first.get_or_insert((line, problem));
        true
    }

    fn report(self, name: &str, config: &FileRegisterConfig) {
        if let Some((line, problem)) = self.first {
            warn!(
                register = name,
                rows = self.rows,
                "{} rows skipped for a value over max_field_bytes; the first at line {line} of {}: {problem}",
                self.rows,
                config.path.display()
            );
        }
    }
}

/// Adds one row, refusing empty and repeated ids.
fn add(
    name: &str,
    config: &FileRegisterConfig,
    records: &mut Packer,
    seen: &mut BTreeSet<String>,
    record: Record,
    line: u64,
) -> Result<(), RegisterError> {
    let path = config.path.display();
    if record.id.is_empty() {
        return Err(bad(
            name,
            format!(
                "{path}, line {line}: empty `{}`; every row needs an id",
                config.id_column
            ),
        ));
    }
    if !seen.insert(record.id.clone()) {
        return Err(bad(
            name,
            format!(
                "{path}, line {line}: id `{}` appears twice; ids must be unique",
                quoted(&record.id)
            ),
        ));
    }
    records.push(&record);
    Ok(())
}

/// A CSV file opened with its header read: the reader, the id column's position and each
/// mapped field's column. Problems name the column or step, for callers to put in context.
pub(crate) type MappedCsv = (csv::Reader<std::fs::File>, usize, Vec<(Field, usize)>);

pub(crate) fn open_mapped(
    path: &Path,
    delimiter: char,
    id_column: &str,
    columns: &BTreeMap<Field, String>,
) -> Result<MappedCsv, String> {
    let delimiter = u8::try_from(delimiter)
        .map_err(|_| format!("delimiter {delimiter:?} is not a single byte"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    let position = |column: &str| {
        headers
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| {
                format!(
                    "no column `{}`; its columns are: {}",
                    quoted(column),
                    quoted(&headers.iter().collect::<Vec<_>>().join(", "))
                )
            })
    };
    let id_at = position(id_column)?;
    let mapped = columns
        .iter()
        .map(|(field, column)| position(column).map(|i| (*field, i)))
        .collect::<Result<_, _>>()?;
    Ok((reader, id_at, mapped))
}

fn load_csv(name: &str, config: &FileRegisterConfig) -> Result<RecordIndex, RegisterError> {
    let bad = |problem: String| bad(name, problem);
    let path = config.path.display().to_string();
    let (mut reader, id_at, mapped) = open_mapped(
        &config.path,
        config.delimiter,
        &config.id_column,
        &config.columns,
    )
    .map_err(|problem| bad(format!("{path}: {problem}; check [register.{name}]")))?;

    let mut records = Packer::default();
    let mut seen = BTreeSet::new();
    let mut skipped = Skipped::default();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e
                .position()
                .map_or(String::from("?"), |p| p.line().to_string());
            bad(format!("{path}, line {line}: {e}; fix or remove that row"))
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let mut record = Record::new(row.get(id_at).unwrap_or_default().trim());
        for (field, at) in &mapped {
            if let Some(v) = row.get(*at).map(str::trim).filter(|v| !v.is_empty()) {
                record.values.insert(*field, v.to_string());
            }
        }
        if !skipped.oversized(config, &record, line) {
            add(name, config, &mut records, &mut seen, record, line)?;
        }
    }
    skipped.report(name, config);
    Ok(RecordIndex::new(records.finish(), config.blocking.clone()))
}

/// A scalar under `path` (`a.b.c`) as text; objects, arrays and null are absent.
fn json_text(value: &serde_json::Value, path: &str) -> Option<String> {
    let found = path.split('.').try_fold(value, |v, key| v.get(key))?;
    match found {
        serde_json::Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn load_jsonl(name: &str, config: &FileRegisterConfig) -> Result<RecordIndex, RegisterError> {
    let path = config.path.display().to_string();
    let file = std::fs::File::open(&config.path).map_err(|e| {
        bad(
            name,
            format!("cannot read {path}: {e}; check [register.{name}].path"),
        )
    })?;
    let mut records = Packer::default();
    let mut seen = BTreeSet::new();
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(file);
    let mut number = 0u64;
    let mut skipped = Skipped::default();
    loop {
        line.clear();
        number += 1;
        let read = reader
            .read_line(&mut line)
            .map_err(|e| bad(name, format!("{path}, line {number}: {e}")))?;
        if read == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            bad(
                name,
                format!("{path}, line {number}: not a JSON object ({e}); fix or remove that line"),
            )
        })?;
        if !value.is_object() {
            return Err(bad(
                name,
                format!("{path}, line {number}: not a JSON object"),
            ));
        }
        let mut record = Record::new(json_text(&value, &config.id_column).unwrap_or_default());
        for (field, key) in &config.columns {
            if let Some(v) = json_text(&value, key) {
                record.values.insert(*field, v);
            }
        }
        if !skipped.oversized(config, &record, number) {
            add(name, config, &mut records, &mut seen, record, number)?;
        }
    }
    skipped.report(name, config);
    Ok(RecordIndex::new(records.finish(), config.blocking.clone()))
}

impl Register for FileRegister {
    fn name(&self) -> &str {
        &self.name
    }

    fn index(&self) -> Option<&RecordIndex> {
        Some(&self.index)
    }

    fn candidates<'a>(
        &'a self,
        kind: EntityKind,
        records: &'a [Record],
    ) -> BoxFuture<'a, Vec<Lookup>> {
        Box::pin(async move {
            records
                .iter()
                .map(|r| Ok(self.index.candidates(kind, r)))
                .collect()
        })
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
            format: FileFormat::Csv,
            id_column: "id".into(),
            delimiter: ',',
            blocking: Default::default(),
            columns: BTreeMap::from([
                (Field::LegalName, "name".to_string()),
                (Field::Postcode, "plz".to_string()),
                (Field::VatId, "vat".to_string()),
            ]),
            max_field_bytes: 64,
        }
    }

    #[test]
    fn a_row_with_a_value_over_the_limit_is_skipped_and_the_others_kept() {
        let long = "x".repeat(65);
        let f = write(&format!(
            "id,name,plz,vat\nA1,Alpha GmbH,10115,\nA2,{long},10117,\nA3,Gamma AG,10119,\n"
        ));
        let register = FileRegister::load("t", &config(f.path())).unwrap();
        let (_, count) = register.sample(0).unwrap();
        assert_eq!(count, 2);
    }

    #[test]
    fn an_error_quotes_at_most_200_bytes_of_a_huge_header() {
        let header = format!("id,{}\n", "h".repeat(100_000));
        let f = write(&header);
        let err = FileRegister::load("t", &config(f.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.len() < 600, "{} bytes: {}", err.len(), &err[..300]);
        assert!(err.contains("bytes in all"), "{err}");
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
    fn json_lines_with_nested_keys() {
        let f = write(concat!(
            "{\"id\": \"J1\", \"name\": \"Alpha GmbH\", \"address\": {\"plz\": \"10115\"}, \"vat\": null}\n",
            "\n",
            "{\"id\": 2, \"name\": \"Beta AG\", \"address\": {\"plz\": 80331}}\n",
        ));
        let mut c = config(f.path());
        c.format = FileFormat::Jsonl;
        c.columns.insert(Field::Postcode, "address.plz".into());
        let reg = FileRegister::load("jsonl-nested", &c).unwrap();
        assert_eq!(reg.index.len(), 2);
        let hit = reg.index.candidates(
            EntityKind::Organisation,
            &Record::new("c")
                .with(Field::LegalName, "Beta AG")
                .with(Field::Postcode, "80331"),
        );
        assert_eq!(hit[0].id, "2");
        assert_eq!(hit[0].get(Field::LegalName), Some("Beta AG"));

        let f = write("{\"id\": \"J1\"}\n{\"id\": \"J2\", \"name\": \n");
        let mut c = config(f.path());
        c.format = FileFormat::Jsonl;
        let err = FileRegister::load("jsonl-bad", &c)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("not a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn two_loads_of_one_register_at_once_read_its_file_once() {
        let f = write("id,name,plz,vat\nA1,Alpha GmbH,10115,\n");
        let c = config(f.path());
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let load = || {
            load_cached("at-once", format!("{c:?}"), &[f.path()], || {
                reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                load_csv("at-once", &c)
            })
            .unwrap()
        };
        std::thread::scope(|s| {
            let first = s.spawn(load);
            let second = s.spawn(load);
            assert_eq!(first.join().unwrap().len(), second.join().unwrap().len());
        });
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_file_is_read_again_only_when_it_changed() {
        let f = write("id,name,plz,vat\nR1,Alpha GmbH,10115,\n");
        let c = config(f.path());
        let first = FileRegister::load("reload-test", &c).unwrap();
        let second = FileRegister::load("reload-test", &c).unwrap();
        assert!(
            Arc::ptr_eq(&first.index, &second.index),
            "unchanged: same index"
        );
        std::fs::write(
            f.path(),
            "id,name,plz,vat\nR1,Alpha GmbH,10115,\nR2,Beta AG,80331,\n",
        )
        .unwrap();
        let third = FileRegister::load("reload-test", &c).unwrap();
        assert!(!Arc::ptr_eq(&first.index, &third.index));
        assert_eq!(third.index.len(), 2);
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
