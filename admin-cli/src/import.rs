//! `idp-admin user import FILE.csv`: stream a CSV of existing portal accounts
//! to `POST /admin/v1/users/import` in batches, reporting bad rows by line.
//!
//! The file is read record by record (never whole into memory). Format: a
//! header row naming the columns (`national_id,full_name,email,phone,birthdate,
//! gender,address,password_hash`, any order; the first two required), then one
//! account per row; RFC 4180
//! quoting (`"Nguyễn, Văn A"`, `""` for a quote, line breaks inside quotes).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::api::{Api, Failure};

/// Rows per request.
const BATCH: usize = 1000;
/// Columns the server knows.
const COLUMNS: &[&str] =
    &["national_id", "full_name", "email", "phone", "birthdate", "gender", "address", "password_hash"];

/// Totals over every batch.
#[derive(Debug, Default)]
struct Totals {
    rows: u64,
    inserted: u64,
    already_present: u64,
    rejected: u64,
}

/// Import `path`; prints `line N: reason` for each refused row as it goes and
/// a summary at the end. Fails (exit 1) if any row was refused, after the whole file.
pub fn run(api: &Api, path: &Path, json_out: bool) -> Result<(), Failure> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| Failure(format!("cannot open {shown}: {e}")))?;
    let mut records = Records::new(BufReader::new(file));
    let header = match records.next_record().map_err(|e| Failure(format!("cannot read {shown}: {e}")))? {
        Some((_, fields)) => header_columns(&fields)?,
        None => return Err(Failure(format!("{shown} is empty: it needs a header row"))),
    };
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut batch: Vec<Value> = Vec::with_capacity(BATCH);
    loop {
        let next = records.next_record().map_err(|e| Failure(format!("cannot read {shown}: {e}")))?;
        let done = next.is_none();
        if let Some((line, fields)) = next {
            if fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            totals.rows += 1;
            match row_json(line, &header, fields) {
                Ok(row) => batch.push(row),
                Err(reason) => {
                    totals.rejected += 1;
                    report(json_out, line, &reason);
                }
            }
        }
        if batch.len() >= BATCH || (done && !batch.is_empty()) {
            send(api, &mut batch, &mut totals, json_out)?;
        }
        if done {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if json_out {
        let summary = json!({ "rows": totals.rows, "inserted": totals.inserted,
            "already_present": totals.already_present, "rejected": totals.rejected, "seconds": secs });
        crate::output::say(summary);
    } else {
        crate::output::say(format_args!(
            "Imported {} rows in {secs:.1} s: {} new, {} already present, {} rejected.",
            totals.rows, totals.inserted, totals.already_present, totals.rejected
        ));
    }
    if totals.rejected > 0 {
        return Err(Failure(format!(
            "{} of {} rows were rejected (see the lines above)",
            totals.rejected, totals.rows
        )));
    }
    Ok(())
}

fn report(json_out: bool, line: u64, reason: &str) {
    if json_out {
        crate::output::say(json!({ "line": line, "reason": reason }));
    } else {
        crate::output::say(format_args!("line {line}: {reason}"));
    }
}

fn send(api: &Api, batch: &mut Vec<Value>, totals: &mut Totals, json_out: bool) -> Result<(), Failure> {
    let body = json!({ "rows": std::mem::take(batch) });
    let answer = api.post(&["admin", "v1", "users", "import"], Some(&body))?;
    let count = |k: &str| answer.get(k).and_then(Value::as_u64).unwrap_or(0);
    totals.inserted += count("inserted");
    totals.already_present += count("already_present");
    for r in answer.get("rejected").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        totals.rejected += 1;
        let line = r.get("line").and_then(Value::as_u64).unwrap_or(0);
        report(json_out, line, r.get("reason").and_then(Value::as_str).unwrap_or("rejected"));
    }
    Ok(())
}

/// Column index → name, from the header row.
fn header_columns(fields: &[String]) -> Result<Vec<&'static str>, Failure> {
    let mut names = Vec::with_capacity(fields.len());
    for f in fields {
        let name = f.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        let Some(known) = COLUMNS.iter().find(|c| **c == name) else {
            return Err(Failure(format!(
                "line 1: unknown column {name:?}; the header must name national_id, full_name and optionally \
                 email, phone, birthdate, gender, address, password_hash"
            )));
        };
        if names.contains(known) {
            return Err(Failure(format!("line 1: column {name:?} appears twice")));
        }
        names.push(*known);
    }
    for required in ["national_id", "full_name"] {
        if !names.contains(&required) {
            return Err(Failure(format!("line 1: the header has no {required} column")));
        }
    }
    Ok(names)
}

