use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use e2e::oauth::{self, ClientAuth};
use e2e::{Browser, Credentials, Idp, Rp, Tokens, jwt_header};
use serde_json::Value;

/// Signs the default citizen in at `rp` in a fresh browser; the ID token is validated by
/// `openidconnect` against the JWKS `rp` fetched when it was created.
fn sign_in(rp: &Rp, idp: &Idp, scopes: &[&str], extra: &[(&str, &str)]) -> Tokens {
    let (id, password) = ("001090012345", "Hoa-sen-no-ro-2024");
    rp.sign_in(&Browser::new(idp), scopes, extra, Credentials::Password(id, password))
}

fn kid_of(jwt: &str) -> String {
    jwt_header(jwt)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {jwt}")).to_owned()
}

/// The `kid` of a validated ID token.
fn id_kid(t: &Tokens) -> String {
    use openidconnect::TokenResponse as _;
    kid_of(&t.response.id_token().expect("id_token").to_string())
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "idp-admin failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The RS256 rotation's `activated` kid from `keys rotate --json`.
fn rotate_rs256(idp: &Idp) -> String {
    // Forced: the keys of a node started a moment ago are younger than the JWKS cache time.
    let answer = idp.admin_json(&["keys", "rotate", "--alg", "RS256", "--force"]);
    answer["rotated"][0]["activated"].as_str().unwrap_or_else(|| panic!("no activated kid in {answer}")).to_owned()
}

/// Two nodes started at the same moment on an empty database, as compose starts them: they
/// store one set of keys between them (one active and one next per algorithm), publish the
/// same JWKS and sign with the same key.
#[test]
fn two_nodes_started_together_share_one_set_of_keys() {
    let (idp, node) = Idp::start_two_nodes_together(&[]);
    let http = idp.http();
    let kids = |url: url::Url| {
        let mut kids = jwks_kids(oauth::reply(http.get(url).send().unwrap()).ok_json());
        kids.sort();
        kids
    };
    let published = kids(idp.url("/jwks"));
    assert_eq!(published.len(), 8, "{published:?}");
    assert_eq!(kids(node.url("/jwks")), published);
    let list = idp.admin_json(&["keys", "list"]);
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        for state in ["active", "next"] {
            let n = list.as_array().unwrap().iter().filter(|k| k["alg"] == alg && k["state"] == state).count();
            assert_eq!(n, 1, "{alg} {state}: {list}");
        }
    }
    let reg = idp.register_client(&["--grant-type", "client_credentials"]);
    let secret = reg.secret.clone().unwrap();
    let token_kid = |url: url::Url| {
        let auth = ClientAuth::Basic(&reg.client_id, &secret);
        let reply = oauth::post_form(&http, &url, auth, &[("grant_type", "client_credentials")]);
        kid_of(reply.ok_json()["access_token"].as_str().unwrap())
    };
    assert_eq!(token_kid(idp.url("/token")), token_kid(node.url("/token")));
}

