//! CSV data islands: the lists that live outside the CRM (trade-fair leads, Excel exports,
//! web-form dumps). Encoding (UTF-8 or Windows-1252) and delimiter are detected, headers are
//! mapped to canonical fields, and a broken row is reported with its line number while the
//! valid rows go on. Rows are streamed: memory does not grow with the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::domain::excerpt::{oversized, quoted, MAX_FIELD_BYTES};
use crate::domain::model::{Field, Record};
use crate::domain::normalise::{fold_text, split_house_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    Utf8,
    /// What German Excel writes by default.
    Windows1252,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Unusable { path: String, problem: String },
}

/// A row that could not be used, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RowError {
    pub line: u64,
    pub problem: String,
}

/// One usable row: its line, the canonical record and the row as read (for export).
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub record: Record,
    pub cells: Vec<String>,
}

/// Header names people use, folded, for each canonical field.
const HEADER_NAMES: &[(Field, &[&str])] = &[
    (
        Field::LegalName,
        &[
            "firma",
            "firmenname",
            "unternehmen",
            "company",
            "company name",
            "organisation",
            "organization",
            "name der firma",
            "account name",
        ],
    ),
    (Field::LegalForm, &["rechtsform", "legal form"]),
    (
        Field::Street,
        &[
            "strasse",
            "str",
            "street",
            "adresse",
            "address",
            "anschrift",
        ],
    ),
    (
        Field::HouseNumber,
        &["hausnummer", "hausnr", "nr", "house number"],
    ),
    (
        Field::Postcode,
        &[
            "plz",
            "postleitzahl",
            "zip",
            "zip code",
            "postcode",
            "postal code",
        ],
    ),
    (Field::City, &["ort", "stadt", "city", "town", "wohnort"]),
    (Field::Country, &["land", "country"]),
    (
        Field::VatId,
        &[
            "ust idnr",
            "ust id",
            "ustid",
            "umsatzsteuer id",
            "vat",
            "vat id",
            "vat number",
        ],
    ),
    (Field::Lei, &["lei"]),
    (
        Field::RegisterCourt,
        &["registergericht", "amtsgericht", "register court"],
    ),
    (
        Field::RegisterNumber,
        &[
            "handelsregister",
            "handelsregisternummer",
            "hrb",
            "register number",
            "registernummer",
        ],
    ),
    (
        Field::Website,
        &["website", "webseite", "homepage", "internet", "url", "web"],
    ),
    (
        Field::Phone,
        &[
            "telefon",
            "tel",
            "telefonnummer",
            "phone",
            "phone number",
            "mobil",
            "mobile",
        ],
    ),
    (
        Field::Email,
        &["e mail", "email", "mail", "e mail adresse", "email address"],
    ),
    (
        Field::IndustryCode,
        &["branche", "industry", "wz", "wz code"],
    ),
    (
        Field::Employees,
        &[
            "mitarbeiter",
            "anzahl mitarbeiter",
            "beschaeftigte",
            "employees",
            "number of employees",
            "numberofemployees",
        ],
    ),
    (
        Field::FirstName,
        &["vorname", "first name", "firstname", "given name"],
    ),
    (
        Field::LastName,
        &[
            "nachname",
            "last name",
            "lastname",
            "surname",
            "familienname",
        ],
    ),
    (Field::Salutation, &["anrede", "salutation"]),
    (Field::Title, &["titel", "title", "akademischer titel"]),
    (
        Field::Role,
        &[
            "position",
            "funktion",
            "rolle",
            "role",
            "job title",
            "abteilung",
        ],
    ),
];

/// The field a header names, if refsync knows the name.
pub fn field_for_header(header: &str) -> Option<Field> {
    let folded = fold_text(header);
    HEADER_NAMES
        .iter()
        .find(|(_, names)| names.contains(&folded.as_str()))
        .map(|(f, _)| *f)
}

/// Windows-1252's 0x80–0x9F; the rest of its upper half is Latin-1.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

pub fn decode_cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[(b - 0x80) as usize],
            _ => char::from(b),
        })
        .collect()
}

/// UTF-8 unless the sample is not valid UTF-8 (a cut-off last character is forgiven).
pub fn detect_encoding(sample: &[u8]) -> Encoding {
    match std::str::from_utf8(sample) {
        Ok(_) => Encoding::Utf8,
        Err(e) if e.error_len().is_none() => Encoding::Utf8,
        Err(_) => Encoding::Windows1252,
    }
}

