//! `/admin/v1/businesses…`: businesses registered by an admin (checked
//! against the business register, so `verified`) and the citizens who act
//! for them. Reads are open to every admin role; changes to security and
//! org admins (a business belongs to no organisation). Every change is
//! audited with the tax code as target and, as personal data, at most an
//! account id in the detail.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Admin, AdminError, AdminJson, parse_limit};
use crate::app::App;
use crate::domain::admin::Action;
use crate::domain::businesses::{self, Actor, BusinessError, NewBusiness, NewMember};
use crate::store::{Business, MemberView, Timestamp};

/// The business routes, merged into the admin router.
pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/v1/businesses", get(list).post(create))
        .route("/admin/v1/businesses/{tax_code}", get(show))
        .route("/admin/v1/businesses/{tax_code}/disable", post(disable))
        .route("/admin/v1/businesses/{tax_code}/members", post(add_member))
        // A POST with a body, not `DELETE …/members/{national_id}`: a national
        // ID in the path would reach the request log.
        .route("/admin/v1/businesses/{tax_code}/members/remove", post(remove_member))
}

impl From<BusinessError> for AdminError {
    fn from(e: BusinessError) -> Self {
        match e {
            BusinessError::NotFound | BusinessError::NoSuchCitizen | BusinessError::NotAMember => {
                Self::NotFound(e.to_string())
            }
            BusinessError::TaxCodeTaken
            | BusinessError::AlreadyMember
            | BusinessError::Disabled
            | BusinessError::LastLegalRepresentative
            | BusinessError::NotInvited
            | BusinessError::InvitationExpired
            | BusinessError::MemberUnverified => Self::Conflict(e.to_string()),
            // Citizens' refusals; an admin acts as no citizen, so never met here.
            BusinessError::NotALegalRepresentative
            | BusinessError::SelfUnverified
            | BusinessError::TooManyInvitations => Self::Denied(e.to_string()),
            BusinessError::Store(e) => e.into(),
            // Tax code (with its reason), name, address, role, expiry: the caller's to fix.
            BusinessError::TaxCode(_)
            | BusinessError::InvalidName
            | BusinessError::InvalidAddress
            | BusinessError::InvalidRole
            | BusinessError::InvalidExpiry => Self::BadRequest(e.to_string()),
        }
    }
}

/// A member as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct MemberJson {
    account_id: String,
    /// The citizen's full name.
    name: String,
    national_id: String,
    role: String,
    /// `invited` or `active`.
    status: String,
    expires_at: Option<Timestamp>,
    created_at: Timestamp,
    accepted_at: Option<Timestamp>,
}

impl From<MemberView> for MemberJson {
    fn from(v: MemberView) -> Self {
        let MemberView { member, full_name, national_id } = v;
        Self {
            account_id: member.account_id,
            name: full_name,
            national_id,
            role: member.role,
            status: member.status,
            expires_at: member.expires_at,
            created_at: member.created_at,
            accepted_at: member.accepted_at,
        }
    }
}

/// Body of `POST /admin/v1/businesses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    tax_code: String,
    name: String,
    #[serde(default)]
    address: Option<String>,
}

