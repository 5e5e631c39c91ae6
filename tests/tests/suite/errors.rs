use e2e::oauth::{self, ClientAuth, pkce_pair};
use e2e::{Browser, Credentials, Idp, Rp, query_param};
use url::Url;

/// One malformed request and what the client must see.
struct Case {
    name: &'static str,
    auth: ClientAuth<'static>,
    body: Vec<u8>,
    statuses: &'static [u16],
    /// The RFC 6749 §5.2 `error`, when the status allows a JSON body.
    error: Option<&'static str>,
}

/// Runs every case and reports all mismatches at once.
fn check(http: &reqwest::blocking::Client, url: &Url, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let reply = oauth::post_raw(http, url, case.auth, case.body);
        let status_ok = case.statuses.contains(&reply.status);
        let error_ok = case.error.is_none_or(|e| reply.error() == e);
        if !status_ok || !error_ok || reply.status >= 500 {
            failures.push(format!(
                "{}: expected {:?} {:?}, got {} {}",
                case.name,
                case.statuses,
                case.error,
                reply.status,
                e2e::browser::snippet(&reply.body)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn token_endpoint_answers_bad_requests_with_rfc6749_errors() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let id = leak(reg.client_id.clone());
    let secret = leak(reg.secret.clone().unwrap());
    let redirect = leak(url::form_urlencoded::byte_serialize(reg.redirect_uri.as_bytes()).collect::<String>());
    let (verifier, _) = pkce_pair();
    let good = ClientAuth::Basic(id, secret);

    // A live code, redeemed with the wrong verifier.
    let pending = rp.authorize(&[], &[]);
    let flow =
        Browser::new(&idp).run_flow(&pending.url, Credentials::Password(&citizen.national_id, &citizen.password));
    let code = rp.code_from(&pending, &flow.redirect);

    let mut oversized = b"grant_type=authorization_code&code=".to_vec();
    // Just over the 64 KiB limit: a much larger body races the early 413 (the server stops reading).
    oversized.resize(oversized.len() + 80 * 1024, b'a');

    let cases = vec![
        Case {
            name: "missing grant_type",
            auth: good,
            body: format!("code=abc&redirect_uri={redirect}").into_bytes(),
            statuses: &[400],
            error: Some("invalid_request"),
        },
        Case {
            name: "unknown grant_type",
            auth: good,
            body: b"grant_type=urn%3Aexample%3Amagic".to_vec(),
            statuses: &[400],
            error: Some("unsupported_grant_type"),
        },
        Case {
            // RFC 6749 §3.2: request parameters must not be included more than once.
            name: "duplicated parameter",
            auth: good,
            body: format!(
                "grant_type=authorization_code&code=abc&code=def&redirect_uri={redirect}&code_verifier={verifier}"
            )
            .into_bytes(),
            statuses: &[400],
            error: Some("invalid_request"),
        },
        Case {
            name: "bad client secret",
            auth: ClientAuth::Basic(id, "not-the-secret"),
            body: format!("grant_type=authorization_code&code=abc&redirect_uri={redirect}&code_verifier={verifier}")
                .into_bytes(),
            statuses: &[401],
            error: Some("invalid_client"),
        },
        Case {
            name: "non-UTF-8 percent-encoding",
            auth: good,
            body: format!("grant_type=authorization_code&code=%FF&redirect_uri={redirect}&code_verifier={verifier}")
                .into_bytes(),
            statuses: &[400],
            error: Some("invalid_request"),
        },
        Case { name: "oversized body (80 KiB)", auth: good, body: oversized, statuses: &[400, 413], error: None },
        Case {
            // No parameter holds a NUL, and PostgreSQL text cannot: refused, never a 500.
            name: "NUL in client_id",
            auth: ClientAuth::None,
            body: b"grant_type=client_credentials&client_id=%00&client_secret=x".to_vec(),
            statuses: &[400],
            error: Some("invalid_request"),
        },
        Case {
            // On SQLite such an id is merely unknown; the production pass (PostgreSQL) is
            // where this and the next case failed as 500s.
            name: "NUL in a Basic client id",
            auth: ClientAuth::Basic("\0", "x"),
            body: b"grant_type=client_credentials".to_vec(),
            statuses: &[400, 401],
            error: None,
        },
        Case {
            name: "missing code",
            auth: good,
            body: format!("grant_type=authorization_code&redirect_uri={redirect}&code_verifier={verifier}")
                .into_bytes(),
            statuses: &[400],
            error: Some("invalid_request"),
        },
        Case {
            // RFC 7636 §4.6: the verifier must hash to the challenge.
            name: "wrong PKCE verifier",
            auth: good,
            body: format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}")
                .into_bytes(),
            statuses: &[400],
            error: Some("invalid_grant"),
        },
    ];
    check(&rp.http, &rp.endpoint("token_endpoint"), cases);

    // RFC 6749 §5.2: a failed Basic authentication names the scheme to use.
    let bad_secret = oauth::post_form(
        &rp.http,
        &rp.endpoint("token_endpoint"),
        ClientAuth::Basic(id, "not-the-secret"),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(bad_secret.status, 401, "{bad_secret:?}");
    assert!(
        bad_secret.header("www-authenticate").to_ascii_lowercase().starts_with("basic"),
        "WWW-Authenticate: {:?}",
        bad_secret.header("www-authenticate")
    );
}

/// Parameters replacing or extending a valid authorization request.
type Overrides<'a> = Vec<(&'a str, &'a str)>;

/// The authorization request parameters of a valid request, with `overrides` replacing or
/// adding parameters.
fn authorize_url(idp: &Idp, rp: &Rp, overrides: &[(&str, &str)]) -> Url {
    let (_, challenge) = pkce_pair();
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", rp.reg.client_id.as_str()),
        ("redirect_uri", rp.reg.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", "st-4711"),
        ("nonce", "n-4711"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (key, value) in overrides {
        params.retain(|(k, _)| k != key);
        params.push(((*key).to_owned(), (*value).to_owned()));
    }
    let mut url = idp.url("/authorize");
    url.query_pairs_mut().extend_pairs(params);
    url
}

#[test]
fn authorization_errors_are_redirected_to_a_registered_redirect_uri() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let (verifier, _) = pkce_pair();
    let cases: [(&str, Overrides, &str); 3] = [
        ("response_type=token", vec![("response_type", "token")], "unsupported_response_type"),
        (
            "code_challenge_method=plain",
            vec![("code_challenge_method", "plain"), ("code_challenge", verifier.as_str())],
            "invalid_request",
        ),
        ("no openid scope", vec![("scope", "profile")], "invalid_scope"),
    ];
    let mut failures = Vec::new();
    for (name, overrides, expected) in cases {
        let page = Browser::new(&idp).get(&authorize_url(&idp, &rp, &overrides));
        let back = page.location.clone();
        let ok = matches!(page.status, 302 | 303)
            && back
                .as_ref()
                .is_some_and(|b| b.as_str().starts_with(&rp.reg.redirect_uri))
            && back
                .as_ref()
                .and_then(|b| query_param(b, "error"))
                .as_deref()
                == Some(expected)
            && back
                .as_ref()
                .and_then(|b| query_param(b, "state"))
                .as_deref()
                == Some("st-4711")
            // RFC 9207 §2: error responses carry iss too.
            && back.as_ref().and_then(|b| query_param(b, "iss")) == Some(idp.issuer());
        if !ok {
            failures.push(format!(
                "{name}: expected redirect with error={expected}, state and iss; got {} Location {:?}",
                page.status,
                back.map(String::from)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn authorization_errors_without_a_trusted_redirect_uri_show_a_page() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let cases: [(&str, Overrides); 4] = [
        ("redirect_uri mismatch", vec![("redirect_uri", "http://127.0.0.1:1/evil")]),
        // A NUL no client id holds (and PostgreSQL text cannot: a 500 there before, in the
        // production pass): a page, never a 500.
        ("NUL in client_id", vec![("client_id", "\0")]),
        ("unknown client_id", vec![("client_id", "no-such-client")]),
        (
            "redirect_uri differing by a trailing slash",
            vec![("redirect_uri", leak(format!("{}/", rp.reg.redirect_uri)))],
        ),
    ];
    for (name, overrides) in cases {
        let page = Browser::new(&idp).get(&authorize_url(&idp, &rp, &overrides));
        // OIDC Core §3.1.2.6: never redirect to an unvalidated redirect_uri.
        assert!(page.location.is_none(), "{name}: redirected: {page:?}");
        assert_eq!(page.status, 400, "{name}: {page:?}");
        assert!(
            page.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/html")),
            "{name}: not an HTML page: {page:?}"
        );
        assert!(!page.text().is_empty(), "{name}: empty page");
    }
}

#[test]
fn userinfo_requires_a_valid_bearer_token() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let url = rp.endpoint("userinfo_endpoint");

    let none = oauth::reply(rp.http.get(url.clone()).send().unwrap());
    assert_eq!(none.status, 401, "{none:?}");
    // RFC 6750 §3: the challenge names the Bearer scheme.
    assert!(
        none.header("www-authenticate").starts_with("Bearer"),
        "WWW-Authenticate: {:?}",
        none.header("www-authenticate")
    );

    // RFC 6750 §3.1: another scheme (client credentials sent by mistake)
    // gets the same challenge, without an error code.
    let basic = oauth::reply(rp.http.get(url.clone()).basic_auth("someone", Some("secret")).send().unwrap());
    assert_eq!(basic.status, 401, "{basic:?}");
    let challenge = basic.header("www-authenticate");
    assert!(challenge.starts_with("Bearer") && !challenge.contains("error="), "WWW-Authenticate: {challenge:?}");
    // The Bearer scheme without a token is a malformed request.
    let empty = oauth::reply(rp.http.get(url.clone()).header("authorization", "Bearer ").send().unwrap());
    assert_eq!((empty.status, empty.header("www-authenticate").contains("invalid_request")), (400, true), "{empty:?}");

    let garbage = oauth::reply(rp.http.get(url).bearer_auth("not-a-token").send().unwrap());
    assert_eq!(garbage.status, 401, "{garbage:?}");
    let challenge = garbage.header("www-authenticate");
    assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "WWW-Authenticate: {challenge:?}");
}

#[test]
fn introspection_and_revocation_require_client_authentication() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    for endpoint in ["introspection_endpoint", "revocation_endpoint"] {
        let reply = oauth::post_form(&rp.http, &rp.endpoint(endpoint), ClientAuth::None, &[("token", "whatever")]);
        assert_eq!((reply.status, reply.error()), (401, "invalid_client"), "{endpoint}: {reply:?}");
    }
}