/// The candidate that occurs most often in the header line, outside quotes.
pub fn detect_delimiter(header_line: &str) -> u8 {
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in header_line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                c.1 += 1;
            }
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

/// Turns Windows-1252 bytes into UTF-8 as they are read.
struct Cp1252Reader<R> {
    inner: R,
    pending: Vec<u8>,
}

impl<R: Read> Read for Cp1252Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending = decode_cp1252(&raw[..n]).into_bytes();
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// How many lines with non-ASCII bytes were read as each encoding.
#[derive(Debug, Default)]
struct LineCounts {
    utf8: AtomicU64,
    windows_1252: AtomicU64,
}

/// Lines of both encodings in one file: an export pasted together from two sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MixedEncodings {
    pub utf8_lines: u64,
    pub windows_1252_lines: u64,
}

/// Decodes each line on its own, as UTF-8 where it is valid UTF-8 and else as
/// Windows-1252, so that a file with both is read right line by line (and counted).
struct LineDecoder<R> {
    inner: BufReader<R>,
    pending: Vec<u8>,
    counts: Arc<LineCounts>,
}

impl<R: Read> Read for LineDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            let mut line = Vec::new();
            if self.inner.read_until(b'\n', &mut line)? == 0 {
                return Ok(0);
            }
            self.pending = if line.is_ascii() {
                line
            } else {
                match String::from_utf8(line) {
                    Ok(text) => {
                        self.counts.utf8.fetch_add(1, Ordering::Relaxed);
                        text.into_bytes()
                    }
                    Err(e) => {
                        self.counts.windows_1252.fetch_add(1, Ordering::Relaxed);
                        decode_cp1252(e.as_bytes()).into_bytes()
                    }
                }
            };
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Turns CRLF line ends into LF, so that line numbers in messages count the way editors
/// do (the CSV parser reports CRLF rows one line early).
struct LfReader<R> {
    inner: R,
    carry_cr: bool,
    pending: Vec<u8>,
}

impl<R: Read> Read for LfReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                if std::mem::take(&mut self.carry_cr) {
                    self.pending.push(b'\r');
                    break;
                }
                return Ok(0);
            }
            for &b in &raw[..n] {
                if std::mem::take(&mut self.carry_cr) && b != b'\n' {
                    self.pending.push(b'\r');
                }
                if b == b'\r' {
                    self.carry_cr = true;
                } else {
                    self.pending.push(b);
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// How a file is read, as detected or as given.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Layout {
    pub encoding: Encoding,
    pub delimiter: char,
    pub headers: Vec<String>,
    /// Column index of each mapped field.
    pub fields: BTreeMap<Field, usize>,
    /// The street column holds the house number too (no column of its own).
    pub street_with_number: bool,
}

/// A CSV file being read row by row.
pub struct CsvRows {
    pub layout: Layout,
    reader: csv::Reader<Box<dyn Read + Send>>,
    id_column: Option<usize>,
    max_field_bytes: usize,
    /// Lines read per encoding, when each line is decoded on its own.
    lines: Option<Arc<LineCounts>>,
}

/// Explicit choices; anything left `None` is detected.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    pub encoding: Option<Encoding>,
    pub delimiter: Option<u8>,
    /// field → header name, overriding the automatic mapping.
    pub map: BTreeMap<Field, String>,
    /// A column with the row's own id; else the line number is the id.
    pub id_column: Option<String>,
    /// Files that are not records (e.g. consent lists) need no column mapped to a field;
    /// their rows are read as cells.
    pub cells_only: bool,
    /// A row with a cell over this many bytes is reported and skipped; default
    /// [`MAX_FIELD_BYTES`].
    pub max_field_bytes: Option<usize>,
}

