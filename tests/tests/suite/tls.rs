use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::server::{binary, free_ports};
use e2e::{Browser, Credentials, Idp, Rp};

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

/// PostgreSQL over TLS with the server certificate checked (`sslmode=verify-ca` against the
/// CA in `sslrootcert`, `verify-full` adding the name): the URL is the whole configuration.
/// Production mode only, where the test database is PostgreSQL; this machine's server has
/// `ssl = on` with Debian's snakeoil certificate (issued to `localhost`).
#[test]
fn postgresql_over_tls_is_a_database_url_setting() {
    if !e2e::backend().is_production() {
        eprintln!("skipping postgresql_over_tls_is_a_database_url_setting: PostgreSQL only (E2E_BACKEND=production)");
        return;
    }
    let ca = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let mut idp = Idp::start();
    let on = idp.sql("SHOW ssl").map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if on.as_deref() != Some("on") || !Path::new(ca).exists() {
        eprintln!("skipping postgresql_over_tls_is_a_database_url_setting: the server has no TLS ({on:?}) or no {ca}");
        return;
    }
    let url = idp.database_url();
    let db = idp.database_name().unwrap().to_owned();
    // The certificate is checked: with `verify-full` the name must match too, and this
    // server's certificate names `localhost`, not 127.0.0.1. The node will not use it.
    let refused = Command::new(binary("idp"))
        .env_clear()
        .env("IDP_DATABASE_URL", format!("{url}?sslmode=verify-full"))
        .env("IDP_MASTER_KEY_FILE", idp.dir().join("other-master.key"))
        .current_dir(idp.dir())
        .arg("bootstrap-admin")
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a node took a server certificate issued to another name");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.lines().count() <= 3 && !said.contains("panicked"), "{said}");

    idp.set_env("IDP_DATABASE_URL", &format!("{url}?sslmode=verify-ca&sslrootcert={ca}"));
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

/// Redis over TLS: a `rediss://` URL, the server's certificate checked against the system's
/// trust store (here `SSL_CERT_FILE`, OpenSSL's own variable, naming the test's CA). The Redis
/// listens on a TLS port only, so a working sign-in went through TLS.
#[test]
fn redis_over_tls_is_a_rediss_url() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "redis");
    let [port] = free_ports();
    let Some(_redis) = TlsRedis::start(port, &cert, &key) else {
        eprintln!("skipping redis_over_tls_is_a_rediss_url: redis-server is not on the PATH");
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}");
    let cert_file = cert.to_string_lossy().into_owned();
    let idp = Idp::start_with_env(&[("IDP_REDIS_URL", &url), ("SSL_CERT_FILE", &cert_file)]);
    let banner = idp.server_log();
    assert!(banner.lines().any(|l| l.contains("cache:") && l.contains("Redis")), "{banner}");
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    sign_in(&idp, &rp);

    // Without the CA the certificate is refused: the node is not ready (the cache is unreachable).
    let untrusting = Idp::start_unready_with_env(&[("IDP_REDIS_URL", &url)]);
    let ready = untrusting.http().get(untrusting.url("/readyz")).send().unwrap();
    assert_eq!(ready.status(), 503, "a node trusted an unknown Redis certificate");
}

/// `openssl req` makes a self-signed P-256 certificate for 127.0.0.1 in `dir`: its
/// `<name>-cert.pem` and `<name>-key.pem`.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// A `redis-server` listening with TLS only on `port`, killed when dropped.
struct TlsRedis(Child);

impl TlsRedis {
    fn start(port: u16, cert: &Path, key: &Path) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(cert)
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
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
