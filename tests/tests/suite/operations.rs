use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;
use e2e::server::{binary, free_ports};
use e2e::{Browser, Credentials, Idp, Rp};
use openidconnect::TokenResponse as _;
use serde_json::Value;

/// `GET /metrics` on the admin listener: the exposition and its content type.
fn scrape(idp: &Idp) -> (String, String) {
    let resp = idp.http().get(format!("{}/metrics", idp.admin_url())).send().unwrap();
    assert_eq!(resp.status(), 200, "/metrics on the admin listener");
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (resp.text().unwrap(), ct)
}

/// The value of one series (name and labels exactly as exported); fails when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

/// `idp ARGS…` with exactly `env` as its environment, in a fresh directory.
fn idp_with_env(args: &[&str], env: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(binary("idp"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir.path())
        .args(args)
        .output()
        .unwrap()
}

fn owned(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The server's JSON log lines (lines that are not JSON, like the start-up banner, skipped).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn metrics_count_logins_and_tokens_and_time_requests_by_route() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let failed = Browser::new(&idp).submit_login(&idp.url("/login"), &citizen.national_id, "not-the-password");
    assert_eq!(failed.status, 200, "{failed:?}");
    rp.sign_in(&Browser::new(&idp), &["profile"], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let service = Rp::new(&idp, &idp.register_client(&["--grant-type", "client_credentials"]));
    service.token(&[("grant_type", "client_credentials")]).ok_json();
    let lost = idp.http().get(idp.url("/no/such/page/4711")).send().unwrap();
    assert_eq!(lost.status(), 404);

    let (text, content_type) = scrape(&idp);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert_eq!(value(&text, r#"idp_logins_total{method="password",outcome="success"}"#), 1.0);
    assert_eq!(value(&text, r#"idp_logins_total{method="password",outcome="failure"}"#), 1.0);
    assert_eq!(value(&text, r#"idp_logins_total{method="password",outcome="throttled"}"#), 0.0);
    assert_eq!(value(&text, r#"idp_tokens_issued_total{grant="authorization_code"}"#), 1.0);
    assert_eq!(value(&text, r#"idp_tokens_issued_total{grant="client_credentials"}"#), 1.0);
    assert_eq!(value(&text, r#"idp_tokens_issued_total{grant="refresh_token"}"#), 0.0);
    // Latency by route template: both token requests, in the +Inf bucket and the count.
    assert_eq!(value(&text, r#"idp_http_request_duration_seconds_count{route="/token",status="2xx"}"#), 2.0);
    assert_eq!(value(&text, r#"idp_http_request_duration_seconds_bucket{le="+Inf",route="/token",status="2xx"}"#), 2.0);
    assert!(value(&text, r#"idp_http_request_duration_seconds_sum{route="/token",status="2xx"}"#) > 0.0);
    // Unknown paths share one series; the raw path never becomes a label.
    assert!(value(&text, r#"idp_http_request_duration_seconds_count{route="unmatched",status="4xx"}"#) >= 1.0);
    assert!(!text.contains("4711"), "a raw path leaked into the labels:\n{text}");
    assert_eq!(value(&text, "idp_cache_errors_total"), 0.0);
    assert_eq!(value(&text, "idp_store_errors_total"), 0.0);
    assert!(text.contains("idp_build_info{version=\""), "{text}");
    // How full the in-process cache is: only a node without Redis has one.
    if e2e::backend().is_production() {
        assert!(!text.contains("idp_memory_cache"), "{text}");
    } else {
        assert_eq!(value(&text, "idp_memory_cache_limit_bytes"), 256.0 * 1024.0 * 1024.0);
        // The sign-in above left its browser session and the throttling counter of the failure.
        assert!(value(&text, "idp_memory_cache_entries") >= 1.0, "{text}");
        assert!(value(&text, "idp_memory_cache_bytes") > 0.0, "{text}");
    }
    // One age per active key, the kid as published in the JWKS.
    let jwks = rp.jwks();
    let rs256 = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "RS256")
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .find(|kid| text.contains(&format!("kid=\"{kid}\"")))
        .unwrap_or_else(|| panic!("no RS256 kid of the JWKS in the key ages:\n{text}"));
    let age = value(&text, &format!(r#"idp_signing_key_age_seconds{{alg="RS256",kid="{rs256}"}}"#));
    assert!((0.0..600.0).contains(&age), "a key created at start-up is {age} s old");
    assert_eq!(text.lines().filter(|l| l.starts_with("idp_signing_key_age_seconds{")).count(), 4, "{text}");

    // Not on the public listener: the figures are for the operator only.
    let public = idp.http().get(idp.url("/metrics")).send().unwrap();
    assert_eq!(public.status(), 404);

    // The container health check asks the node itself.
    let listen = format!("127.0.0.1:{}", idp.url("/").port().unwrap());
    let probe = idp_with_env(&["probe"], &owned(&[("IDP_LISTEN", &listen)]));
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let [closed] = free_ports();
    let probe = idp_with_env(&["probe", "--path", "/healthz"], &owned(&[("IDP_LISTEN", &format!("0.0.0.0:{closed}"))]));
    assert!(!probe.status.success(), "probe of a closed port succeeded");
}

#[test]
fn json_logs_carry_the_request_id_and_no_secret() {
    let idp = Idp::start_with_env(&[("IDP_LOG_FORMAT", "json"), ("RUST_LOG", "info")]);
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let pending = rp.authorize(&["profile", "offline_access"], &[("prompt", "consent")]);
    let flow =
        Browser::new(&idp).run_flow(&pending.url, Credentials::Password(&citizen.national_id, &citizen.password));
    let code = rp.code_from(&pending, &flow.redirect);
    let tokens = rp.exchange(&pending, &code);
    let refresh = tokens.refresh_token.clone().expect("refresh token");
    let rotated = rp.refresh(&refresh);
    let new_refresh = rotated.ok_json()["refresh_token"].as_str().unwrap().to_owned();
    let rid = rotated.header("x-request-id").to_owned();
    assert_eq!(rid.len(), 16, "x-request-id {rid:?}");

    let log = idp.server_log();
    let lines = json_lines(&log);
    let access: Vec<&Value> =
        lines.iter().filter(|l| l["fields"]["message"] == "finished processing request").collect();
    assert!(access.len() >= 5, "one line per request expected:\n{log}");
    for line in &access {
        let id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 16, "an access-log line without a request id: {line}");
    }
    let line = access
        .iter()
        .find(|l| l["span"]["request_id"] == rid.as_str())
        .unwrap_or_else(|| panic!("no log line with request_id {rid}:\n{log}"));
    assert_eq!(line["span"]["path"], "/token", "{line}");
    assert_eq!(line["fields"]["status"], 200, "{line}");

    let id_token = tokens.response.id_token().expect("id token").to_string();
    let secrets = [
        ("password", citizen.password.as_str()),
        ("client secret", reg.secret.as_deref().unwrap()),
        ("authorization code", code.as_str()),
        ("access token", tokens.access_token.as_str()),
        ("refresh token", refresh.as_str()),
        ("rotated refresh token", new_refresh.as_str()),
        ("ID token", id_token.as_str()),
        ("admin token", idp.admin_token()),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(secret), "the {what} is in the server log");
    }
}

#[test]
fn a_failure_inside_a_handler_is_logged_with_the_request_id_and_counted() {
    let [port] = free_ports();
    let url = format!("redis://127.0.0.1:{port}");
    // RUST_LOG=warn: the request span exists even when INFO is filtered out.
    let idp = Idp::start_unready_with_env(&[("IDP_REDIS_URL", &url), ("IDP_LOG_FORMAT", "json"), ("RUST_LOG", "warn")]);
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let reply = rp.redeem_raw("no-such-code", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!((reply.status, reply.error()), (503, "temporarily_unavailable"), "{reply:?}");
    let rid = reply.header("x-request-id").to_owned();

    let log = idp.server_log();
    let errors: Vec<Value> = json_lines(&log).into_iter().filter(|l| l["level"] == "ERROR").collect();
    let line = errors
        .iter()
        .find(|l| l["span"]["request_id"] == rid.as_str())
        .unwrap_or_else(|| panic!("no ERROR line with request_id {rid}:\n{log}"));
    assert_eq!(line["span"]["path"], "/token", "{line}");

    let (text, _) = scrape(&idp);
    assert!(value(&text, "idp_cache_errors_total") >= 1.0, "{text}");
    // The 503 is the cache's doing, not the database's.
    assert_eq!(value(&text, "idp_store_errors_total"), 0.0, "{text}");
    assert_eq!(value(&text, r#"idp_http_request_duration_seconds_count{route="/token",status="5xx"}"#), 1.0);
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let mut idp = Idp::start();
    let public = format!("127.0.0.1:{}", idp.url("/").port().unwrap());
    let admin = idp.admin_url().trim_start_matches("http://").to_owned();
    let body = "grant_type=client_credentials&client_id=nobody&client_secret=wrong";
    let (first, rest) = body.split_at(25);
    let mut conn = TcpStream::connect(&public).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        conn,
        "POST /token HTTP/1.1\r\nHost: {public}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    // Let the server read the headers and start waiting for the rest of the body.
    std::thread::sleep(Duration::from_millis(200));

    idp.signal_term();
    assert!(idp.wait_exit(Duration::from_millis(300)).is_none(), "idp exited with a request in flight");
    // Draining: both listeners are closed to new connections (the proxy tries another node).
    assert!(TcpStream::connect(&public).is_err(), "public listener still accepts while draining");
    assert!(TcpStream::connect(&admin).is_err(), "admin listener still accepts while draining");

    conn.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    // The server answers, then closes the connection (no keep-alive while stopping).
    conn.read_to_string(&mut response).unwrap();
    let (head, json) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("incomplete response: {response:?}"));
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let error: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not a JSON body ({e}): {json:?}"));
    assert_eq!(error["error"], "invalid_client", "{error}");

    let status = idp.wait_exit(Duration::from_secs(5)).expect("idp still running 5 s after the last request");
    assert!(status.success(), "exit status {status}");
    assert!(TcpStream::connect(&public).is_err());
}

#[test]
fn configuration_errors_name_the_key_and_the_fix() {
    let out = idp_with_env(&["serve"], &owned(&[("IDP_SESSION_TTL", "abc")]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("IDP_SESSION_TTL") && err.contains("whole number, e.g. 43200"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("idp.toml");
    std::fs::write(&file, "sesion_ttl = 3600\n").unwrap();
    let out = idp_with_env(&["check-config"], &owned(&[("IDP_CONFIG", file.to_str().unwrap())]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unknown setting `sesion_ttl`") && err.contains("session_ttl"), "{err}");

    let out = idp_with_env(&["check-config"], &owned(&[("IDP_MASTER_KEY", "not-a-key")]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("IDP_MASTER_KEY") && err.contains("openssl rand -base64 32"), "{err}");
    assert!(!err.contains("not-a-key"), "the secret was echoed: {err}");

    let out = idp_with_env(&["check-config"], &owned(&[("IDP_SHUTDOWN_GRACE", "5")]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings = String::from_utf8_lossy(&out.stdout);
    assert!(settings.contains("shutdown_grace = 5") && settings.contains("session_ttl = 43200"), "{settings}");
}

/// The workspace root (compose.yaml, Dockerfile, deploy/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Compose variable interpolation (`${NAME}`, `${NAME:-default}`, `${NAME:?message}`) from `vars`.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap_or_else(|| panic!("unclosed ${{ in {text}")) + start;
        let expr = &rest[start + 2..end];
        let name_end = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
        let (name, modifier) = expr.split_at(name_end);
        let value = match (vars.get(name).filter(|v| !v.is_empty()), modifier.strip_prefix(":-")) {
            (Some(v), _) => v.clone(),
            (None, Some(default)) => default.to_owned(),
            (None, None) => panic!("compose.yaml needs ${{{name}}} but the test has no value for it"),
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A service's `environment` (map form) as strings.
fn environment(service: &serde_yaml_ng::Value) -> BTreeMap<String, String> {
    let map = service["environment"].as_mapping().unwrap_or_else(|| panic!("no environment map in {service:?}"));
    map.iter()
        .map(|(k, v)| {
            let value = match v {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                other => panic!("unexpected value {other:?}"),
            };
            (k.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
fn compose_services_pass_check_config_and_the_image_runs_as_non_root() {
    let compose_text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(&compose_text).unwrap();
    // Every variable compose.yaml reads from .env is documented in deploy/env.example.
    let example = std::fs::read_to_string(root().join("deploy/env.example")).unwrap();
    let documented: Vec<&str> =
        example.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect();
    for part in compose_text.split("${").skip(1) {
        let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        assert!(documented.contains(&name.as_str()), "${{{name}}} is not in deploy/env.example");
    }
    // Test values for the secrets an operator puts in .env.
    let master_key = base64::engine::general_purpose::STANDARD.encode([0x5au8; 32]);
    let vars: BTreeMap<String, String> = [
        ("POSTGRES_PASSWORD", "pg-test-password"),
        ("IDP_MASTER_KEY", master_key.as_str()),
        ("IDP_ISSUER", "https://id.example.gov.vn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    let services = compose["services"].as_mapping().unwrap();
    // The sample relying parties run the image's `portal-service`: every setting they get is
    // one the real binary reads (clap lists each flag's environment variable in --help).
    let portal_help = Command::new(binary("portal-service")).arg("--help").output().unwrap();
    let portal_help = String::from_utf8_lossy(&portal_help.stdout).into_owned();
    let mut samples = Vec::new();
    for (name, service) in services {
        if service["entrypoint"][0].as_str() != Some("portal-service") {
            continue;
        }
        let name = name.as_str().unwrap();
        assert_eq!(service["image"], services["idp-1"]["image"], "{name} runs the IdP's image");
        for (key, value) in environment(service) {
            assert!(portal_help.contains(&format!("[env: {key}=")), "{name}: portal-service does not read {key}");
            if key == "PORTAL_ISSUER" {
                assert_eq!(interpolate(&value, &BTreeMap::new()), "http://idp.localhost:8080", "{name}");
            }
        }
        samples.push(name.to_owned());
    }
    assert_eq!(samples, ["portal-health", "portal-hanoi"]);
    let mut built = BTreeMap::new();
    for (name, service) in services {
        if service.get("build").is_none() {
            continue;
        }
        let name = name.as_str().unwrap().to_owned();
        let env: Vec<(String, String)> =
            environment(service).into_iter().map(|(k, v)| (k, interpolate(&v, &vars))).collect();
        // The real binary accepts every key and value (unknown IDP_* keys are refused).
        let out = idp_with_env(&["check-config"], &env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("postgres://motcua:***@postgres:5432/motcua"), "{name}:\n{stdout}");
        assert!(stdout.contains("redis_url = \"redis://redis:6379/0\""), "{name}:\n{stdout}");
        assert!(!stdout.contains(&master_key) && !stdout.contains("pg-test-password"), "{name} printed a secret");
        built.insert(name, env);
    }
    assert_eq!(built.keys().map(String::as_str).collect::<Vec<_>>(), ["idp-1", "idp-2", "migrate"]);
    // The two nodes are one IdP: the same database, Redis, prefix and master key.
    assert_eq!(built["idp-1"], built["idp-2"]);
    let setting = |name: &str| built["idp-1"].iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    // Docker's stop timeout outlasts the IdP's own drain.
    let grace: u64 = setting("IDP_SHUTDOWN_GRACE").parse().unwrap();
    for node in ["idp-1", "idp-2"] {
        let period = services[node]["stop_grace_period"].as_str().unwrap();
        let seconds: u64 = period.trim_end_matches('s').parse().unwrap();
        assert!(seconds > grace, "{node}: stop_grace_period {period} is not longer than IDP_SHUTDOWN_GRACE={grace}");
    }
    assert_eq!(services["migrate"]["command"][0], "migrate");

    // The proxy sends to both nodes on their public port, and is the trusted proxy.
    let proxy = &services["proxy"];
    let mount = proxy["volumes"][0].as_str().unwrap();
    let conf_path = mount.split(':').next().unwrap().trim_start_matches("./");
    let conf = std::fs::read_to_string(root().join(conf_path)).unwrap();
    let port = setting("IDP_LISTEN").rsplit(':').next().unwrap().to_owned();
    for node in ["idp-1", "idp-2"] {
        assert!(conf.contains(&format!("server {node}:{port}")), "{conf_path} does not send to {node}:{port}");
    }
    let proxy_ip = proxy["networks"]["backend"]["ipv4_address"].as_str().unwrap();
    assert_eq!(setting("IDP_TRUSTED_PROXIES"), proxy_ip);

    // The image: multi-stage, release build of both binaries, non-root runtime.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert_eq!(stages.len(), 2, "a build and a runtime stage");
    assert!(
        stages[0].starts_with("rust:1.95-bookworm")
            && stages[0].contains("cargo build --release --locked -p idp -p admin-cli -p portal-service")
    );
    let runtime = stages[1];
    assert!(runtime.starts_with("debian:bookworm-slim"), "{runtime}");
    let user = runtime
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .unwrap_or_else(|| panic!("the runtime stage sets no USER, so it runs as root"));
    let uid = user.split(':').next().unwrap().trim();
    assert!(uid != "root" && uid != "0", "the runtime stage runs as {user}");
    assert!(runtime.contains("ENTRYPOINT [\"idp\"]") && runtime.contains("CMD [\"idp\", \"probe\"]"), "{runtime}");
}
