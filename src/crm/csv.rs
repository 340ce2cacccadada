//! CSV data islands: the lists that live outside the CRM (trade-fair leads, Excel exports,
//! web-form dumps). Encoding (UTF-8 or Windows-1252) and delimiter are detected, headers are
//! mapped to canonical fields, and a broken row is reported with its line number while the
//! valid rows go on. Rows are streamed: memory does not grow with the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

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
            match encoding {
                Encoding::Utf8 => String::from_utf8_lossy(&sample[bom..end]).into_owned(),
                Encoding::Windows1252 => decode_cp1252(&sample[..end]),
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
        let decoded: Box<dyn Read + Send> = match encoding {
            Encoding::Utf8 => Box::new(file),
            Encoding::Windows1252 => Box::new(Cp1252Reader {
                inner: file,
                pending: Vec::new(),
            }),
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
                    "--map {field}={name}: no such column; the columns are: {}",
                    headers.join(", ")
                ))
            })?;
            fields.insert(*field, at);
        }
        if fields.is_empty() && !options.cells_only {
            return Err(unusable(format!(
                "no column could be mapped to a field; name them with --map FIELD=COLUMN (columns: {})",
                headers.join(", ")
            )));
        }
        let id_column = match &options.id_column {
            Some(name) => {
                Some(position(name).ok_or_else(|| unusable(format!("no id column `{name}`")))?)
            }
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
        })
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
