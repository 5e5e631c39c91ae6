//! `idp-admin keys …`: the signing-key lifecycle through `/admin/v1/keys`.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::api::{Api, Failure};
use crate::output::{field, pairs, table, time};

/// Signing keys: list, rotate, revoke, schedule, re-wrap, export the public JWKS.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys: kid, algorithm, state, dates and the next transition.
    List,
    /// Rotate: next → active, active → retired, a fresh next key is published.
    /// Refused while the next key has been published for less than 15
    /// minutes (relying parties may cache the JWKS that long) unless --force.
    Rotate {
        /// Only this algorithm (RS256, PS256, ES256, EdDSA); all when absent.
        #[arg(long, value_parser = ["RS256", "PS256", "ES256", "EdDSA"])]
        alg: Option<String>,
        /// Rotate onto a key published less than 15 minutes ago all the same:
        /// relying parties that have not refetched the JWKS refuse its tokens.
        #[arg(long)]
        force: bool,
    },
    /// Revoke a key (suspected compromise): it leaves the JWKS at once, its
    /// tokens stop working, and a new key signs in its place. With --all,
    /// every key (active, next and retired) is revoked and fresh ones made:
    /// for a leak of the database together with the master key.
    Revoke {
        /// Key id, as `keys list` shows it.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        kid: Option<String>,
        /// Revoke every key of every algorithm in use (or of --alg).
        #[arg(long)]
        all: bool,
        /// With --all: only this algorithm.
        #[arg(long, requires = "all", value_parser = ["RS256", "PS256", "ES256", "EdDSA"])]
        alg: Option<String>,
    },
    /// Show, set or turn off automatic rotation.
    Schedule {
        /// Rotate every DURATION (e.g. 90d, 12h, 30m; at least 1h).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "off")]
        every: Option<i64>,
        /// Turn automatic rotation off.
        #[arg(long)]
        off: bool,
    },
    /// Re-encrypt every private key under a new key-encryption key.
    Rewrap,
    /// Print the public JWKS (what relying parties fetch).
    ExportPublic,
}

/// `90d`, `12h`, `30m`, `45s` (or plain seconds) as seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = digits.parse().map_err(|_| format!("{text:?} is not a duration like 90d, 12h or 30m"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("unknown unit in {text:?}: use s, m, h, d or w (e.g. 90d)")),
    };
    n.checked_mul(unit).filter(|s| *s > 0).ok_or_else(|| format!("{text:?} is not a positive duration"))
}

