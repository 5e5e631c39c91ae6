//! OAuth 2.0 / OIDC protocol errors as the client sees them on the wire.

use std::fmt;

/// RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1 and OIDC Core
/// §3.1.2.6 error codes. `Display` is the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// RFC 6749 §5.2: missing, duplicated or malformed parameter. 400.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed. 401 with `WWW-Authenticate`.
    InvalidClient,
    /// RFC 6749 §5.2: bad, expired, reused code or refresh token; PKCE mismatch. 400.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type. 400.
    UnauthorizedClient,
    /// RFC 6749 §5.2: unknown grant type. 400.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1 / §5.2: scope unknown or not allowed. 400.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the citizen or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: only `code` is supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1 / §5.2: internal failure; generic description. 500.
    ServerError,
    /// RFC 6749 §4.1.2.1: overloaded or a dependency is down. 503.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` and nobody is signed in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` and consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` and interaction is needed.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: `request` objects are not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: `request_uri` is not supported.
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6: `registration` is not supported.
    RegistrationNotSupported,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0: essential acr unmet.
    UnmetAuthenticationRequirements,
    /// RFC 6750 §3.1: bad, expired or revoked access token. 401.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the scope. 403.
    InsufficientScope,
    /// RFC 7009 §2.2.1: revocation of this token type is not supported.
    UnsupportedTokenType,
    /// RFC 8693 §2.2.2 (RFC 8707 §2): the requested audience or resource is
    /// unknown or not allowed for the client. 400.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is missing where required, or invalid. 400
    /// (401 with a `DPoP` challenge at a resource).
    InvalidDpopProof,
    /// OIDC Core §3.1.2.6 / RFC 9101: the request object is not valid.
    InvalidRequestObject,
}

impl OAuthErrorCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::InvalidRequestObject => "invalid_request_object",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error with a description safe to show the client. Internal
/// failures carry a generic description; their detail goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// Human-readable, never containing secrets or internal detail.
    pub description: String,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        // RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E;
        // descriptions may quote request input, so anything else becomes '?'.
        let description = description
            .into()
            .chars()
            .map(|c| if matches!(c, ' '..='~') && c != '"' && c != '\\' { c } else { '?' })
            .collect();
        Self { code, description }
    }
    /// `invalid_request` shorthand.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    /// `invalid_grant` shorthand.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
    /// `invalid_client` shorthand.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }
    /// An internal failure: logs `detail`, returns a generic `server_error`.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(OAuthErrorCode::ServerError, "internal error; quote the request id to the operator")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl OAuthError {
    /// RFC 6749 §4.1.2.1 / §5.2 `temporarily_unavailable` (503): a dependency
    /// is out of reach; logs `detail`, tells the client to retry.
    pub fn unavailable(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "dependency unavailable");
        Self::new(OAuthErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; try again shortly")
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // The database is out of reach (restart, failover): retryable, as for the cache.
            crate::store::StoreError::Unavailable(_) => Self::unavailable(e),
            _ => Self::internal(e),
        }
    }
}

impl From<crate::cache::CacheError> for OAuthError {
    fn from(e: crate::cache::CacheError) -> Self {
        Self::unavailable(e)
    }
}

impl From<crate::domain::keys::KeyError> for OAuthError {
    fn from(e: crate::domain::keys::KeyError) -> Self {
        match e {
            crate::domain::keys::KeyError::Store(e) => e.into(),
            _ => Self::internal(e),
        }
    }
}
