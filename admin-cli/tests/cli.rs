//! Runs the built `idp-admin` binary: failures must be one readable line on
//! stderr with exit code 1, answers must reach stdout, and requests must
//! carry the token. A one-shot fake admin API stands in for `idp`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};

fn idp_admin(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp-admin"));
    cmd.args(args).env_remove("IDP_ADMIN_URL").env_remove("IDP_ADMIN_TOKEN");
    cmd
}

fn run(args: &[&str]) -> Output {
    idp_admin(args).output().unwrap()
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got {err:?}");
    assert!(lines[0].starts_with("idp-admin: "), "{err:?}");
    lines[0].to_owned()
}

/// Serve one request with this status and JSON body; the join handle yields
/// the request head and body as text.
fn fake_api(status: &str, body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_owned();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut req_body = vec![0; length];
        reader.read_exact(&mut req_body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        format!("{head}\r\n{}", String::from_utf8(req_body).unwrap())
    });
    (url, handle)
}

#[test]
fn unreachable_api_is_one_line_and_exit_1() {
    let out = run(&["--url", "http://127.0.0.1:1", "--token", "t", "org", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_line(&out), "idp-admin: cannot reach the admin API at http://127.0.0.1:1: is idp running?");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_token_says_what_to_set() {
    let out = run(&["--url", "http://127.0.0.1:1", "client", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("IDP_ADMIN_TOKEN"));
}

#[test]
fn bad_url_and_bad_jwks_file_fail_before_any_request() {
    let out = run(&["--url", "localhost:8081", "--token", "t", "org", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("invalid admin API URL"));

    let out = run(&[
        "--url",
        "http://127.0.0.1:1",
        "--token",
        "t",
        "client",
        "register",
        "--name",
        "RP",
        "--org",
        "moh",
        "--type",
        "confidential",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        "/nonexistent/jwks.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("cannot read the JWKS file /nonexistent/jwks.json"));
}

#[test]
fn usage_errors_are_clap_errors() {
    let out = run(&["org", "create", "--code", "moh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error:"), "{err}");
    let out = run(&["client", "register", "--name", "x", "--org", "o", "--type", "secret"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lists_print_a_table_and_send_the_token() {
    let (url, server) = fake_api(
        "200 OK",
        r#"[{"id":"o1","code":"moh","name":"Bộ Y tế","kind":"ministry","created_at":0},
            {"id":"o2","code":"hanoi","name":"Hà Nội","kind":"province","created_at":0}]"#,
    );
    let out = run(&["--url", &url, "--token", "s3cret", "org", "list"]);
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /admin/v1/organisations HTTP/1.1"), "{request}");
    assert!(request.to_ascii_lowercase().contains("authorization: bearer s3cret"), "{request}");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "CODE   KIND      NAME     ID\nmoh    ministry  Bộ Y tế  o1\nhanoi  province  Hà Nội   o2\n"
    );
}

#[test]
fn api_errors_show_the_server_message() {
    let (url, server) = fake_api(
        "409 Conflict",
        r#"{"error":"conflict","message":"an organisation with code \"moh\" already exists"}"#,
    );
    let mut cmd = idp_admin(&["org", "create", "--code", "moh", "--name", "Bộ Y tế", "--kind", "ministry"]);
    let out = cmd.env("IDP_ADMIN_URL", &url).env("IDP_ADMIN_TOKEN", "t").output().unwrap();
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /admin/v1/organisations "), "{request}");
    let body: serde_json::Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"code": "moh", "name": "Bộ Y tế", "kind": "ministry"}));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_line(&out), r#"idp-admin: an organisation with code "moh" already exists"#);
}

#[test]
fn user_create_reads_the_password_from_stdin_and_json_prints_the_answer() {
    let (url, server) = fake_api(
        "201 Created",
        r#"{"account_id":"a1","subject":"s1","national_id":"001090000001","full_name":"Nguyễn Văn A",
            "email":null,"phone":null,"status":"active","created_at":1700000000}"#,
    );
    let mut child = idp_admin(&[
        "--url",
        &url,
        "--token",
        "t",
        "--json",
        "user",
        "create",
        "--national-id",
        "001090000001",
        "--name",
        "Nguyễn Văn A",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery\nsecond line\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let request = server.join().unwrap();
    let body: serde_json::Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["password"], "correct horse battery");
    assert_eq!(body["full_name"], "Nguyễn Văn A");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["account_id"], "a1");
}

#[test]
fn minimum_acr_is_sent_on_register_and_update_and_shown() {
    let answer = r#"{"client_id":"c1","name":"Đất đai","organisation_id":"o1","client_type":"confidential",
        "auth_method":"client_secret_basic","status":"active","redirect_uris":["https://rp.example.vn/cb"],
        "post_logout_redirect_uris":[],"grant_types":["authorization_code"],"scopes":["openid"],
        "signing_alg":"RS256","require_pkce":true,"minimum_acr":"LoA2","created_at":1700000000,"updated_at":1700000000}"#;
    let answer: &'static str = Box::leak(format!(r#"{{"client":{answer}}}"#).into_boxed_str());
    let (url, server) = fake_api("200 OK", answer);
    let out = idp_admin(&["--url", &url, "--token", "t", "client", "update", "c1", "--minimum-acr", "LoA2"])
        .output()
        .unwrap();
    let request = server.join().unwrap();
    assert!(request.starts_with("PATCH /admin/v1/clients/c1 "), "{request}");
    let body: serde_json::Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"minimum_acr": "LoA2"}));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.lines().any(|l| l.contains("minimum acr") && l.trim_end().ends_with("LoA2")), "{printed}");

    let (url, server) = fake_api("201 Created", answer);
    let args = [
        "--url",
        &url,
        "--token",
        "t",
        "client",
        "register",
        "--name",
        "Đất đai",
        "--org",
        "mnre",
        "--type",
        "confidential",
        "--redirect-uri",
        "https://rp.example.vn/cb",
        "--minimum-acr",
        "LoA2",
    ];
    let out = idp_admin(&args).output().unwrap();
    let request = server.join().unwrap();
    let body: serde_json::Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["minimum_acr"], "LoA2");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Only the two levels are accepted, before any request.
    let out = run(&["--url", "http://127.0.0.1:9", "--token", "t", "client", "update", "c1", "--minimum-acr", "LoA3"]);
    assert_eq!(out.status.code(), Some(2));
}
