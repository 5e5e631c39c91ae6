//! The admin API through its router, on an in-memory SQLite store: what an
//! admin (or a caller without a token) sees, status and body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::clock::FixedClock;
use crate::domain::admin::{SECURITY_ADMIN, create_admin_token};
use crate::store::{AdminToken, SsoSession};

pub(super) const NOW: i64 = 1_760_000_000;

pub(super) struct Harness {
    pub(super) app: App,
    pub(super) token: String,
}

pub(super) async fn harness() -> Harness {
    let app = crate::http::test_state::app(Arc::new(FixedClock::new(NOW)), false).await;
    let (_, secret) = create_admin_token(app.store.as_ref(), NOW, SECURITY_ADMIN, None, "test").await.unwrap();
    Harness { app, token: secret.expose().to_owned() }
}

impl Harness {
    pub(super) async fn call(&self, method: Method, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.call_as(Some(&self.token), method, uri, body).await
    }

    pub(super) async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
        let resp = router(self.app.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, value)
    }

    async fn org(&self) -> Value {
        let (s, org) = self
            .call(Method::POST, "/admin/v1/organisations", Some(r#"{"code":"moh","name":"Bộ Y tế","kind":"ministry"}"#))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{org}");
        org
    }
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let h = harness().await;
    let req = Request::get("/admin/v1/organisations").body(Body::empty()).unwrap();
    let resp = router(h.app.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");

    let (s, b) = h.call_as(Some("not-a-token"), Method::GET, "/admin/v1/clients", None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));

    // Expired, revoked and role-less tokens.
    let mk = |role: &str, expires_at, revoked_at| AdminToken {
        id: format!("{role}-{expires_at:?}-{revoked_at:?}"),
        hash: crate::crypto::sha256_hex(format!("{role}{expires_at:?}{revoked_at:?}").as_bytes()),
        role: role.into(),
        organisation_id: None,
        label: String::new(),
        created_at: NOW - 10,
        expires_at,
        revoked_at,
    };
    for (t, presented, want) in [
        (mk(SECURITY_ADMIN, Some(NOW), None), format!("{SECURITY_ADMIN}Some({NOW})None"), StatusCode::UNAUTHORIZED),
        (
            mk(SECURITY_ADMIN, None, Some(NOW - 1)),
            format!("{SECURITY_ADMIN}NoneSome({})", NOW - 1),
            StatusCode::UNAUTHORIZED,
        ),
        (mk(SECURITY_ADMIN, Some(NOW + 1), None), format!("{SECURITY_ADMIN}Some({})None", NOW + 1), StatusCode::OK),
        (mk("auditor", None, None), "auditorNoneNone".to_owned(), StatusCode::FORBIDDEN),
    ] {
        h.app.store.create_admin_token(&t).await.unwrap();
        let (s, b) = h.call_as(Some(&presented), Method::GET, "/admin/v1/organisations", None).await;
        assert_eq!(s, want, "{} {b}", t.id);
    }
}

#[tokio::test]
async fn organisations() {
    let h = harness().await;
    let org = h.org().await;
    assert_eq!((org["code"].as_str(), org["created_at"].as_i64()), (Some("moh"), Some(NOW)));
    let body = r#"{"code":"moh","name":"Other","kind":"agency"}"#;
    let (s, b) = h.call(Method::POST, "/admin/v1/organisations", Some(body)).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (s, b) =
        h.call(Method::POST, "/admin/v1/organisations", Some(r#"{"code":"M","name":"x","kind":"agency"}"#)).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    assert!(b["message"].as_str().unwrap().contains("code"), "{b}");
    let (s, list) = h.call(Method::GET, "/admin/v1/organisations", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_400_not_500() {
    let h = harness().await;
    for body in ["{", "[]", r#"{"code":"moh"}"#, r#"{"code":1,"name":"x","kind":"agency"}"#, ""] {
        let (s, b) = h.call(Method::POST, "/admin/v1/organisations", Some(body)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    }
    let (s, b) = h.call(Method::POST, "/admin/v1/organisations", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no content type: {b}");
    let (s, b) = h.call(Method::GET, "/admin/v1/nothing", None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, _) = h.call(Method::DELETE, "/admin/v1/organisations", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = h.call(Method::GET, "/admin/v1/users?limit=0", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn client_lifecycle() {
    let h = harness().await;
    let org = h.org().await;
    let body = json!({
        "name": "Dịch vụ công", "organisation": "moh", "client_type": "confidential",
        "redirect_uris": ["https://rp.example.vn/cb"], "scopes": ["openid", "national_id"]
    });
    let (s, reg) = h.call(Method::POST, "/admin/v1/clients", Some(&body.to_string())).await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    let client_id = reg["client"]["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(reg["client"]["organisation_id"], org["id"]);
    assert!(reg["client"].get("secret_hash").is_none());
    let stored = h.app.store.get_client(&client_id).await.unwrap().unwrap();
    assert!(clients::secret_matches(&stored, &secret));

    let (s, shown) = h.call(Method::GET, &format!("/admin/v1/clients/{client_id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shown, reg["client"]);
    let (_, list) =
        h.call(Method::GET, &format!("/admin/v1/clients?organisation={}", org["id"].as_str().unwrap()), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = h.call(Method::GET, "/admin/v1/clients?organisation=nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, rot) = h.call(Method::POST, &format!("/admin/v1/clients/{client_id}/rotate-secret"), None).await;
    assert_eq!(s, StatusCode::OK);
    let new_secret = rot["client_secret"].as_str().unwrap();
    let stored = h.app.store.get_client(&client_id).await.unwrap().unwrap();
    assert!(clients::secret_matches(&stored, new_secret));
    assert!(!clients::secret_matches(&stored, &secret));

    let (s, dis) = h.call(Method::POST, &format!("/admin/v1/clients/{client_id}/disable"), None).await;
    assert_eq!((s, dis["status"].as_str()), (StatusCode::OK, Some("disabled")));
    let (s, b) = h.call(Method::POST, "/admin/v1/clients/nope/disable", None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // A public client has no secret to rotate; a bad registration says why.
    let body = json!({"name": "SPA", "organisation": "moh", "client_type": "public",
                      "redirect_uris": ["http://localhost:3000/cb"]});
    let (s, reg) = h.call(Method::POST, "/admin/v1/clients", Some(&body.to_string())).await;
    assert_eq!((s, &reg["client_secret"]), (StatusCode::CREATED, &Value::Null));
    let public_id = reg["client"]["client_id"].as_str().unwrap();
    let (s, _) = h.call(Method::POST, &format!("/admin/v1/clients/{public_id}/rotate-secret"), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let body = json!({"name": "x", "organisation": "moh", "client_type": "confidential",
                      "redirect_uris": ["http://rp.example.vn/cb"]});
    let (s, b) = h.call(Method::POST, "/admin/v1/clients", Some(&body.to_string())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["message"].as_str().unwrap().contains("https"), "{b}");
}

#[tokio::test]
async fn users_are_created_listed_and_disabled() {
    let h = harness().await;
    let body = json!({"national_id": "001090000001", "full_name": "Nguyễn Văn A",
                      "email": "A@Example.vn", "password": "a long enough passphrase"});
    let (s, user) = h.call(Method::POST, "/admin/v1/users", Some(&body.to_string())).await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "a@example.vn");
    assert_eq!(user["status"], "active");
    let (s, b) = h.call(Method::POST, "/admin/v1/users", Some(&body.to_string())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let bad = json!({"national_id": "12", "full_name": "B"});
    let (s, b) = h.call(Method::POST, "/admin/v1/users", Some(&bad.to_string())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["message"].as_str().unwrap().contains("national ID"), "{b}");

    let account_id = user["account_id"].as_str().unwrap();
    let session = SsoSession {
        sid: "sid-1".into(),
        account_id: account_id.into(),
        auth_time: NOW,
        acr: "LoA1".into(),
        amr: vec!["pwd".into()],
        created_at: NOW,
        expires_at: NOW + 3600,
        revoked_at: None,
        user_agent: None,
        last_seen_at: None,
        place: None,
    };
    h.app.store.create_sso_session(&session).await.unwrap();
    let (s, dis) = h.call(Method::POST, &format!("/admin/v1/users/{account_id}/disable"), None).await;
    assert_eq!((s, dis["status"].as_str()), (StatusCode::OK, Some("disabled")));
    let session = h.app.store.get_sso_session("sid-1").await.unwrap().unwrap();
    assert!(session.revoked_at.is_some());
    let (s, _) = h.call(Method::POST, "/admin/v1/users/nope/disable", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, list) = h.call(Method::GET, "/admin/v1/users?limit=10&after=", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = h.call(Method::GET, &format!("/admin/v1/users?after={account_id}"), None).await;
    assert!(list.as_array().unwrap().is_empty());
}

#[test]
fn limits() {
    assert_eq!(parse_limit(None).unwrap(), DEFAULT_PAGE);
    assert_eq!(parse_limit(Some("")).unwrap(), DEFAULT_PAGE);
    assert_eq!(parse_limit(Some("10")).unwrap(), 10);
    for bad in ["0", "-1", "x", "501"] {
        assert!(matches!(parse_limit(Some(bad)), Err(AdminError::BadRequest(_))), "{bad}");
    }
}

#[tokio::test]
async fn refused_and_failed_key_calls_are_audited() {
    let h = harness().await;
    let (auditor, secret) = create_admin_token(h.app.store.as_ref(), NOW, "auditor", None, "aud").await.unwrap();
    let events = |action: &'static str| {
        let store = h.app.store.clone();
        async move {
            let filter = crate::store::AuditFilter { action: Some(action.into()), ..Default::default() };
            store.search_audit_events(&filter, 50).await.unwrap()
        }
    };
    // Refused: every key route, reads included, with the refused token as actor.
    for (method, uri, action) in [
        (Method::GET, "/admin/v1/keys", "key.list"),
        (Method::GET, "/admin/v1/keys/jwks", "key.jwks"),
        (Method::GET, "/admin/v1/keys/schedule", "key.schedule_show"),
        (Method::POST, "/admin/v1/keys/rotate", "key.rotate"),
        (Method::PUT, "/admin/v1/keys/schedule", "key.schedule"),
        (Method::POST, "/admin/v1/keys/rewrap", "key.rewrap"),
        (Method::POST, "/admin/v1/keys/rs256-x/revoke", "key.revoke"),
    ] {
        let body = (method == Method::PUT).then_some("not json");
        let (s, b) = h.call_as(Some(secret.expose()), method, uri, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {b}");
        let found = events(action).await;
        assert_eq!(found.len(), 1, "{action}: {found:?}");
        assert_eq!(found[0].outcome, "denied");
        assert_eq!(found[0].actor, format!("admin:{} (aud)", auditor.id));
    }
    assert_eq!(events("key.revoke").await[0].target.as_deref(), Some("rs256-x"));

    // Failed: a bad body, a bad algorithm, an unknown key, a too-short schedule.
    let (s, _) = h.call(Method::PUT, "/admin/v1/keys/schedule", Some("{\"every\":3600}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.call(Method::PUT, "/admin/v1/keys/schedule", Some("{\"every_secs\":60}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.call(Method::POST, "/admin/v1/keys/rotate", Some("{\"alg\":\"HS256\"}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.call(Method::POST, "/admin/v1/keys/rotate", Some("{nope")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.call(Method::POST, "/admin/v1/keys/rs256-nope/revoke", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let failures = |v: Vec<crate::store::AuditEvent>| {
        v.into_iter().filter(|e| e.outcome == "failure").map(|e| e.detail.unwrap_or_default()).collect::<Vec<_>>()
    };
    let schedule = failures(events("key.schedule").await);
    assert_eq!(schedule.len(), 2, "{schedule:?}");
    assert!(schedule.iter().all(|d| d.contains("BadRequest")), "{schedule:?}");
    assert_eq!(failures(events("key.rotate").await).len(), 2);
    let revoke = events("key.revoke").await;
    assert_eq!((revoke[0].outcome.as_str(), revoke[0].target.as_deref()), ("failure", Some("rs256-nope")));

    // The keys were made a moment ago: a rotation onto the next one waits, unless forced.
    let (s, b) = h.call(Method::POST, "/admin/v1/keys/rotate", Some("{\"alg\":\"ES256\"}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let said = b["message"].as_str().unwrap_or_default();
    assert!(said.contains("has been published for less than 900 s") && said.contains("force"), "{b}");
    let (s, _) = h.call(Method::POST, "/admin/v1/keys/revoke-all", Some("{\"force\":true}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Successes are recorded with the same actor naming as client handlers.
    let (s, _) = h.call(Method::POST, "/admin/v1/keys/rotate", Some("{\"alg\":\"ES256\",\"force\":true}")).await;
    assert_eq!(s, StatusCode::OK);
    let rotated = events("key.rotate").await;
    assert_eq!((rotated[0].outcome.as_str(), rotated[0].target.as_deref()), ("success", Some("ES256")));
    assert!(rotated[0].actor.starts_with("admin:") && rotated[0].actor.ends_with(" (test)"), "{}", rotated[0].actor);
}
