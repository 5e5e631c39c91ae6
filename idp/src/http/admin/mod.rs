//! The admin API (`/admin/v1/…`), served on its own listener (loopback by
//! default). Every request carries `Authorization: Bearer <admin token>`;
//! answers and errors are JSON. Handlers stay thin: parse, check the role,
//! call `domain`, shape the view.

mod audit;
mod businesses;
#[cfg(test)]
mod businesses_tests;
mod error;
mod extract;
mod keys;
#[cfg(test)]
mod tests;
mod tokens;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use error::AdminError;
pub use extract::{Admin, AdminJson, Origin};
pub use tokens::TokenView;

use crate::app::{App, AppState};
use crate::crypto::Secret;
use crate::domain::accounts::{Record, SignUp, sign_up};
use crate::domain::admin::Action;
use crate::domain::clients::{self, ClientUpdate, NewClient, NewOrganisation};
use crate::store::{Citizen, Client, Organisation, StoreError};

/// Largest request body: a client registration with an inline JWKS fits easily.
const MAX_BODY: usize = 256 * 1024;
/// Page size of `GET /admin/v1/users` when `limit` is absent, and its ceiling.
const DEFAULT_PAGE: u32 = 50;
/// Largest `limit` accepted.
const MAX_PAGE: u32 = 500;

/// The admin API router, with its state applied.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/admin/v1/organisations", get(list_organisations).post(create_organisation))
        .route("/admin/v1/clients", get(list_clients).post(register_client))
        .route("/admin/v1/clients/{client_id}", get(show_client).patch(update_client))
        .route("/admin/v1/clients/{client_id}/disable", post(disable_client))
        .route("/admin/v1/clients/{client_id}/rotate-secret", post(rotate_secret))
        .route("/admin/v1/users", get(list_users).post(create_user))
        .route("/admin/v1/users/{account_id}/disable", post(disable_user))
        .merge(keys::router())
        .merge(audit::routes())
        .merge(tokens::routes())
        .merge(businesses::routes())
        .fallback(|| async { AdminError::NotFound("no such admin API endpoint".into()) })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

// ---------------------------------------------------------------- views

/// A client as the admin API shows it: everything but the secret hash.
#[derive(Debug, Serialize)]
pub struct ClientView {
    client_id: String,
    organisation_id: String,
    name: String,
    client_type: String,
    auth_method: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    signing_alg: String,
    /// The access tokens' algorithm (the ID tokens' unless set apart).
    access_token_alg: String,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    require_pkce: bool,
    status: String,
    created_at: i64,
    updated_at: i64,
    /// While a rotated-out secret still works: until when.
    previous_secret_expires_at: Option<i64>,
    /// The weakest `acr` the client accepts.
    minimum_acr: String,
    /// Back-channel logout endpoint, if registered.
    backchannel_logout_uri: Option<String>,
    /// Front-channel logout page, if registered.
    frontchannel_logout_uri: Option<String>,
    /// `public` or `pairwise`.
    subject_type: String,
    /// The sector pairwise subjects are computed over: a host proven by a
    /// sector document, or `<organisation id>:<redirect host>`.
    sector_identifier: Option<String>,
    /// Where the sector's redirect URIs were read from.
    sector_identifier_uri: Option<String>,
    /// With the `business` scope, the citizen may act as themself.
    business_self_allowed: bool,
    /// RFC 9126 §5: authorization requests only by PAR.
    require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: token requests only with a DPoP proof.
    dpop_bound_access_tokens: bool,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        // Destructured in full so a new secret-bearing field cannot slip into views unnoticed.
        let Client {
            client_id,
            organisation_id,
            name,
            client_type,
            auth_method,
            secret_hash: _,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            signing_alg,
            jwks,
            jwks_uri,
            require_pkce,
            status,
            created_at,
            updated_at,
            previous_secret_hash: _,
            previous_secret_expires_at,
            minimum_acr,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            subject_type,
            sector_identifier,
            sector_identifier_uri,
            business_self_allowed,
            access_token_alg,
            require_par,
            dpop_bound,
        } = c;
        Self {
            client_id,
            organisation_id,
            name,
            client_type,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            access_token_alg: access_token_alg.unwrap_or_else(|| signing_alg.clone()),
            signing_alg,
            // Stored as validated JSON text; shown as JSON.
            jwks: jwks.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
            jwks_uri,
            require_pkce,
            status,
            created_at,
            updated_at,
            previous_secret_expires_at,
            minimum_acr,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            subject_type,
            sector_identifier,
            sector_identifier_uri,
            business_self_allowed,
            require_pushed_authorization_requests: require_par,
            dpop_bound_access_tokens: dpop_bound,
        }
    }
}

