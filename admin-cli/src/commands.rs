//! What each subcommand sends and how it prints the answer.

use std::io::BufRead as _;

use serde_json::{Map, Value, json};

use crate::api::{Api, Failure};
use crate::output::{field, lines, pairs, table, time};
use crate::{Cli, ClientCommand, Command, OrgCommand, RegisterArgs, UserCommand};

/// Run one parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    // Inputs that need no server are checked before any request is sent.
    let register_body = match &cli.command {
        Command::Client(ClientCommand::Register(args)) => Some(register_body(args)?),
        Command::Client(ClientCommand::Update(args)) => Some(crate::client_update::body(args)?),
        _ => None,
    };
    let password = match &cli.command {
        Command::User(UserCommand::Create { password_stdin: true, .. }) => Some(read_password()?),
        _ => None,
    };
    let api = Api::new(&cli.url, cli.token.as_deref())?;
    let print = |value: &Value, human: &dyn Fn(&Value) -> String| {
        if json {
            crate::output::say(serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            crate::output::say(human(value));
        }
    };

    match cli.command {
        Command::Keys(cmd) => crate::keys::run(&api, cmd, &print)?,
        Command::Token(cmd) => crate::tokens::run(&api, cmd, &print)?,
        Command::Audit(cmd) => crate::audit::run(&api, cmd, &print)?,
        Command::Business(cmd) => crate::businesses::run(&api, cmd, &print)?,
        Command::User(UserCommand::Import { file }) => crate::import::run(&api, &file, json)?,
        Command::Client(ClientCommand::Update(args)) => {
            let body = register_body.unwrap_or(Value::Null);
            let answer = api.patch(&["admin", "v1", "clients", &args.client_id], &body)?;
            print(&answer, &|a| {
                let mut out = format!("Updated client\n{}", client_details(&a["client"]));
                if let Some(secret) = a["client_secret"].as_str() {
                    out.push_str(&format!("\n{}", pairs(&[("client_secret", secret.to_owned())])));
                }
                out
            });
            if !json && answer["client_secret"].is_string() {
                secret_warning(field(&answer["client"], "client_id"));
            }
        }
        Command::Org(OrgCommand::Create { code, name, kind }) => {
            let org = api
                .post(&["admin", "v1", "organisations"], Some(&json!({ "code": code, "name": name, "kind": kind })))?;
            print(&org, &|o| {
                format!(
                    "Created organisation {} ({}, {}), id {}",
                    field(o, "code"),
                    field(o, "name"),
                    field(o, "kind"),
                    field(o, "id")
                )
            });
        }
        Command::Org(OrgCommand::List) => {
            let list = api.get(&["admin", "v1", "organisations"], &[])?;
            print(&list, &|l| org_table(l));
        }
        Command::Client(ClientCommand::Register(_)) => {
            let body = register_body.unwrap_or(Value::Null);
            let answer = api.post(&["admin", "v1", "clients"], Some(&body))?;
            print(&answer, &|a| {
                let mut out = format!("Registered client\n{}", client_details(&a["client"]));
                if let Some(secret) = a["client_secret"].as_str() {
                    out.push_str(&format!("\n{}", pairs(&[("client_secret", secret.to_owned())])));
                }
                out
            });
            if !json && answer["client_secret"].is_string() {
                secret_warning(field(&answer["client"], "client_id"));
            }
        }
        Command::Client(ClientCommand::List { org }) => {
            let query: Vec<(&str, &str)> = org.as_deref().map(|o| ("organisation", o)).into_iter().collect();
            let list = api.get(&["admin", "v1", "clients"], &query)?;
            print(&list, &|l| client_table(l));
        }
        Command::Client(ClientCommand::Show { client_id }) => {
            let client = api.get(&["admin", "v1", "clients", &client_id], &[])?;
            print(&client, &|c| client_details(c));
        }
        Command::Client(ClientCommand::Disable { client_id }) => {
            let client = api.post(&["admin", "v1", "clients", &client_id, "disable"], None)?;
            print(&client, &|c| format!("Client {} disabled.", field(c, "client_id")));
        }
        Command::Client(ClientCommand::RotateSecret { client_id, grace }) => {
            let body = json!({ "grace_seconds": grace });
            let answer = api.post(&["admin", "v1", "clients", &client_id, "rotate-secret"], Some(&body))?;
            print(&answer, &|a| {
                pairs(&[
                    ("client_id", field(a, "client_id")),
                    ("client_secret", field(a, "client_secret")),
                    ("old secret works until", time(a, "previous_secret_expires_at")),
                ])
            });
            if !json {
                secret_warning(field(&answer, "client_id"));
            }
        }
        Command::User(UserCommand::Create {
            national_id,
            name,
            email,
            phone,
            birthdate,
            gender,
            address,
            password_stdin: _,
        }) => {
            let mut body = Map::new();
            body.insert("national_id".into(), national_id.into());
            body.insert("full_name".into(), name.into());
            insert_opt(&mut body, "email", email);
            insert_opt(&mut body, "phone", phone);
            insert_opt(&mut body, "birthdate", birthdate);
            insert_opt(&mut body, "gender", gender);
            insert_opt(&mut body, "address", address);
            insert_opt(&mut body, "password", password);
            let user = api.post(&["admin", "v1", "users"], Some(&Value::Object(body)))?;
            print(&user, &|u| format!("Created user\n{}", user_details(u)));
        }
        Command::User(UserCommand::List { limit, after }) => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            if let Some(after) = after.as_deref() {
                query.push(("after", after));
            }
            let list = api.get(&["admin", "v1", "users"], &query)?;
            print(&list, &|l| user_table(l));
        }
        Command::User(UserCommand::Disable { account_id }) => {
            let user = api.post(&["admin", "v1", "users", &account_id, "disable"], None)?;
            print(&user, &|u| format!("User {} disabled; their sessions have ended.", field(u, "account_id")));
        }
    }
    Ok(())
}

