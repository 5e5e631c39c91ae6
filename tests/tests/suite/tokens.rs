use std::time::{Duration, UNIX_EPOCH};

use e2e::oauth::{self, ClientAuth};
use e2e::{Browser, Credentials, Idp, Rp, Tokens, jwt_header};
use josekit::jwk::KeyPair as _;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use openidconnect::TokenResponse as _;
use serde_json::{Value, json};

use crate::now;

/// Signs the default citizen in at `rp` with `offline_access`, so a refresh token is issued.
fn offline_sign_in(idp: &Idp, rp: &Rp) -> Tokens {
    let citizen = idp.citizen();
    // OIDC Core §11: offline_access is honoured with prompt=consent.
    let tokens = rp.sign_in(
        &Browser::new(idp),
        &["profile", "offline_access"],
        &[("prompt", "consent")],
        Credentials::Password(&citizen.national_id, &citizen.password),
    );
    assert!(tokens.refresh_token.is_some(), "no refresh token for offline_access");
    tokens
}

fn string(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}")).to_owned()
}

#[test]
fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let tokens = offline_sign_in(&idp, &rp);
    let old = tokens.refresh_token.unwrap();

    let rotated = rp.refresh(&old);
    let body = rotated.ok_json();
    let new = string(body, "refresh_token");
    assert_ne!(new, old, "refresh token not rotated");
    assert!(body["access_token"].is_string());
    assert!(body["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")));
    // RFC 6749 §5.1: token responses are not cached.
    assert!(rotated.header("cache-control").contains("no-store"), "{rotated:?}");

    let reuse = rp.refresh(&old);
    assert_eq!((reuse.status, reuse.error()), (400, "invalid_grant"), "{reuse:?}");
    // RFC 9700 §4.14.2: reuse of a rotated token revokes the family, the new one included.
    let after = rp.refresh(&new);
    assert_eq!((after.status, after.error()), (400, "invalid_grant"), "{after:?}");
}