/// A citizen account as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    account_id: String,
    subject: String,
    national_id: String,
    full_name: String,
    email: Option<String>,
    phone: Option<String>,
    birthdate: Option<String>,
    gender: Option<String>,
    address: Option<String>,
    status: String,
    created_at: i64,
}

impl From<Citizen> for UserView {
    fn from(c: Citizen) -> Self {
        Self {
            account_id: c.account.id,
            subject: c.account.subject,
            national_id: c.profile.national_id,
            full_name: c.profile.full_name,
            email: c.profile.email,
            phone: c.profile.phone,
            birthdate: c.profile.birthdate,
            gender: c.profile.gender,
            address: c.profile.address,
            status: c.account.status,
            created_at: c.account.created_at,
        }
    }
}

// ---------------------------------------------------------------- organisations

/// `POST /admin/v1/organisations` → 201 Organisation.
async fn create_organisation(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<NewOrganisation>, AdminError>,
) -> Result<(StatusCode, Json<Organisation>), AdminError> {
    let result = async {
        admin.require(Action::ManageOrganisations)?;
        let AdminJson(input) = body?;
        Ok(clients::create_organisation(app.store.as_ref(), app.clock.now(), input).await?)
    }
    .await;
    let target = result.as_ref().ok().map(|o| o.code.clone());
    let org = admin.audited(&app, "organisation.create", target.as_deref(), None, result).await?;
    tracing::info!(admin = %admin.0.id, organisation = %org.code, "organisation created");
    Ok((StatusCode::CREATED, Json(org)))
}

/// `GET /admin/v1/organisations` → 200 [Organisation].
async fn list_organisations(State(app): State<App>, admin: Admin) -> Result<Json<Vec<Organisation>>, AdminError> {
    let result = async {
        admin.require(Action::ReadOrganisations)?;
        Ok(Json(app.store.list_organisations().await?))
    }
    .await;
    admin.refusals(&app, "organisation.list", None, result).await
}

// ---------------------------------------------------------------- clients

