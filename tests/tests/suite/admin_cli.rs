use std::process::Output;

use e2e::Idp;
use e2e::oauth::{self, ClientAuth};
use e2e::server::{admin_command, free_ports};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The contract for failures the API reports: exit code 1, nothing on stdout, exactly one line
/// `idp-admin: <message>` on stderr.
fn assert_one_line_failure(what: &str, out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{what}: status {}, stderr {err:?}", out.status);
    assert!(stdout(out).trim().is_empty(), "{what}: stdout {:?}", stdout(out));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: stderr is not one line: {err:?}");
    assert!(lines[0].starts_with("idp-admin: "), "{what}: {err:?}");
    lines[0].to_owned()
}

#[test]
fn client_register_prints_the_client_id_and_a_working_secret() {
    let idp = Idp::start();
    let org = idp.ensure_org();
    let out = idp.admin(&[
        "client",
        "register",
        "--name",
        "Cổng dịch vụ công Hà Nội",
        "--org",
        org,
        "--type",
        "confidential",
        "--redirect-uri",
        "https://dichvucong.hanoi.example.vn/cb",
    ]);
    assert!(out.status.success(), "register failed: {}", stderr(&out));
    let text = stdout(&out);

    let list = idp.admin_json(&["client", "list"]);
    let client_id = list
        .as_array()
        .expect("client list is an array")
        .iter()
        .find(|c| c["name"] == "Cổng dịch vụ công Hà Nội")
        .and_then(|c| c["client_id"].as_str())
        .unwrap_or_else(|| panic!("registered client not listed: {list}"))
        .to_owned();
    assert!(text.contains(&client_id), "client id not printed:\n{text}");

    // The secret is a 256-bit base64url token printed once.
    let candidates: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| w.len() >= 43 && *w != client_id)
        .collect();
    assert_eq!(candidates.len(), 1, "expected one secret in:\n{text}");
    let secret = candidates[0];
    assert!(!list.to_string().contains(secret), "secret listed again");

    // The printed secret authenticates the client.
    let reply = oauth::post_form(
        &idp.http(),
        &idp.url("/introspect"),
        ClientAuth::Basic(&client_id, secret),
        &[("token", "not-a-token")],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["active"], false);
}

#[test]
fn admin_api_rejections_exit_1_with_one_line() {
    let idp = Idp::start();
    let org = idp.ensure_org();

    let out = idp.admin(&["org", "create", "--code", "Not A Code!", "--name", "X", "--kind", "ministry"]);
    assert_one_line_failure("invalid org code", &out);

    let out = idp.admin(&["org", "create", "--code", org, "--name", "Again", "--kind", "ministry"]);
    assert_one_line_failure("duplicate org code", &out);

    let out = idp.admin(&[
        "client",
        "register",
        "--name",
        "Bad redirect",
        "--org",
        org,
        "--type",
        "confidential",
        "--redirect-uri",
        "not a url",
    ]);
    assert_one_line_failure("invalid redirect URI", &out);

    let out = idp.admin(&[
        "client",
        "register",
        "--name",
        "Plain http",
        "--org",
        org,
        "--type",
        "confidential",
        "--redirect-uri",
        "http://rp.example.vn/cb",
    ]);
    assert_one_line_failure("http redirect URI off loopback", &out);

    let out = idp.admin(&["client", "show", "no-such-client"]);
    assert_one_line_failure("unknown client", &out);

    let out = admin_command(&idp.admin_url(), "wrong-token", &["org", "list"], None);
    assert_one_line_failure("wrong token", &out);

    let [port] = free_ports();
    let nowhere = format!("http://127.0.0.1:{port}");
    let out = admin_command(&nowhere, idp.admin_token(), &["org", "list"], None);
    let line = assert_one_line_failure("unreachable API", &out);
    assert!(line.contains("cannot reach the admin API"), "{line}");
}

#[test]
fn usage_errors_exit_non_zero_without_touching_the_api() {
    let idp = Idp::start();
    for args in [
        &["client", "register", "--name", "No org"][..],
        &["org", "create", "--code", "x1", "--name", "X", "--kind", "planet"][..],
        &["no-such-command"][..],
    ] {
        let out = idp.admin(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!stderr(&out).trim().is_empty(), "{args:?}: silent failure");
        assert!(stdout(&out).trim().is_empty(), "{args:?}: {}", stdout(&out));
    }
    let orgs = idp.admin_json(&["org", "list"]);
    assert_eq!(orgs, serde_json::json!([]), "a usage error created something");
}

/// `idp-admin … | head` closes the pipe early: the command ends as it would
/// have (exit 0, nothing on stderr), not with a panic (exit 101).
#[test]
fn a_reader_that_goes_away_is_not_a_failure() {
    let idp = Idp::start();
    idp.ensure_org();
    for args in [&["org", "list"][..], &["--json", "audit", "search"][..], &["keys", "export-public"][..]] {
        let out = idp.admin_into_closed_pipe(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}
