//! The one error type of the admin API and how domain errors map onto it.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::accounts::SignUpError;
use crate::domain::admin::AdminTokenError;
use crate::domain::clients::{ClientError, OrganisationError};
use crate::domain::user_import::ImportError;
use crate::store::StoreError;

/// Every error the admin API answers, as `{"error": code, "message": text}`.
#[derive(Debug)]
pub enum AdminError {
    /// 400 `invalid_request`: the body or parameters are wrong; the text says how.
    BadRequest(String),
    /// 401 `unauthorized` with `WWW-Authenticate: Bearer`: no token, or one that
    /// is unknown, expired or revoked.
    Unauthorized,
    /// 403 `forbidden`: the token's role may not do this.
    Forbidden,
    /// 403 `forbidden`: the token may not do this; the text says why (its
    /// role, or an organisation it is not bound to).
    Denied(String),
    /// 404 `not_found`: the text names what was not found.
    NotFound(String),
    /// 405 `invalid_request`: the path exists, the method does not.
    MethodNotAllowed,
    /// 409 `conflict`: the text names what already exists or clashes.
    Conflict(String),
    /// 500 `server_error` with a generic message; the payload is logged, never sent.
    Internal(String),
    /// 503 `temporarily_unavailable`: the database is out of reach; retry
    /// shortly. The payload is logged, never sent.
    Unavailable(String),
}

impl AdminError {
    /// An internal failure: logged here, answered generically.
    pub(super) fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// A store failure: 503 when the database is out of reach, 500 otherwise.
    fn store(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable(e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid admin token is required (Authorization: Bearer <token>)".to_owned(),
            ),
            Self::Forbidden => {
                (StatusCode::FORBIDDEN, "forbidden", "this admin token's role does not allow this action".to_owned())
            }
            Self::Denied(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "this endpoint does not accept that HTTP method".to_owned(),
            ),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            Self::Internal(detail) => {
                // Logged inside the request span (request id); never sent.
                tracing::error!(error = %detail, "admin API internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not complete the request; see its logs".to_owned(),
                )
            }
            Self::Unavailable(detail) => {
                tracing::error!(error = %detail, "admin API: store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the database is unreachable; try again shortly".to_owned(),
                )
            }
        };
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, Json(json!({ "error": code, "message": message }))).into_response();
        if unauthorized {
            // RFC 6750 §3: a 401 carries the Bearer challenge.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ClientError> for AdminError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotFound(_) => Self::NotFound(e.to_string()),
            ClientError::NoSecret { .. } => Self::Conflict(e.to_string()),
            ClientError::Store(e) => Self::store(e),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<AdminTokenError> for AdminError {
    fn from(e: AdminTokenError) -> Self {
        match e {
            AdminTokenError::NotFound(_) => Self::NotFound(e.to_string()),
            AdminTokenError::Store(e) => Self::store(e),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<ImportError> for AdminError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::TooLarge => Self::BadRequest(e.to_string()),
            ImportError::Store(e) => Self::store(e),
        }
    }
}

impl From<OrganisationError> for AdminError {
    fn from(e: OrganisationError) -> Self {
        match e {
            OrganisationError::CodeTaken(_) => Self::Conflict(e.to_string()),
            OrganisationError::Store(e) => Self::store(e),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<SignUpError> for AdminError {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::NationalIdTaken | SignUpError::EmailTaken => Self::Conflict(e.to_string()),
            SignUpError::Internal(detail) => Self::Internal(detail),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::store(e)
    }
}

impl From<JsonRejection> for AdminError {
    fn from(e: JsonRejection) -> Self {
        // Malformed JSON, wrong content type, a missing field, a body too
        // large: all the caller's to fix, so 400 and never 500.
        Self::BadRequest(format!("invalid request body: {}", e.body_text()))
    }
}

impl From<PathRejection> for AdminError {
    fn from(e: PathRejection) -> Self {
        Self::BadRequest(format!("invalid path: {}", e.body_text()))
    }
}

impl From<QueryRejection> for AdminError {
    fn from(e: QueryRejection) -> Self {
        Self::BadRequest(format!("invalid query string: {}", e.body_text()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    async fn body(e: AdminError) -> (StatusCode, Option<HeaderValue>, Value) {
        let r = e.into_response();
        let status = r.status();
        let www = r.headers().get(header::WWW_AUTHENTICATE).cloned();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, www, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn error_bodies() {
        let (s, www, b) = body(AdminError::Unauthorized).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(www.unwrap(), "Bearer");
        assert_eq!(b["error"], "unauthorized");
        let (s, _, b) = body(AdminError::Internal("db password=hunter2 refused".into())).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(b["error"], "server_error");
        assert!(!b["message"].as_str().unwrap().contains("hunter2"));
        let (s, _, b) = body(ClientError::NotFound("c1".into()).into()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
        let (s, _, b) = body(ClientError::PkceRequired.into()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
        let (s, _, b) = body(SignUpError::EmailTaken.into()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
        // The database out of reach: retry later, and no driver text.
        let (s, _, b) = body(StoreError::Unavailable("connection refused to db:5432".into()).into()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")));
        assert!(!b["message"].as_str().unwrap().contains("5432"));
        let (s, _, b) = body(StoreError::Backend("disk full".into()).into()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("server_error")));
    }
}