/// The JSON body of `client register`, with only the options given.
fn register_body(args: &RegisterArgs) -> Result<Value, Failure> {
    let mut body = Map::new();
    body.insert("name".into(), args.name.clone().into());
    body.insert("organisation".into(), args.org.clone().into());
    body.insert("client_type".into(), args.client_type.clone().into());
    insert_opt(&mut body, "auth_method", args.auth_method.clone());
    body.insert("redirect_uris".into(), args.redirect_uris.clone().into());
    if !args.post_logout_uris.is_empty() {
        body.insert("post_logout_redirect_uris".into(), args.post_logout_uris.clone().into());
    }
    if !args.grant_types.is_empty() {
        body.insert("grant_types".into(), args.grant_types.clone().into());
    }
    if !args.scopes.is_empty() {
        body.insert("scopes".into(), args.scopes.clone().into());
    }
    insert_opt(&mut body, "signing_alg", args.signing_alg.clone());
    insert_opt(&mut body, "access_token_alg", args.access_token_alg.clone());
    if let Some(path) = &args.jwks_file {
        body.insert("jwks".into(), read_jwks_file(path)?);
    }
    insert_opt(&mut body, "jwks_uri", args.jwks_uri.clone());
    if args.no_pkce {
        body.insert("require_pkce".into(), false.into());
    }
    insert_opt(&mut body, "minimum_acr", args.minimum_acr.clone());
    insert_opt(&mut body, "backchannel_logout_uri", args.backchannel_logout_uri.clone());
    insert_opt(&mut body, "frontchannel_logout_uri", args.frontchannel_logout_uri.clone());
    insert_opt(&mut body, "subject_type", args.subject_type.clone());
    insert_opt(&mut body, "sector_identifier_uri", args.sector_identifier_uri.clone());
    if let Some(allowed) = args.business_self_allowed {
        body.insert("business_self_allowed".into(), allowed.into());
    }
    if let Some(required) = args.require_par {
        body.insert("require_pushed_authorization_requests".into(), required.into());
    }
    if let Some(bound) = args.dpop_bound {
        body.insert("dpop_bound_access_tokens".into(), bound.into());
    }
    Ok(Value::Object(body))
}