/// Seconds as the largest whole unit: `7776000` → `90d`.
fn show_duration(secs: i64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Prints an answer: JSON with `--json`, else the text the closure makes of it.
pub type Printer<'a> = dyn Fn(&Value, &dyn Fn(&Value) -> String) + 'a;

/// Run one `keys` subcommand; `print` shows JSON or the human text.
pub fn run(api: &Api, cmd: KeysCommand, print: &Printer<'_>) -> Result<(), Failure> {
    const KEYS: [&str; 3] = ["admin", "v1", "keys"];
    const SCHEDULE: [&str; 4] = ["admin", "v1", "keys", "schedule"];
    match cmd {
        KeysCommand::List => {
            let list = api.get(&KEYS, &[])?;
            print(&list, &key_table);
        }
        KeysCommand::Rotate { alg, force } => {
            let mut body = alg.map_or_else(|| json!({}), |a| json!({ "alg": a }));
            if force {
                body["force"] = json!(true);
            }
            let answer = api.post(&["admin", "v1", "keys", "rotate"], Some(&body))?;
            print(&answer, &|a| {
                let rows: Vec<Vec<String>> = a["rotated"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|r| {
                                vec![field(r, "alg"), field(r, "retired"), field(r, "activated"), field(r, "next")]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!("Rotated.\n{}", table(&["ALG", "RETIRED", "NOW ACTIVE", "NEW NEXT"], &rows))
            });
        }
        KeysCommand::Revoke { kid: None, alg, .. } => {
            let body = alg.map(|a| json!({ "alg": a }));
            let answer = api.post(&["admin", "v1", "keys", "revoke-all"], body.as_ref())?;
            print(&answer, &|a| {
                let rows: Vec<String> = a["revoked"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "{}: {} keys revoked; now signing {}, next {}; grants revoked: {}.",
                            field(r, "alg"),
                            r["revoked"].as_array().map_or(0, Vec::len),
                            field(r, "activated"),
                            field(r, "next"),
                            field(r, "grants_revoked")
                        )
                    })
                    .collect();
                rows.join("\n")
            });
        }
        KeysCommand::Revoke { kid: Some(kid), .. } => {
            let answer = api.post(&["admin", "v1", "keys", &kid, "revoke"], None)?;
            print(&answer, &|a| {
                let mut out = format!("Key {} revoked (was {}).", field(a, "kid"), field(a, "previous_state"));
                if a["activated"].is_string() {
                    out.push_str(&format!("\nNow signing {}: {}.", field(a, "alg"), field(a, "activated")));
                }
                out.push_str(&format!("\nGrants revoked: {}.", field(a, "grants_revoked")));
                out
            });
        }
        KeysCommand::Schedule { every, off } => {
            let answer = match (every, off) {
                (Some(secs), _) => api.put(&SCHEDULE, &json!({ "every_secs": secs }))?,
                (None, true) => api.put(&SCHEDULE, &json!({ "every_secs": null }))?,
                (None, false) => api.get(&SCHEDULE, &[])?,
            };
            print(&answer, &schedule_text);
        }
        KeysCommand::Rewrap => {
            let answer = api.post(&["admin", "v1", "keys", "rewrap"], None)?;
            print(&answer, &|a| {
                let mut items = vec![("new KEK id", field(a, "kek_id")), ("keys re-wrapped", field(a, "keys"))];
                if a["previous_file"].is_string() {
                    items.push(("old key kept in", field(a, "previous_file")));
                }
                if a["master_key"].is_string() {
                    items.push(("IDP_MASTER_KEY", field(a, "master_key")));
                }
                pairs(&items)
            });
            if answer["master_key"].is_string() {
                eprintln!(
                    "idp-admin: store the new IDP_MASTER_KEY in your secret store now and give it to every node \
                     (the old one as IDP_MASTER_KEY_PREVIOUS until all have restarted); it is not shown again."
                );
            }
        }
        KeysCommand::ExportPublic => {
            let jwks = api.get(&["admin", "v1", "keys", "jwks"], &[])?;
            // The JWKS is JSON whatever the output mode.
            crate::output::say(serde_json::to_string_pretty(&jwks).unwrap_or_default());
        }
    }
    Ok(())
}

fn key_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|l| {
            l.iter()
                .map(|k| {
                    let next = match (k["next_transition"].as_str(), k["next_transition_at"].is_i64()) {
                        (Some(t), true) => format!("{t} {}", time(k, "next_transition_at")),
                        (Some(t), false) => format!("{t} at next rotation"),
                        (None, _) => "-".to_owned(),
                    };
                    vec![
                        field(k, "kid"),
                        field(k, "alg"),
                        field(k, "state"),
                        time(k, "created_at"),
                        time(k, "activated_at"),
                        time(k, "retired_at"),
                        next,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "NEXT TRANSITION"], &rows)
}

fn schedule_text(s: &Value) -> String {
    match s["interval_secs"].as_i64() {
        Some(secs) => format!("Automatic rotation every {}; next at {}.", show_duration(secs), time(s, "next_at")),
        None => "Automatic rotation is off.".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration("3600"), Ok(3600));
        for bad in ["", "d", "90x", "-1d", "0h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(90 * 86_400), "90d");
        assert_eq!(show_duration(5400), "90m");
        assert_eq!(show_duration(61), "61s");
    }

    #[test]
    fn schedule_and_key_text() {
        let on = json!({"enabled": true, "interval_secs": 7_776_000, "next_at": 0});
        assert_eq!(schedule_text(&on), "Automatic rotation every 90d; next at 1970-01-01 00:00 UTC.");
        assert_eq!(schedule_text(&json!({"enabled": false})), "Automatic rotation is off.");
        let list = json!([{"kid": "es256-a", "alg": "ES256", "state": "retired", "created_at": 0,
            "activated_at": 0, "retired_at": 0, "next_transition": "remove", "next_transition_at": 900}]);
        let t = key_table(&list);
        assert!(t.starts_with("KID"), "{t}");
        assert!(t.contains("remove 1970-01-01 00:15 UTC"), "{t}");
    }
}
