//! The authorization endpoint's rules (OIDC Core §3.1.2): validating the
//! request, deciding whether the citizen must sign in or consent, and issuing
//! the authorization code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::claims::ClaimsRequest;
use super::{OAuthError, OAuthErrorCode as E, Params, SUPPORTED_SCOPES, acr, split_scopes};
use crate::cache::Cache;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::keys::Keyring;
use crate::store::{Client, Consent, Store, Timestamp};

mod business;

pub use business::{Acting, BusinessChoice};

/// How the code (or error) travels back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// Query string of the redirect URI (default for `code`).
    Query,
    /// OAuth 2.0 Form Post Response Mode: an auto-submitting HTML form.
    FormPost,
}

/// Where a response goes: only ever a registered, exactly matched redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnTo {
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// Query or form post.
    pub response_mode: ResponseMode,
    /// The client's `state`, echoed back.
    pub state: Option<String>,
}

/// A validated authorization request, kept while the citizen signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// Client.
    pub client_id: String,
    /// Where the answer goes.
    pub return_to: ReturnTo,
    /// Requested scopes, allowed for the client (`offline_access` dropped
    /// when the client has no refresh-token grant).
    pub scopes: Vec<String>,
    /// `nonce`, bound into the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, prefilled on the login page.
    pub login_hint: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_subject: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// `acr_values` (voluntary).
    pub acr_values: Vec<String>,
    /// The `claims` parameter.
    pub claims: Option<ClaimsRequest>,
    /// The weakest `acr` the session must have for this request: the
    /// client's `minimum_acr`, raised by `acr_values` or an essential `acr`
    /// claim asking for LoA2 (see [`required_acr`]).
    #[serde(default = "loa1")]
    pub required_acr: String,
    /// `business_hint`: the tax code (canonical form) of the business to
    /// preselect on the chooser page; kept only with the `business` scope.
    #[serde(default)]
    pub business_hint: Option<String>,
    /// RFC 9449 §10 `dpop_jkt` (or the key of a DPoP proof sent with the
    /// pushed request): the code is redeemed only with a proof by this key.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// `required_acr` of requests saved before it existed.
fn loa1() -> String {
    acr::LOA1.to_owned()
}

/// The weakest level Motcua knows among `values`.
fn weakest(values: &[String]) -> Option<(usize, &str)> {
    values.iter().filter_map(|v| acr::rank(v).map(|r| (r, v.as_str()))).min()
}

/// The level a request needs (DESIGN §3 "acr_values=LoA2 triggers step-up"):
/// the strongest of the client's minimum, the weakest level `acr_values`
/// names, and the weakest level of an essential `acr` claim. Both list
/// values any of which satisfies the client (OIDC Core §3.1.2.1: acr_values
/// in order of preference; §5.5.1.1): `acr_values=LoA2` steps up,
/// `acr_values=LoA1 LoA2` does not. Values Motcua does not know are ignored.
pub fn required_acr(client_minimum: &str, acr_values: &[String], claims: Option<&ClaimsRequest>) -> String {
    let mut need = if acr::rank(client_minimum).is_some() { client_minimum } else { acr::LOA1 };
    if let Some((_, level)) = weakest(acr_values) {
        need = acr::max(need, level);
    }
    if let Some((_, level)) = claims.and_then(ClaimsRequest::essential_acr).and_then(|values| weakest(values)) {
        need = acr::max(need, level);
    }
    need.to_owned()
}

impl AuthorizationRequest {
    /// Whether `prompt` contains `value`.
    pub fn has_prompt(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    /// Whether the citizen must say whom they act for (the `business` scope).
    pub fn wants_business(&self) -> bool {
        self.scopes.iter().any(|s| s == "business")
    }

    /// The scopes a consent must cover: requested scopes plus those owning
    /// individually requested claims.
    pub fn consent_scopes(&self) -> Vec<String> {
        let mut s = self.scopes.clone();
        if let Some(c) = &self.claims {
            for scope in c.owning_scopes() {
                if !s.iter().any(|x| x == scope) {
                    s.push(scope.to_owned());
                }
            }
        }
        s.sort();
        s
    }
}

/// Why validation failed, and so where the citizen is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// OIDC Core §3.1.2.6: the client or redirect URI cannot be trusted, so the
    /// error is shown on our own page, never redirected. Payload: i18n key and code.
    Page {
        /// i18n key of the message.
        key: &'static str,
        /// Short code shown under the message.
        code: &'static str,
    },
    /// The client and redirect URI are valid: the error goes back to the client.
    Redirect(ReturnTo, OAuthError),
}

