//! `idp-admin token …`: admin tokens through `/admin/v1/tokens` (security-admin only).

use clap::Subcommand;
use serde_json::{Map, Value};

use crate::api::{Api, Failure};
use crate::keys::{Printer, parse_duration};
use crate::output::{field, pairs, table, time};

/// Admin tokens: create (printed once), list, revoke.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an admin token; it is printed once and stored only hashed.
    Create {
        /// security-admin (everything), org-admin (one organisation's clients), auditor (audit log only)
        /// or business-registrar (businesses and their members only).
        #[arg(long, value_parser = ["security-admin", "org-admin", "auditor", "business-registrar"])]
        role: String,
        /// The organisation an org-admin token is bound to (code or id).
        #[arg(long)]
        org: Option<String>,
        /// Free text to recognise the token by in lists and the audit trail.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime (e.g. 30d, 12h); no expiry when absent.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<i64>,
    },
    /// List admin tokens (never their secret or hash).
    List,
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Token id, as `token list` shows it.
        id: String,
    },
}

/// Run one `token` subcommand.
pub fn run(api: &Api, cmd: TokenCommand, print: &Printer<'_>) -> Result<(), Failure> {
    match cmd {
        TokenCommand::Create { role, org, label, expires_in } => {
            let mut body = Map::new();
            body.insert("role".into(), role.into());
            if let Some(org) = org {
                body.insert("organisation".into(), org.into());
            }
            if let Some(label) = label {
                body.insert("label".into(), label.into());
            }
            if let Some(secs) = expires_in {
                body.insert("expires_in".into(), secs.into());
            }
            let answer = api.post(&["admin", "v1", "tokens"], Some(&Value::Object(body)))?;
            print(&answer, &|a| {
                let t = &a["token"];
                pairs(&[
                    ("id", field(t, "id")),
                    ("role", field(t, "role")),
                    ("organisation", field(t, "organisation")),
                    ("label", field(t, "label")),
                    ("expires", time(t, "expires_at")),
                    ("token", field(a, "secret")),
                ])
            });
            eprintln!(
                "Save the token now: it is shown only once and cannot be recovered. \
                 `idp-admin token revoke ID` ends it."
            );
        }
        TokenCommand::List => {
            let list = api.get(&["admin", "v1", "tokens"], &[])?;
            print(&list, &token_table);
        }
        TokenCommand::Revoke { id } => {
            let t = api.post(&["admin", "v1", "tokens", &id, "revoke"], None)?;
            print(&t, &|t| format!("Token {} revoked at {}.", field(t, "id"), time(t, "revoked_at")));
        }
    }
    Ok(())
}

fn token_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            vec![
                field(t, "id"),
                field(t, "role"),
                field(t, "organisation"),
                time(t, "created_at"),
                time(t, "expires_at"),
                time(t, "revoked_at"),
                field(t, "label"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No admin tokens.".to_owned();
    }
    table(&["ID", "ROLE", "ORG", "CREATED", "EXPIRES", "REVOKED", "LABEL"], &rows)
}
