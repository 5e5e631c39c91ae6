//! The command line. (Being an integration test of this package also makes
//! `cargo test --workspace` build the binary the end-to-end suite runs.)

use std::process::Command;

#[test]
fn help_names_the_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_portal-service")).arg("--help").output();
    let out = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    for flag in ["--issuer", "--client-id", "--client-secret", "--port", "--listen", "--base-url", "--name"] {
        assert!(out.contains(flag), "--help lacks {flag}: {out}");
    }
}