fn page(key: &'static str, code: &'static str) -> RequestError {
    RequestError::Page { key, code }
}

/// Validate the parameters of an authorization request; `pushed`: they came
/// by PAR (RFC 9126), or are being pushed.
pub async fn validate(
    store: &dyn Store,
    keys: &Keyring,
    issuer: &str,
    params: &Params,
    pushed: bool,
) -> Result<(AuthorizationRequest, Client), RequestError> {
    // OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1: until client_id and redirect_uri
    // are validated, never redirect.
    if params.is_duplicated("client_id") {
        return Err(page("err.unknown_client", "invalid_request"));
    }
    let client_id = params.get("client_id").ok_or(page("err.unknown_client", "invalid_request"))?;
    let client = match store.get_client(client_id).await {
        Ok(Some(c)) if c.status == "active" => c,
        Ok(_) => return Err(page("err.unknown_client", "invalid_client")),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return Err(page("err.server_error", "server_error"));
        }
    };
    if params.is_duplicated("redirect_uri") {
        return Err(page("err.invalid_redirect_uri", "invalid_request"));
    }
    // Exact string match (OIDC Core §3.1.2.1, RFC 9700 §4.1.3): no prefix, no
    // normalisation; only the port of a loopback IP address may differ.
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|u| redirect_matches(u, r)))
        .ok_or(page("err.invalid_redirect_uri", "invalid_request"))?;

    let mut return_to = ReturnTo {
        redirect_uri: redirect_uri.to_owned(),
        response_mode: ResponseMode::Query,
        state: if params.is_duplicated("state") { None } else { params.get("state").map(str::to_owned) },
    };
    let fail = |rt: &ReturnTo, code: E, d: &str| Err(RequestError::Redirect(rt.clone(), OAuthError::new(code, d)));
    match params.get("response_mode") {
        None | Some("query") => {}
        Some("form_post") => return_to.response_mode = ResponseMode::FormPost,
        Some(_) => return fail(&return_to, E::InvalidRequest, "response_mode must be query or form_post"),
    }
    if let Some(name) = params.duplicated.first() {
        return fail(&return_to, E::InvalidRequest, &format!("parameter {name} is repeated"));
    }
    if return_to.state.as_ref().is_some_and(|s| s.len() > 2048) {
        return_to.state = None;
        return fail(&return_to, E::InvalidRequest, "state is too long");
    }
    // `request_object::resolve` replaced a signed request object by its
    // parameters before this; one still here was nested in another, which
    // RFC 9101 §4 forbids.
    if params.get("request").is_some() {
        return fail(&return_to, E::InvalidRequestObject, "a request object may not carry another request object");
    }
    // A `request_uri` of ours was resolved before (`par::resolve`); any
    // other would name a request object to fetch, which Motcua does not.
    if params.get("request_uri").is_some() {
        return fail(&return_to, E::RequestUriNotSupported, "request_uri is only supported for pushed requests");
    }
    // RFC 9126 §5: this client's requests must come by PAR.
    if client.require_par && !pushed {
        return fail(&return_to, E::InvalidRequest, "this client must push its authorization requests (RFC 9126)");
    }
    if params.get("registration").is_some() {
        return fail(&return_to, E::RegistrationNotSupported, "registration is not supported");
    }
    match params.get("response_type") {
        None => return fail(&return_to, E::InvalidRequest, "response_type is required"),
        Some("code") => {}
        Some(_) => return fail(&return_to, E::UnsupportedResponseType, "only response_type=code is supported"),
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return fail(&return_to, E::UnauthorizedClient, "the client may not use the authorization code grant");
    }

    let mut scopes = split_scopes(params.get("scope").unwrap_or_default());
    if !scopes.iter().any(|s| s == "openid") {
        return fail(&return_to, E::InvalidScope, "the openid scope is required");
    }
    if let Some(bad) = scopes.iter().find(|s| !SUPPORTED_SCOPES.contains(&s.as_str()) || !client.scopes.contains(s)) {
        return fail(&return_to, E::InvalidScope, &format!("scope {bad} is not allowed for this client"));
    }
    if !client.grant_types.iter().any(|g| g == "refresh_token") {
        scopes.retain(|s| s != "offline_access");
    }

    // RFC 7636 with RFC 9700 §2.1.1: S256 only; `plain` (the default when
    // the method is omitted) is refused.
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return fail(
                    &return_to,
                    E::InvalidRequest,
                    "code_challenge must be a base64url SHA-256 (43 characters)",
                );
            }
            Some(c.to_owned())
        }
        (Some(_), _) | (None, Some(_)) => {
            return fail(&return_to, E::InvalidRequest, "code_challenge_method must be S256 with a code_challenge");
        }
        (None, None) if client.require_pkce || client.client_type == "public" => {
            return fail(
                &return_to,
                E::InvalidRequest,
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            );
        }
        (None, None) => None,
    };

    let prompt = split_scopes(params.get("prompt").unwrap_or_default());
    // `create`: Initiating User Registration via OpenID Connect 1.0.
    if let Some(p) =
        prompt.iter().find(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account" | "create"))
    {
        return fail(&return_to, E::InvalidRequest, &format!("unsupported prompt value {p}"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return fail(&return_to, E::InvalidRequest, "prompt=none cannot be combined with other values");
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return fail(&return_to, E::InvalidRequest, "max_age must be a non-negative integer"),
        },
    };
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return fail(&return_to, E::InvalidRequest, "nonce is too long");
    }
    let login_hint = params.get("login_hint").map(str::to_owned);
    if login_hint.as_ref().is_some_and(|h| h.len() > 256) {
        return fail(&return_to, E::InvalidRequest, "login_hint is too long");
    }
    let claims = match params.get("claims") {
        None => None,
        Some(text) => match ClaimsRequest::parse(text) {
            Ok(mut c) => {
                c.restrict(&client.scopes, &scopes);
                Some(c)
            }
            Err(d) => return fail(&return_to, E::InvalidRequest, &d),
        },
    };
    // OIDC Core §5.5.1.1: an essential acr we cannot satisfy fails the request.
    if let Some(values) = claims.as_ref().and_then(ClaimsRequest::essential_acr)
        && !values.iter().any(|v| acr::SUPPORTED.contains(&v.as_str()))
    {
        return fail(
            &return_to,
            E::UnmetAuthenticationRequirements,
            "the requested authentication level is not available",
        );
    }
    // OIDC Core §5.5.1: a `sub` value requested in the id_token member must match.
    let requested_sub = claims.as_ref().and_then(|c| c.id_token.get("sub")).and_then(|s| s.values.first().cloned());
    let hint_subject = match params.get("id_token_hint") {
        None => requested_sub,
        Some(t) => match id_token_hint_subject(keys, issuer, &client.client_id, t) {
            Some(sub) => Some(sub),
            None => {
                return fail(
                    &return_to,
                    E::InvalidRequest,
                    "id_token_hint is not an ID token this provider issued to the client",
                );
            }
        },
    };
    let acr_values = split_scopes(params.get("acr_values").unwrap_or_default());
    let required_acr = required_acr(&client.minimum_acr, &acr_values, claims.as_ref());
    // Without the business scope nothing about businesses is looked at.
    let business_hint = match params.get("business_hint").filter(|_| scopes.iter().any(|s| s == "business")) {
        None => None,
        Some(h) => match crate::domain::businesses::check_tax_code(h) {
            Ok(code) => Some(code),
            Err(_) => return fail(&return_to, E::InvalidRequest, "business_hint must be a valid tax code"),
        },
    };
    // RFC 9449 §10: a base64url SHA-256 thumbprint (43 characters).
    let dpop_jkt = match params.get("dpop_jkt") {
        None => None,
        Some(j) if j.len() == 43 && j.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Some(j.to_owned())
        }
        Some(_) => return fail(&return_to, E::InvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint"),
    };
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        return_to,
        scopes,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        hint_subject,
        ui_locales: params.get("ui_locales").map(str::to_owned),
        acr_values,
        claims,
        required_acr,
        business_hint,
        dpop_jkt,
    };
    Ok((request, client))
}