#[test]
fn an_rp_caching_the_jwks_validates_id_tokens_across_two_rotations() {
    let idp = Idp::start();
    idp.citizen();
    let reg = idp.register_client(&[]);
    // Discovery fetches the JWKS once; this RP never fetches it again.
    let before_first = Rp::new(&idp, &reg);
    let cached = jwks_kids(&before_first.jwks());
    let t0 = sign_in(&before_first, &idp, &[], &[]);
    let k0 = id_kid(&t0);

    let k1 = rotate_rs256(&idp);
    assert_ne!(k1, k0);
    assert!(cached.contains(&k1), "the key that signs after the rotation was pre-published: {k1} not in {cached:?}");
    // Pre-publication: the JWKS cached before the rotation validates the new ID tokens.
    let t1 = sign_in(&before_first, &idp, &[], &[]);
    assert_eq!(id_kid(&t1), k1);

    // An RP refreshes its cache on its own schedule (Cache-Control max-age); one that last
    // fetched between the rotations validates everything after the second one.
    let between = Rp::new(&idp, &reg);
    let k2 = rotate_rs256(&idp);
    let t2 = sign_in(&between, &idp, &[], &[]);
    assert_eq!(id_kid(&t2), k2);

    // Retired keys stay published while their tokens live: tokens from before both rotations
    // still verify against today's JWKS.
    let now = Rp::new(&idp, &reg).jwks();
    for (t, kid) in [(&t0, &k0), (&t1, &k1)] {
        assert!(jwks_kids(&now).contains(kid), "retired {kid} dropped too early");
        oauth::verify_with_jwks(&t.access_token, &now);
    }
    let list = idp.admin_json(&["keys", "list"]);
    let state = |kid: &str| {
        list.as_array().unwrap().iter().find(|k| k["kid"] == kid).map(|k| k["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        (state(&k0).as_deref(), state(&k1).as_deref(), state(&k2).as_deref()),
        (Some("retired"), Some("retired"), Some("active"))
    );
}

#[test]
fn a_revoked_key_leaves_the_jwks_and_what_it_signed_stops_working() {
    let idp = Idp::start();
    idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let tokens = sign_in(&rp, &idp, &["profile", "offline_access"], &[("prompt", "consent")]);
    let refresh = tokens.refresh_token.clone().expect("refresh token");
    let kid = kid_of(&tokens.access_token);
    assert!(jwks_kids(&rp.jwks()).contains(&kid));
    assert_eq!(rp.introspect(&tokens.access_token).ok_json()["active"], true);

    let out = stdout(&idp.admin(&["keys", "revoke", &kid]));
    assert!(out.contains(&format!("Key {kid} revoked (was active).")), "{out}");
    assert!(out.contains("Grants revoked: 1."), "{out}");

    // Out of the JWKS at once, on this node.
    let jwks = rp.jwks();
    assert!(!jwks_kids(&jwks).contains(&kid), "revoked {kid} still published: {jwks}");
    // What an RP sees: the access token introspects inactive, the refresh family is dead.
    assert_eq!(rp.introspect(&tokens.access_token).ok_json()["active"], false);
    let r = rp.refresh(&refresh);
    assert_eq!((r.status, r.error()), (400, "invalid_grant"), "{r:?}");
    let u = rp.userinfo(&tokens.access_token);
    assert_eq!(u.status, 401, "{u:?}");

    // A new key signs at once, and an RP that fetched the JWKS before the revocation already
    // had it (it was the pre-published next key).
    let again = sign_in(&rp, &idp, &[], &[]);
    let new_kid = kid_of(&again.access_token);
    assert_ne!(new_kid, kid);
    let list = idp.admin_json(&["keys", "list"]);
    let revoked = list.as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
    assert_eq!(revoked["state"], "revoked");
    // The revocation is on the audit trail, naming the key and the admin, never key material.
    let events = idp.admin_json(&["audit", "search", "--action", "key.revoke", "--target", &kid]);
    let event = &events.as_array().unwrap_or_else(|| panic!("not a list: {events}"))[0];
    assert_eq!((event["outcome"].as_str(), event["target"].as_str()), (Some("success"), Some(kid.as_str())));
    assert!(event["actor"].as_str().is_some_and(|a| a.starts_with("admin:")), "{event}");
    // Revoking it again is harmless; an unknown kid is a clear error.
    stdout(&idp.admin(&["keys", "revoke", &kid]));
    let out = idp.admin(&["keys", "revoke", "rs256-nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing key with kid \"rs256-nope\""), "{out:?}");
}

/// After a leak of the database and the master key together every private key
/// is exposed: `keys revoke --all` takes every one out (the retired and the
/// pre-published next key too), fresh keys sign, and what the old ones signed
/// stops working for relying parties.
#[test]
fn revoking_every_key_takes_out_the_exposed_ones_and_fresh_keys_sign() {
    let idp = Idp::start();
    idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let tokens = sign_in(&rp, &idp, &["profile", "offline_access"], &[("prompt", "consent")]);
    let refresh = tokens.refresh_token.clone().expect("refresh token");
    rotate_rs256(&idp);
    let exposed = jwks_kids(&rp.jwks());
    assert!(exposed.len() >= 4, "active and next keys of two algorithms, a retired one: {exposed:?}");

    let out = stdout(&idp.admin(&["keys", "revoke", "--all"]));
    assert!(out.contains("RS256: ") && out.contains("grants revoked: 1."), "{out}");
    let published = jwks_kids(&rp.jwks());
    assert!(exposed.iter().all(|k| !published.contains(k)), "an exposed key is still published: {published:?}");
    assert_eq!(rp.introspect(&tokens.access_token).ok_json()["active"], false);
    let r = rp.refresh(&refresh);
    assert_eq!((r.status, r.error()), (400, "invalid_grant"), "{r:?}");

    // A new sign-in is signed by a fresh key no cached JWKS holds: an RP that
    // fetches the JWKS again (as openidconnect here, on a new client) validates it.
    let refetched = Rp::new(&idp, &rp.reg);
    let again = sign_in(&refetched, &idp, &[], &[]);
    assert!(published.contains(&id_kid(&again)) && !exposed.contains(&id_kid(&again)));
    let events = idp.admin_json(&["audit", "search", "--action", "key.revoke_all"]);
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    // Neither a key nor --all is a usage error.
    let out = idp.admin(&["keys", "revoke"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_second_node_signs_with_the_new_key_within_the_reload_interval() {
    let idp = Idp::start();
    let node = idp.start_second_node();
    let reg = idp.register_client(&["--grant-type", "client_credentials"]);
    let secret = reg.secret.clone().unwrap();
    let http = idp.http();
    let token_at_b = || {
        let reply = oauth::post_form(
            &http,
            &node.url("/token"),
            ClientAuth::Basic(&reg.client_id, &secret),
            &[("grant_type", "client_credentials")],
        );
        reply.ok_json()["access_token"].as_str().unwrap().to_owned()
    };
    let before = kid_of(&token_at_b());

    // Rotate through node A's admin API; node B learns of it by its periodic reload.
    let started = Instant::now();
    let activated = rotate_rs256(&idp);
    assert_ne!(activated, before);
    // IDP_KEY_RELOAD_INTERVAL=1 in tests: the documented bound is the interval; allow slack
    // for a loaded test machine.
    let bound = Duration::from_secs(1) + Duration::from_secs(4);
    loop {
        let at = token_at_b();
        if kid_of(&at) == activated {
            // Node A verifies what node B signed.
            let rp = Rp::new(&idp, &reg);
            assert_eq!(rp.introspect(&at).ok_json()["active"], true);
            break;
        }
        assert!(started.elapsed() < bound, "node B still signs with {before} after {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }

    // A revocation on node A leaves node B's JWKS within the same bound.
    stdout(&idp.admin(&["keys", "revoke", &activated]));
    let started = Instant::now();
    loop {
        let jwks = oauth::reply(http.get(node.url("/jwks")).send().unwrap()).ok_json().clone();
        if !jwks_kids(&jwks).contains(&activated) {
            break;
        }
        assert!(started.elapsed() < bound, "node B still publishes revoked {activated}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_algorithm_has_keys_and_clients_may_choose_ps256_or_eddsa() {
    let idp = Idp::start();
    let discovery =
        oauth::reply(idp.http().get(idp.url("/.well-known/openid-configuration")).send().unwrap()).ok_json().clone();
    let algs = &discovery["id_token_signing_alg_values_supported"];
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        assert!(algs.as_array().unwrap().iter().any(|a| a == alg), "{alg} not in {algs}");
    }
    for alg in ["PS256", "EdDSA"] {
        let reg = idp.register_client(&["--grant-type", "client_credentials", "--signing-alg", alg]);
        let rp = Rp::new(&idp, &reg);
        let at =
            rp.token(&[("grant_type", "client_credentials")]).ok_json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jwt_header(&at)["alg"], alg);
        oauth::verify_with_jwks(&at, &rp.jwks());
    }
}

#[test]
fn idp_admin_keys_commands() {
    let mut idp = Idp::start();
    let out = stdout(&idp.admin(&["keys", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("KID") && lines[0].contains("NEXT TRANSITION"), "{out}");
    assert_eq!(lines.len(), 9, "two keys for each of four algorithms: {out}");
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        assert_eq!(lines.iter().filter(|l| l.contains(&format!(" {alg} "))).count(), 2, "{alg}: {out}");
    }
    assert!(out.contains("activate at next rotation"), "{out}");

    assert_eq!(stdout(&idp.admin(&["keys", "schedule"])).trim(), "Automatic rotation is off.");
    let on = stdout(&idp.admin(&["keys", "schedule", "--every", "90d"]));
    assert!(on.starts_with("Automatic rotation every 90d; next at "), "{on}");
    let too_often = idp.admin(&["keys", "schedule", "--every", "10m"]);
    assert_eq!(too_often.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&too_often.stderr).contains("at least 3600 seconds"), "{too_often:?}");
    // The schedule lives in the database: it survives a restart.
    idp.restart();
    assert_eq!(stdout(&idp.admin(&["keys", "schedule"])), on);
    let list = stdout(&idp.admin(&["keys", "list"]));
    assert!(list.lines().any(|l| l.contains(" active ") && l.contains("retire 20")), "{list}");
    assert_eq!(stdout(&idp.admin(&["keys", "schedule", "--off"])).trim(), "Automatic rotation is off.");

    // The next keys were published a moment ago, at the first start: relying parties caching
    // the JWKS may not know them, so the rotation waits unless forced.
    let early = idp.admin(&["keys", "rotate"]);
    assert_eq!(early.status.code(), Some(1), "{early:?}");
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(
        said.starts_with("idp-admin: the next ") && said.contains("--force") && said.lines().count() == 1,
        "{said}"
    );
    let rotated = stdout(&idp.admin(&["keys", "rotate", "--force"]));
    assert!(rotated.starts_with("Rotated.\nALG"), "{rotated}");
    assert_eq!(rotated.lines().count(), 6, "{rotated}");
    let bad = idp.admin(&["keys", "rotate", "--alg", "HS256"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");

    let jwks: Value = serde_json::from_str(&stdout(&idp.admin(&["keys", "export-public"]))).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 12, "8 keys plus the 4 retired ones: {jwks}");
    // Public halves only.
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none() && k.get("p").is_none()));

    // Re-wrap: the old master key is kept as master.key.previous (0600), the node keeps
    // signing, and a restart reads every key under the new one.
    let old_key = std::fs::read_to_string(idp.dir().join("master.key")).unwrap();
    let out = stdout(&idp.admin(&["keys", "rewrap"]));
    assert!(out.contains("keys re-wrapped  12"), "{out}");
    assert!(out.contains("master.key.previous"), "{out}");
    assert!(!out.contains("IDP_MASTER_KEY"), "no key is printed for a key file: {out}");
    let previous = idp.dir().join("master.key.previous");
    assert_eq!(std::fs::read_to_string(&previous).unwrap(), old_key);
    assert_eq!(std::fs::metadata(&previous).unwrap().permissions().mode() & 0o777, 0o600);
    assert_ne!(std::fs::read_to_string(idp.dir().join("master.key")).unwrap(), old_key);
    std::fs::remove_file(&previous).unwrap();
    idp.restart();
    let reg = idp.register_client(&["--grant-type", "client_credentials"]);
    let rp = Rp::new(&idp, &reg);
    let at = rp.token(&[("grant_type", "client_credentials")]).ok_json()["access_token"].as_str().unwrap().to_owned();
    oauth::verify_with_jwks(&at, &rp.jwks());
}

#[test]
fn the_rotation_schedule_fires_when_due_and_is_audited() {
    let idp = Idp::start();
    if idp.sql("SELECT 1").is_none() {
        eprintln!("skipping: the sqlite3 CLI is not installed (the key unit tests fire the schedule on both engines)");
        return;
    }
    let reg = idp.register_client(&["--grant-type", "client_credentials"]);
    let rp = Rp::new(&idp, &reg);
    let token_kid = || {
        let at =
            rp.token(&[("grant_type", "client_credentials")]).ok_json()["access_token"].as_str().unwrap().to_owned();
        kid_of(&at)
    };
    let rs256 = |state: &str| {
        let list = idp.admin_json(&["keys", "list"]);
        let found: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == "RS256" && k["state"] == state)
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found.len(), 1, "one {state} RS256 key: {list}");
        found[0].clone()
    };
    let on = stdout(&idp.admin(&["keys", "schedule", "--every", "1h"]));
    assert!(on.starts_with("Automatic rotation every 1h; next at "), "{on}");
    let (active, next) = (rs256("active"), rs256("next"));
    assert_eq!(token_kid(), active);

    // Pin the clock's meaning: make the rotation due now, behind the server's back (the
    // schedule is a row in the shared database, as another node would see it), with keys
    // published an hour ago (the schedule waits for a next key younger than the JWKS's
    // 15 minutes in relying parties' caches, as a manual rotation does).
    let sql = format!(
        "UPDATE key_schedule SET next_at = {} WHERE id = 1; UPDATE signing_keys SET created_at = created_at - 3600;",
        crate::now() - 1
    );
    let edit = idp.sql(&sql).unwrap();
    assert!(edit.status.success(), "{}: {}", idp.engine(), String::from_utf8_lossy(&edit.stderr));

    // Housekeeping runs every IDP_KEY_RELOAD_INTERVAL=1 s; allow slack for a loaded machine.
    let started = Instant::now();
    while rs256("active") == active {
        assert!(started.elapsed() < Duration::from_secs(8), "the schedule did not fire within {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    // The pre-published next key signs now; the old active one is retired, still published.
    assert_eq!(rs256("active"), next);
    assert_eq!(rs256("retired"), active);
    assert_eq!(token_kid(), next);
    let published = jwks_kids(&rp.jwks());
    assert!(published.contains(&next) && published.contains(&active), "{published:?}");
    // Fired once: the next rotation is an hour away again.
    let schedule = stdout(&idp.admin(&["keys", "schedule"]));
    assert!(schedule.starts_with("Automatic rotation every 1h; next at "), "{schedule}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rs256("active"), next, "the schedule fired twice");

    // On the audit trail, by the schedule, not by an admin.
    let events = idp.admin_json(&["audit", "search", "--actor", "system:schedule"]);
    let events = events.as_array().unwrap_or_else(|| panic!("not a list: {events}"));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0]["action"].as_str(), events[0]["outcome"].as_str()), (Some("key.rotate"), Some("success")));
    assert!(events[0]["detail"].as_str().is_some_and(|d| d.contains(&next)), "{}", events[0]);
}
