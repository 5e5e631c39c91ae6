//! Human output: short aligned tables and key/value blocks, built from the
//! API's JSON so the CLI never disagrees with the server about fields.

use std::io::Write as _;

use serde_json::Value;

/// Print one line on standard output. A reader that went away (`… | head`)
/// is not an error: the command goes on (an import still finishes) and
/// prints nothing more, where `println!` would panic. Any other write
/// failure (a full disk) ends the command with one line.
pub fn say(text: impl std::fmt::Display) {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("idp-admin: cannot write the output: {e}");
            std::process::exit(1);
        }
    }
}

/// A field as text: strings as is, numbers and booleans printed, lists
/// joined with ", ", absent or null as "-".
pub fn field(v: &Value, key: &str) -> String {
    text(v.get(key).unwrap_or(&Value::Null))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Columns padded to the widest cell, two spaces apart; the last column is
/// not padded. Widths count characters, so Vietnamese names line up.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            } else {
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push('\n');
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// `label  value` lines with the labels aligned; a value with several lines
/// (one per list item) continues under the first.
pub fn pairs(items: &[(&str, String)]) -> String {
    let width = items.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut out = Vec::new();
    for (k, v) in items {
        let mut lines = v.split('\n');
        let first = lines.next().unwrap_or_default();
        out.push(format!("{k:<width$}  {first}"));
        for more in lines {
            out.push(format!("{:<width$}  {more}", ""));
        }
    }
    out.join("\n")
}

/// A list field, one item per line (for `pairs`).
pub fn lines(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(text).collect::<Vec<_>>().join("\n"),
        _ => "-".to_owned(),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn time(v: &Value, key: &str) -> String {
    let Some(secs) = v.get(key).and_then(Value::as_i64) else {
        return "-".to_owned();
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_on_characters() {
        let t = table(
            &["CODE", "NAME"],
            &[vec!["moh".into(), "Bộ Y tế".into()], vec!["hanoi-city".into(), "Hà Nội".into()]],
        );
        assert_eq!(t, "CODE        NAME\nmoh         Bộ Y tế\nhanoi-city  Hà Nội");
    }

    #[test]
    fn fields_and_times() {
        let v = json!({"a": "x", "b": null, "c": ["p", "q"], "d": true, "t": 1_700_000_000});
        assert_eq!(field(&v, "a"), "x");
        assert_eq!(field(&v, "b"), "-");
        assert_eq!(field(&v, "missing"), "-");
        assert_eq!(field(&v, "c"), "p, q");
        assert_eq!(field(&v, "d"), "yes");
        assert_eq!(lines(&v, "c"), "p\nq");
        assert_eq!(time(&v, "t"), "2023-11-14 22:13 UTC");
        assert_eq!(time(&json!({"t": 0}), "t"), "1970-01-01 00:00 UTC");
        assert_eq!(time(&json!({"t": 951_782_400}), "t"), "2000-02-29 00:00 UTC");
        assert_eq!(pairs(&[("a", "1".into()), ("long", "x\ny".into())]), "a     1\nlong  x\n      y");
    }
}