/// The JSON of a `--jwks-file`, with a one-line error naming the file.
pub(crate) fn read_jwks_file(path: &std::path::Path) -> Result<Value, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Failure(format!("cannot read the JWKS file {shown}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| Failure(format!("the JWKS file {shown} is not valid JSON: {e}")))
}

fn insert_opt(body: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), v.into());
    }
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(Failure::new("--password-stdin: standard input has no password on its first line"));
    }
    Ok(password)
}

/// The one warning printed with a secret (stderr, so stdout stays the data).
fn secret_warning(client_id: String) {
    eprintln!(
        "Save the client secret now: it is shown only once and cannot be recovered. \
         `idp-admin client rotate-secret {client_id}` issues a new one."
    );
}

fn items(list: &Value) -> &[Value] {
    list.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn org_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|o| vec![field(o, "code"), field(o, "kind"), field(o, "name"), field(o, "id")])
        .collect();
    if rows.is_empty() {
        return "No organisations.".to_owned();
    }
    table(&["CODE", "KIND", "NAME", "ID"], &rows)
}

fn client_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|c| {
            vec![
                field(c, "client_id"),
                field(c, "client_type"),
                field(c, "auth_method"),
                field(c, "status"),
                field(c, "name"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No clients.".to_owned();
    }
    table(&["CLIENT_ID", "TYPE", "AUTH", "STATUS", "NAME"], &rows)
}

fn client_details(c: &Value) -> String {
    let jwks = match c.get("jwks").and_then(|j| j.get("keys")).and_then(Value::as_array) {
        Some(keys) => format!("inline, {} key(s)", keys.len()),
        None => "-".to_owned(),
    };
    pairs(&[
        ("client_id", field(c, "client_id")),
        ("name", field(c, "name")),
        ("organisation", field(c, "organisation_id")),
        ("type", field(c, "client_type")),
        ("auth method", field(c, "auth_method")),
        ("status", field(c, "status")),
        ("redirect URIs", lines(c, "redirect_uris")),
        ("post-logout URIs", lines(c, "post_logout_redirect_uris")),
        ("grant types", field(c, "grant_types")),
        ("scopes", field(c, "scopes")),
        ("signing alg", field(c, "signing_alg")),
        ("access token alg", field(c, "access_token_alg")),
        ("PKCE required", field(c, "require_pkce")),
        ("PAR required", field(c, "require_pushed_authorization_requests")),
        ("DPoP required", field(c, "dpop_bound_access_tokens")),
        ("minimum acr", field(c, "minimum_acr")),
        ("back-channel logout", field(c, "backchannel_logout_uri")),
        ("front-channel logout", field(c, "frontchannel_logout_uri")),
        ("jwks", jwks),
        ("jwks_uri", field(c, "jwks_uri")),
        ("subject type", field(c, "subject_type")),
        ("sector", field(c, "sector_identifier")),
        ("sector_identifier_uri", field(c, "sector_identifier_uri")),
        ("business: act as self", field(c, "business_self_allowed")),
        ("created", time(c, "created_at")),
        ("updated", time(c, "updated_at")),
    ])
}

fn user_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|u| {
            vec![
                field(u, "account_id"),
                field(u, "national_id"),
                field(u, "status"),
                field(u, "email"),
                field(u, "full_name"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No users.".to_owned();
    }
    table(&["ACCOUNT_ID", "NATIONAL_ID", "STATUS", "EMAIL", "NAME"], &rows)
}

fn user_details(u: &Value) -> String {
    pairs(&[
        ("account_id", field(u, "account_id")),
        ("subject", field(u, "subject")),
        ("national_id", field(u, "national_id")),
        ("full name", field(u, "full_name")),
        ("email", field(u, "email")),
        ("phone", field(u, "phone")),
        ("birthdate", field(u, "birthdate")),
        ("gender", field(u, "gender")),
        ("address", field(u, "address")),
        ("status", field(u, "status")),
        ("created", time(u, "created_at")),
    ])
}
