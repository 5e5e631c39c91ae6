use std::process::Output;
use std::time::Duration;

use e2e::oauth::{self, ClientAuth};
use e2e::server::admin_command;
use e2e::{Browser, Credentials, Idp, Rp};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `idp-admin` with another token than the bootstrap one.
fn admin_as(idp: &Idp, token: &str, args: &[&str]) -> Output {
    admin_command(&idp.admin_url(), token, args, None)
}

/// `idp-admin --json …` with `token`; fails the test unless it succeeds.
fn json_as(idp: &Idp, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = admin_as(idp, token, &all);
    assert!(out.status.success(), "idp-admin {args:?} failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON from {args:?} ({e}): {}", stdout(&out)))
}

/// Creates a token with `token create`; returns (id, secret).
fn create_token(idp: &Idp, args: &[&str]) -> (String, String) {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = idp.admin_json(&all);
    assert!(out["token"].get("hash").is_none(), "a token view must not carry the hash: {out}");
    (out["token"]["id"].as_str().unwrap().to_owned(), out["secret"].as_str().unwrap().to_owned())
}

/// `GET` on the admin API with a bearer token: (status, JSON body).
fn admin_get(idp: &Idp, token: &str, path: &str) -> (u16, Value) {
    let resp = idp.http().get(format!("{}{path}", idp.admin_url())).bearer_auth(token).send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// A client of organisation `org` (code), registered by the security admin.
fn client_of(idp: &Idp, org: &str, extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec![
        "client",
        "register",
        "--name",
        "RP",
        "--org",
        org,
        "--type",
        "confidential",
        "--redirect-uri",
        "https://rp.example.vn/cb",
    ];
    args.extend_from_slice(extra);
    let out = idp.admin_json(&args);
    (out["client"]["client_id"].as_str().unwrap().to_owned(), out["client_secret"].as_str().map(str::to_owned))
}

fn client_credentials(idp: &Idp, client_id: &str, secret: &str) -> u16 {
    let url = idp.url("/token");
    oauth::post_form(&idp.http(), &url, ClientAuth::Basic(client_id, secret), &[("grant_type", "client_credentials")])
        .status
}

#[test]
fn org_admin_is_confined_to_its_own_organisation() {
    let idp = Idp::start();
    let ministry = idp.ensure_org();
    idp.admin_json(&["org", "create", "--code", "hanoi", "--name", "Hà Nội", "--kind", "province"]);
    let (theirs, _) = client_of(&idp, ministry, &[]);
    let (ours, _) = client_of(&idp, "hanoi", &[]);
    let (_, token) = create_token(&idp, &["--role", "org-admin", "--org", "hanoi", "--label", "hanoi-admin"]);

    // Its list shows its own clients only, even when asking for everything.
    let list = json_as(&idp, &token, &["client", "list"]);
    let ids: Vec<&str> = list.as_array().unwrap().iter().filter_map(|c| c["client_id"].as_str()).collect();
    assert_eq!(ids, [ours.as_str()]);

    // Another organisation's client: 403 with a message that says why.
    let (status, body) = admin_get(&idp, &token, &format!("/admin/v1/clients/{theirs}"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("bound to organisation") && msg.contains("another organisation"), "{msg}");
    for args in [
        vec!["client", "show", theirs.as_str()],
        vec!["client", "disable", theirs.as_str()],
        vec!["client", "rotate-secret", theirs.as_str()],
        vec!["client", "update", theirs.as_str(), "--scope", "openid"],
        vec!["client", "list", "--org", ministry],
    ] {
        let out = admin_as(&idp, &token, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?} was not refused: {}", stdout(&out));
        assert!(stderr(&out).contains("another organisation"), "{args:?}: {}", stderr(&out));
    }
    let out = admin_as(
        &idp,
        &token,
        &[
            "client",
            "register",
            "--name",
            "X",
            "--org",
            ministry,
            "--type",
            "public",
            "--redirect-uri",
            "https://x.vn/cb",
        ],
    );
    assert!(stderr(&out).contains("another organisation"), "{}", stderr(&out));

    // Keys, users, tokens and the audit trail are out of reach.
    for path in ["/admin/v1/keys", "/admin/v1/users", "/admin/v1/tokens", "/admin/v1/audit", "/admin/v1/organisations"]
    {
        let (status, body) = admin_get(&idp, &token, path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().starts_with("the org-admin role may not"), "{path}: {body}");
    }

    // Its own clients: update, rotate, disable.
    let updated = json_as(&idp, &token, &["client", "update", &ours, "--scope", "openid", "--scope", "email"]);
    assert_eq!(updated["client"]["scopes"], serde_json::json!(["openid", "email"]));
    json_as(&idp, &token, &["client", "rotate-secret", &ours]);
    json_as(&idp, &token, &["client", "disable", &ours]);
    // The other organisation's client was never touched.
    assert_eq!(idp.admin_json(&["client", "show", &theirs])["status"], "active");

    // The refusals are on the record, with who tried.
    let denied = idp.admin_json(&["audit", "search", "--target", &theirs]);
    let denied: Vec<&Value> = denied.as_array().unwrap().iter().filter(|e| e["outcome"] == "denied").collect();
    assert!(denied.len() >= 4, "{denied:?}");
    assert!(denied[0]["actor"].as_str().unwrap().contains("(hanoi-admin)"), "{:?}", denied[0]);
}

#[test]
fn auditor_reads_the_audit_trail_and_nothing_else() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    rp.sign_in(&Browser::new(&idp), &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    // A wrong password, and an identifier that names nobody.
    let browser = Browser::new(&idp);
    let login = idp.url("/login");
    browser.submit_login(&login, &citizen.email, "not-the-password");
    browser.submit_login(&login, "nobody-here@example.vn", "whatever-password");
    let (_, auditor) = create_token(&idp, &["--role", "auditor", "--label", "inspector"]);

    let (status, body) = admin_get(&idp, &auditor, "/admin/v1/clients");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "the auditor role may not read clients");
    let out = admin_as(&idp, &auditor, &["user", "list"]);
    assert_eq!(out.status.code(), Some(1));

    let tail = admin_as(&idp, &auditor, &["audit", "tail", "-n", "50"]);
    assert!(tail.status.success(), "{}", stderr(&tail));
    let text = stdout(&tail);
    for action in ["client.register", "user.create", "login.password", "admin_token.create"] {
        assert!(text.contains(action), "{action} missing from the tail:\n{text}");
    }
    // Nothing secret or identifying in clear: no password, no typed unknown identifier, no token.
    for secret in [citizen.password.as_str(), "not-the-password", "nobody-here@example.vn", auditor.as_str()] {
        assert!(!text.contains(secret), "{secret:?} appears in the audit trail:\n{text}");
    }

    let logins = json_as(&idp, &auditor, &["audit", "search", "--action", "login.password"]);
    let logins = logins.as_array().unwrap();
    let account = citizen.view["account_id"].as_str().unwrap();
    let by = |outcome: &str, actor: &str| logins.iter().any(|e| e["outcome"] == outcome && e["actor"] == actor);
    assert!(by("success", &format!("account:{account}")), "{logins:?}");
    assert!(by("failure", &format!("account:{account}")), "{logins:?}");
    assert!(by("failure", "unknown"), "{logins:?}");
    let verify = admin_as(&idp, &auditor, &["audit", "verify"]);
    assert!(stdout(&verify).starts_with("OK: "), "{}", stdout(&verify));
}

#[test]
fn a_tampered_audit_row_is_detected_by_verify() {
    let idp = Idp::start();
    if idp.sql("SELECT 1").is_none() {
        eprintln!("skipping: the sqlite3 CLI is not installed (the store suite covers tampering on both engines)");
        return;
    }
    idp.ensure_org();
    idp.register_client(&[]);
    idp.register_client(&[]);
    let ok = idp.admin(&["audit", "verify"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    // bootstrap-admin's token, the 8 keys created at first start, the organisation, two clients.
    assert!(stdout(&ok).starts_with("OK: 12 events"), "{}", stdout(&ok));
    // The head to export where the database administrator cannot write.
    let head = stdout(&ok).lines().nth(1).unwrap_or_default().to_owned();
    assert!(head.starts_with("Head: seq 12 hash ") && head.len() == "Head: seq 12 hash ".len() + 64, "{head}");

    // Straight into the database (the sqlite3 CLI, or psql in production mode).
    let sql = "UPDATE audit_events SET detail = '{\"error\":\"nothing happened\"}' WHERE seq = 2;";
    // A plain edit is refused by the database itself (append-only triggers).
    let refused = idp.sql(sql).unwrap();
    assert!(!refused.status.success(), "the append-only trigger let an UPDATE through");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("audit_events is append-only"), "{refused:?}");
    assert!(stdout(&idp.admin(&["audit", "verify"])).starts_with("OK: 12 events"));
    // An attacker with DDL rights drops the trigger first, as this test does on purpose;
    // the hash chain is what detects the edit then.
    let drop_trigger = match idp.engine() {
        "postgres" => "DROP TRIGGER audit_events_no_update ON audit_events;",
        _ => "DROP TRIGGER audit_events_no_update;",
    };
    let edit = idp.sql(&format!("{drop_trigger} {sql}")).unwrap();
    assert!(edit.status.success(), "{}: {}", idp.engine(), String::from_utf8_lossy(&edit.stderr));

    let broken = idp.admin(&["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(stdout(&broken).starts_with("BROKEN at seq 2:"), "{}", stdout(&broken));
    assert!(stderr(&broken).contains("does not verify"), "{}", stderr(&broken));
}

#[test]
fn csv_import_reports_bad_rows_by_line_and_is_idempotent() {
    let idp = Idp::start();
    let hash = "$argon2id$v=19$m=1024,t=1,p=1$29eZ/4qDZPVmzHQ8IW2iwg$bKODys+dLPfrqjDl34w0RPqrgQ/TW9E6iZaMcmuaLvc";
    let csv = format!(
        "national_id,full_name,email,phone,password_hash\n\
         001090000101,Trần Thị Bình,binh@example.vn,0912345678,{hash}\n\
         12345,Bad Id,,,\n\
         001090000102,\"Lê, Văn Cường\",,+84987654321,\n\
         001090000103,Bcrypt User,,,$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW\n\
         001090000104,Bad Email,not-an-email,,\n\
         001090000105,Too,Many,Fields,,,\n\
         001090000106,Phạm Thu,,,\n"
    );
    let file = idp.dir().join("accounts.csv");
    std::fs::write(&file, csv).unwrap();
    let path = file.to_str().unwrap();

    let first = idp.admin(&["user", "import", path]);
    let text = stdout(&first);
    assert_eq!(first.status.code(), Some(1), "{text}\n{}", stderr(&first));
    assert!(text.contains("line 3: national_id must be 12 digits"), "{text}");
    assert!(text.contains("line 5: password_hash is not a PHC string"), "{text}");
    assert!(text.contains("line 6: email is not a valid address"), "{text}");
    assert!(text.contains("line 7: expected 5 fields, found 7"), "{text}");
    assert!(text.contains("3 new, 0 already present, 4 rejected"), "{text}");
    assert!(stderr(&first).contains("4 of 7 rows were rejected"), "{}", stderr(&first));

    let again = idp.admin(&["user", "import", path]);
    assert!(stdout(&again).contains("0 new, 3 already present, 4 rejected"), "{}", stdout(&again));
    let users = idp.admin_json(&["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 3, "{users}");
    let named: Vec<&str> = users.as_array().unwrap().iter().filter_map(|u| u["full_name"].as_str()).collect();
    assert!(named.contains(&"Lê, Văn Cường"), "{named:?}");

    // A registry export in a legacy Vietnamese encoding (Windows-1258 bytes
    // for "Nguyễn") stops at its line, with one readable line saying what to do.
    let legacy = idp.dir().join("legacy.csv");
    std::fs::write(&legacy, b"national_id,full_name\n001090000107,Nguy\xd2n An\n").unwrap();
    let refused = idp.admin(&["user", "import", legacy.to_str().unwrap()]);
    assert_ne!(refused.status.code(), Some(0));
    let why = stderr(&refused);
    assert_eq!(why.trim().lines().count(), 1, "{why}");
    assert!(why.contains("line 2 is not UTF-8 text; save the file as UTF-8"), "{why}");

    // The imported hash works at the login page.
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let tokens =
        rp.sign_in(&Browser::new(&idp), &[], &[], Credentials::Password("binh@example.vn", "Mat-khau-cu-2019"));
    assert!(!tokens.access_token.is_empty());
}

/// Accounts seeded from the population registry carry a date of birth, a
/// gender and an address (by CSV import or `user create`), checked against
/// what the national ID number encodes; relying parties then get them as the
/// `profile` and `address` scopes' claims.
#[test]
fn registry_records_give_services_birthdate_gender_and_address() {
    let idp = Idp::start();
    let hash = "$argon2id$v=19$m=1024,t=1,p=1$29eZ/4qDZPVmzHQ8IW2iwg$bKODys+dLPfrqjDl34w0RPqrgQ/TW9E6iZaMcmuaLvc";
    // 001 Hà Nội · 1 a woman born in the 1900s · 99 → 1999.
    let csv = format!(
        "national_id,full_name,birthdate,gender,address,password_hash\n\
         001199000201,Đỗ Thị Mai,1999-03-14,Nữ,\"12 Hàng Bài, Hoàn Kiếm, Hà Nội\",{hash}\n\
         001199000202,Wrong Year,1998-03-14,female,,\n\
         001199000203,Wrong Gender,1999-03-14,male,,\n\
         001199000204,No Such Day,1999-02-30,,,\n"
    );
    let file = idp.dir().join("registry.csv");
    std::fs::write(&file, csv).unwrap();
    let import = idp.admin(&["user", "import", file.to_str().unwrap()]);
    let text = stdout(&import);
    assert_eq!(import.status.code(), Some(1), "{text}");
    assert!(text.contains("line 3: birthdate must be a past YYYY-MM-DD date in the birth year"), "{text}");
    assert!(text.contains("line 4: gender must be female or male"), "{text}");
    assert!(text.contains("line 5: birthdate"), "{text}");
    assert!(text.contains("1 new, 0 already present, 3 rejected"), "{text}");

    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let creds = Credentials::Password("001199000201", "Mat-khau-cu-2019");
    let tokens = rp.sign_in(&Browser::new(&idp), &["profile", "address"], &[], creds);
    let info = rp.userinfo(&tokens.access_token);
    let claims = info.ok_json();
    assert_eq!(claims["name"], "Đỗ Thị Mai", "{claims}");
    assert_eq!(claims["birthdate"], "1999-03-14", "{claims}");
    assert_eq!(claims["gender"], "female", "{claims}");
    assert_eq!(claims["address"]["formatted"], "12 Hàng Bài, Hoàn Kiếm, Hà Nội", "{claims}");

    // The same rules through `user create`: a man born in 2005 (digit 2, year 05).
    let created = idp.admin_json(&[
        "user",
        "create",
        "--national-id",
        "079205000301",
        "--name",
        "Phan Văn Minh",
        "--birthdate",
        "2005-11-02",
        "--gender",
        "nam",
        "--address",
        "  45   Lê Lợi,  Quận 1, TP. Hồ Chí Minh ",
    ]);
    assert_eq!(
        (&created["birthdate"], &created["gender"], &created["address"]),
        (&Value::from("2005-11-02"), &Value::from("male"), &Value::from("45 Lê Lợi, Quận 1, TP. Hồ Chí Minh")),
        "{created}"
    );
    let refused =
        idp.admin(&["user", "create", "--national-id", "079205000302", "--name", "Phan Thị Lan", "--gender", "female"]);
    assert_ne!(refused.status.code(), Some(0));
    let why = stderr(&refused);
    assert_eq!(why.trim().lines().count(), 1, "{why}");
    assert!(why.contains("gender must be female or male, as the national ID number encodes"), "{why}");
}

#[test]
fn rotate_secret_with_grace_keeps_the_old_secret_until_the_grace_ends() {
    let idp = Idp::start();
    let org = idp.ensure_org();
    let (client, first) = client_of(&idp, org, &["--grant-type", "client_credentials"]);
    let first = first.unwrap();
    assert_eq!(client_credentials(&idp, &client, &first), 200);

    let rotated = idp.admin_json(&["client", "rotate-secret", &client, "--grace", "1h"]);
    let second = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_expires_at"].as_i64().unwrap() > crate::now() + 3500);
    assert_eq!(client_credentials(&idp, &client, &first), 200, "old secret must work during the grace period");
    assert_eq!(client_credentials(&idp, &client, &second), 200);

    // Time is in whole seconds, so a 1 s grace may be over before the next request: 3 s is sure.
    let rotated = idp.admin_json(&["client", "rotate-secret", &client, "--grace", "3s"]);
    let third = rotated["client_secret"].as_str().unwrap().to_owned();
    // Only the secret just replaced is in grace; the one before it is gone.
    assert_eq!(client_credentials(&idp, &client, &first), 401);
    assert_eq!(client_credentials(&idp, &client, &second), 200);
    std::thread::sleep(Duration::from_millis(4100));
    assert_eq!(client_credentials(&idp, &client, &second), 401, "old secret must fail after the grace period");
    assert_eq!(client_credentials(&idp, &client, &third), 200);

    // Without --grace the old secret stops at once.
    let rotated = idp.admin_json(&["client", "rotate-secret", &client]);
    assert_eq!(client_credentials(&idp, &client, &third), 401);
    assert_eq!(client_credentials(&idp, &client, rotated["client_secret"].as_str().unwrap()), 200);
}

#[test]
fn admin_tokens_are_created_listed_revoked_and_expire() {
    let idp = Idp::start();
    let (id, token) = create_token(&idp, &["--role", "security-admin", "--label", "ops laptop", "--expires-in", "30d"]);
    json_as(&idp, &token, &["org", "list"]);

    let list = idp.admin_json(&["token", "list"]);
    let row = list.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["label"], "ops laptop");
    assert!(row.get("hash").is_none() && row["revoked_at"].is_null(), "{row}");
    assert!(row["expires_at"].as_i64().unwrap() > crate::now() + 29 * 86_400);
    let table = stdout(&idp.admin(&["token", "list"]));
    assert!(table.contains(&id) && table.contains("ops laptop"), "{table}");
    assert!(!table.contains(&token), "the token itself must never be listed");

    let revoked = idp.admin_json(&["token", "revoke", &id]);
    assert!(revoked["revoked_at"].as_i64().is_some(), "{revoked}");
    let out = admin_as(&idp, &token, &["org", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("a valid admin token is required"), "{}", stderr(&out));

    // Expired is refused like revoked.
    let (_, short) = create_token(&idp, &["--role", "auditor", "--expires-in", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(admin_get(&idp, &short, "/admin/v1/audit").0, 401);

    // Role rules for token creation are checked.
    let out = idp.admin(&["token", "create", "--role", "org-admin"]);
    assert!(stderr(&out).contains("must be bound to an organisation"), "{}", stderr(&out));
    // Only a security admin manages tokens.
    let (_, auditor) = create_token(&idp, &["--role", "auditor"]);
    assert_eq!(admin_get(&idp, &auditor, "/admin/v1/tokens").0, 403);
    let events = idp.admin_json(&["audit", "search", "--action", "admin_token."]);
    assert!(
        events.as_array().unwrap().iter().any(|e| e["action"] == "admin_token.revoke" && e["target"] == id.as_str())
    );
}

#[test]
fn a_disabled_clients_tokens_stop_working_at_once() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let tokens =
        rp.sign_in(&Browser::new(&idp), &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    assert_eq!(rp.userinfo(&tokens.access_token).status, 200);
    idp.admin_json(&["client", "disable", &reg.client_id]);
    assert_eq!(rp.userinfo(&tokens.access_token).status, 401);
}