/// One record as the API's row object, or why not.
fn row_json(line: u64, header: &[&'static str], mut fields: Vec<String>) -> Result<Value, String> {
    // A PHC string has commas (`m=19456,t=2,p=1`): when password_hash is the
    // last column and was left unquoted, the extra fields are its pieces.
    if fields.len() > header.len()
        && header.last() == Some(&"password_hash")
        && fields[header.len() - 1].trim_start().starts_with('$')
    {
        let tail = fields.split_off(header.len() - 1).join(",");
        fields.push(tail);
    }
    if fields.len() != header.len() {
        return Err(format!("expected {} fields, found {}", header.len(), fields.len()));
    }
    let mut row = Map::new();
    row.insert("line".into(), line.into());
    for (name, value) in header.iter().zip(fields) {
        let value = value.trim();
        if !value.is_empty() {
            row.insert((*name).into(), value.into());
        }
    }
    for required in ["national_id", "full_name"] {
        if !row.contains_key(required) {
            return Err(format!("{required} is empty"));
        }
    }
    Ok(Value::Object(row))
}

/// RFC 4180 records from a reader, each with the line number it starts on.
struct Records<R> {
    reader: R,
    line: u64,
    buf: String,
}

impl<R: BufRead> Records<R> {
    fn new(reader: R) -> Self {
        Self { reader, line: 0, buf: String::new() }
    }

    /// One line into `buf`; its length in bytes (0 at the end). A line that
    /// is not UTF-8 stops the import with its number: the encoding is the
    /// file's, so the rows after it would be misread too.
    fn read_line(&mut self) -> std::io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.reader.read_until(b'\n', &mut bytes)?;
        let line = self.line + 1;
        // A spreadsheet's "Unicode text" export starts with a UTF-16 byte order mark.
        let utf16 = line == 1 && (bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]));
        self.buf = String::from_utf8(bytes).map_err(|_| {
            let found = if utf16 { "UTF-16 text" } else { "not UTF-8 text" };
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "line {line} is {found}; save the file as UTF-8 (\"CSV UTF-8\" in a spreadsheet; \
                     a TCVN3, VNI or Windows-1258 export must be converted first)"
                ),
            )
        })?;
        Ok(n)
    }

    /// The next record, `None` at the end of the input; an error for a quote
    /// not closed within [`MAX_RECORD_LINES`] lines or by the end.
    fn next_record(&mut self) -> std::io::Result<Option<(u64, Vec<String>)>> {
        let start = self.line + 1;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut any = false;
        loop {
            self.buf.clear();
            if self.read_line()? == 0 {
                if !any {
                    return Ok(None);
                }
                return Err(unclosed_quote(start));
            }
            any = true;
            self.line += 1;
            let text = self.buf.strip_suffix('\n').unwrap_or(&self.buf);
            let text = text.strip_suffix('\r').unwrap_or(text);
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match (quoted, c) {
                    (true, '"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    (true, '"') => quoted = false,
                    (true, c) => field.push(c),
                    (false, '"') if field.is_empty() => quoted = true,
                    (false, ',') => fields.push(std::mem::take(&mut field)),
                    (false, c) => field.push(c),
                }
            }
            if quoted {
                // A line break inside a quoted field: keep reading, a few
                // lines at most. A quote left open by mistake would swallow
                // the rows after it into one field, never reported.
                if self.line - start + 1 >= MAX_RECORD_LINES {
                    return Err(unclosed_quote(start));
                }
                field.push('\n');
                continue;
            }
            fields.push(std::mem::take(&mut field));
            return Ok(Some((start, fields)));
        }
    }
}

/// Most lines one record may span (line breaks inside quoted fields: an
/// address written on two or three lines).
const MAX_RECORD_LINES: u64 = 10;