/// The citizen an ID token we issued to `client_id` names; expiry is ignored
/// (OIDC Core §3.1.2.1: the hint may be expired). A token with an `act`
/// claim was issued to the citizen acting for a business, whose `sub` it
/// carries: the citizen is the actor, `act.sub` (RFC 8693 §4.1).
fn id_token_hint_subject(keys: &Keyring, issuer: &str, client_id: &str, token: &str) -> Option<String> {
    let (typ, claims) = keys.verify(token)?;
    // Only an ID token, never one of our access tokens (typ at+jwt), is a hint.
    if typ.as_deref().is_some_and(|t| t != "JWT") {
        return None;
    }
    if claims.get("iss")? != issuer || !crate::crypto::jwt::names_audience(&claims, |a| a == client_id) {
        return None;
    }
    let sub = match claims.get("act") {
        Some(act) => act.get("sub")?,
        None => claims.get("sub")?,
    };
    sub.as_str().map(str::to_owned)
}

/// Who is signed in, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// Account.
    pub account_id: String,
    /// Public subject.
    pub subject: String,
    /// SSO session id.
    pub sid: String,
    /// Authentication time.
    pub auth_time: Timestamp,
    /// Context class.
    pub acr: String,
    /// Methods.
    pub amr: Vec<String>,
}