/// `POST /admin/v1/clients` → 201 `{client, client_secret}`; the secret is
/// in this answer and nowhere else. An org-admin registers for its own
/// organisation only (and may leave `organisation` empty).
async fn register_client(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<NewClient>, AdminError>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let result = async {
        admin.require(Action::ManageClients)?;
        let AdminJson(mut input) = body?;
        if let Some(own) = admin.scope() {
            if input.organisation.trim().is_empty() {
                input.organisation = own.to_owned();
            }
            let org = app.store.find_organisation(input.organisation.trim()).await?;
            let org_id = org.map(|o| o.id).unwrap_or_default();
            admin.require_organisation(&org_id, &format!("organisation {:?}", input.organisation))?;
        }
        Ok(clients::register(app.store.as_ref(), &app.http, app.clock.now(), input).await?)
    }
    .await;
    let target = result.as_ref().ok().map(|(c, _)| c.client_id.clone());
    let (client, secret) = admin.audited(&app, "client.register", target.as_deref(), None, result).await?;
    tracing::info!(admin = %admin.0.id, client_id = %client.client_id, "client registered");
    let body = json!({
        "client": ClientView::from(client),
        "client_secret": secret.as_ref().map(Secret::expose),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// Query of `GET /admin/v1/clients`.
#[derive(Debug, Deserialize)]
struct ClientFilter {
    /// Organisation id or code.
    organisation: Option<String>,
}

/// `GET /admin/v1/clients[?organisation=id-or-code]` → 200 [ClientView]. An
/// org-admin sees its own organisation's clients only.
async fn list_clients(
    State(app): State<App>,
    admin: Admin,
    query: Result<Query<ClientFilter>, QueryRejection>,
) -> Result<Json<Vec<ClientView>>, AdminError> {
    let result = async {
        admin.require(Action::ReadClients)?;
        let Query(filter) = query?;
        let org_id = match filter.organisation.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            Some(org) => match app.store.find_organisation(org).await? {
                Some(found) => {
                    admin.require_organisation(&found.id, &format!("organisation {org:?}"))?;
                    Some(found.id)
                }
                None => {
                    return Err(AdminError::NotFound(format!("no organisation with id or code {org:?}")));
                }
            },
            None => admin.scope().map(str::to_owned),
        };
        let list = app.store.list_clients(org_id.as_deref()).await?;
        Ok(Json(list.into_iter().map(ClientView::from).collect()))
    }
    .await;
    admin.refusals(&app, "client.list", None, result).await
}

/// `GET /admin/v1/clients/{client_id}` → 200 ClientView.
async fn show_client(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ClientView>, AdminError> {
    let Path(client_id) = path?;
    let result = admin.client_in_scope(&app, Action::ReadClients, &client_id).await.map(|c| Json(c.into()));
    admin.refusals(&app, "client.show", Some(&client_id), result).await
}

/// `PATCH /admin/v1/clients/{client_id}` → 200 `{client, client_secret}`:
/// each field given replaces the one stored, through the registration rules.
/// `client_secret` is set only when the change moved the client to a
/// secret-based method.
async fn update_client(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
    body: Result<AdminJson<ClientUpdate>, AdminError>,
) -> Result<Json<Value>, AdminError> {
    let Path(client_id) = path?;
    let mut detail = None;
    let result = async {
        admin.client_in_scope(&app, Action::ManageClients, &client_id).await?;
        let AdminJson(change) = body?;
        detail = Some(json!({ "fields": change.field_names() }));
        Ok(clients::update(app.store.as_ref(), &app.http, app.clock.now(), &client_id, change).await?)
    }
    .await;
    let (client, secret) = admin.audited(&app, "client.update", Some(&client_id), detail, result).await?;
    Ok(Json(json!({
        "client": ClientView::from(client),
        "client_secret": secret.as_ref().map(Secret::expose),
    })))
}

/// `POST /admin/v1/clients/{client_id}/disable` → 200 ClientView.
async fn disable_client(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ClientView>, AdminError> {
    let Path(client_id) = path?;
    let result = async {
        admin.client_in_scope(&app, Action::ManageClients, &client_id).await?;
        Ok(clients::disable(app.store.as_ref(), app.clock.now(), &client_id).await?)
    }
    .await;
    let client = admin.audited(&app, "client.disable", Some(&client_id), None, result).await?;
    tracing::info!(admin = %admin.0.id, client_id = %client.client_id, "client disabled");
    Ok(Json(client.into()))
}

/// Body of `POST /admin/v1/clients/{client_id}/rotate-secret` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// Seconds the old secret keeps working; none or 0: it stops at once.
    #[serde(default)]
    grace_seconds: Option<i64>,
}

/// `POST /admin/v1/clients/{client_id}/rotate-secret` → 200 `{client_id,
/// client_secret, previous_secret_expires_at}`. An empty body means no grace.
async fn rotate_secret(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AdminError> {
    let Path(client_id) = path?;
    let mut detail = None;
    let result = async {
        admin.client_in_scope(&app, Action::ManageClients, &client_id).await?;
        let rotation: Rotation = if body.iter().all(u8::is_ascii_whitespace) {
            Rotation::default()
        } else {
            serde_json::from_slice(&body).map_err(|e| AdminError::BadRequest(format!("invalid request body: {e}")))?
        };
        detail = Some(json!({ "grace_seconds": rotation.grace_seconds }));
        let now = app.clock.now();
        Ok(clients::rotate_secret(app.store.as_ref(), now, &client_id, rotation.grace_seconds).await?)
    }
    .await;
    let (client, secret) = admin.audited(&app, "client.rotate_secret", Some(&client_id), detail, result).await?;
    tracing::info!(admin = %admin.0.id, client_id = %client.client_id, "client secret rotated");
    Ok(Json(json!({
        "client_id": client.client_id,
        "client_secret": secret.expose(),
        "previous_secret_expires_at": client.previous_secret_expires_at,
    })))
}

// ---------------------------------------------------------------- users

/// Body of `POST /admin/v1/users`. No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    national_id: String,
    full_name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    birthdate: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// `POST /admin/v1/users` → 201 UserView, through the same rules as self sign-up.
async fn create_user(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<NewUser>, AdminError>,
) -> Result<(StatusCode, Json<UserView>), AdminError> {
    let result = async {
        admin.require(Action::ManageUsers)?;
        let AdminJson(input) = body?;
        let input = SignUp {
            national_id: input.national_id,
            // An admin creating an account vouches for the record it comes from.
            national_id_verified: true,
            full_name: input.full_name,
            email: input.email,
            phone: input.phone,
            password: input.password.map(Secret::new),
            record: Record { birthdate: input.birthdate, gender: input.gender, address: input.address },
        };
        Ok(sign_up(app.store.as_ref(), &app.passwords, app.clock.now(), input).await?)
    }
    .await;
    let target = result.as_ref().ok().map(|c| c.account.id.clone());
    let citizen = admin.audited(&app, "user.create", target.as_deref(), None, result).await?;
    tracing::info!(admin = %admin.0.id, account_id = %citizen.account.id, "user created");
    Ok((StatusCode::CREATED, Json(citizen.into())))
}

/// Query of `GET /admin/v1/users`; strings so an empty `after=` or a bad
/// `limit` gives a clear 400.
#[derive(Debug, Deserialize)]
struct UserPage {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /admin/v1/users?after=&limit=` → 200 [UserView], ordered by account id.
async fn list_users(
    State(app): State<App>,
    admin: Admin,
    query: Result<Query<UserPage>, QueryRejection>,
) -> Result<Json<Vec<UserView>>, AdminError> {
    let result = async {
        admin.require(Action::ReadUsers)?;
        let Query(page) = query?;
        let limit = parse_limit(page.limit.as_deref())?;
        let after = page.after.as_deref().filter(|a| !a.is_empty());
        let list = app.store.list_citizens(after, limit).await?;
        Ok(Json(list.into_iter().map(UserView::from).collect()))
    }
    .await;
    admin.refusals(&app, "user.list", None, result).await
}

/// `limit`: absent or empty → the default; else 1..=[`MAX_PAGE`].
fn parse_limit(raw: Option<&str>) -> Result<u32, AdminError> {
    match raw.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(DEFAULT_PAGE),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| AdminError::BadRequest(format!("limit must be a number from 1 to {MAX_PAGE}"))),
    }
}

/// `POST /admin/v1/users/{account_id}/disable` → 200 UserView. The account
/// can no longer sign in and its SSO sessions end at once.
async fn disable_user(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UserView>, AdminError> {
    let Path(account_id) = path?;
    let result = disable_account(&app, &admin, &account_id).await;
    admin.audited(&app, "user.disable", Some(&account_id), None, result).await
}

/// The work of [`disable_user`].
async fn disable_account(app: &AppState, admin: &Admin, account_id: &str) -> Result<Json<UserView>, AdminError> {
    admin.require(Action::ManageUsers)?;
    let not_found = || AdminError::NotFound(format!("no user with account id {account_id:?}"));
    if app.store.get_citizen(account_id).await?.is_none() {
        return Err(not_found());
    }
    match app.store.set_account_status(account_id, "disabled").await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    }
    let now = app.clock.now();
    let citizen = app.store.get_citizen(account_id).await?.ok_or_else(not_found)?;
    // Back-Channel Logout: the services the citizen is signed into are told,
    // and every grant (refresh tokens included) ends.
    let sessions = crate::domain::oidc::logout::end_account_sessions(
        app.store.as_ref(),
        &app.subjects,
        &app.config.issuer,
        now,
        account_id,
        None,
    )
    .await?;
    app.store.revoke_account_sessions(account_id, now).await?;
    tracing::info!(admin = %admin.0.id, account_id = %account_id, sessions, "user disabled");
    Ok(Json(citizen.into()))
}
