//! `/admin/v1/businesses…` through the router, on an in-memory SQLite store:
//! what an admin sees (status, body, the one-line error text) and what the
//! audit trail keeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::tests::{Harness, NOW, harness};
use crate::domain::admin::{AUDITOR, BUSINESS_REGISTRAR, ORG_ADMIN, create_admin_token};
use crate::store::{AuditEvent, AuditFilter, Grant};

const VALID: &str = "0100109106";

impl Harness {
    async fn post_json(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(&body.to_string())).await
    }

    async fn business(&self, tax_code: &str, name: &str) -> Value {
        let (s, b) = self.post_json("/admin/v1/businesses", json!({"tax_code": tax_code, "name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    /// A citizen account; returns its account id.
    async fn user(&self, national_id: &str, full_name: &str) -> String {
        let (s, u) =
            self.post_json("/admin/v1/users", json!({"national_id": national_id, "full_name": full_name})).await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        u["account_id"].as_str().unwrap().to_owned()
    }

    async fn audit(&self, action: &str) -> Vec<AuditEvent> {
        let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
        self.app.store.search_audit_events(&filter, 50).await.unwrap()
    }

    /// A live grant of `account_id` acting for `business_id`, through a freshly registered client.
    async fn business_grant(&self, id: &str, account_id: &str, business_id: &str) {
        let (s, _) = self
            .post_json("/admin/v1/organisations", json!({"code": format!("org-{id}"), "name": "Org", "kind": "agency"}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let body = json!({"name": "RP", "organisation": format!("org-{id}"), "client_type": "confidential",
                          "redirect_uris": ["https://rp.example.vn/cb"]});
        let (s, reg) = self.post_json("/admin/v1/clients", body).await;
        assert_eq!(s, StatusCode::CREATED, "{reg}");
        let grant = Grant {
            id: id.into(),
            account_id: account_id.into(),
            client_id: reg["client"]["client_id"].as_str().unwrap().into(),
            scopes: vec!["openid".into(), "business".into()],
            claims: None,
            sid: None,
            auth_time: NOW,
            acr: "LoA1".into(),
            amr: vec!["pwd".into()],
            created_at: NOW,
            expires_at: NOW + 86_400,
            revoked_at: None,
            business_id: Some(business_id.into()),
            dpop_jkt: None,
        };
        self.app.store.create_grant(&grant, None).await.unwrap();
    }
}

fn message(b: &Value) -> &str {
    b["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn businesses_are_registered_listed_and_shown() {
    let h = harness().await;
    let (s, b) = h
        .post_json(
            "/admin/v1/businesses",
            json!({"tax_code": " 0100109106 ", "name": " Công ty Điện lực ", "address": "Hà Nội"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["tax_code"], VALID);
    assert_eq!(b["name"], "Công ty Điện lực");
    assert_eq!((b["verified"].as_bool(), b["status"].as_str()), (Some(true), Some("active")));
    // A branch written without its dash is stored in canonical form.
    let branch = h.business("0100109106001", "Chi nhánh 1").await;
    assert_eq!(branch["tax_code"], "0100109106-001");

    for (body, status, text) in [
        (
            json!({"tax_code": "0100109105", "name": "X"}),
            StatusCode::BAD_REQUEST,
            "invalid tax code: the check digit (the tenth digit) does not match the first nine digits",
        ),
        (
            json!({"tax_code": "0100109105-001", "name": "X"}),
            StatusCode::BAD_REQUEST,
            "invalid tax code: the first ten digits of a branch code must be a valid tax code of the parent business",
        ),
        (
            json!({"tax_code": "12345", "name": "X"}),
            StatusCode::BAD_REQUEST,
            "invalid tax code: a tax code is 10 digits, or 13 digits written NNNNNNNNNN-NNN for a branch",
        ),
        (
            json!({"tax_code": VALID, "name": "  "}),
            StatusCode::BAD_REQUEST,
            "the business name is missing or longer than 200 characters",
        ),
        (
            json!({"tax_code": VALID, "name": "Again"}),
            StatusCode::CONFLICT,
            "a business with this tax code is already registered",
        ),
    ] {
        let (s, b) = h.post_json("/admin/v1/businesses", body.clone()).await;
        assert_eq!((s, message(&b)), (status, text), "{body}");
    }
    for bad in ["{", r#"{"tax_code": "0100109106"}"#, r#"{"tax_code": "0100109106", "name": "X", "x": 1}"#] {
        let (s, b) = h.call(Method::POST, "/admin/v1/businesses", Some(bad)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{bad}");
    }

    let (s, list) = h.call(Method::GET, "/admin/v1/businesses", None).await;
    assert_eq!(s, StatusCode::OK);
    let codes: Vec<&str> = list.as_array().unwrap().iter().map(|b| b["tax_code"].as_str().unwrap()).collect();
    assert_eq!(codes, [VALID, "0100109106-001"]);
    let (_, page) = h.call(Method::GET, "/admin/v1/businesses?limit=1", None).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    let (_, page) = h.call(Method::GET, &format!("/admin/v1/businesses?after={VALID}"), None).await;
    assert_eq!(page[0]["tax_code"], "0100109106-001");
    let (s, _) = h.call(Method::GET, "/admin/v1/businesses?limit=0", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, shown) = h.call(Method::GET, "/admin/v1/businesses/0100109106-001", None).await;
    assert_eq!(s, StatusCode::OK, "{shown}");
    assert_eq!(shown["business"], branch);
    assert_eq!(shown["members"], json!([]));
    let (s, b) = h.call(Method::GET, "/admin/v1/businesses/0101243150", None).await;
    assert_eq!((s, message(&b)), (StatusCode::NOT_FOUND, "no business with this tax code"));
    let (s, b) = h.call(Method::GET, "/admin/v1/businesses/0100109105", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(message(&b).contains("check digit"), "{b}");

    // Audited with the canonical tax code as target, failures included.
    let created = h.audit("business.create").await;
    let outcomes: Vec<(&str, Option<&str>)> =
        created.iter().map(|e| (e.outcome.as_str(), e.target.as_deref())).rev().collect();
    assert_eq!(outcomes[..2], [("success", Some(VALID)), ("success", Some("0100109106-001"))]);
    assert!(outcomes.contains(&("failure", Some("0100109105"))), "{outcomes:?}");
}

#[tokio::test]
async fn members_are_added_shown_and_removed() {
    let h = harness().await;
    let business = h.business(VALID, "Công ty A").await;
    let business_id = business["id"].as_str().unwrap();
    let an = h.user("001090000001", "Nguyễn Văn An").await;
    h.user("001090000002", "Trần Thị Bình").await;
    let uri = format!("/admin/v1/businesses/{VALID}/members");

    let (s, m) = h.post_json(&uri, json!({"national_id": "001090000001", "role": "legal_representative"})).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!((m["status"].as_str(), m["name"].as_str()), (Some("active"), Some("Nguyễn Văn An")));
    assert_eq!((m["account_id"].as_str(), m["expires_at"].as_i64()), (Some(an.as_str()), None));
    let body = json!({"national_id": "001090000002", "role": "authorised_staff", "expires": "2027-06-30"});
    let (s, m) = h.post_json(&uri, body).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["expires_at"].as_i64(), Some(1_814_374_800), "the end of 30 June in Vietnam");

    for (body, status, text) in [
        (json!({"national_id": "001090000001", "role": "authorised_staff"}), StatusCode::CONFLICT, "already a member"),
        (json!({"national_id": "001090000009", "role": "authorised_staff"}), StatusCode::NOT_FOUND, "national ID"),
        (json!({"national_id": "001090000002", "role": "owner"}), StatusCode::BAD_REQUEST, "role must be"),
        (
            json!({"national_id": "001090000002", "role": "authorised_staff", "expires": "2027/06/30"}),
            StatusCode::BAD_REQUEST,
            "YYYY-MM-DD",
        ),
        (
            json!({"national_id": "001090000002", "role": "authorised_staff", "expires": "2020-01-01"}),
            StatusCode::BAD_REQUEST,
            "in the future",
        ),
    ] {
        let (s, b) = h.post_json(&uri, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        assert!(message(&b).contains(text), "{body}: {b}");
    }
    let body = json!({"national_id": "001090000001", "role": "authorised_staff"});
    let (s, b) = h.post_json("/admin/v1/businesses/0101243150/members", body).await;
    assert_eq!((s, message(&b)), (StatusCode::NOT_FOUND, "no business with this tax code"));

    let (_, shown) = h.call(Method::GET, &format!("/admin/v1/businesses/{VALID}"), None).await;
    let members: Vec<(&str, &str, &str)> = shown["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["national_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        members,
        [
            ("Nguyễn Văn An", "001090000001", "legal_representative"),
            ("Trần Thị Bình", "001090000002", "authorised_staff")
        ]
    );

    // Removing ends the member's grants acting for the business; an admin may
    // remove the last legal representative.
    h.business_grant("g-1", &an, business_id).await;
    // The national ID travels in the body, never in the (logged) path.
    let remove = format!("{uri}/remove");
    let (s, b) = h.post_json(&remove, json!({"national_id": "001090000001"})).await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"grants_revoked": 1})));
    assert!(h.app.store.get_grant("g-1").await.unwrap().unwrap().revoked_at.is_some());
    let (s, b) = h.post_json(&remove, json!({"national_id": "001090000001"})).await;
    assert_eq!((s, message(&b)), (StatusCode::NOT_FOUND, "the citizen is not a member of this business"));
    for bad in ["{", "{}", r#"{"national_id": "001090000002", "x": 1}"#] {
        let (s, b) = h.call(Method::POST, &remove, Some(bad)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{bad}");
    }
    let (s, _) = h.call(Method::DELETE, &format!("{uri}/001090000002"), None).await;
    assert!(s.is_client_error(), "the old DELETE route is gone: {s}");

    // The trail names the citizen by account id only, never by national ID.
    let added = h.audit("business.member_add").await;
    let removed = h.audit("business.member_remove").await;
    for e in added.iter().chain(&removed) {
        if e.outcome == "success" {
            assert_eq!(e.target.as_deref(), Some(VALID), "{e:?}");
        }
        let detail = e.detail.clone().unwrap_or_default();
        assert!(!detail.contains("00109000000"), "{detail}");
    }
    let ok = removed.iter().find(|e| e.outcome == "success").unwrap();
    assert!(ok.detail.as_deref().unwrap().contains(&an), "{ok:?}");
}

#[tokio::test]
async fn disabling_a_business_ends_acting_for_it() {
    let h = harness().await;
    let business = h.business(VALID, "Công ty A").await;
    let an = h.user("001090000001", "Nguyễn Văn An").await;
    let uri = format!("/admin/v1/businesses/{VALID}/members");
    let (s, _) = h.post_json(&uri, json!({"national_id": "001090000001", "role": "legal_representative"})).await;
    assert_eq!(s, StatusCode::CREATED);
    h.business_grant("g-1", &an, business["id"].as_str().unwrap()).await;

    let (s, b) = h.call(Method::POST, &format!("/admin/v1/businesses/{VALID}/disable"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["business"]["status"].as_str(), b["grants_revoked"].as_u64()), (Some("disabled"), Some(1)));
    assert!(h.app.store.get_grant("g-1").await.unwrap().unwrap().revoked_at.is_some());
    let (s, b) = h.post_json(&uri, json!({"national_id": "001090000001", "role": "authorised_staff"})).await;
    assert_eq!((s, message(&b)), (StatusCode::CONFLICT, "the business is disabled"));
    let (s, _) = h.call(Method::POST, "/admin/v1/businesses/0101243150/disable", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let disabled = h.audit("business.disable").await;
    assert_eq!(disabled.len(), 2);
    let ok = disabled.iter().find(|e| e.outcome == "success").unwrap();
    assert_eq!((ok.target.as_deref(), ok.detail.as_deref()), (Some(VALID), Some(r#"{"grants_revoked":1}"#)));

    // A path that does not even decode is refused and audited like the rest.
    let (s, b) = h.call(Method::POST, "/admin/v1/businesses/%FF/disable", None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{b}");
    let disabled = h.audit("business.disable").await;
    assert_eq!(disabled.len(), 3);
    assert_eq!((disabled[0].outcome.as_str(), disabled[0].target.as_deref()), ("failure", None));
}

#[tokio::test]
async fn only_security_admins_and_business_registrars_see_or_change_businesses() {
    let h = harness().await;
    h.business(VALID, "Công ty A").await;
    let body = r#"{"tax_code": "0101243150", "name": "B"}"#;
    let uri = format!("/admin/v1/businesses/{VALID}/disable");
    let (_, org) =
        h.post_json("/admin/v1/organisations", json!({"code": "moh", "name": "Bộ Y tế", "kind": "ministry"})).await;
    let org_id = org["id"].as_str().map(str::to_owned);
    // A province's or ministry's org-admin, and an auditor, neither see nor
    // change any business: a legal representative acts for it everywhere.
    let (_, org_admin) = create_admin_token(h.app.store.as_ref(), NOW, ORG_ADMIN, org_id, "org").await.unwrap();
    let (_, auditor) = create_admin_token(h.app.store.as_ref(), NOW, AUDITOR, None, "aud").await.unwrap();
    for (role, secret) in [("org-admin", &org_admin), ("auditor", &auditor)] {
        let (s, b) = h.call_as(Some(secret.expose()), Method::GET, "/admin/v1/businesses", None).await;
        assert_eq!(
            (s, message(&b)),
            (StatusCode::FORBIDDEN, format!("the {role} role may not read businesses").as_str())
        );
        let (s, _) =
            h.call_as(Some(secret.expose()), Method::GET, &format!("/admin/v1/businesses/{VALID}"), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, b) = h.call_as(Some(secret.expose()), Method::POST, "/admin/v1/businesses", Some(body)).await;
        assert_eq!(
            (s, message(&b)),
            (StatusCode::FORBIDDEN, format!("the {role} role may not manage businesses").as_str())
        );
        let (s, _) = h.call_as(Some(secret.expose()), Method::POST, &uri, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    assert!(h.audit("business.disable").await.iter().all(|e| e.outcome == "denied"));

    let (_, registrar) = create_admin_token(h.app.store.as_ref(), NOW, BUSINESS_REGISTRAR, None, "dkkd").await.unwrap();
    let (s, b) = h.call_as(Some(registrar.expose()), Method::POST, "/admin/v1/businesses", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = h.call_as(Some(registrar.expose()), Method::GET, &format!("/admin/v1/businesses/{VALID}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = h.call_as(Some(registrar.expose()), Method::GET, "/admin/v1/clients", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a registrar touches nothing else");
}
