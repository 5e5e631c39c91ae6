//! Extractors of the admin API: the authenticated admin token and JSON
//! bodies whose rejections are admin API errors.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::AdminError;
use crate::app::AppState;
use crate::domain::admin::{self, Action};
use crate::store::AdminToken;

/// The authenticated admin token of the request. Extracting it answers 401
/// unless the request carries a live admin token.
#[derive(Debug, Clone)]
pub struct Admin(pub AdminToken);

impl Admin {
    /// 403 unless this token's role allows `action` (the rule lives in `domain::admin`).
    pub(super) fn require(&self, action: Action) -> Result<(), AdminError> {
        if admin::allows(&self.0, action) {
            Ok(())
        } else {
            tracing::warn!(admin = %self.0.id, role = %self.0.role, ?action, "admin action refused");
            Err(AdminError::Forbidden)
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, AdminError> {
        let presented = bearer_token(&parts.headers).ok_or(AdminError::Unauthorized)?;
        match admin::authenticate(app.store.as_ref(), app.clock.now(), presented).await {
            Ok(Some(token)) => Ok(Self(token)),
            Ok(None) => Err(AdminError::Unauthorized),
            Err(e) => Err(AdminError::internal(e)),
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
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