fn unclosed_quote(line: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "line {line}: a quoted field is not closed (within {MAX_RECORD_LINES} lines or by the end of the file); \
             check the quotes (\") on that line"
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<(u64, Vec<String>)> {
        let mut r = Records::new(text.as_bytes());
        std::iter::from_fn(|| r.next_record().unwrap()).collect()
    }

    #[test]
    fn csv_records_with_quotes_and_line_numbers() {
        let recs = all("a,b\r\n1,\"x, y\"\n\"multi\nline\",\"say \"\"hi\"\"\"\n,\n");
        assert_eq!(recs[0], (1, vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(recs[1], (2, vec!["1".to_owned(), "x, y".to_owned()]));
        assert_eq!(recs[2], (3, vec!["multi\nline".to_owned(), "say \"hi\"".to_owned()]));
        assert_eq!(recs[3], (5, vec![String::new(), String::new()]));
        assert_eq!(recs.len(), 4);
    }

    /// A quote opened by mistake stops the import at its line instead of
    /// swallowing the rows after it: at the end of the file, or once the
    /// record would span more than a few lines.
    #[test]
    fn an_unclosed_quote_is_an_error_naming_its_line() {
        let first_error = |text: &str| {
            let mut r = Records::new(text.as_bytes());
            loop {
                match r.next_record() {
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(e) => return Some(e.to_string()),
                }
            }
        };
        let at_end = first_error("a,b\n1,\"Trần Thị Bình\n2,x\n3,y\n").unwrap();
        assert!(at_end.starts_with("line 2: a quoted field is not closed"), "{at_end}");
        let mut long = String::from("a,b\n1,\"open\n");
        for n in 0..20 {
            long.push_str(&format!("{n},row\n"));
        }
        long.push_str("9,\"closed late\"\n");
        let swallowed = first_error(&long).unwrap();
        assert!(swallowed.starts_with("line 2: "), "{swallowed}");
        assert_eq!(first_error("a\n\"two\nlines\"\n"), None);
        // A record may span 10 lines, not 11.
        let spanning = |lines: usize| format!("a\n\"{}x\"\n", "x\n".repeat(lines - 1));
        assert_eq!(first_error(&spanning(10)), None);
        assert!(first_error(&spanning(11)).unwrap().starts_with("line 2: "));
    }

    /// A legacy Vietnamese encoding (here "Nguyễn" in Windows-1258 bytes)
    /// or a UTF-16 export stops the import at the line, saying what to do.
    #[test]
    fn text_that_is_not_utf8_is_named_by_line() {
        let mut latin = b"national_id,full_name\n001090000001,An\n001090000002,Nguy\xd2n\n".to_vec();
        let mut r = Records::new(latin.as_slice());
        assert_eq!(r.next_record().unwrap().unwrap().0, 1);
        assert_eq!(r.next_record().unwrap().unwrap().0, 2);
        let e = r.next_record().unwrap_err().to_string();
        assert!(e.starts_with("line 3 is not UTF-8 text; save the file as UTF-8"), "{e}");
        latin.splice(0..0, [0xFF, 0xFE]);
        let e = Records::new(latin.as_slice()).next_record().unwrap_err().to_string();
        assert!(e.starts_with("line 1 is UTF-16 text"), "{e}");
    }

    #[test]
    fn header_and_rows() {
        let h = header_columns(&["\u{feff}National_ID".into(), "full_name".into(), "email".into()]).unwrap();
        assert_eq!(h, ["national_id", "full_name", "email"]);
        assert!(header_columns(&["national_id".into(), "nickname".into()]).is_err());
        assert!(header_columns(&["national_id".into()]).is_err());
        let row = row_json(7, &h, vec!["001090000001".into(), " An ".into(), "".into()]).unwrap();
        assert_eq!(row, json!({"line": 7, "national_id": "001090000001", "full_name": "An"}));
        assert_eq!(row_json(8, &h, vec!["1".into()]).unwrap_err(), "expected 3 fields, found 1");
        // An unquoted PHC string in the last column keeps its commas.
        let h5 = header_columns(&["national_id".into(), "full_name".into(), "password_hash".into()]).unwrap();
        let parts = ["001090000001", "An", "$argon2id$v=19$m=1024", "t=1", "p=1$c2FsdA$aGFzaA"];
        let row = row_json(2, &h5, parts.iter().map(|p| (*p).to_owned()).collect()).unwrap();
        assert_eq!(row["password_hash"], "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA");
        let extra = ["001090000001", "An", "x", "y"].iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(row_json(2, &h5, extra).unwrap_err(), "expected 3 fields, found 4");
        assert_eq!(row_json(9, &h, vec!["1".into(), "".into(), "".into()]).unwrap_err(), "full_name is empty");
    }
}