#[test]
fn a_service_may_have_its_access_tokens_signed_apart_from_its_id_tokens() {
    let idp = Idp::start();
    // RS256 ID tokens for the service's OpenID library, ES256 access tokens for its APIs.
    let reg = idp.register_client(&["--access-token-alg", "ES256"]);
    assert_eq!(reg.view["signing_alg"], "RS256");
    assert_eq!(reg.view["access_token_alg"], "ES256");
    let rp = Rp::new(&idp, &reg);
    // openidconnect checks the RS256 ID token, and its at_hash over the ES256 access token.
    let tokens = offline_sign_in(&idp, &rp);
    let id_token = tokens.response.id_token().unwrap().to_string();
    assert_eq!(jwt_header(&id_token)["alg"], "RS256");
    let header = jwt_header(&tokens.access_token);
    assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("ES256"), Some("at+jwt")));
    oauth::verify_with_jwks(&tokens.access_token, &rp.jwks());
    assert_eq!(rp.userinfo(&tokens.access_token).ok_json()["sub"], tokens.id_payload["sub"]);
    assert_eq!(rp.introspect(&tokens.access_token).ok_json()["active"], true);
    // A refresh signs the same way.
    let refreshed = rp.refresh(tokens.refresh_token.as_deref().unwrap()).ok_json().clone();
    assert_eq!(jwt_header(&string(&refreshed, "access_token"))["alg"], "ES256");
    assert_eq!(jwt_header(&string(&refreshed, "id_token"))["alg"], "RS256");

    // The admin sees it, and "" puts the access tokens back on the ID tokens' algorithm.
    let shown = String::from_utf8_lossy(&idp.admin(&["client", "show", &reg.client_id]).stdout).into_owned();
    assert!(shown.lines().any(|l| l.starts_with("access token alg") && l.ends_with("ES256")), "{shown}");
    let updated = idp.admin_json(&["client", "update", &reg.client_id, "--access-token-alg", ""]);
    assert_eq!(updated["client"]["access_token_alg"], "RS256", "{updated}");
    let again = rp.refresh(&string(&refreshed, "refresh_token")).ok_json().clone();
    assert_eq!(jwt_header(&string(&again, "access_token"))["alg"], "RS256");
    let bad = idp.admin(&["client", "update", &reg.client_id, "--access-token-alg", "HS256"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

#[test]
fn code_reuse_is_refused_and_revokes_the_first_access_token() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let pending = rp.authorize(&["profile"], &[]);
    let flow =
        Browser::new(&idp).run_flow(&pending.url, Credentials::Password(&citizen.national_id, &citizen.password));
    let code = rp.code_from(&pending, &flow.redirect);

    let first = rp.redeem_raw(&code, &pending.verifier);
    let access = string(first.ok_json(), "access_token");
    assert_eq!(rp.introspect(&access).ok_json()["active"], true);

    // Another client holding the redeemed code (it leaked from the browser's
    // history) is refused, and cannot end the citizen's grant with it.
    let stranger = Rp::new(&idp, &idp.register_client(&[]));
    let stolen = stranger.redeem_raw(&code, &pending.verifier);
    assert_eq!((stolen.status, stolen.error()), (400, "invalid_grant"), "{stolen:?}");
    assert_eq!(rp.introspect(&access).ok_json()["active"], true, "a stranger's replay revoked the grant");

    let second = rp.redeem_raw(&code, &pending.verifier);
    assert_eq!((second.status, second.error()), (400, "invalid_grant"), "{second:?}");
    // RFC 6749 §4.1.2: tokens issued from a reused code should be revoked.
    assert_eq!(
        rp.introspect(&access).ok_json()["active"],
        false,
        "access token from the first redemption still active"
    );
}

#[test]
fn client_credentials_returns_an_rfc9068_access_token() {
    let idp = Idp::start();
    let reg = idp.register_client(&["--grant-type", "client_credentials"]);
    let rp = Rp::new(&idp, &reg);
    let reply = rp.token(&[("grant_type", "client_credentials")]);
    let body = reply.ok_json();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    // No scope granted (OIDC scopes never ride on a token without a
    // citizen): `scope` is left out, never an empty string (RFC 6749 §3.3).
    assert!(body.get("scope").is_none(), "{body}");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0), "{body}");
    let access = string(body, "access_token");

    let header = jwt_header(&access);
    assert!(header["typ"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")), "access token header {header}");
    let claims = oauth::verify_with_jwks(&access, &rp.jwks());
    assert_eq!(claims["iss"], idp.issuer().as_str());
    assert_eq!(claims["client_id"], reg.client_id.as_str());
    assert!(claims["exp"].as_i64().is_some_and(|e| e > now()), "{claims}");
    assert!(claims["jti"].is_string(), "{claims}");
    assert!(claims["sub"].is_string(), "{claims}");
    assert!(claims.get("scope").is_none(), "{claims}");

    let intro = rp.introspect(&access);
    assert_eq!(intro.ok_json()["active"], true);
    assert!(intro.json.get("scope").is_none(), "{intro:?}");
    assert_eq!(intro.json["client_id"], reg.client_id.as_str());
}

/// A `private_key_jwt` client assertion (RFC 7523 §3) signed with `key`.
pub(crate) fn client_assertion(key: &josekit::jwk::Jwk, client_id: &str, audience: &str, jti: &str) -> String {
    client_assertion_for(key, client_id, vec![audience], jti)
}

/// A client assertion naming `audiences` as its `aud` array.
fn client_assertion_for(key: &josekit::jwk::Jwk, client_id: &str, audiences: Vec<&str>, jti: &str) -> String {
    let mut payload = JwtPayload::new();
    payload.set_issuer(client_id);
    payload.set_subject(client_id);
    payload.set_audience(audiences);
    payload.set_jwt_id(jti);
    // Whole seconds, as most client libraries send them (josekit would send fractions).
    let now = UNIX_EPOCH + Duration::from_secs(crate::now() as u64);
    payload.set_issued_at(&now);
    payload.set_expires_at(&(now + Duration::from_secs(60)));
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id("rp-key-1");
    let signer = RS256.signer_from_jwk(key).unwrap();
    josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

/// A client_credentials request authenticated only by a client assertion,
/// with or without the optional `client_id` parameter.
fn assertion_grant(rp: &Rp, token_url: &url::Url, client_id: Option<&str>, assertion: &str) -> oauth::Reply {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    oauth::post_form(&rp.http, token_url, ClientAuth::None, &form)
}

/// Registers a `private_key_jwt` client whose inline JWKS holds the public half of `private`
/// (kid `rp-key-1`), with `extra` options for `idp-admin client register`.
pub(crate) fn key_client(idp: &Idp, private: &josekit::jwk::Jwk, extra: &[&str]) -> e2e::TestClient {
    // to_public_key keeps only kty, use, n and e.
    let mut public = private.to_public_key().unwrap();
    public.set_key_id("rp-key-1");
    public.set_algorithm("RS256");
    let jwks_file = idp.dir().join("rp-jwks.json");
    let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] });
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let mut args = vec!["--auth-method", "private_key_jwt", "--jwks-file", jwks_file.to_str().unwrap()];
    args.extend_from_slice(extra);
    idp.register_client(&args)
}