/// `POST /admin/v1/businesses` `{tax_code, name, address?}` → 201 Business
/// (`verified: true`). A tax code held by a self-declared business is taken
/// over (audited as `business.takeover`, with the members removed and the
/// grants revoked); one held by a verified business is a 409.
async fn create(
    State(app): State<App>,
    admin: Admin,
    body: Result<AdminJson<CreateBody>, AdminError>,
) -> Result<(StatusCode, Json<Business>), AdminError> {
    let mut target = None;
    let result = async {
        admin.require(Action::ManageBusinesses)?;
        let AdminJson(input) = body?;
        target = Some(canonical(&input.tax_code));
        let input = NewBusiness { tax_code: input.tax_code, name: input.name, address: input.address };
        let actor = admin.actor();
        Ok(businesses::create(app.store.as_ref(), app.clock.now(), input, Actor::Admin(&actor)).await?)
    }
    .await;
    let (action, detail) = match result.as_ref().ok().and_then(|r| r.taken_over) {
        Some(t) => {
            let detail = json!({ "members_removed": t.members_removed, "grants_revoked": t.grants_revoked });
            ("business.takeover", Some(detail))
        }
        None => ("business.create", None),
    };
    let registered = admin.audited(&app, action, target.as_deref(), detail, result).await?;
    let business = registered.business;
    match registered.taken_over {
        Some(t) => tracing::info!(
            admin = %admin.0.id, tax_code = %business.tax_code, members = t.members_removed,
            grants = t.grants_revoked, "self-declared business taken over"
        ),
        None => tracing::info!(admin = %admin.0.id, tax_code = %business.tax_code, "business created"),
    }
    Ok((StatusCode::CREATED, Json(business)))
}

/// Query of `GET /admin/v1/businesses`; strings so a bad `limit` gives a clear 400.
#[derive(Debug, Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /admin/v1/businesses?after=&limit=` → 200 [Business], by tax code.
async fn list(
    State(app): State<App>,
    admin: Admin,
    query: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Vec<Business>>, AdminError> {
    let result = async {
        admin.require(Action::ReadBusinesses)?;
        let Query(page) = query?;
        let limit = parse_limit(page.limit.as_deref())?;
        let after = page.after.as_deref().map(str::trim).filter(|a| !a.is_empty());
        Ok(Json(app.store.list_businesses(after, limit).await?))
    }
    .await;
    admin.refusals(&app, "business.list", None, result).await
}

/// `GET /admin/v1/businesses/{tax_code}` → 200 `{business, members: [MemberJson]}`,
/// legal representatives first.
async fn show(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, AdminError> {
    let (tax_code, target) = path_tax_code(path);
    let result = async {
        admin.require(Action::ReadBusinesses)?;
        let tax_code = tax_code?;
        let business = businesses::find(app.store.as_ref(), &tax_code).await?;
        let members = app.store.list_business_members(&business.id).await?;
        let members: Vec<MemberJson> = members.into_iter().map(MemberJson::from).collect();
        Ok(Json(json!({ "business": business, "members": members })))
    }
    .await;
    admin.refusals(&app, "business.show", target.as_deref(), result).await
}

/// `POST /admin/v1/businesses/{tax_code}/disable` → 200 `{business, grants_revoked}`:
/// nobody may act for it any more, and every grant acting for it ends.
async fn disable(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, AdminError> {
    let (tax_code, target) = path_tax_code(path);
    let result = async {
        admin.require(Action::ManageBusinesses)?;
        let tax_code = tax_code?;
        Ok(businesses::disable(app.store.as_ref(), app.clock.now(), &tax_code).await?)
    }
    .await;
    let detail = result.as_ref().ok().map(|(_, n)| json!({ "grants_revoked": n }));
    let (business, revoked) = admin.audited(&app, "business.disable", target.as_deref(), detail, result).await?;
    tracing::info!(admin = %admin.0.id, tax_code = %business.tax_code, grants = revoked, "business disabled");
    Ok(Json(json!({ "business": business, "grants_revoked": revoked })))
}

/// Body of `POST /admin/v1/businesses/{tax_code}/members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    national_id: String,
    role: String,
    /// Last day of the authorisation, `YYYY-MM-DD` (Vietnam time).
    #[serde(default)]
    expires: Option<String>,
}

/// `POST /admin/v1/businesses/{tax_code}/members` `{national_id, role, expires?}`
/// → 201 MemberJson. An admin's addition is active at once (no invitation).
async fn add_member(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
    body: Result<AdminJson<MemberBody>, AdminError>,
) -> Result<(StatusCode, Json<MemberJson>), AdminError> {
    let (tax_code, target) = path_tax_code(path);
    let mut detail = None;
    let result = async {
        admin.require(Action::ManageBusinesses)?;
        let tax_code = tax_code?;
        let AdminJson(input) = body?;
        let expires_at = match input.expires.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(date) => Some(businesses::end_of_day(date).ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "expires must be a date written YYYY-MM-DD (or DD/MM/YYYY), not {date:?}"
                ))
            })?),
        };
        let business = businesses::find(app.store.as_ref(), &tax_code).await?;
        let new = NewMember { national_id: input.national_id, role: input.role, expires_at };
        let actor = admin.actor();
        let now = app.clock.now();
        let member = businesses::add_member(app.store.as_ref(), now, &business, new, Actor::Admin(&actor)).await?;
        // The national ID stays out of the trail: the account id names the citizen.
        detail = Some(json!({ "account_id": member.account_id, "role": member.role, "expires_at": expires_at }));
        let view = app
            .store
            .list_business_members(&business.id)
            .await?
            .into_iter()
            .find(|v| v.member.account_id == member.account_id)
            .ok_or_else(|| AdminError::internal("a member just added is not listed"))?;
        Ok(MemberJson::from(view))
    }
    .await;
    let member = admin.audited(&app, "business.member_add", target.as_deref(), detail, result).await?;
    let tax_code = target.unwrap_or_default();
    tracing::info!(admin = %admin.0.id, tax_code = %tax_code, account_id = %member.account_id, "business member added");
    Ok((StatusCode::CREATED, Json(member)))
}

