use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::oauth::{self, ClientAuth, Reply};
use e2e::{Browser, Credentials, Idp, Rp};
use josekit::jwk::KeyPair as _;
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jws::{ES256, JwsHeader};
use serde_json::{Map, Value, json};
use url::Url;

use crate::now;

/// A client's DPoP key (P-256), as a phone app would keep it.
struct DpopKey {
    pair: EcKeyPair,
    public: Map<String, Value>,
}

impl DpopKey {
    fn new() -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        let mut public = pair.to_jwk_public_key().as_ref().clone();
        public.retain(|k, _| ["kty", "crv", "x", "y"].contains(&k.as_str()));
        DpopKey { pair, public }
    }

    /// RFC 7638 thumbprint, as the `cnf.jkt` of tokens bound to this key must read.
    fn jkt(&self) -> String {
        let m = |k: &str| self.public[k].as_str().unwrap().to_owned();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, m("x"), m("y"));
        URL_SAFE_NO_PAD.encode(openssl::sha::sha256(canonical.as_bytes()))
    }

    /// A fresh proof (RFC 9449 §4.2) for `method url`, with `ath` when a token goes along.
    fn proof(&self, method: &str, url: &Url, access_token: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_claim("jwk", Some(Value::Object(self.public.clone()))).unwrap();
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(openssl::sha::sha256(format!("{:?}", std::time::Instant::now()).as_bytes())),
            "htm": method,
            "htu": url.as_str(),
            "iat": now(),
        });
        if let Some(t) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(openssl::sha::sha256(t.as_bytes())));
        }
        let signer = ES256.signer_from_jwk(&self.pair.to_jwk_private_key()).unwrap();
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &header, &signer).unwrap()
    }
}

/// `POST /token` with `auth`, `form` and, when given, a DPoP header.
fn token(rp: &Rp, auth: ClientAuth<'_>, form: &[(&str, &str)], proof: Option<String>) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut req = rp
        .http
        .post(rp.endpoint("token_endpoint"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let ClientAuth::Basic(id, secret) = auth {
        req = req.header("authorization", oauth::basic_auth(id, secret));
    }
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    oauth::reply(req.send().unwrap())
}

/// `GET /userinfo` with `Authorization: <scheme> <token>` and an optional DPoP header.
fn userinfo(rp: &Rp, scheme: &str, access_token: &str, proof: Option<String>) -> Reply {
    let mut req =
        rp.http.get(rp.endpoint("userinfo_endpoint")).header("authorization", format!("{scheme} {access_token}"));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    oauth::reply(req.send().unwrap())
}

#[test]
fn a_phone_apps_tokens_work_only_with_its_key() {
    let mut idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(
        &idp,
        &idp.register_client(&[
            "--type",
            "public",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ]),
    );
    assert_eq!(rp.discovery["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA", "PS256", "RS256"]));
    let key = DpopKey::new();
    let token_url = rp.endpoint("token_endpoint");
    let userinfo_url = rp.endpoint("userinfo_endpoint");
    let client_id = rp.reg.client_id.clone();

    let pending = rp.authorize(&["profile", "offline_access"], &[("prompt", "consent")]);
    let flow =
        Browser::new(&idp).run_flow(&pending.url, Credentials::Password(&citizen.national_id, &citizen.password));
    let code = rp.code_from(&pending, &flow.redirect);
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.reg.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let issued = token(&rp, ClientAuth::None, &redeem, Some(key.proof("POST", &token_url, None)));
    let body = issued.ok_json().clone();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let claims = oauth::verify_with_jwks(&access, &rp.jwks());
    assert_eq!(claims["cnf"]["jkt"], key.jkt(), "{claims}");
    // The ID token is as ever: checked here with the JWKS, nonce included.
    let id = oauth::verify_with_jwks(body["id_token"].as_str().unwrap(), &rp.jwks());
    assert_eq!(id["nonce"], pending.nonce.secret().as_str());

    // UserInfo: with the key, through the DPoP scheme.
    let proof = key.proof("GET", &userinfo_url, Some(&access));
    let info = userinfo(&rp, "DPoP", &access, Some(proof.clone()));
    assert_eq!(info.ok_json()["name"], citizen.full_name.as_str());
    // The same proof again is a replay.
    let replay = userinfo(&rp, "DPoP", &access, Some(proof));
    assert_eq!((replay.status, replay.error()), (401, "invalid_dpop_proof"), "{replay:?}");
    assert!(replay.header("www-authenticate").starts_with("DPoP "), "{replay:?}");
    // A thief with the token but not the key: as a bearer token, or with a key of their own.
    let thief = DpopKey::new();
    let as_bearer = userinfo(&rp, "Bearer", &access, None);
    assert_eq!((as_bearer.status, as_bearer.error()), (401, "invalid_token"), "{as_bearer:?}");
    // §7.1: the refusal offers the DPoP scheme beside Bearer.
    let schemes: Vec<&str> =
        as_bearer.headers.get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(schemes.iter().any(|s| s.starts_with("DPoP algs=")), "{schemes:?}");
    let in_body = oauth::post_form(&rp.http, &userinfo_url, ClientAuth::None, &[("access_token", &access)]);
    assert_eq!((in_body.status, in_body.error()), (401, "invalid_token"), "{in_body:?}");
    let other_key = userinfo(&rp, "DPoP", &access, Some(thief.proof("GET", &userinfo_url, Some(&access))));
    assert_eq!((other_key.status, other_key.error()), (401, "invalid_token"), "{other_key:?}");
    let no_proof = userinfo(&rp, "DPoP", &access, None);
    assert_eq!((no_proof.status, no_proof.error()), (401, "invalid_dpop_proof"), "{no_proof:?}");

    // The refresh token is bound too (a public client): refused without the key, and the
    // refusals do not use it up. After a restart, so the binding is read from the database.
    idp.restart();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str()), ("client_id", client_id.as_str())];
    let bare = token(&rp, ClientAuth::None, &refresh, None);
    assert_eq!((bare.status, bare.error()), (400, "invalid_dpop_proof"), "{bare:?}");
    let stolen = token(&rp, ClientAuth::None, &refresh, Some(thief.proof("POST", &token_url, None)));
    assert_eq!((stolen.status, stolen.error()), (400, "invalid_grant"), "{stolen:?}");
    let wrong_url = token(&rp, ClientAuth::None, &refresh, Some(key.proof("POST", &userinfo_url, None)));
    assert_eq!((wrong_url.status, wrong_url.error()), (400, "invalid_dpop_proof"), "{wrong_url:?}");
    let rotated = token(&rp, ClientAuth::None, &refresh, Some(key.proof("POST", &token_url, None)));
    let rotated = rotated.ok_json();
    assert_eq!(rotated["token_type"], "DPoP");
    let claims = oauth::verify_with_jwks(rotated["access_token"].as_str().unwrap(), &rp.jwks());
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
}