/// A fresh RSA key pair as a private JWK with kid `rp-key-1`.
pub(crate) fn rsa_jwk() -> josekit::jwk::Jwk {
    let mut jwk = RS256.generate_key_pair(2048).unwrap().to_jwk_key_pair();
    jwk.set_key_id("rp-key-1");
    jwk.set_key_use("sig");
    jwk.set_algorithm("RS256");
    jwk
}

#[test]
fn private_key_jwt_authenticates_once_per_assertion() {
    let idp = Idp::start();
    let private = rsa_jwk();
    let reg = key_client(&idp, &private, &["--grant-type", "client_credentials"]);
    assert!(reg.secret.is_none(), "a private_key_jwt client got a secret");
    let rp = Rp::new(&idp, &reg);
    let token_url = rp.endpoint("token_endpoint");
    let request = |assertion: &str| assertion_grant(&rp, &token_url, Some(&reg.client_id), assertion);

    let assertion = client_assertion(&private, &reg.client_id, token_url.as_str(), "jti-0001");
    let first = request(&assertion);
    assert!(first.ok_json()["access_token"].is_string());

    // RFC 7523 §3 item 7: a jti may be used only once.
    let replay = request(&assertion);
    assert!(matches!(replay.status, 400 | 401) && replay.error() == "invalid_client", "replayed assertion: {replay:?}");

    // Signed by a key the client never registered, same kid.
    let stranger = rsa_jwk();
    let forged = client_assertion(&stranger, &reg.client_id, token_url.as_str(), "jti-0002");
    let forged = request(&forged);
    assert!(
        matches!(forged.status, 400 | 401) && forged.error() == "invalid_client",
        "assertion signed by another key: {forged:?}"
    );

    // A fresh jti with the right key works again.
    let fresh = client_assertion(&private, &reg.client_id, token_url.as_str(), "jti-0003");
    assert!(request(&fresh).ok_json()["access_token"].is_string());

    // One that names another server as well may have been made for that
    // server (audience injection): we must be its only audience.
    let shared = client_assertion_for(
        &private,
        &reg.client_id,
        vec!["https://as.example.org", idp.issuer().as_str()],
        "jti-0004",
    );
    let shared = request(&shared);
    assert!(matches!(shared.status, 400 | 401) && shared.error() == "invalid_client", "two audiences: {shared:?}");
}

