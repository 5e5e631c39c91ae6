//! Model values for the store suite.

use crate::store::*;

pub(super) fn org(id: &str, code: &str) -> Organisation {
    Organisation {
        id: id.into(),
        code: code.into(),
        name: format!("Org {code}"),
        kind: "ministry".into(),
        created_at: 1_000,
    }
}

pub(crate) fn citizen(id: &str, national_id: &str, email: Option<&str>) -> Citizen {
    Citizen {
        account: Account {
            id: id.into(),
            subject: format!("sub-{id}"),
            kind: "citizen".into(),
            status: "active".into(),
            created_at: 1_000,
        },
        profile: CitizenProfile {
            account_id: id.into(),
            national_id: national_id.into(),
            national_id_verified: false,
            full_name: "Nguyễn Văn An".into(),
            email: email.map(Into::into),
            email_verified: true,
            phone: Some("+84901234567".into()),
            phone_verified: false,
            birthdate: Some("1990-01-02".into()),
            gender: None,
            address: Some("1 Tràng Tiền, Hà Nội".into()),
            updated_at: 1_000,
        },
    }
}

pub(crate) fn client(client_id: &str, org_id: &str) -> Client {
    Client {
        client_id: client_id.into(),
        organisation_id: org_id.into(),
        name: format!("Portal {client_id}"),
        client_type: "confidential".into(),
        auth_method: "client_secret_basic".into(),
        secret_hash: Some("ab".repeat(32)),
        redirect_uris: vec!["https://rp.example/cb".into(), "https://rp.example/cb2".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "profile".into()],
        signing_alg: "RS256".into(),
        access_token_alg: None,
        jwks: None,
        jwks_uri: None,
        require_pkce: true,
        status: "active".into(),
        created_at: 1_000,
        updated_at: 1_000,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        minimum_acr: "LoA1".into(),
        backchannel_logout_uri: None,
        frontchannel_logout_uri: None,
        subject_type: "public".into(),
        sector_identifier: None,
        sector_identifier_uri: None,
        business_self_allowed: false,
        require_par: false,
        dpop_bound: false,
    }
}

pub(super) fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        account_id: "acc-1".into(),
        client_id: "cli-1".into(),
        scopes: vec!["openid".into(), "offline_access".into()],
        claims: Some(r#"{"userinfo":{"email":null}}"#.into()),
        sid: Some("sid-1".into()),
        auth_time: 1_000,
        acr: "LoA2".into(),
        amr: vec!["pwd".into()],
        created_at: 1_000,
        expires_at: 100_000,
        revoked_at: None,
        business_id: None,
        dpop_jkt: None,
    }
}

pub(super) fn refresh(hash: &str, grant_id: &str) -> RefreshToken {
    RefreshToken { hash: hash.into(), grant_id: grant_id.into(), created_at: 1_000, expires_at: 50_000, used_at: None }
}

pub(super) fn sso(sid: &str, account_id: &str, expires_at: Timestamp) -> SsoSession {
    SsoSession {
        sid: sid.into(),
        account_id: account_id.into(),
        auth_time: 1_000,
        acr: "LoA1".into(),
        amr: vec!["pwd".into()],
        created_at: 1_000,
        expires_at,
        revoked_at: None,
        user_agent: None,
        last_seen_at: None,
        place: None,
    }
}

/// One organisation, citizen `acc-1` and client `cli-1`, for the tests that need them.
pub(super) async fn seed(s: &dyn Store) {
    s.create_organisation(&org("org-1", "moh")).await.unwrap();
    s.create_citizen(&citizen("acc-1", "001090000001", Some("an@example.vn")), None).await.unwrap();
    s.create_client(&client("cli-1", "org-1")).await.unwrap();
}

pub(super) fn conflict_field(r: StoreResult<()>) -> &'static str {
    match r {
        Err(StoreError::Conflict(field)) => field,
        other => panic!("expected Conflict, got {other:?}"),
    }
}