/// Body of `POST /admin/v1/businesses/{tax_code}/members/remove`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveBody {
    national_id: String,
}

/// `POST /admin/v1/businesses/{tax_code}/members/remove` `{national_id}` →
/// 200 `{grants_revoked}`. The citizen stops acting for the business at once
/// and every grant they hold acting for it ends.
async fn remove_member(
    State(app): State<App>,
    admin: Admin,
    path: Result<Path<String>, PathRejection>,
    body: Result<AdminJson<RemoveBody>, AdminError>,
) -> Result<Json<Value>, AdminError> {
    let (tax_code, target) = path_tax_code(path);
    let mut detail = None;
    let result = async {
        admin.require(Action::ManageBusinesses)?;
        let tax_code = tax_code?;
        let AdminJson(RemoveBody { national_id }) = body?;
        let business = businesses::find(app.store.as_ref(), &tax_code).await?;
        // Through the member list, not the citizen directory: a member whose
        // account was disabled since must still be removable.
        let account_id = app
            .store
            .list_business_members(&business.id)
            .await?
            .into_iter()
            .find(|v| v.national_id == national_id.trim())
            .map(|v| v.member.account_id)
            .ok_or(BusinessError::NotAMember)?;
        let actor = admin.actor();
        let now = app.clock.now();
        let revoked =
            businesses::remove_member(app.store.as_ref(), now, &business, &account_id, Actor::Admin(&actor)).await?;
        detail = Some(json!({ "account_id": account_id, "grants_revoked": revoked }));
        Ok(revoked)
    }
    .await;
    let revoked = admin.audited(&app, "business.member_remove", target.as_deref(), detail, result).await?;
    let tax_code = target.unwrap_or_default();
    tracing::info!(admin = %admin.0.id, tax_code = %tax_code, grants = revoked, "business member removed");
    Ok(Json(json!({ "grants_revoked": revoked })))
}

/// The tax code from the path, and the audit target for it: a path that
/// does not even decode is refused inside the audited block (like every
/// other refusal), with no target.
fn path_tax_code(path: Result<Path<String>, PathRejection>) -> (Result<String, AdminError>, Option<String>) {
    match path {
        Ok(Path(tax_code)) => {
            let target = canonical(&tax_code);
            (Ok(tax_code), Some(target))
        }
        Err(e) => (Err(e.into()), None),
    }
}

/// The tax code the trail names: `asked` in canonical form when it is a
/// valid tax code (so `0100109106001` and `0100109106-001` read alike), else
/// trimmed as given.
fn canonical(asked: &str) -> String {
    businesses::check_tax_code(asked).unwrap_or_else(|_| asked.trim().to_owned())
}
