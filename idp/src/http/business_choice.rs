//! The business chooser (README, "Businesses"): with the `business` scope,
//! after sign-in and before consent, the citizen says whom they act for —
//! one of their businesses, or themself where the service allows it.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::authorize::{Pending, ReqId, proceed, remove_pending, respond_to_client, save_pending, signed_in};
use super::browser::{Page, csrf_ok, csrf_token, locale_for, pending_for};
use super::{Lang, PageForm, PageQuery, RequestId};
use crate::app::{App, AppState};
use crate::domain::businesses::acting_options;
use crate::domain::oidc::authorize::{Acting, BusinessChoice, SignedIn};
use crate::domain::oidc::{OAuthError, OAuthErrorCode as E};
use crate::store::{Membership, StoreError};

/// The form value of "myself".
const MYSELF: &str = "myself";
/// The form value of "back to the service".
const CANCEL: &str = "cancel";

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new().route("/choose-business", get(choose_page).post(choose_submit))
}

/// What the authorization decision needs: the businesses the citizen may
/// act for now, whether the client allows "myself", the choice so far and,
/// for `prompt=none`, the choice made at this client in this SSO session.
pub(super) async fn choice(app: &AppState, who: &SignedIn, pending: &Pending) -> Result<BusinessChoice, StoreError> {
    let options = acting_options(app.store.as_ref(), &who.account_id, app.clock.now())
        .await?
        .into_iter()
        .map(|m| (m.business.id, m.business.tax_code))
        .collect();
    let remembered = if pending.request.has_prompt("none") {
        remembered(app, &who.sid, &pending.request.client_id).await?
    } else {
        None
    };
    Ok(BusinessChoice {
        chosen: pending.acting.clone(),
        options,
        self_allowed: self_allowed(app, pending).await?,
        remembered,
    })
}

/// Whom the citizen chose to act as at `client_id` in SSO session `sid`:
/// the choice of the session's latest grant there with the `business`
/// scope, or `None` when no such grant exists. A login without the scope
/// chose nothing, so it never counts as "myself" (OIDC Core §3.1.2.6:
/// `prompt=none` must not stand in for a choice the citizen never made).
async fn remembered(app: &AppState, sid: &str, client_id: &str) -> Result<Option<Acting>, StoreError> {
    Ok(app.store.session_business(sid, client_id).await?.map(|business| match business {
        Some(id) => Acting::Business(id),
        None => Acting::Myself,
    }))
}

async fn self_allowed(app: &AppState, pending: &Pending) -> Result<bool, StoreError> {
    Ok(app.store.get_client(&pending.request.client_id).await?.is_some_and(|c| c.business_self_allowed))
}

async fn choose_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    // The store out of reach is the 503 page, not "sign-in expired".
    let who = match signed_in(&app, &session).await {
        Ok(w) => w,
        Err(e) => return page.unavailable(&e),
    };
    let (Some(pending), Some(who)) = (pending, who) else {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    };
    match chooser(&page, &session, &q.req, &pending, &who.account_id, None).await {
        Ok(resp) => resp,
        Err(e) => page.unavailable(&e),
    }
}

/// The chooser page; `error` is an i18n key shown above the choices.
async fn chooser(
    page: &Page<'_>,
    session: &Session,
    req: &str,
    pending: &Pending,
    account_id: &str,
    error: Option<&str>,
) -> Result<Response, String> {
    let app = page.app;
    let options = acting_options(app.store.as_ref(), account_id, app.clock.now()).await.map_err(|e| e.to_string())?;
    let self_allowed = self_allowed(app, pending).await.map_err(|e| e.to_string())?;
    let csrf = csrf_token(session).await.map_err(|e| e.to_string())?;
    let preselected = preselect(pending, &options);
    let businesses: Vec<minijinja::Value> = options
        .iter()
        .map(|m| {
            context! {
                tax_code => &m.business.tax_code, name => &m.business.name, verified => m.business.verified,
                role => format!("choose.role.{}", m.member.role),
                checked => preselected.as_deref() == Some(m.business.tax_code.as_str()),
            }
        })
        .collect();
    let ctx = context! {
        csrf => csrf, req => req, client_name => &pending.client_name, businesses => businesses,
        self_allowed => self_allowed, self_checked => preselected.as_deref() == Some(MYSELF), error => error,
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page.render("business_choose.html", status, ctx))
}

/// What is checked when the page opens: the choice already made in this
/// request, else the business the service hinted at (if the citizen may act
/// for it), else the only business there is.
fn preselect(pending: &Pending, options: &[Membership]) -> Option<String> {
    let tax_code_of = |id: &str| options.iter().find(|m| m.business.id == id).map(|m| m.business.tax_code.clone());
    match &pending.acting {
        Some(Acting::Myself) => return Some(MYSELF.to_owned()),
        Some(Acting::Business(id)) => {
            if let Some(code) = tax_code_of(id) {
                return Some(code);
            }
        }
        None => {}
    }
    let hint = pending.request.business_hint.as_deref();
    if let Some(m) = options.iter().find(|m| Some(m.business.tax_code.as_str()) == hint) {
        return Some(m.business.tax_code.clone());
    }
    match options {
        [only] => Some(only.business.tax_code.clone()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct ChooseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    req: String,
    /// A tax code, [`MYSELF`] or [`CANCEL`].
    #[serde(default)]
    choice: String,
}

async fn choose_submit(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageForm(form): PageForm<ChooseForm>,
) -> Response {
    let pending = pending_for(&app, &session, &form.req).await;
    let locale = locale_for(&lang, pending.as_ref());
    let page = Page { app: &app, locale, rid: &rid };
    if !csrf_ok(&session, &form.csrf).await {
        return page.error(StatusCode::FORBIDDEN, "err.csrf", "invalid_request");
    }
    let who = match signed_in(&app, &session).await {
        Ok(w) => w,
        Err(e) => return page.unavailable(&e),
    };
    let (Some(mut pending), Some(who)) = (pending, who) else {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    };
    if form.choice == CANCEL {
        remove_pending(&session, &form.req).await;
        let err = OAuthError::new(E::AccessDenied, "the citizen did not choose a business to act for");
        return respond_to_client(&app, locale, &rid, &pending.request.return_to, Err(&err));
    }
    let acting = match resolve(&app, &who.account_id, &pending, &form.choice).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return chooser(&page, &session, &form.req, &pending, &who.account_id, Some("err.business_choice"))
                .await
                .unwrap_or_else(|e| page.unavailable(&e));
        }
        Err(e) => return page.unavailable(&e),
    };
    // Consent given for one business is no consent for another: the page,
    // which names the business, comes again.
    if pending.acting.as_ref() != Some(&acting) {
        pending.consent_shown = false;
    }
    pending.acting = Some(acting);
    if let Err(e) = save_pending(&app, &session, &form.req, &pending).await {
        return page.unavailable(&e);
    }
    proceed(&app, &session, locale, &rid, &form.req, pending, true).await
}

/// The posted choice, if it is open to the citizen now.
async fn resolve(
    app: &AppState,
    account_id: &str,
    pending: &Pending,
    choice: &str,
) -> Result<Option<Acting>, StoreError> {
    if choice == MYSELF {
        return Ok(self_allowed(app, pending).await?.then_some(Acting::Myself));
    }
    let options = acting_options(app.store.as_ref(), account_id, app.clock.now()).await?;
    Ok(options.into_iter().find(|m| m.business.tax_code == choice).map(|m| Acting::Business(m.business.id)))
}
