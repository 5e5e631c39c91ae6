//! Admin tokens (`/admin/v1/tokens`, security-admin only) and the bulk user
//! import (`POST /admin/v1/users/import`).

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Admin, AdminError, AdminJson};
use crate::app::{App, AppState};
use crate::crypto::Secret;
use crate::domain::admin::{self, Action, NewAdminToken};
use crate::domain::user_import::{self, ImportReport, ImportRow};
use crate::store::{AdminToken, Timestamp};

/// Largest import batch body: 5000 rows of a few hundred bytes.
const MAX_IMPORT_BODY: usize = 8 * 1024 * 1024;

/// Routes of this module.
pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/v1/tokens", get(list).post(create))
        .route("/admin/v1/tokens/{id}/revoke", post(revoke))
        .route("/admin/v1/users/import", post(import_users).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY)))
}

/// An admin token as listed: never its hash.
#[derive(Debug, Serialize)]
pub struct TokenView {
    id: String,
    role: String,
    organisation_id: Option<String>,
    /// The organisation's code, for people.
    organisation: Option<String>,
    label: String,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

impl TokenView {
    fn new(t: AdminToken, codes: &HashMap<String, String>) -> Self {
        // Destructured in full so the hash cannot slip into a view unnoticed.
        let AdminToken { id, hash: _, role, organisation_id, label, created_at, expires_at, revoked_at } = t;
        let organisation = organisation_id.as_ref().and_then(|o| codes.get(o).cloned());
        Self { id, role, organisation_id, organisation, label, created_at, expires_at, revoked_at }
    }
}

/// Organisation id → code.
async fn org_codes(app: &AppState) -> Result<HashMap<String, String>, AdminError> {
    Ok(app.store.list_organisations().await?.into_iter().map(|o| (o.id, o.code)).collect())
}

/// `POST /admin/v1/tokens` → 201 `{token, secret}`; the secret is in this answer and nowhere else.
async fn create(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<NewAdminToken>, AdminError>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let mut detail = None;
    let result = async {
        admin.require(Action::ManageAdminTokens)?;
        let AdminJson(input) = body?;
        detail =
            Some(json!({ "role": input.role, "organisation": input.organisation, "expires_in": input.expires_in }));
        let (token, secret) = admin::issue(app.store.as_ref(), app.clock.now(), input).await?;
        let view = TokenView::new(token, &org_codes(&app).await?);
        Ok((view, secret))
    }
    .await;
    let target = result.as_ref().ok().map(|(v, _)| v.id.clone());
    let (view, secret) = admin.audited(&app, "admin_token.create", target.as_deref(), detail, result).await?;
    let body = json!({ "token": view, "secret": Secret::expose(&secret) });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /admin/v1/tokens` → 200 [TokenView], oldest first.
async fn list(State(app): State<App>, admin: Admin) -> Result<Json<Vec<TokenView>>, AdminError> {
    let result = async {
        admin.require(Action::ManageAdminTokens)?;
        let codes = org_codes(&app).await?;
        let tokens = app.store.list_admin_tokens().await?;
        Ok(Json(tokens.into_iter().map(|t| TokenView::new(t, &codes)).collect()))
    }
    .await;
    admin.refusals(&app, "admin_token.list", None, result).await
}

/// `POST /admin/v1/tokens/{id}/revoke` → 200 TokenView; the token stops working at once.
async fn revoke(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TokenView>, AdminError> {
    let Path(id) = path?;
    let result = async {
        admin.require(Action::ManageAdminTokens)?;
        let token = admin::revoke(app.store.as_ref(), app.clock.now(), &id).await?;
        Ok(Json(TokenView::new(token, &org_codes(&app).await?)))
    }
    .await;
    admin.audited(&app, "admin_token.revoke", Some(&id), None, result).await
}

/// Body of `POST /admin/v1/users/import`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBatch {
    rows: Vec<ImportRow>,
}

/// `POST /admin/v1/users/import` → 200 ImportReport (`inserted`,
/// `already_present`, `rejected: [{line, reason}]`). One transaction per batch;
/// idempotent on re-run.
async fn import_users(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<ImportBatch>, AdminError>,
) -> Result<Json<ImportReport>, AdminError> {
    let result = async {
        admin.require(Action::ManageUsers)?;
        let AdminJson(batch) = body?;
        Ok(user_import::import_batch(app.store.as_ref(), app.clock.now(), batch.rows).await?)
    }
    .await;
    let detail = result.as_ref().ok().map(|r| {
        let lines: Vec<u64> = r.rejected.iter().take(100).map(|x| x.line).collect();
        json!({ "inserted": r.inserted, "already_present": r.already_present, "rejected": r.rejected.len(), "first_rejected_lines": lines })
    });
    Ok(Json(admin.audited(&app, "user.import", None, detail, result).await?))
}
