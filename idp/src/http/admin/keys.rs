//! `/admin/v1/keys…`: the signing-key lifecycle (DESIGN §5) for security
//! admins. Every call is audited (reads only when refused), and a change
//! reloads this node's key ring at once; other nodes hear of it through the
//! notifier (at once with Redis) and in any case follow within
//! `key_reload_interval`.

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
use crate::domain::keys::KeyError;
use crate::domain::keys::lifecycle::{self, Haste, KekSource, KeyInfo, KeyPolicy, Revocation};
use crate::store::KeySchedule;

/// The key routes, merged into the admin router.
pub fn router() -> Router<App> {
    Router::new()
        .route("/admin/v1/keys", get(list))
        .route("/admin/v1/keys/jwks", get(jwks))
        .route("/admin/v1/keys/rotate", post(rotate))
        .route("/admin/v1/keys/revoke-all", post(revoke_all))
        .route("/admin/v1/keys/rewrap", post(rewrap))
        .route("/admin/v1/keys/schedule", get(show_schedule).put(put_schedule))
        .route("/admin/v1/keys/{kid}/revoke", post(revoke))
}

impl From<KeyError> for AdminError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound(_) => Self::NotFound(e.to_string()),
            KeyError::Conflict | KeyError::TooSoon(_) => Self::Conflict(e.to_string()),
            KeyError::Invalid(m) => Self::BadRequest(m),
            // A database out of reach is a 503 here as everywhere (retry).
            KeyError::Store(store) => store.into(),
            other => Self::internal(other),
        }
    }
}

fn policy(app: &App) -> KeyPolicy {
    KeyPolicy::new(app.config.access_token_ttl, app.config.id_token_ttl)
}

/// `GET /admin/v1/keys` → 200 [KeyInfo], oldest first, with each key's next transition.
async fn list(State(app): State<App>, admin: Admin) -> Result<Json<Vec<KeyInfo>>, AdminError> {
    let result = async {
        admin.require(Action::ReadKeys)?;
        let keys = app.store.list_signing_keys().await?;
        let schedule = app.store.get_key_schedule().await?;
        Ok(Json(lifecycle::describe(&keys, schedule.as_ref(), policy(&app))))
    }
    .await;
    admin.refusals(&app, "key.list", None, result).await
}

/// `GET /admin/v1/keys/jwks` → 200 the public JWKS this node publishes.
async fn jwks(State(app): State<App>, admin: Admin) -> Result<Json<Value>, AdminError> {
    let result = admin.require(Action::ReadKeys).map(|()| Json(app.keys.jwks().as_ref().clone()));
    admin.refusals(&app, "key.jwks", None, result).await
}

/// Body of `POST /admin/v1/keys/rotate` and `…/revoke-all`; empty or `{}`
/// means every algorithm in use.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    alg: Option<String>,
    /// Rotate even onto a key published too recently (see [`lifecycle::Haste`]).
    #[serde(default)]
    force: bool,
}

/// The algorithms a body `{alg?, force?}` names (one, or every one in use:
/// empty) and whether it forces a rotation.
fn algs_of(body: &Bytes) -> Result<(Vec<Alg>, bool), AdminError> {
    let input: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| AdminError::BadRequest(format!("invalid request body: {e}")))?
    };
    let algs = match input.alg.as_deref() {
        None => Vec::new(),
        Some(a) => vec![Alg::parse(a).ok_or_else(|| {
            AdminError::BadRequest(format!("alg must be one of RS256, PS256, ES256, EdDSA, not {a:?}"))
        })?],
    };
    Ok((algs, input.force))
}

/// `POST /admin/v1/keys/rotate` `{alg?, force?}` → 200 `{rotated: [Rotation]}`;
/// 409 when the key to activate was published too recently and `force` is not set.
async fn rotate(State(app): State<App>, admin: Admin, body: Bytes) -> Result<Json<Value>, AdminError> {
    let (mut target, mut forced) = (None, false);
    let result = async {
        admin.require(Action::ManageKeys)?;
        let (algs, force) = algs_of(&body)?;
        target = algs.first().map(|a| a.as_str().to_owned());
        forced = force;
        let haste = if force { Haste::Now } else { Haste::WhenPublished };
        Ok(lifecycle::rotate(app.store.as_ref(), &app.keys, &algs, app.clock.now(), haste).await?)
    }
    .await;
    let detail = result.as_ref().ok().map(|r| json!({ "rotated": r, "forced": forced }));
    let rotated = admin.audited(&app, "key.rotate", target.as_deref(), detail, result).await?;
    app.notifier.keys_changed().await;
    tracing::info!(admin = %admin.0.id, count = rotated.len(), "signing keys rotated");
    Ok(Json(json!({ "rotated": rotated })))
}

