//! Extractors of the admin API: the authenticated admin token and JSON
//! bodies whose rejections are admin API errors.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::AdminError;
use crate::app::AppState;
use crate::domain::admin::{self, Action};
use crate::http::ClientIp;
use crate::store::AdminToken;

/// The authenticated admin token of the request, and where the request came
/// from (for the audit trail). Extracting it answers 401 unless the request
/// carries a live admin token.
#[derive(Debug, Clone)]
pub struct Admin(pub AdminToken, pub Origin);

/// Where an admin request came from, as the audit trail records it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Peer IP address of the connection.
    pub source_ip: Option<String>,
    /// The `x-request-id` of the request.
    pub request_id: Option<String>,
}

impl Admin {
    /// 403 unless this token's role allows `action` (the rule lives in `domain::admin`).
    pub(super) fn require(&self, action: Action) -> Result<(), AdminError> {
        if admin::allows(&self.0, action) {
            Ok(())
        } else {
            tracing::warn!(admin = %self.0.id, role = %self.0.role, ?action, "admin action refused");
            Err(AdminError::Denied(format!("the {} role may not {}", self.0.role, describe(action))))
        }
    }
}

/// `ReadAdminTokens` → `read admin tokens`, for refusal messages.
fn describe(action: Action) -> String {
    let name = format!("{action:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, AdminError> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        let presented = bearer_token(&parts.headers).ok_or(AdminError::Unauthorized)?;
        let origin = Origin {
            // Without a peer address (in-process tests) there is nothing to record.
            source_ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|_| ip.to_string()),
            request_id: parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        };
        match admin::authenticate(app.store.as_ref(), app.clock.now(), presented).await {
            Ok(Some(token)) => Ok(Self(token, origin)),
            Ok(None) => Err(AdminError::Unauthorized),
            Err(e) => Err(AdminError::from(e)),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1;
/// the scheme name is case-insensitive, RFC 9110 §11.1).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `Json<T>` whose rejection is a JSON 400 [`AdminError`] instead of axum's text.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn actions_read_as_words() {
        assert_eq!(describe(Action::ManageAdminTokens), "manage admin tokens");
        assert_eq!(describe(Action::ReadAudit), "read audit");
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
