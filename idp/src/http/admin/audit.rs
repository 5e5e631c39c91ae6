//! Recording admin acts in the audit trail, the organisation scope of
//! org-admin tokens, and the audit endpoints (`GET /admin/v1/audit`,
//! `GET /admin/v1/audit/verify`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError};
use crate::app::{App, AppState};
use crate::domain::admin::{self, Action};
use crate::domain::audit::{self, NewEvent, Outcome, Verification};
use crate::store::{AuditEvent, AuditFilter, Client};

/// Events returned when `limit` is absent.
const DEFAULT_LIMIT: u32 = 20;
/// Largest `limit`.
const MAX_LIMIT: u32 = 1000;

/// Routes of this module.
pub(super) fn routes() -> Router<App> {
    Router::new().route("/admin/v1/audit", get(search)).route("/admin/v1/audit/verify", get(verify))
}

impl Admin {
    /// How the trail names this token: `admin:<id> (<label>)`.
    pub(super) fn actor(&self) -> String {
        if self.0.label.is_empty() {
            format!("admin:{}", self.0.id)
        } else {
            format!("admin:{} ({})", self.0.id, self.0.label)
        }
    }

    /// Record one admin act with its outcome. A failure to record is logged
    /// loudly but does not undo the act (it already happened) nor change the answer.
    pub(super) async fn record(
        &self,
        app: &AppState,
        action: &str,
        target: Option<&str>,
        outcome: Outcome,
        detail: Option<Value>,
    ) {
        let event = NewEvent {
            actor: self.actor(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            source_ip: self.1.source_ip.clone(),
            request_id: self.1.request_id.clone(),
            outcome,
            detail,
        };
        if let Err(e) = audit::record(app.store.as_ref(), app.clock.now(), event).await {
            tracing::error!(error = %e, action, "could not record an admin act in the audit trail");
        }
    }

    /// Record a change (`action`) with how `result` ended, then hand `result`
    /// back. Refusals are `denied`, other errors `failure` (with the error
    /// code, never the request body).
    pub(super) async fn audited<T>(
        &self,
        app: &AppState,
        action: &str,
        target: Option<&str>,
        detail: Option<Value>,
        result: Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let (outcome, detail) = match &result {
            Ok(_) => (Outcome::Success, detail),
            Err(e) => (outcome_of(e), Some(with_error(detail, e))),
        };
        self.record(app, action, target, outcome, detail).await;
        result
    }

    /// For reads: record only refusals, then hand `result` back.
    pub(super) async fn refusals<T>(
        &self,
        app: &AppState,
        action: &str,
        target: Option<&str>,
        result: Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        if let Err(e) = &result
            && outcome_of(e) == Outcome::Denied
        {
            self.record(app, action, target, Outcome::Denied, Some(with_error(None, e))).await;
        }
        result
    }

    /// The organisation this token is confined to (org-admin), if any.
    pub(super) fn scope(&self) -> Option<&str> {
        admin::organisation_scope(&self.0)
    }

    /// 403 unless this token may act on `organisation_id` (see
    /// `domain::admin::may_access_organisation`). `what` names the thing, for the message.
    pub(super) fn require_organisation(&self, organisation_id: &str, what: &str) -> Result<(), AdminError> {
        if admin::may_access_organisation(&self.0, organisation_id) {
            return Ok(());
        }
        tracing::warn!(admin = %self.0.id, organisation = %organisation_id, "org-admin refused on another organisation");
        Err(AdminError::Denied(format!(
            "this org-admin token is bound to organisation {}; {what} belongs to another organisation",
            self.scope().unwrap_or_default()
        )))
    }

    /// The client, after checking `action` and that it belongs to an
    /// organisation this token may act on. The one org-scoping helper for
    /// client handlers.
    pub(super) async fn client_in_scope(
        &self,
        app: &AppState,
        action: Action,
        client_id: &str,
    ) -> Result<Client, AdminError> {
        self.require(action)?;
        let client = app
            .store
            .get_client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no client with id {client_id:?}")))?;
        self.require_organisation(&client.organisation_id, &format!("client {client_id:?}"))?;
        Ok(client)
    }
}

fn outcome_of(e: &AdminError) -> Outcome {
    match e {
        AdminError::Forbidden | AdminError::Denied(_) => Outcome::Denied,
        _ => Outcome::Failure,
    }
}

/// `detail` with the error's kind added (the variant name: no request data).
fn with_error(detail: Option<Value>, e: &AdminError) -> Value {
    let kind = format!("{e:?}");
    let kind = kind.split(['(', ' ']).next().unwrap_or_default().to_owned();
    match detail {
        Some(Value::Object(mut map)) => {
            map.insert("error".into(), Value::String(kind));
            Value::Object(map)
        }
        Some(other) => json!({ "error": kind, "detail": other }),
        None => json!({ "error": kind }),
    }
}

/// Query of `GET /admin/v1/audit`; strings so bad numbers give a clear 400.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// Unix time.
    since: Option<String>,
    /// Seconds before now (instead of `since`).
    within: Option<String>,
    limit: Option<String>,
}

/// `GET /admin/v1/audit?actor=&action=&target=&since=|within=&limit=` → 200 [AuditEvent], newest first.
async fn search(
    State(app): State<App>,
    admin: Admin,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEvent>>, AdminError> {
    let result = async {
        admin.require(Action::ReadAudit)?;
        let Query(q) = query?;
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let number = |v: Option<String>, name: &str| -> Result<Option<i64>, AdminError> {
            text(v)
                .map(|s| s.parse::<i64>().map_err(|_| AdminError::BadRequest(format!("{name} must be a whole number"))))
                .transpose()
        };
        let since = match (number(q.since, "since")?, number(q.within, "within")?) {
            (Some(_), Some(_)) => return Err(AdminError::BadRequest("give since or within, not both".into())),
            (Some(at), None) => Some(at),
            (None, Some(secs)) => Some(app.clock.now() - secs.max(0)),
            (None, None) => None,
        };
        let limit = match number(q.limit, "limit")? {
            None => DEFAULT_LIMIT,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| AdminError::BadRequest(format!("limit must be from 1 to {MAX_LIMIT}")))?,
        };
        let filter = AuditFilter { actor: text(q.actor), action: text(q.action), target: text(q.target), since };
        Ok(Json(audit::search(app.store.as_ref(), &filter, limit).await?))
    }
    .await;
    admin.refusals(&app, "audit.search", None, result).await
}

/// `GET /admin/v1/audit/verify` → 200 Verification (`ok`, `events`, `first_broken_seq`, `reason`).
async fn verify(State(app): State<App>, admin: Admin) -> Result<Json<Verification>, AdminError> {
    let result = async {
        admin.require(Action::ReadAudit)?;
        Ok(Json(audit::verify(app.store.as_ref()).await?))
    }
    .await;
    admin.refusals(&app, "audit.verify", None, result).await
}