#[test]
fn introspection_is_per_client_and_revoking_a_refresh_token_revokes_its_family() {
    let idp = Idp::start();
    let owner = Rp::new(&idp, &idp.register_client(&[]));
    let other = Rp::new(&idp, &idp.register_client(&[]));
    let tokens = offline_sign_in(&idp, &owner);
    let first_access = tokens.access_token.clone();

    let intro = owner.introspect(&first_access);
    let body = intro.ok_json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], owner.reg.client_id.as_str());
    assert_eq!(body["sub"], tokens.claims.subject().as_str());
    assert!(body["exp"].as_i64().is_some_and(|e| e > now()), "{body}");
    let scopes: Vec<&str> = body["scope"].as_str().unwrap_or_else(|| panic!("no scope in {body}")).split(' ').collect();
    assert!(scopes.contains(&"openid") && scopes.contains(&"profile"), "{body}");

    // RFC 7662 §2.2: another client learns nothing about the token.
    let foreign = other.introspect(&first_access);
    assert_eq!(foreign.ok_json()["active"], false, "{foreign:?}");
    assert!(foreign.json.get("sub").is_none(), "{foreign:?}");

    // RFC 7009 §2.1: another client cannot revoke them. It is told so for
    // the access token (a bearer token works for whoever holds it); a refresh
    // token, useless without its client's credentials, is not confirmed live.
    let refresh = tokens.refresh_token.clone().unwrap();
    let foreign_revoke = other.revoke(&first_access, "access_token");
    assert_eq!((foreign_revoke.status, foreign_revoke.error()), (400, "invalid_request"), "{foreign_revoke:?}");
    assert_eq!(other.revoke(&refresh, "refresh_token").status, 200);
    // A refresh token's introspection carries no token_type (RFC 7662 §2.2
    // means Bearer or DPoP, the types of access tokens).
    let refresh_intro = owner.introspect(&refresh);
    assert_eq!(refresh_intro.ok_json()["active"], true, "{refresh_intro:?}");
    assert!(refresh_intro.json.get("token_type").is_none(), "{refresh_intro:?}");
    let rotated = owner.refresh(&refresh);
    let rotated_body = rotated.ok_json();
    let refresh = string(rotated_body, "refresh_token");
    let second_access = string(rotated_body, "access_token");

    let revoked = owner.revoke(&refresh, "refresh_token");
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let refused = owner.refresh(&refresh);
    assert_eq!((refused.status, refused.error()), (400, "invalid_grant"), "{refused:?}");
    for access in [&first_access, &second_access] {
        assert_eq!(
            owner.introspect(access).ok_json()["active"],
            false,
            "access token of a revoked family still active"
        );
    }
    // RFC 7009 §2.2: revoking an unknown or already revoked token still answers 200.
    assert_eq!(owner.revoke(&refresh, "refresh_token").status, 200);
}

/// Serves `body` as JSON to every request on a loopback port, from a
/// background thread, or 503 while it is `None`; returns the URL and the
/// number of requests so far. Stands in for a relying party's published JWKS.
fn serve_json(
    body: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = match body.lock().unwrap().clone() {
                Some(text) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                ),
                None => {
                    write!(stream, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
            };
        }
    });
    (url, hits)
}

/// A client_credentials client authenticating with `private_key_jwt` by the keys at `jwks_uri`.
fn jwks_uri_client(idp: &Idp, jwks_uri: &str) -> e2e::TestClient {
    idp.register_client(&[
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        jwks_uri,
        "--grant-type",
        "client_credentials",
    ])
}

fn public_jwks(private: &josekit::jwk::Jwk) -> String {
    let mut public = private.to_public_key().unwrap();
    public.set_key_id("rp-key-1");
    public.set_algorithm("RS256");
    json!({ "keys": [Value::Object(public.as_ref().clone())] }).to_string()
}

#[test]
fn private_key_jwt_with_jwks_uri_follows_the_clients_key_rotation() {
    let idp = Idp::start();
    let first_key = rsa_jwk();
    let published = std::sync::Arc::new(std::sync::Mutex::new(Some(public_jwks(&first_key))));
    let (jwks_uri, _) = serve_json(published.clone());
    let reg = jwks_uri_client(&idp, &jwks_uri);
    let rp = Rp::new(&idp, &reg);
    let token_url = rp.endpoint("token_endpoint");
    // No client_id: the assertion's `iss` alone names the client (RFC 7523 §3).
    let request = |assertion: &str| assertion_grant(&rp, &token_url, None, assertion);
    let a = client_assertion(&first_key, &reg.client_id, token_url.as_str(), "uri-0001");
    assert!(request(&a).ok_json()["access_token"].is_string());

    // The client rotates its key and republishes: the IdP's cached copy no
    // longer verifies, so it fetches the JWKS again and accepts the new key.
    let second_key = rsa_jwk();
    *published.lock().unwrap() = Some(public_jwks(&second_key));
    let b = client_assertion(&second_key, &reg.client_id, token_url.as_str(), "uri-0002");
    assert!(request(&b).ok_json()["access_token"].is_string());

    // The retired key is refused now.
    let c = client_assertion(&first_key, &reg.client_id, token_url.as_str(), "uri-0003");
    let old = request(&c);
    assert!(matches!(old.status, 400 | 401) && old.error() == "invalid_client", "retired client key: {old:?}");
}