impl CsvRows {
    pub fn open(path: &Path, options: &CsvOptions) -> Result<CsvRows, CsvError> {
        let shown = path.display().to_string();
        let io = |source| CsvError::Io {
            path: shown.clone(),
            source,
        };
        let mut sample_reader = BufReader::new(File::open(path).map_err(io)?);
        let sample = sample_reader.fill_buf().map_err(io)?.to_vec();
        let encoding = options.encoding.unwrap_or_else(|| detect_encoding(&sample));
        let bom = if encoding == Encoding::Utf8 && sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let first_line = {
            let end = sample
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(sample.len());
            let line = &sample[bom..end];
            match (options.encoding, std::str::from_utf8(line)) {
                (Some(Encoding::Windows1252), _) | (None, Err(_)) => decode_cp1252(line),
                _ => String::from_utf8_lossy(line).into_owned(),
            }
        };
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&first_line));

        let mut file = File::open(path).map_err(io)?;
        let mut skip = [0u8; 3];
        if bom == 3 {
            file.read_exact(&mut skip).map_err(io)?;
        }
        // Unless told, each line is decoded as what it is: files pasted from two exports mix.
        let lines = options.encoding.is_none().then(Arc::<LineCounts>::default);
        let decoded: Box<dyn Read + Send> = match (options.encoding, &lines) {
            (_, Some(counts)) => Box::new(LineDecoder {
                inner: BufReader::new(file),
                pending: Vec::new(),
                counts: Arc::clone(counts),
            }),
            (Some(Encoding::Windows1252), None) => Box::new(Cp1252Reader {
                inner: file,
                pending: Vec::new(),
            }),
            (_, None) => Box::new(file),
        };
        let source: Box<dyn Read + Send> = Box::new(LfReader {
            inner: decoded,
            carry_cr: false,
            pending: Vec::new(),
        });
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(source);
        let unusable = |problem: String| CsvError::Unusable {
            path: shown.clone(),
            problem,
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| unusable(format!("cannot read the header row: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let position = |name: &str| {
            headers
                .iter()
                .position(|h| h == name || fold_text(h) == fold_text(name))
        };
        let mut fields = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            if let Some(field) = field_for_header(h) {
                fields.entry(field).or_insert(i);
            }
        }
        for (field, name) in &options.map {
            let at = position(name).ok_or_else(|| {
                unusable(format!(
                    "--map {field}={}: no such column; the columns are: {}",
                    quoted(name),
                    quoted(&headers.join(", "))
                ))
            })?;
            fields.insert(*field, at);
        }
        if fields.is_empty() && !options.cells_only {
            return Err(unusable(format!(
                "no column could be mapped to a field; name them with --map FIELD=COLUMN (columns: {})",
                quoted(&headers.join(", "))
            )));
        }
        let id_column = match &options.id_column {
            Some(name) => Some(
                position(name)
                    .ok_or_else(|| unusable(format!("no id column `{}`", quoted(name))))?,
            ),
            None => None,
        };
        let street_with_number =
            fields.contains_key(&Field::Street) && !fields.contains_key(&Field::HouseNumber);
        Ok(CsvRows {
            layout: Layout {
                encoding,
                delimiter: char::from(delimiter),
                headers,
                fields,
                street_with_number,
            },
            reader,
            id_column,
            max_field_bytes: options.max_field_bytes.unwrap_or(MAX_FIELD_BYTES),
            lines,
        })
    }

    /// Whether the lines read so far were of both encodings, and how many of each.
    pub fn mixed_encodings(&self) -> Option<MixedEncodings> {
        let counts = self.lines.as_ref()?;
        let mixed = MixedEncodings {
            utf8_lines: counts.utf8.load(Ordering::Relaxed),
            windows_1252_lines: counts.windows_1252.load(Ordering::Relaxed),
        };
        (mixed.utf8_lines > 0 && mixed.windows_1252_lines > 0).then_some(mixed)
    }

    /// The next row, a row error, or `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<Row, RowError>> {
        let mut raw = csv::StringRecord::new();
        match self.reader.read_record(&mut raw) {
            Ok(false) => None,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                Some(Err(RowError {
                    line,
                    problem: e.to_string(),
                }))
            }
            Ok(true) => {
                let line = raw.position().map_or(0, |p| p.line());
                let width = self.layout.headers.len();
                if raw.len() != width {
                    // Excel drops trailing empty cells; anything else is a broken row.
                    let trailing_empty =
                        raw.len() > width && raw.iter().skip(width).all(|c| c.trim().is_empty());
                    if !trailing_empty {
                        return Some(Err(RowError {
                            line,
                            problem: format!("expected {width} fields, found {}; fix the quoting or delimiters of that row", raw.len()),
                        }));
                    }
                }
                let named = self
                    .layout
                    .headers
                    .iter()
                    .map(String::as_str)
                    .zip(raw.iter());
                if let Some(problem) = oversized(named, self.max_field_bytes) {
                    return Some(Err(RowError {
                        line,
                        problem: format!("{problem}; the row is skipped (shorten it, or raise the limit with --max-field-bytes)"),
                    }));
                }
                let cells: Vec<String> = (0..width)
                    .map(|i| raw.get(i).unwrap_or("").to_string())
                    .collect();
                if cells.iter().all(|c| c.trim().is_empty()) {
                    return self.next_row();
                }
                let id = match self.id_column {
                    Some(i) => cells[i].trim().to_string(),
                    None => format!("line:{line}"),
                };
                let mut record = Record::new(id);
                for (field, at) in &self.layout.fields {
                    let v = cells[*at].trim();
                    if !v.is_empty() {
                        record.values.insert(*field, v.to_string());
                    }
                }
                if self.layout.street_with_number {
                    if let Some((street, Some(number))) =
                        record.get(Field::Street).map(split_house_number)
                    {
                        record.values.insert(Field::Street, street);
                        record.values.insert(Field::HouseNumber, number);
                    }
                }
                Some(Ok(Row {
                    line,
                    record,
                    cells,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn all(rows: &mut CsvRows) -> (Vec<Row>, Vec<RowError>) {
        let (mut ok, mut bad) = (vec![], vec![]);
        while let Some(r) = rows.next_row() {
            match r {
                Ok(row) => ok.push(row),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever the bytes, a file opens or is refused, and every row is a row or a row
        /// error; with a known header in front, the bytes reach the row reader.
        #[test]
        fn any_bytes_are_rows_row_errors_or_a_refusal(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            header in proptest::prelude::any::<bool>(),
            encoding in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(Encoding::Utf8),
                proptest::strategy::Just(Encoding::Windows1252)
            ]),
        ) {
            let mut bytes = if header { b"Firma;Ort;E-Mail\n".to_vec() } else { Vec::new() };
            bytes.extend(tail);
            let f = file(&bytes);
            let options = CsvOptions { encoding, max_field_bytes: Some(64), ..Default::default() };
            if let Ok(mut rows) = CsvRows::open(f.path(), &options) {
                let (ok, bad) = all(&mut rows);
                for row in &ok {
                    proptest::prop_assert!(row.cells.iter().all(|c| c.len() <= 64));
                }
                proptest::prop_assert!(bad.iter().all(|e| e.problem.len() < 600));
            }
        }
    }

    #[test]
    fn a_file_pasted_from_utf8_and_windows_1252_exports_is_read_line_by_line() {
        // A UTF-8 header (Straße) over Windows-1252 rows, then a UTF-8 row again.
        let mut bytes = "Firma;Straße;PLZ;Ort\n".as_bytes().to_vec();
        bytes.extend(b"M\xfcller GmbH;Hauptstra\xdfe 1;50667;K\xf6ln\n");
        bytes.extend("Jäger AG;Am Markt 2;80331;München\n".as_bytes());
        let f = file(&bytes);
        let mut rows = CsvRows::open(f.path(), &CsvOptions::default()).unwrap();
        assert_eq!(rows.layout.fields.get(&Field::Street), Some(&1));
        let (ok, bad) = all(&mut rows);
        assert!(bad.is_empty(), "{bad:?}");
        let names: Vec<&str> = ok
            .iter()
            .map(|r| r.record.get(Field::LegalName).unwrap())
            .collect();
        assert_eq!(names, ["Müller GmbH", "Jäger AG"]);
        assert_eq!(ok[0].record.get(Field::City), Some("Köln"));
        assert_eq!(
            rows.mixed_encodings(),
            Some(MixedEncodings {
                utf8_lines: 2,
                windows_1252_lines: 1
            })
        );
    }

    #[test]
    fn a_row_with_a_cell_over_the_limit_is_reported_by_line_and_skipped() {
        let text = format!(
            "Firma,Ort\nAlpha GmbH,Berlin\n{},Köln\nGamma AG,Bonn\n",
            "x".repeat(5000)
        );
        let f = file(text.as_bytes());
        let mut rows = CsvRows::open(f.path(), &CsvOptions::default()).unwrap();
        let (ok, bad) = all(&mut rows);
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        assert!(
            bad[0]
                .problem
                .contains("`Firma` holds 5000 bytes, over the limit of 4096"),
            "{}",
            bad[0].problem
        );
        assert_eq!(rows.mixed_encodings(), None);
    }

    #[test]
    fn an_unmappable_huge_header_is_quoted_short() {
        let text = format!("{}\nx\n", "Spalte".repeat(20_000));
        let f = file(text.as_bytes());
        let err = CsvRows::open(f.path(), &CsvOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.len() < 700, "{} bytes", err.len());
        assert!(err.contains("bytes in all"), "{err}");
    }

    #[test]
    fn german_excel_export_in_windows_1252_with_semicolons() {
        let mut bytes = b"Firma;Stra\xdfe;PLZ;Ort;E-Mail\n".to_vec();
        bytes
            .extend(b"M\xfcller B\xe4ckerei GmbH;Hauptstra\xdfe 1;50667;K\xf6ln;info@mueller.de\n");
        bytes.extend(b"\"Schmidt; S\xf6hne KG\";Am Markt 2;80331;M\xfcnchen;\n");
        let f = file(&bytes);
        let mut rows = CsvRows::open(f.path(), &CsvOptions::default()).unwrap();
        assert_eq!(rows.layout.encoding, Encoding::Windows1252);
        assert_eq!(rows.layout.delimiter, ';');
        let (ok, bad) = all(&mut rows);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            ok[0].record.get(Field::LegalName),
            Some("Müller Bäckerei GmbH")
        );
        assert_eq!(ok[0].record.get(Field::City), Some("Köln"));
        assert_eq!(ok[0].record.get(Field::Email), Some("info@mueller.de"));
        assert_eq!(
            ok[1].record.get(Field::LegalName),
            Some("Schmidt; Söhne KG")
        );
        assert_eq!(ok[1].record.id, "line:3");
    }

    #[test]
    fn broken_rows_are_reported_with_their_line_and_the_rest_goes_on() {
        let f = file(
            "company,city\nAlpha GmbH,Berlin\nBeta AG,Hamburg,extra,cells\nGamma KG,Köln\n"
                .as_bytes(),
        );
        let mut rows = CsvRows::open(f.path(), &CsvOptions::default()).unwrap();
        assert_eq!(rows.layout.encoding, Encoding::Utf8);
        let (ok, bad) = all(&mut rows);
        assert_eq!(ok.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        assert!(
            bad[0].problem.contains("expected 2 fields"),
            "{}",
            bad[0].problem
        );
    }

    #[test]
    fn explicit_mapping_wins_and_unknown_columns_are_named() {
        let f = file("\u{feff}Kunde\tStadt\nAlpha GmbH\tBerlin\n".as_bytes());
        let options = CsvOptions {
            map: BTreeMap::from([(Field::LegalName, "Kunde".to_string())]),
            ..Default::default()
        };
        let mut rows = CsvRows::open(f.path(), &options).unwrap();
        assert_eq!(rows.layout.delimiter, '\t');
        assert_eq!(
            rows.layout.headers[0], "Kunde",
            "the BOM is not part of the first header"
        );
        let (ok, _) = all(&mut rows);
        assert_eq!(ok[0].record.get(Field::LegalName), Some("Alpha GmbH"));
        assert_eq!(ok[0].record.get(Field::City), Some("Berlin"));
        let bad = CsvOptions {
            map: BTreeMap::from([(Field::LegalName, "Firma".to_string())]),
            ..Default::default()
        };
        let err = CsvRows::open(f.path(), &bad).err().unwrap().to_string();
        assert!(err.contains("Firma") && err.contains("Kunde"), "{err}");
    }

    #[test]
    fn crlf_rows_are_numbered_as_editors_number_them() {
        let f = file(b"Firma;Ort\r\nA;B\r\nC;D\r\nKaputt;nur;drei\r\n\"E\r\nF\";G\r\n");
        let mut rows = CsvRows::open(f.path(), &CsvOptions::default()).unwrap();
        let (ok, bad) = all(&mut rows);
        assert_eq!(bad[0].line, 4);
        assert_eq!(ok.last().unwrap().line, 5);
        assert_eq!(
            ok.last().unwrap().record.get(Field::LegalName),
            Some("E\nF")
        );
    }

    #[test]
    fn detection_table() {
        assert_eq!(detect_delimiter("a;b;c"), b';');
        assert_eq!(detect_delimiter("\"a,b\";c;d"), b';');
        assert_eq!(detect_delimiter("a\tb"), b'\t');
        assert_eq!(detect_delimiter("single"), b',');
        assert_eq!(detect_encoding("Köln".as_bytes()), Encoding::Utf8);
        assert_eq!(detect_encoding(b"K\xf6ln"), Encoding::Windows1252);
        assert_eq!(
            detect_encoding(&"Kö".as_bytes()[..2]),
            Encoding::Utf8,
            "cut-off last char"
        );
        assert_eq!(decode_cp1252(b"\x80 \x84\x93"), "€ „“");
    }
}
