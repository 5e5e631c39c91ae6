//! `idp-admin business …`: businesses (by tax code) and the citizens who
//! act for them, through `/admin/v1/businesses`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use crate::api::{Api, Failure};
use crate::keys::Printer;
use crate::output::{field, pairs, table, time};

/// Vietnam is UTC+7 all year: an authorisation "until 2027-06-30" ends at
/// midnight there, and is shown as that day.
const VIETNAM_OFFSET: i64 = 7 * 3600;

/// Businesses: register, list, show, disable, add and remove members.
#[derive(Debug, Subcommand)]
pub enum BusinessCommand {
    /// Register a business (checked against the business register, so marked verified).
    Create {
        /// Tax code: 10 digits, or NNNNNNNNNN-NNN for a branch.
        #[arg(long)]
        tax_code: String,
        /// Registered name.
        #[arg(long)]
        name: String,
        /// Head-office address.
        #[arg(long)]
        address: Option<String>,
    },
    /// List businesses, by tax code.
    List {
        /// How many to show (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Start after this tax code (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Show a business and its members.
    Show {
        /// Tax code.
        tax_code: String,
    },
    /// Disable a business: nobody may act for it any more, and every grant acting for it ends.
    Disable {
        /// Tax code.
        tax_code: String,
    },
    /// Add a citizen as a member, active at once (no invitation to accept).
    AddMember {
        /// Tax code.
        tax_code: String,
        /// The citizen's 12-digit national ID number.
        #[arg(long)]
        national_id: String,
        /// legal_representative (acts for the business and manages its members) or authorised_staff (acts for it).
        #[arg(long, value_parser = ["legal_representative", "authorised_staff"])]
        role: String,
        /// Last day of the authorisation (YYYY-MM-DD, Vietnam time); none: until removed.
        #[arg(long, value_name = "YYYY-MM-DD")]
        expires: Option<String>,
    },
    /// Remove a member: they stop acting for the business at once.
    RemoveMember {
        /// Tax code.
        tax_code: String,
        /// The member's national ID number.
        #[arg(long)]
        national_id: String,
    },
}

/// Run one `business` subcommand; `print` shows JSON or the human text.
pub fn run(api: &Api, cmd: BusinessCommand, print: &Printer<'_>) -> Result<(), Failure> {
    const BUSINESSES: [&str; 3] = ["admin", "v1", "businesses"];
    match cmd {
        BusinessCommand::Create { tax_code, name, address } => {
            let mut body = Map::new();
            body.insert("tax_code".into(), tax_code.into());
            body.insert("name".into(), name.into());
            if let Some(address) = address {
                body.insert("address".into(), address.into());
            }
            let b = api.post(&BUSINESSES, Some(&Value::Object(body)))?;
            print(&b, &|b| format!("Registered business\n{}", details(b)));
        }
        BusinessCommand::List { limit, after } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            if let Some(after) = after.as_deref() {
                query.push(("after", after));
            }
            let list = api.get(&BUSINESSES, &query)?;
            print(&list, &business_table);
        }
        BusinessCommand::Show { tax_code } => {
            let shown = api.get(&["admin", "v1", "businesses", &tax_code], &[])?;
            print(&shown, &|s| format!("{}\n\n{}", details(&s["business"]), member_table(&s["members"])));
        }
        BusinessCommand::Disable { tax_code } => {
            let answer = api.post(&["admin", "v1", "businesses", &tax_code, "disable"], None)?;
            print(&answer, &|a| {
                format!(
                    "Business {} disabled; {} grant(s) acting for it revoked.",
                    field(&a["business"], "tax_code"),
                    field(a, "grants_revoked")
                )
            });
        }
        BusinessCommand::AddMember { tax_code, national_id, role, expires } => {
            let mut body = Map::new();
            body.insert("national_id".into(), national_id.into());
            body.insert("role".into(), role.into());
            if let Some(expires) = expires {
                body.insert("expires".into(), expires.into());
            }
            let m = api.post(&["admin", "v1", "businesses", &tax_code, "members"], Some(&Value::Object(body)))?;
            print(&m, &|m| {
                let until = match last_day(m, "expires_at").as_str() {
                    "-" => "until removed".to_owned(),
                    day => format!("until {day} inclusive"),
                };
                format!(
                    "Added {} ({}) to {tax_code} as {}, {until}; active now.",
                    field(m, "name"),
                    field(m, "national_id"),
                    field(m, "role"),
                )
            });
        }
        BusinessCommand::RemoveMember { tax_code, national_id } => {
            // In the body: a national ID in the path would reach the server's request log.
            let body = json!({ "national_id": national_id });
            let answer = api.post(&["admin", "v1", "businesses", &tax_code, "members", "remove"], Some(&body))?;
            print(&answer, &|a| {
                format!(
                    "Removed {national_id} from {tax_code}; {} grant(s) acting for it revoked.",
                    field(a, "grants_revoked")
                )
            });
        }
    }
    Ok(())
}

fn details(b: &Value) -> String {
    pairs(&[
        ("tax code", field(b, "tax_code")),
        ("name", field(b, "name")),
        ("address", field(b, "address")),
        ("status", field(b, "status")),
        ("verified", field(b, "verified")),
        ("subject", field(b, "subject")),
        ("created", time(b, "created_at")),
        ("updated", time(b, "updated_at")),
    ])
}

fn items(list: &Value) -> &[Value] {
    list.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn business_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|b| vec![field(b, "tax_code"), field(b, "status"), field(b, "verified"), field(b, "name")])
        .collect();
    if rows.is_empty() {
        return "No businesses.".to_owned();
    }
    table(&["TAX_CODE", "STATUS", "VERIFIED", "NAME"], &rows)
}

fn member_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|m| {
            vec![
                field(m, "national_id"),
                field(m, "role"),
                field(m, "status"),
                last_day(m, "expires_at"),
                field(m, "name"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No members.".to_owned();
    }
    table(&["NATIONAL_ID", "ROLE", "STATUS", "UNTIL", "NAME"], &rows)
}

/// An end-of-authorisation time as the last day it holds, in Vietnam
/// (`YYYY-MM-DD`), or `-` when it never ends.
fn last_day(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_i64) {
        // The expiry is the first second after that day (exclusive).
        Some(end) => time(&json!({ "t": end - 1 + VIETNAM_OFFSET }), "t").chars().take(10).collect(),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn expiries_show_as_the_last_day_in_vietnam() {
        // 2027-06-30 ends at 2027-06-30T17:00Z (midnight in Vietnam).
        assert_eq!(last_day(&json!({"e": 1_814_374_800}), "e"), "2027-06-30");
        assert_eq!(last_day(&json!({"e": null}), "e"), "-");
    }

    #[test]
    fn members_are_tabled_by_national_id() {
        let list = json!([{"national_id": "001090000001", "role": "authorised_staff", "status": "active",
                           "expires_at": null, "name": "Nguyễn Văn An"}]);
        let t = member_table(&list);
        assert!(t.starts_with("NATIONAL_ID"), "{t}");
        assert!(t.contains("001090000001  authorised_staff  active  -      Nguyễn Văn An"), "{t}");
        assert_eq!(member_table(&json!([])), "No members.");
    }
}