/// `POST /admin/v1/keys/revoke-all` `{alg?}` → 200 `{revoked: [FullRevocation]}`:
/// every key of the algorithm (or of all in use) revoked, a fresh active and
/// next key each, every grant they signed for revoked.
async fn revoke_all(State(app): State<App>, admin: Admin, body: Bytes) -> Result<Json<Value>, AdminError> {
    let mut target = None;
    let result = async {
        admin.require(Action::ManageKeys)?;
        let (algs, force) = algs_of(&body)?;
        if force {
            // Revoking every key is forced by nature; a `force` here is a mistaken request.
            return Err(AdminError::BadRequest("force applies to a rotation, not to revoking every key".into()));
        }
        target = algs.first().map(|a| a.as_str().to_owned());
        Ok(lifecycle::revoke_all(app.store.as_ref(), &app.keys, &algs, app.clock.now()).await?)
    }
    .await;
    let detail = result.as_ref().ok().map(|r| json!({ "revoked": r }));
    let revoked = admin.audited(&app, "key.revoke_all", target.as_deref(), detail, result).await?;
    app.notifier.keys_changed().await;
    let grants: u64 = revoked.iter().map(|r| r.grants_revoked).sum();
    tracing::warn!(admin = %admin.0.id, grants, "every signing key revoked");
    Ok(Json(json!({ "revoked": revoked })))
}

/// `POST /admin/v1/keys/{kid}/revoke` → 200 Revocation. The key leaves this
/// node's JWKS at once; the grants it signed for are revoked.
async fn revoke(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Revocation>, AdminError> {
    let kid = path.map(|Path(kid)| kid).map_err(AdminError::from);
    let target = kid.as_ref().ok().cloned();
    let result = async {
        admin.require(Action::ManageKeys)?;
        let kid = kid?;
        Ok(lifecycle::revoke(app.store.as_ref(), &app.keys, &kid, app.clock.now()).await?)
    }
    .await;
    let detail = result.as_ref().ok().map(|r| json!(r));
    let revocation = admin.audited(&app, "key.revoke", target.as_deref(), detail, result).await?;
    app.notifier.keys_changed().await;
    tracing::warn!(admin = %admin.0.id, kid = %revocation.kid, grants = revocation.grants_revoked, "signing key revoked");
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
    let result = async {
        admin.require(Action::ReadKeys)?;
        Ok(Json(schedule_view(app.store.get_key_schedule().await?.as_ref())))
    }
    .await;
    admin.refusals(&app, "key.schedule_show", None, result).await
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
    body: Result<AdminJson<ScheduleBody>, AdminError>,
) -> Result<Json<Value>, AdminError> {
    let result = async {
        admin.require(Action::ManageKeys)?;
        let AdminJson(input) = body?;
        let schedule = lifecycle::set_schedule(app.store.as_ref(), input.every_secs, app.clock.now()).await?;
        Ok(schedule_view(schedule.as_ref()))
    }
    .await;
    let detail = result.as_ref().ok().cloned();
    Ok(Json(admin.audited(&app, "key.schedule", None, detail, result).await?))
}

/// `POST /admin/v1/keys/rewrap` → 200 `{kek_id, keys, master_key?, previous_file?}`.
/// With `IDP_MASTER_KEY`, `master_key` is the new key, shown this once.
async fn rewrap(State(app): State<App>, admin: Admin) -> Result<Json<Value>, AdminError> {
    let result = async {
        admin.require(Action::ManageKeys)?;
        let source = match app.config.master_key {
            Some(_) => KekSource::Env,
            None => KekSource::File(&app.config.master_key_file),
        };
        Ok(lifecycle::rewrap(app.store.as_ref(), &app.keys, source).await?)
    }
    .await;
    // The audit detail names the new KEK by id only, never the key.
    let detail = result.as_ref().ok().map(|r| json!({ "kek_id": r.kek_id, "keys": r.keys }));
    let done = admin.audited(&app, "key.rewrap", None, detail, result).await?;
    app.notifier.keys_changed().await;
    tracing::warn!(admin = %admin.0.id, kek = %done.kek_id, keys = done.keys, "signing keys re-wrapped under a new KEK");
    Ok(Json(json!({
        "kek_id": done.kek_id,
        "keys": done.keys,
        "master_key": done.new_master_key.as_ref().map(crate::crypto::Secret::expose),
        "previous_file": done.previous_file.map(|p| p.display().to_string()),
    })))
}