/// What happens next for a validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show the login page.
    Login,
    /// Show the step-up page: the session is weaker than the request needs
    /// and the account has a passkey to reach it.
    StepUp,
    /// Show the business chooser: whom the citizen acts for.
    ChooseBusiness,
    /// Show the consent page.
    Consent,
    /// Issue the code, the citizen acting as this.
    Issue(Acting),
    /// Send this error to the client.
    Fail(OAuthError),
}

/// How far one pending request got, and what else the decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The citizen signed in during this request (satisfies prompt=login, max_age).
    pub fresh_login: bool,
    /// The consent page was answered during this request.
    pub consent_shown: bool,
    /// The signed-in account could step up to LoA2 (it has a passkey).
    pub has_passkey: bool,
    /// The business step's inputs.
    pub business: BusinessChoice,
}

/// Decide the next step: login, step-up, business chooser, consent, in that
/// order, then issue.
pub fn decide(
    req: &AuthorizationRequest,
    who: Option<&SignedIn>,
    consent: Option<&Consent>,
    progress: &Progress,
    now: Timestamp,
) -> Step {
    let Progress { fresh_login, consent_shown, has_passkey, .. } = *progress;
    let authenticated = who.is_some_and(|w| {
        // prompt=create asks for the sign-up page even in a signed-in browser
        // (another citizen at a shared computer): the new account signs in.
        let forced = ["login", "select_account", "create"].iter().any(|p| req.has_prompt(p)) && !fresh_login;
        // OIDC Core §3.1.2.1: max_age bounds the age of the authentication.
        let too_old = req.max_age.is_some_and(|m| now - w.auth_time > m) && !fresh_login;
        let other_user = req.hint_subject.as_ref().is_some_and(|s| *s != w.subject);
        !forced && !too_old && !other_user
    });
    // OIDC Core §3.1.2.2: the citizen signed in as someone other than the
    // requested subject — tell the client rather than loop on the login page.
    let wrong_subject = fresh_login && who.is_some_and(|w| req.hint_subject.as_ref().is_some_and(|s| *s != w.subject));
    if wrong_subject {
        return Step::Fail(OAuthError::new(
            E::LoginRequired,
            "the citizen signed in as a different user than requested",
        ));
    }
    if !authenticated {
        return if req.has_prompt("none") {
            Step::Fail(OAuthError::new(E::LoginRequired, "the citizen is not signed in"))
        } else {
            Step::Login
        };
    }
    if who.is_some_and(|w| !acr::satisfies(&w.acr, &req.required_acr)) {
        return if req.has_prompt("none") {
            // OIDC Core §3.1.2.6: prompt=none and the end-user must authenticate again.
            Step::Fail(OAuthError::new(E::LoginRequired, "a stronger sign-in (a passkey) is needed"))
        } else if has_passkey {
            Step::StepUp
        } else {
            // OpenID Connect Core Unmet Authentication Requirements 1.0 §2: the
            // account has no way to reach the requested level.
            Step::Fail(OAuthError::new(
                E::UnmetAuthenticationRequirements,
                "the requested authentication level needs a passkey, and the account has none",
            ))
        };
    }
    let wanted = req.consent_scopes();
    let covered = consent.is_some_and(|c| wanted.iter().all(|s| c.scopes.contains(s)));
    let needs_consent = (!covered || req.has_prompt("consent")) && !consent_shown;
    // With prompt=none consent is judged before the business step, so
    // `consent_required` versus `interaction_required` says nothing about
    // the citizen's businesses (OIDC Core §3.1.2.6).
    if needs_consent && req.has_prompt("none") {
        return Step::Fail(OAuthError::new(E::ConsentRequired, "the citizen has not consented to this client"));
    }
    // After sign-in and step-up, before the consent page: it names the
    // business the service will learn about.
    let acting = match business::acting(req, &progress.business) {
        Ok(a) => a,
        Err(step) => return step,
    };
    if needs_consent {
        return Step::Consent;
    }
    Step::Issue(acting)
}