#[test]
fn a_client_registered_dpop_bound_must_prove_and_others_keep_bearer_tokens() {
    let idp = Idp::start();
    let reg = idp.register_client(&["--grant-type", "client_credentials", "--dpop-bound", "true"]);
    assert_eq!(reg.view["dpop_bound_access_tokens"], true, "{}", reg.view);
    let rp = Rp::new(&idp, &reg);
    let secret = reg.secret.clone().unwrap();
    let auth = ClientAuth::Basic(&reg.client_id, &secret);
    let token_url = rp.endpoint("token_endpoint");
    let key = DpopKey::new();
    let cc = [("grant_type", "client_credentials")];

    let refused = token(&rp, auth, &cc, None);
    assert_eq!((refused.status, refused.error()), (400, "invalid_dpop_proof"), "{refused:?}");
    let issued = token(&rp, auth, &cc, Some(key.proof("POST", &token_url, None)));
    let access = issued.ok_json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(issued.json["token_type"], "DPoP");
    // RFC 9449 §6.2: introspection tells the resource server which key to expect.
    let intro = oauth::post_form(&rp.http, &rp.endpoint("introspection_endpoint"), auth, &[("token", &access)]);
    assert_eq!(intro.ok_json()["token_type"], "DPoP", "{intro:?}");
    assert_eq!(intro.json["cnf"]["jkt"], key.jkt(), "{intro:?}");
    // Another client revoking it learns nothing: a bound token is useless
    // without its key, so it is not confirmed live (RFC 7009 §2.2's 200), and it still works.
    let other = Rp::new(&idp, &idp.register_client(&[]));
    assert_eq!(other.revoke(&access, "access_token").status, 200);
    let still = oauth::post_form(&rp.http, &rp.endpoint("introspection_endpoint"), auth, &[("token", &access)]);
    assert_eq!(still.ok_json()["active"], true, "{still:?}");

    let shown = idp.admin(&["client", "show", &reg.client_id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.lines().any(|l| l.starts_with("DPoP required") && l.ends_with(" yes")), "{shown}");
    idp.admin_json(&["client", "update", &reg.client_id, "--dpop-bound", "false"]);
    let bearer = token(&rp, auth, &cc, None);
    assert_eq!(bearer.ok_json()["token_type"], "Bearer", "{bearer:?}");
    let access = bearer.json["access_token"].as_str().unwrap();
    assert!(oauth::verify_with_jwks(access, &rp.jwks()).get("cnf").is_none());
    // A proof sent anyway must be a good one.
    let mut stale = key.proof("POST", &token_url, None);
    stale.push('x');
    let bad = token(&rp, auth, &cc, Some(stale));
    assert_eq!((bad.status, bad.error()), (400, "invalid_dpop_proof"), "{bad:?}");
}

#[test]
fn a_code_bound_by_a_pushed_proof_or_dpop_jkt_is_redeemed_only_with_that_key() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let secret = reg.secret.clone().unwrap();
    let auth = ClientAuth::Basic(&reg.client_id, &secret);
    let token_url = rp.endpoint("token_endpoint");
    let par_url = rp.endpoint("pushed_authorization_request_endpoint");
    let key = DpopKey::new();
    let browser = Browser::new(&idp);
    let sign_in = |url: &Url| browser.run_flow(url, Credentials::Password(&citizen.national_id, &citizen.password));
    let redeem = |pending: &e2e::Pending, code: &str, proof: Option<String>| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", reg.redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        token(&rp, auth, &form, proof)
    };

    // RFC 9449 §10.1: a proof sent with the push binds the code to its key.
    let pending = rp.authorize(&[], &[]);
    let form: Vec<(String, String)> = pending.url.query_pairs().into_owned().collect();
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
    let pushed = rp
        .http
        .post(par_url.clone())
        .header("authorization", oauth::basic_auth(&reg.client_id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", key.proof("POST", &par_url, None))
        .body(body)
        .send()
        .unwrap();
    let pushed = oauth::reply(pushed);
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let code = rp.code_from(&pending, &sign_in(&rp.pushed_url(pushed.json["request_uri"].as_str().unwrap())).redirect);
    let bare = redeem(&pending, &code, None);
    assert_eq!((bare.status, bare.error()), (400, "invalid_dpop_proof"), "{bare:?}");
    // The same with the key: the code is redeemed (a refused try uses a code up, so a new one).
    let pending = rp.authorize(&[], &[]);
    let form: Vec<(String, String)> = pending.url.query_pairs().into_owned().collect();
    let push = |proof: String, extra: &[(&str, &str)]| {
        let body =
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).extend_pairs(extra).finish();
        let req = rp
            .http
            .post(par_url.clone())
            .header("authorization", oauth::basic_auth(&reg.client_id, &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", proof)
            .body(body);
        oauth::reply(req.send().unwrap())
    };
    // A dpop_jkt naming another key than the proof's is refused.
    let thief = DpopKey::new();
    let mismatch = push(key.proof("POST", &par_url, None), &[("dpop_jkt", &thief.jkt())]);
    assert_eq!((mismatch.status, mismatch.error()), (400, "invalid_dpop_proof"), "{mismatch:?}");
    let pushed = push(key.proof("POST", &par_url, None), &[]);
    let code = rp.code_from(&pending, &sign_in(&rp.pushed_url(pushed.json["request_uri"].as_str().unwrap())).redirect);
    let issued = redeem(&pending, &code, Some(key.proof("POST", &token_url, None)));
    let access = issued.ok_json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(oauth::verify_with_jwks(&access, &rp.jwks())["cnf"]["jkt"], key.jkt());

    // RFC 9449 §10: `dpop_jkt` on a direct request does the same; a proof by another key is refused.
    let pending = rp.authorize(&[], &[("dpop_jkt", &key.jkt())]);
    let code = rp.code_from(&pending, &sign_in(&pending.url).redirect);
    let stolen = redeem(&pending, &code, Some(thief.proof("POST", &token_url, None)));
    assert_eq!((stolen.status, stolen.error()), (400, "invalid_grant"), "{stolen:?}");
    let pending = rp.authorize(&[], &[("dpop_jkt", &key.jkt())]);
    let code = rp.code_from(&pending, &sign_in(&pending.url).redirect);
    let issued = redeem(&pending, &code, Some(key.proof("POST", &token_url, None)));
    assert_eq!(issued.ok_json()["token_type"], "DPoP", "{issued:?}");

    // A malformed dpop_jkt goes back to the client as invalid_request.
    let pending = rp.authorize(&[], &[("dpop_jkt", "not-a-thumbprint")]);
    let page = Browser::new(&idp).get(&pending.url);
    let to = page.location.clone().unwrap_or_else(|| panic!("no redirect: {page:?}"));
    assert_eq!(oauth::query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
}
