use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::oauth::{self, ClientAuth};
use e2e::server::free_ports;
use e2e::{Backend, Browser, Credentials, Idp, Rp, jwt_header};

const ID: &str = "001090012345";
const PASSWORD: &str = "Hoa-sen-no-ro-2024";

/// `TEST_REDIS_URL`, or `None` after saying why `test` skips. In production mode
/// (`E2E_BACKEND=production`) the harness has already insisted on it: these tests then run on
/// PostgreSQL + Redis, two `idp` processes on one database, and never skip.
fn redis_url(test: &str) -> Option<String> {
    if let Backend::Production { redis_url, .. } = e2e::backend() {
        return Some(redis_url.clone());
    }
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping {test}: TEST_REDIS_URL not set (e.g. TEST_REDIS_URL=redis://127.0.0.1:6379)");
            None
        }
    }
}

fn kid_of(jwt: &str) -> String {
    jwt_header(jwt)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {jwt}")).to_owned()
}

#[test]
fn two_nodes_on_one_redis_act_as_one_idp() {
    let Some(url) = redis_url("two_nodes_on_one_redis_act_as_one_idp") else { return };
    // A reload interval of an hour: any key change node B sees within seconds came by pub/sub.
    let idp = Idp::start_with_env(&[("IDP_REDIS_URL", &url), ("IDP_KEY_RELOAD_INTERVAL", "3600")]);
    let node = idp.start_second_node();
    if e2e::backend().is_production() {
        // The production shape: two idp processes on one PostgreSQL database + Redis.
        let banner = node.server_log();
        assert!(banner.lines().any(|l| l.contains("database:") && l.contains("postgres")), "{banner}");
    }
    idp.citizen();
    let reg = idp.register_client(&[]);
    let secret = reg.secret.clone().unwrap();
    let auth = || ClientAuth::Basic(&reg.client_id, &secret);
    let rp = Rp::new(&idp, &reg);
    let http = idp.http();
    let at_b = |name: &str| node.url(rp.endpoint(name).path());

    // Sign in on node A; redeem the code on node B: codes live in the shared cache.
    let pending = rp.authorize(&["profile", "offline_access"], &[("prompt", "consent")]);
    let browser = Browser::new(&idp);
    let flow = browser.run_flow(&pending.url, Credentials::Password(ID, PASSWORD));
    let code = rp.code_from(&pending, &flow.redirect);
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", reg.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    let tokens = oauth::post_form(&http, &at_b("token_endpoint"), auth(), &redeem).ok_json().clone();
    let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_owned();

    // Refresh on node A, introspect the new access token on node B.
    let refreshed = rp.refresh(&refresh).ok_json().clone();
    let access = refreshed["access_token"].as_str().expect("access token").to_owned();
    let intro = oauth::post_form(&http, &at_b("introspection_endpoint"), auth(), &[("token", &access)]);
    assert_eq!(intro.ok_json()["active"], true, "{intro:?}");
    // The old refresh token was rotated away on A; B knows it (shared database).
    let old = oauth::post_form(
        &http,
        &at_b("token_endpoint"),
        auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!((old.status, old.error()), (400, "invalid_grant"), "{old:?}");

    // SSO across nodes: the browser signed in on A goes through B without a login page.
    let on_b = browser.on(node.url("/"));
    let sso = rp.authorize(&["profile"], &[]);
    let mut sso_url = sso.url.clone();
    sso_url.set_port(node.url("/").port()).unwrap();
    let flow = on_b.run_flow(&sso_url, Credentials::None);
    assert!(!flow.visited("/login"), "{flow:?}");

    // A request pushed to node A is taken on node B (once): pushed requests live in Redis.
    let pushed = rp.authorize(&["profile"], &[]);
    let reply = rp.push(&pushed, auth(), &[]);
    assert_eq!(reply.status, 201, "{reply:?}");
    let mut par_url = rp.pushed_url(reply.json["request_uri"].as_str().unwrap());
    par_url.set_port(node.url("/").port()).unwrap();
    let flow = on_b.run_flow(&par_url, Credentials::None);
    rp.exchange(&pushed, &rp.code_from(&pushed, &flow.redirect));
    let again = Browser::new(&idp).get(&par_url);
    assert_eq!((again.status, again.location.as_ref()), (400, None), "{again:?}");

    // Rotate through node A's admin API; B signs with the new key within ~2 s (pub/sub).
    let cc = idp.register_client(&["--grant-type", "client_credentials"]);
    let cc_secret = cc.secret.clone().unwrap();
    let token_at_b = || {
        let reply = oauth::post_form(
            &http,
            &node.url("/token"),
            ClientAuth::Basic(&cc.client_id, &cc_secret),
            &[("grant_type", "client_credentials")],
        );
        kid_of(reply.ok_json()["access_token"].as_str().unwrap())
    };
    let before = token_at_b();
    let answer = idp.admin_json(&["keys", "rotate", "--alg", "RS256", "--force"]);
    let started = Instant::now();
    let activated = answer["rotated"][0]["activated"].as_str().unwrap().to_owned();
    assert_ne!(activated, before);
    loop {
        if token_at_b() == activated {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "node B still signs with {before} {:?} after the rotation (reload interval 3600 s: the notice was lost)",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Log out on node B; node A sees the SSO session gone.
    let home = on_b.get(&node.url("/"));
    assert_eq!(home.status, 200, "{home:?}");
    let out = on_b.post_form(&node.url("/logout"), &[("csrf", &home.hidden("csrf"))]);
    assert_eq!(out.status, 303, "{out:?}");
    let silent = rp.authorize(&[], &[("prompt", "none")]);
    let page = browser.get(&silent.url);
    let redirect = page.location.expect("redirect to the client");
    assert_eq!(oauth::query_param(&redirect, "error").as_deref(), Some("login_required"), "{redirect}");

    // Single use across nodes: the code redeemed on B is refused on A, and the reuse revokes
    // the grant it made, which B sees.
    let again = rp.redeem_raw(&code, &pending.verifier);
    assert_eq!((again.status, again.error()), (400, "invalid_grant"), "{again:?}");
    let intro = oauth::post_form(&http, &at_b("introspection_endpoint"), auth(), &[("token", &access)]);
    assert_eq!(intro.ok_json()["active"], false, "{intro:?}");
}

#[test]
fn browser_sessions_in_redis_are_shared_and_survive_a_restart() {
    let Some(url) = redis_url("browser_sessions_in_redis_are_shared_and_survive_a_restart") else { return };
    let mut idp = Idp::start_with_env(&[("IDP_REDIS_URL", &url), ("IDP_SESSION_STORE", "cache")]);
    idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    rp.sign_in(&browser, &[], &[], Credentials::Password(ID, PASSWORD));
    // A restart of the node keeps the session: it lives in Redis, not in the process.
    idp.restart();
    let pending = rp.authorize(&[], &[]);
    let flow = browser.run_flow(&pending.url, Credentials::None);
    let code = rp.code_from(&pending, &flow.redirect);
    rp.exchange(&pending, &code);
    // A second node reads the same session.
    let node = idp.start_second_node();
    let on_b = browser.on(node.url("/"));
    let pending = rp.authorize(&[], &[]);
    let mut url = pending.url.clone();
    url.set_port(node.url("/").port()).unwrap();
    let flow = on_b.run_flow(&url, Credentials::None);
    assert!(!flow.visited("/login"), "{flow:?}");
}

/// A `redis-server` on `port` without persistence, killed when dropped.
struct RedisServer(Child);

impl RedisServer {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Self(child))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Redis unreachable: the node starts, `/readyz` says so, requests that need the cache get a 503
/// with a clear message (JSON at the token endpoint, the translated page for a browser) — never
/// a 500, never a silent fallback to an in-process cache. When Redis comes up, the node recovers
/// by itself (needs `redis-server` on the PATH for that half; the rest needs no Redis).
#[test]
fn an_unreachable_redis_means_not_ready_and_503_then_recovery() {
    let [port] = free_ports();
    let url = format!("redis://127.0.0.1:{port}");
    let idp = Idp::start_unready_with_env(&[("IDP_REDIS_URL", &url)]);
    let http = idp.http();

    let ready = http.get(idp.url("/readyz")).send().unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().unwrap().contains("cache"));

    // The admin API (database only) works; the token endpoint needs the cache for codes.
    idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let reply = rp.redeem_raw("some-code", "some-verifier-some-verifier-some-verifier-1234");
    assert_eq!((reply.status, reply.error()), (503, "temporarily_unavailable"), "{reply:?}");
    let description = reply.json["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("temporarily unavailable"), "{reply:?}");
    assert_eq!(reply.header("cache-control"), "no-store");

    // A browser that has not signed in keeps its session in the cache, so even the first page
    // of a flow needs Redis: the session cannot be saved, and the browser gets the translated
    // 503 page, not a bare 500. The same with every browser session in Redis.
    let cached = Idp::start_unready_with_env(&[("IDP_REDIS_URL", &url), ("IDP_SESSION_STORE", "cache")]);
    let cached_rp = Rp::new(&cached, &cached.register_client(&[]));
    for (node, rp) in [(&idp, &rp), (&cached, &cached_rp)] {
        let page = Browser::new(node).get(&rp.authorize(&[], &[]).url);
        assert_eq!(page.status, 503, "{page:?}");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{page:?}");
        assert!(page.body.contains("temporarily_unavailable"), "{}", page.text());
        let home = Browser::new(node).get(&node.url("/"));
        assert_eq!(home.status, 503, "{home:?}");
        assert!(home.body.contains("temporarily_unavailable"), "{home:?}");
    }

    // Redis comes up: ready again without a restart, and the same requests now reach the cache.
    let Some(_redis) = RedisServer::start(port) else {
        eprintln!("skipping the recovery half: no redis-server on the PATH");
        return;
    };
    let started = Instant::now();
    loop {
        if http.get(idp.url("/readyz")).send().unwrap().status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not ready 15 s after Redis came up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = rp.redeem_raw("some-code", "some-verifier-some-verifier-some-verifier-1234");
    assert_eq!((reply.status, reply.error()), (400, "invalid_grant"), "{reply:?}");
    let browser = Browser::new(&idp);
    let tokens = rp.sign_in(&browser, &[], &[], Credentials::Password(ID, PASSWORD));
    assert!(!tokens.access_token.is_empty());

    // Redis goes away again: a signed-in browser's session is in the database, so its
    // account page still opens.
    drop(_redis);
    let account = browser.get(&idp.url("/account"));
    assert_eq!(account.status, 200, "{account:?}");
    assert!(account.body.contains("Nguyễn Văn An"), "not the signed-in account page: {}", account.text());
}
