//! The `idp` binary's command line as an operator meets it. (Being an
//! integration test of this package also makes `cargo test --workspace`
//! build the `idp` binary before the end-to-end suite runs it.)

use std::process::Command;

fn idp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp"));
    // Start from a clean configuration environment.
    for (key, _) in std::env::vars() {
        if key.starts_with("IDP_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn help_lists_the_subcommands() {
    let out = idp().arg("--help").output().expect("run idp");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "bootstrap-admin"] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
}

#[test]
fn a_mistyped_setting_stops_the_start_naming_the_key() {
    let out = idp().env("IDP_ISSUR", "https://id.example.gov.vn").arg("migrate").output().expect("run idp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IDP_ISSUR"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one readable line: {err}");
}

#[test]
fn a_plain_http_public_issuer_is_refused_with_the_fix() {
    let out = idp().env("IDP_ISSUER", "http://id.example.gov.vn").arg("migrate").output().expect("run idp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IDP_ISSUER") && err.contains("https"), "{err}");
}

#[test]
fn migrate_creates_the_database_and_bootstrap_prints_one_token_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("idp.db").display());
    let out = idp().env("IDP_DATABASE_URL", &db).arg("migrate").output().expect("run idp");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = idp()
        .env("IDP_DATABASE_URL", &db)
        .env("IDP_MASTER_KEY_FILE", dir.path().join("master.key"))
        .arg("bootstrap-admin")
        .output()
        .expect("run idp");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone on stdout: {stdout:?}");
    assert_eq!(lines[0].len(), 43, "a 256-bit base64url token");
}
