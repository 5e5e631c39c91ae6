use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::server::{binary, free_ports};
use e2e::{Browser, Credentials, Idp, Rp};
use url::Url;

/// A test's own sign-in through `rp` with a code redeemed: it touches the store (session,
/// grant) and the cache (the code).
fn sign_in(idp: &Idp, rp: &Rp) {
    let citizen = idp.create_user("001090054321", "Lê Thị Hoa", "hoa.le@example.vn", "Sen-hong-Dong-Thap-7");
    let tokens = rp.sign_in(
        &Browser::new(idp),
        &["profile"],
        &[],
        Credentials::Password(&citizen.national_id, &citizen.password),
    );
    assert_eq!(rp.userinfo(&tokens.access_token).ok_json()["name"], "Lê Thị Hoa");
}

/// Says why `test` cannot run here; under CI that is a failure, not a skip.
fn skip(test: &str, why: &str) {
    assert!(std::env::var_os("CI").is_none(), "{test} cannot run under CI: {why}");
    eprintln!("skipping {test}: {why}");
}

/// `url` with `host` and the query `sslmode=MODE`.
fn tls_url(url: &str, host: &str, mode: &str) -> String {
    let mut u = Url::parse(url).expect("database URL");
    u.set_host(Some(host)).unwrap();
    u.query_pairs_mut().append_pair("sslmode", mode);
    u.to_string()
}

/// Whether the certificate in `file` names `what` (`-checkhost NAME` or `-checkip IP`).
fn names(file: &str, check: &str, what: &str) -> bool {
    let out = Command::new("openssl").args(["x509", "-noout", check, what, "-in", file]).output();
    out.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("does match"))
}

/// PostgreSQL over TLS with the server's certificate checked: the URL is the whole
/// configuration. Production mode only, where the test database is PostgreSQL. Debian's
/// server has `ssl = on` with its snakeoil certificate, trusted system-wide; here it is issued
/// to `localhost`, so the node connects with `verify-full` by that name (else with
/// `verify-ca` and the certificate as `sslrootcert`), and is refused by name at 127.0.0.1.
#[test]
fn postgresql_over_tls_is_a_database_url_setting() {
    const TEST: &str = "postgresql_over_tls_is_a_database_url_setting";
    if !e2e::backend().is_production() {
        eprintln!("skipping {TEST}: PostgreSQL only (E2E_BACKEND=production)");
        return;
    }
    let mut idp = Idp::start();
    let show = |setting: &str| {
        idp.sql(&format!("SHOW {setting}")).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (on, cert) = (show("ssl"), show("ssl_cert_file").unwrap_or_default());
    if on.as_deref() != Some("on") {
        return skip(TEST, &format!("the PostgreSQL server has no TLS (ssl = {on:?})"));
    }
    let url = idp.database_url();
    let db = idp.database_name().unwrap().to_owned();
    if !names(&cert, "-checkip", "127.0.0.1") {
        // The certificate does not name 127.0.0.1: reached so, the node will not use it.
        let refused = Command::new(binary("idp"))
            .env_clear()
            .env("IDP_DATABASE_URL", tls_url(&url, "127.0.0.1", "verify-full"))
            .env("IDP_MASTER_KEY_FILE", idp.dir().join("other-master.key"))
            .current_dir(idp.dir())
            .arg("bootstrap-admin")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "a node took a certificate issued to another name");
        assert!(said.contains("certificate") && !said.contains("panicked"), "{said}");
    }
    let checked = if names(&cert, "-checkhost", "localhost") {
        tls_url(&url, "localhost", "verify-full")
    } else {
        let mut u = Url::parse(&tls_url(&url, "127.0.0.1", "verify-ca")).unwrap();
        u.query_pairs_mut().append_pair("sslrootcert", &cert);
        u.to_string()
    };
    idp.set_env("IDP_DATABASE_URL", &checked);
    idp.restart();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    sign_in(&idp, &rp);
    // Every connection the node holds to its database is encrypted.
    let counts = idp
        .sql(&format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{db}' AND a.pid <> pg_backend_pid() \
             AND a.application_name NOT LIKE 'psql%'"
        ))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap();
    let (tls, plain) = counts.split_once('|').unwrap_or_else(|| panic!("unexpected psql output {counts:?}"));
    assert!(tls.parse::<u32>().unwrap() > 0 && plain == "0", "TLS connections {tls}, plain {plain}");
}

/// Redis over TLS: a `rediss://` URL, the server's certificate and name checked against the
/// trust store (here `SSL_CERT_FILE`, OpenSSL's own variable, adding the test's CA). The Redis
/// listens on a TLS port only, so a working sign-in went through TLS.
#[test]
fn redis_over_tls_is_a_rediss_url() {
    const TEST: &str = "redis_over_tls_is_a_rediss_url";
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "redis", "IP:127.0.0.1");
    let [port, elsewhere] = free_ports();
    let Some(_redis) = TlsRedis::start(port, &cert, &key) else {
        return skip(TEST, "redis-server is not on the PATH");
    };
    let url = format!("rediss://127.0.0.1:{port}");
    let idp = Idp::start_with_env(&[("IDP_REDIS_URL", &url), ("SSL_CERT_FILE", cert.to_str().unwrap())]);
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    sign_in(&idp, &rp);

    // Without the CA the certificate is refused: the node is not ready (the cache is unreachable).
    let untrusting = Idp::start_unready_with_env(&[("IDP_REDIS_URL", &url)]);
    not_ready(&untrusting, "an unknown certificate");
    // A trusted certificate issued to another name is refused too.
    let (other_cert, other_key) = self_signed(dir.path(), "other", "DNS:redis.example.vn");
    let Some(_other) = TlsRedis::start(elsewhere, &other_cert, &other_key) else { unreachable!() };
    let other_url = format!("rediss://127.0.0.1:{elsewhere}");
    let wrong_name =
        Idp::start_unready_with_env(&[("IDP_REDIS_URL", &other_url), ("SSL_CERT_FILE", other_cert.to_str().unwrap())]);
    not_ready(&wrong_name, "a certificate of another name");
}

/// `/readyz` says the cache is unreachable, and the log says the certificate was why.
fn not_ready(idp: &Idp, what: &str) {
    let ready = idp.http().get(idp.url("/readyz")).send().unwrap();
    assert_eq!(ready.status(), 503, "a node trusted {what}");
    let log = idp.server_log();
    assert!(log.contains("certificate"), "{what}: no certificate error in the log:\n{log}");
}

/// `openssl req` makes a self-signed P-256 certificate with subjectAltName `san` in `dir`: its
/// `<name>-cert.pem` and `<name>-key.pem`.
fn self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={name}"), "-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A `redis-server` listening with TLS only on `port` (its log beside `cert`), killed when
/// dropped.
struct TlsRedis(Child);

impl TlsRedis {
    fn start(port: u16, cert: &Path, key: &Path) -> Option<Self> {
        let log = cert.with_file_name(format!("redis-{port}.log"));
        let mut child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(cert)
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("redis-server exited ({status}) before listening on {port}:\n{said}");
            }
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self(child))
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
