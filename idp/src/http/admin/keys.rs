//! `/admin/v1/keys…`: the signing-key lifecycle (DESIGN §5) for security
//! admins. Every change is audited and reloads this node's key ring at once;
//! other nodes follow within `key_reload_interval`.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError, AdminJson};
use crate::app::App;
use crate::crypto::jwt::Alg;
use crate::domain::admin::Action;
use crate::domain::audit::{self, NewEvent, Outcome};
use crate::domain::keys::KeyError;
use crate::domain::keys::lifecycle::{self, KekSource, KeyInfo, KeyPolicy, Revocation};
use crate::store::KeySchedule;

/// The key routes, merged into the admin router.
pub fn router() -> Router<App> {
    Router::new()
        .route("/admin/v1/keys", get(list))
        .route("/admin/v1/keys/jwks", get(jwks))
        .route("/admin/v1/keys/rotate", post(rotate))
        .route("/admin/v1/keys/rewrap", post(rewrap))
        .route("/admin/v1/keys/schedule", get(show_schedule).put(put_schedule))
        .route("/admin/v1/keys/{kid}/revoke", post(revoke))
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound(_) => Self::NotFound(e.to_string()),
            KeyError::Conflict => Self::Conflict(e.to_string()),
            KeyError::Invalid(m) => Self::BadRequest(m),
            other => Self::internal(other),
        }
    }
}

/// The audit outcome of a result, with `detail` of a success.
fn outcome<T>(r: &Result<T, AdminError>, detail: impl FnOnce(&T) -> Value) -> (Outcome, Option<Value>) {
    match r {
        Ok(v) => (Outcome::Success, Some(detail(v))),
        Err(_) => (Outcome::Failure, None),
    }
}

/// Record a key event; a failure to record is logged, the act itself has happened.
async fn record(app: &App, admin: &Admin, action: &str, target: Option<&str>, o: (Outcome, Option<Value>)) {
    let (outcome, detail) = o;
    let event = NewEvent {
        actor: format!("admin:{} ({})", admin.0.id, admin.0.label),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        source_ip: admin.1.source_ip.clone(),
        request_id: admin.1.request_id.clone(),
        outcome,
        detail,
    };
    if let Err(e) = audit::record(app.store.as_ref(), app.clock.now(), event).await {
        tracing::error!(error = %e, action, "could not record a key event in the audit trail");
    }
}

fn policy(app: &App) -> KeyPolicy {
    KeyPolicy::new(app.config.access_token_ttl, app.config.id_token_ttl)
}

/// `GET /admin/v1/keys` → 200 [KeyInfo], oldest first, with each key's next transition.
async fn list(State(app): State<App>, admin: Admin) -> Result<Json<Vec<KeyInfo>>, AdminError> {
    admin.require(Action::ReadKeys)?;
    let keys = app.store.list_signing_keys().await?;
    let schedule = app.store.get_key_schedule().await?;
    Ok(Json(lifecycle::describe(&keys, schedule.as_ref(), policy(&app))))
}

/// `GET /admin/v1/keys/jwks` → 200 the public JWKS this node publishes.
async fn jwks(State(app): State<App>, admin: Admin) -> Result<Json<Value>, AdminError> {
    admin.require(Action::ReadKeys)?;
    Ok(Json(app.keys.jwks().as_ref().clone()))
}

/// Body of `POST /admin/v1/keys/rotate`; empty or `{}` rotates every algorithm.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    alg: Option<String>,
}

/// `POST /admin/v1/keys/rotate` `{alg?}` → 200 `{rotated: [Rotation]}`.
async fn rotate(State(app): State<App>, admin: Admin, body: Bytes) -> Result<Json<Value>, AdminError> {
    admin.require(Action::ManageKeys)?;
    let input: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AdminError::BadRequest(format!("invalid request body: {e}")))?
    };
    let algs = match input.alg.as_deref() {
        None => Vec::new(),
        Some(a) => vec![Alg::parse(a).ok_or_else(|| {
            AdminError::BadRequest(format!("alg must be one of RS256, PS256, ES256, EdDSA, not {a:?}"))
        })?],
    };
    let result =
        lifecycle::rotate(app.store.as_ref(), &app.keys, &algs, app.clock.now()).await.map_err(AdminError::from);
    let o = outcome(&result, |r| json!({ "rotated": r }));
    record(&app, &admin, "key.rotate", input.alg.as_deref(), o).await;
    let rotated = result?;
    tracing::info!(admin = %admin.0.id, count = rotated.len(), "signing keys rotated");
    Ok(Json(json!({ "rotated": rotated })))
}