/// What an authorization code stands for, kept in the cache for `code_ttl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// Client the code was issued to.
    pub client_id: String,
    /// Redirect URI it must be redeemed with.
    pub redirect_uri: String,
    /// Citizen.
    pub account_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `claims` request, JSON text.
    pub claims: Option<String>,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// SSO session.
    pub sid: String,
    /// Authentication time.
    pub auth_time: Timestamp,
    /// Context class.
    pub acr: String,
    /// Methods.
    pub amr: Vec<String>,
    /// The business the citizen acts for (internal id), if any.
    #[serde(default)]
    pub business_id: Option<String>,
    /// RFC 9449 §10: the DPoP key the code must be redeemed with.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// Whether `presented` is the registered redirect URI `registered`: the same
/// text, or (RFC 8252 §7.3) for `http` on the loopback IP address, the same
/// but for the port, since a native app listens on whatever port the system
/// gives it at the time of the request. Not for `localhost` (§8.3: a name
/// may resolve elsewhere).
pub fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    // The text with the port taken out, for `http` on a loopback IP literal:
    // compared as text, so nothing else a parser would rewrite (case, dot
    // segments, encoding) can make two URIs match.
    let loopback = |raw: &str| {
        let url = url::Url::parse(raw).ok()?;
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
            url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        let host = url.host_str()?;
        // Only `http` (literally: the text is what is compared).
        let rest = raw.strip_prefix("http://")?.strip_prefix(host)?;
        // The port as written (`:80` too, which the parser drops as the default).
        let rest = match rest.strip_prefix(':') {
            Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
            None => rest,
        };
        ip.is_loopback().then(|| format!("{host}{rest}"))
    };
    matches!((loopback(registered), loopback(presented)), (Some(a), Some(b)) if a == b)
}

/// Cache key of a code: its hash, so a cache dump does not hold usable codes.
pub fn code_key(code: &str) -> String {
    format!("code:{}", sha256_hex(code.as_bytes()))
}

/// Cache key recording that a code was redeemed, and which grant it made.
pub fn code_used_key(code: &str) -> String {
    format!("code-used:{}", sha256_hex(code.as_bytes()))
}

/// Issue a single-use authorization code, the citizen acting as `acting`,
/// and record that the session signed into the client.
pub async fn issue_code(
    store: &dyn Store,
    cache: &dyn Cache,
    req: &AuthorizationRequest,
    who: &SignedIn,
    acting: &Acting,
    now: Timestamp,
    ttl: i64,
) -> Result<String, OAuthError> {
    let code = random_token();
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.return_to.redirect_uri.clone(),
        account_id: who.account_id.clone(),
        scopes: req.scopes.clone(),
        claims: req.claims.as_ref().map(ClaimsRequest::to_json),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        sid: who.sid.clone(),
        auth_time: who.auth_time,
        acr: who.acr.clone(),
        amr: who.amr.clone(),
        business_id: acting.business_id().map(str::to_owned),
        dpop_jkt: req.dpop_jkt.clone(),
    };
    let bytes = serde_json::to_vec(&grant).map_err(OAuthError::internal)?;
    cache.put(&code_key(&code), &bytes, Duration::from_secs(ttl as u64)).await?;
    store.add_session_client(&who.sid, &req.client_id, now).await?;
    Ok(code)
}

#[cfg(test)]
mod tests;
