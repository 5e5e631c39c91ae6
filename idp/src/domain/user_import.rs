//! Bulk import of existing portal accounts (`idp-admin user import`).
//!
//! The CLI streams a CSV file in batches; each batch is validated here row by
//! row with the sign-up rules and inserted in one store transaction. Nothing
//! is hashed: a row brings an existing Argon2id hash or no password at all, so
//! 100,000 rows cost database writes only. Re-running an import is harmless:
//! a national ID already present is counted and skipped.

use serde::{Deserialize, Serialize};

use super::accounts::{Record, SignUpError, new_citizen};
use crate::crypto::password::check_imported_hash;
use crate::store::{ImportOutcome, ImportedCitizen, Store, StoreError, Timestamp};

/// Most rows accepted in one batch.
pub const MAX_BATCH: usize = 5000;

/// One CSV row as the CLI sends it. No `Debug`: it may carry a password hash.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// Line number in the file (1 is the header), for the report.
    pub line: u64,
    /// 12-digit national ID number.
    pub national_id: String,
    /// Full name.
    pub full_name: String,
    /// Email, optional (empty means none).
    #[serde(default)]
    pub email: Option<String>,
    /// Phone, optional (empty means none); E.164 or 0-prefixed Vietnamese.
    #[serde(default)]
    pub phone: Option<String>,
    /// Existing Argon2id PHC string, optional (empty means no password).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Date of birth `YYYY-MM-DD`, optional.
    #[serde(default)]
    pub birthdate: Option<String>,
    /// `female` or `male` (`nữ`, `nam`), optional.
    #[serde(default)]
    pub gender: Option<String>,
    /// Postal address, optional.
    #[serde(default)]
    pub address: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// Line number in the file.
    pub line: u64,
    /// Why, for the admin.
    pub reason: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// New accounts created.
    pub inserted: u64,
    /// Rows whose national ID already had an account (nothing changed).
    pub already_present: u64,
    /// Rows refused, with their line numbers.
    pub rejected: Vec<RejectedRow>,
}

/// Why a whole batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// 400: more than [`MAX_BATCH`] rows.
    #[error("a batch may hold at most {MAX_BATCH} rows")]
    TooLarge,
    /// 500: the store failed; the batch left nothing behind.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Validate `rows` and insert the valid ones in one transaction.
pub async fn import_batch(
    store: &dyn Store,
    now: Timestamp,
    rows: Vec<ImportRow>,
) -> Result<ImportReport, ImportError> {
    if rows.len() > MAX_BATCH {
        return Err(ImportError::TooLarge);
    }
    let mut report = ImportReport::default();
    let mut valid = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let line = row.line;
        match validate(row, now) {
            Ok(citizen) => {
                valid.push(citizen);
                lines.push(line);
            }
            Err(reason) => report.rejected.push(RejectedRow { line, reason: reason.to_owned() }),
        }
    }
    let outcomes = store.import_citizens(&valid).await?;
    for (line, outcome) in lines.into_iter().zip(outcomes) {
        match outcome {
            ImportOutcome::Inserted => report.inserted += 1,
            ImportOutcome::AlreadyPresent => report.already_present += 1,
            ImportOutcome::EmailTaken => {
                report.rejected.push(RejectedRow { line, reason: "another account already has this email".to_owned() })
            }
        }
    }
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// One row through the sign-up rules; the error is the reason.
fn validate(row: ImportRow, now: Timestamp) -> Result<ImportedCitizen, &'static str> {
    let present = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    // Imported from the portal's existing records, where the number was checked.
    let record = Record { birthdate: row.birthdate, gender: row.gender, address: row.address };
    let (email, phone) = (row.email.as_deref(), row.phone.as_deref());
    let citizen =
        new_citizen(now, &row.national_id, true, &row.full_name, email, phone, &record).map_err(|e| match e {
            SignUpError::InvalidNationalId => {
                "national_id must be 12 digits with a known province code and a past birth year"
            }
            SignUpError::InvalidName => {
                "full_name is missing, longer than 200 characters or has control or invisible characters"
            }
            SignUpError::InvalidEmail => "email is not a valid address",
            SignUpError::InvalidPhone => "phone is not a valid number (E.164 or 0-prefixed)",
            SignUpError::InvalidBirthdate => {
                "birthdate must be a past YYYY-MM-DD date in the birth year the national_id encodes"
            }
            SignUpError::InvalidGender => "gender must be female or male (nữ, nam), as the national_id encodes",
            SignUpError::InvalidAddress => {
                "address is longer than 300 characters or has control or invisible characters"
            }
            _ => "the row could not be read",
        })?;
    let password_hash = match present(row.password_hash) {
        Some(h) => {
            check_imported_hash(&h)?;
            Some(h)
        }
        None => None,
    };
    Ok(ImportedCitizen { citizen, password_hash })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;
    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI";

    fn row(national_id: &str, hash: Option<&str>) -> ImportRow {
        ImportRow {
            line: 2,
            national_id: national_id.into(),
            full_name: "  Trần   Thị Bình ".into(),
            email: Some(" Binh@Example.VN ".into()),
            phone: Some("0912 345 678".into()),
            password_hash: hash.map(Into::into),
            birthdate: None,
            gender: None,
            address: None,
        }
    }

    #[test]
    fn valid_rows_are_normalised() {
        let c = validate(row("001090000001", Some(HASH)), NOW).unwrap();
        assert_eq!(c.citizen.profile.full_name, "Trần Thị Bình");
        assert_eq!(c.citizen.profile.email.as_deref(), Some("binh@example.vn"));
        assert_eq!(c.citizen.profile.phone.as_deref(), Some("+84912345678"));
        assert_eq!(c.password_hash.as_deref(), Some(HASH));
        let c = validate(row("001090000001", Some("  ")), NOW).unwrap();
        assert_eq!(c.password_hash, None);
    }

    #[tokio::test]
    async fn an_imported_hash_verifies_at_login() {
        // Made by another Argon2id implementation's parameters (m=1024, t=1): accepted and usable.
        let hash = "$argon2id$v=19$m=1024,t=1,p=1$29eZ/4qDZPVmzHQ8IW2iwg$bKODys+dLPfrqjDl34w0RPqrgQ/TW9E6iZaMcmuaLvc";
        assert_eq!(check_imported_hash(hash), Ok(()));
        let hasher = crate::crypto::password::PasswordHasher::new(1024, 1, 1).unwrap();
        assert!(hasher.verify(Some(hash.into()), crate::crypto::Secret::new("Mat-khau-cu-2019")).await);
    }

    #[test]
    fn bad_rows_say_why() {
        assert!(validate(row("12345", None), NOW).unwrap_err().starts_with("national_id"));
        let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        assert!(validate(row("001090000001", Some(bcrypt)), NOW).unwrap_err().contains("PHC"));
        let argon2i = HASH.replace("argon2id", "argon2i");
        assert!(validate(row("001090000001", Some(&argon2i)), NOW).unwrap_err().contains("Argon2id"));
        let huge = HASH.replace("m=19456", "m=4194304");
        assert!(validate(row("001090000001", Some(&huge)), NOW).unwrap_err().contains("m (8..=262144)"));
        let mut r = row("001090000001", None);
        r.email = Some("not-an-email".into());
        assert_eq!(validate(r, NOW).unwrap_err(), "email is not a valid address");
        let mut r = row("001090000001", None);
        r.full_name = " ".into();
        assert!(validate(r, NOW).unwrap_err().starts_with("full_name"));
    }
}