/// `POST /admin/v1/keys/{kid}/revoke` → 200 Revocation. The key leaves this
/// node's JWKS at once; the grants it signed for are revoked.
async fn revoke(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Revocation>, AdminError> {
    admin.require(Action::ManageKeys)?;
    let Path(kid) = path?;
    let result =
        lifecycle::revoke(app.store.as_ref(), &app.keys, &kid, app.clock.now()).await.map_err(AdminError::from);
    let o = outcome(&result, |r| json!(r));
    record(&app, &admin, "key.revoke", Some(&kid), o).await;
    let revocation = result?;
    tracing::warn!(admin = %admin.0.id, kid = %kid, grants = revocation.grants_revoked, "signing key revoked");
    Ok(Json(revocation))
}

fn schedule_view(s: Option<&KeySchedule>) -> Value {
    match s {
        Some(s) => json!({ "enabled": true, "interval_secs": s.interval_secs, "next_at": s.next_at }),
        None => json!({ "enabled": false, "interval_secs": null, "next_at": null }),
    }
}

/// `GET /admin/v1/keys/schedule` → 200 `{enabled, interval_secs, next_at}`.
async fn show_schedule(State(app): State<App>, admin: Admin) -> Result<Json<Value>, AdminError> {
    admin.require(Action::ReadKeys)?;
    Ok(Json(schedule_view(app.store.get_key_schedule().await?.as_ref())))
}

/// Body of `PUT /admin/v1/keys/schedule`: `null` turns automatic rotation off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    every_secs: Option<i64>,
}

/// `PUT /admin/v1/keys/schedule` `{every_secs}` → 200 `{enabled, interval_secs, next_at}`.
async fn put_schedule(
    State(app): State<App>,
    admin: Admin,
    AdminJson(input): AdminJson<ScheduleBody>,
) -> Result<Json<Value>, AdminError> {
    admin.require(Action::ManageKeys)?;
    let result = lifecycle::set_schedule(app.store.as_ref(), input.every_secs, app.clock.now())
        .await
        .map(|s| schedule_view(s.as_ref()))
        .map_err(AdminError::from);
    let o = outcome(&result, Value::clone);
    record(&app, &admin, "key.schedule", None, o).await;
    Ok(Json(result?))
}

/// `POST /admin/v1/keys/rewrap` → 200 `{kek_id, keys, master_key?, previous_file?}`.
/// With `IDP_MASTER_KEY`, `master_key` is the new key, shown this once.
async fn rewrap(State(app): State<App>, admin: Admin) -> Result<Json<Value>, AdminError> {
    admin.require(Action::ManageKeys)?;
    let source = match app.config.master_key {
        Some(_) => KekSource::Env,
        None => KekSource::File(&app.config.master_key_file),
    };
    let result = lifecycle::rewrap(app.store.as_ref(), &app.keys, source).await.map_err(AdminError::from);
    // The audit detail names the new KEK by id only, never the key.
    let o = outcome(&result, |r| json!({ "kek_id": r.kek_id, "keys": r.keys }));
    record(&app, &admin, "key.rewrap", None, o).await;
    let done = result?;
    tracing::warn!(admin = %admin.0.id, kek = %done.kek_id, keys = done.keys, "signing keys re-wrapped under a new KEK");
    Ok(Json(json!({
        "kek_id": done.kek_id,
        "keys": done.keys,
        "master_key": done.new_master_key.as_ref().map(crate::crypto::Secret::expose),
        "previous_file": done.previous_file.map(|p| p.display().to_string()),
    })))
}
