//! `idp-admin audit …`: read and verify the audit trail (security-admin, auditor).

use clap::Subcommand;
use serde_json::Value;

use crate::api::{Api, Failure};
use crate::keys::{Printer, parse_duration};
use crate::output::{field, table, time};

/// The audit trail: the latest events, a search, a verification of the hash chain.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The latest events, oldest first.
    Tail {
        /// How many (1 to 1000).
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        n: u32,
    },
    /// Events matching every filter given, newest first.
    Search {
        /// Actor contains this text (case-insensitive), e.g. an admin token id or `account:<id>`.
        #[arg(long)]
        actor: Option<String>,
        /// Exact action (client.update), or a prefix ending with a dot (client.).
        #[arg(long)]
        action: Option<String>,
        /// Only events within this long ago (e.g. 1h, 7d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        since: Option<i64>,
        /// Exact target (a client id, an account id, a token id).
        #[arg(long)]
        target: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Walk the hash chain: OK with the count, or the first broken event.
    Verify,
}

/// Run one `audit` subcommand.
pub fn run(api: &Api, cmd: AuditCommand, print: &Printer<'_>) -> Result<(), Failure> {
    match cmd {
        AuditCommand::Tail { n } => {
            let n = n.to_string();
            let list = api.get(&["admin", "v1", "audit"], &[("limit", &n)])?;
            print(&list, &|l| event_table(l, true));
        }
        AuditCommand::Search { actor, action, since, target, limit } => {
            let (since, limit) = (since.map(|s| s.to_string()), limit.to_string());
            let mut query = vec![("limit", limit.as_str())];
            for (k, v) in [("actor", &actor), ("action", &action), ("within", &since), ("target", &target)] {
                if let Some(v) = v {
                    query.push((k, v.as_str()));
                }
            }
            let list = api.get(&["admin", "v1", "audit"], &query)?;
            print(&list, &|l| event_table(l, false));
        }
        AuditCommand::Verify => {
            let v = api.get(&["admin", "v1", "audit", "verify"], &[])?;
            print(&v, &|v| {
                if v["ok"] == Value::Bool(true) {
                    // The head hash is what to export where the database administrator
                    // cannot write: a later verify must still end in (or pass through) it.
                    format!(
                        "OK: {} events, the hash chain is intact.\nHead: seq {} hash {}",
                        field(v, "events"),
                        field(v, "head_seq"),
                        field(v, "head_hash")
                    )
                } else {
                    format!(
                        "BROKEN at seq {}: {} ({} events before it verified).",
                        field(v, "first_broken_seq"),
                        field(v, "reason"),
                        field(v, "events")
                    )
                }
            });
            if v["ok"] != Value::Bool(true) {
                return Err(Failure::new("the audit trail does not verify: it was edited, or events were removed"));
            }
        }
    }
    Ok(())
}

/// Events as a table; `oldest_first` reverses the API's newest-first order.
fn event_table(list: &Value, oldest_first: bool) -> String {
    let mut events: Vec<&Value> = list.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    if oldest_first {
        events.reverse();
    }
    if events.is_empty() {
        return "No events.".to_owned();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                field(e, "seq"),
                time(e, "at"),
                field(e, "outcome"),
                field(e, "action"),
                field(e, "target"),
                field(e, "source_ip"),
                field(e, "request_id"),
                field(e, "actor"),
            ]
        })
        .collect();
    table(&["SEQ", "TIME", "OUTCOME", "ACTION", "TARGET", "IP", "REQUEST", "ACTOR"], &rows)
}