/// A client whose `jwks_uri` is down: its assertions are refused, and the URI
/// is fetched once, not on every attempt (anyone can send an assertion naming
/// a client, so each would otherwise cost an outbound request).
#[test]
fn a_failing_jwks_uri_is_not_fetched_on_every_assertion() {
    let idp = Idp::start();
    let (jwks_uri, hits) = serve_json(std::sync::Arc::default());
    let reg = jwks_uri_client(&idp, &jwks_uri);
    let rp = Rp::new(&idp, &reg);
    let token_url = rp.endpoint("token_endpoint");
    let key = rsa_jwk();
    for n in 0..4 {
        let assertion = client_assertion(&key, &reg.client_id, token_url.as_str(), &format!("down-{n}"));
        let refused = assertion_grant(&rp, &token_url, None, &assertion);
        assert!(matches!(refused.status, 400 | 401) && refused.error() == "invalid_client", "{refused:?}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "the failing jwks_uri was fetched again");
}

/// A browser-based app calls the token, revocation and UserInfo endpoints
/// from JavaScript in a page of its own origin, in a real Chromium: each
/// call (with an Authorization header, so preflighted) passes CORS, and a
/// refused token's challenge is readable. Introspection, for resource
/// servers, stays closed to pages.
#[test]
fn a_page_of_another_origin_calls_token_userinfo_and_revocation() {
    let Some(chrome) = e2e::chromium::Chromium::launch() else { return };
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let tokens = offline_sign_in(&idp, &rp);
    // The app's page: the client's redirect URI, another port, so another origin.
    let _app = e2e::chromium::RpCallback::serve(&rp.reg.redirect_uri);
    chrome.goto(&rp.reg.redirect_uri);
    let basic = oauth::basic_auth(&rp.reg.client_id, rp.reg.secret.as_deref().unwrap());
    let call = |path: &str, init: &str| {
        let js = format!(
            "fetch({url}, {init}).then(async r => ({{ status: r.status, challenge: r.headers.get('www-authenticate'), \
             body: await r.text() }}), e => ({{ blocked: String(e) }}))",
            url = serde_json::to_string(&idp.url(path).as_str()).unwrap(),
        );
        chrome.eval(&js)
    };
    let bearer = |token: &str| format!("{{ headers: {{ Authorization: {} }} }}", json!(format!("Bearer {token}")));
    let form = |body: &[(&str, &str)]| {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(body).finish();
        format!(
            "{{ method: 'POST', headers: {{ Authorization: {}, 'Content-Type': 'application/x-www-form-urlencoded' }}, \
             body: {} }}",
            json!(basic),
            json!(body)
        )
    };

    let info = call("/userinfo", &bearer(&tokens.access_token));
    assert_eq!(info["status"], 200, "{info}");
    let claims: Value = serde_json::from_str(info["body"].as_str().unwrap()).unwrap();
    assert_eq!(claims["sub"], tokens.claims.subject().as_str());
    let refused = call("/userinfo", &bearer("not-a-token"));
    assert_eq!(refused["status"], 401, "{refused}");
    assert!(refused["challenge"].as_str().is_some_and(|c| c.contains("invalid_token")), "{refused}");

    let refresh = tokens.refresh_token.clone().unwrap();
    let rotated = call("/token", &form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]));
    assert_eq!(rotated["status"], 200, "{rotated}");
    let rotated: Value = serde_json::from_str(rotated["body"].as_str().unwrap()).unwrap();
    let refresh = string(&rotated, "refresh_token");
    let revoked = call("/revoke", &form(&[("token", &refresh)]));
    assert_eq!(revoked["status"], 200, "{revoked}");
    let after = rp.refresh(&refresh);
    assert_eq!((after.status, after.error()), (400, "invalid_grant"), "{after:?}");

    // A push from the page (a public client that must use PAR would do this).
    let pushed = call(
        "/par",
        &form(&[
            ("response_type", "code"),
            ("redirect_uri", &rp.reg.redirect_uri),
            ("scope", "openid"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]),
    );
    assert_eq!(pushed["status"], 201, "{pushed}");

    let introspection = call("/introspect", &form(&[("token", &tokens.access_token)]));
    assert!(introspection["blocked"].is_string(), "introspection answered a page: {introspection}");
    // The authorization endpoint is a page to navigate to, never a CORS resource (RFC 9700 §2.6).
    let authorize = call("/authorize?client_id=x", "{ headers: { 'X-Requested-With': 'fetch' } }");
    assert!(authorize["blocked"].is_string(), "the authorization endpoint answered CORS: {authorize}");
}
