//! The business step of an authorization (README, "Businesses"): whom the
//! citizen acts for, decided after sign-in and before consent.

use serde::{Deserialize, Serialize};

use super::{AuthorizationRequest, Step};
use crate::domain::oidc::{OAuthError, OAuthErrorCode as E};

/// Whom the citizen acts as in one authorization (README, "Businesses").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acting {
    /// Themself: ordinary citizen tokens (also every request without the
    /// `business` scope).
    Myself,
    /// The business with this internal id.
    Business(String),
}

impl Acting {
    /// The business acted for, if any.
    pub fn business_id(&self) -> Option<&str> {
        match self {
            Self::Myself => None,
            Self::Business(id) => Some(id),
        }
    }
}

/// What the business step knows (only looked at with the `business` scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessChoice {
    /// What the citizen picked on the chooser page during this request.
    pub chosen: Option<Acting>,
    /// The businesses the citizen may act for now: (internal id, tax code).
    pub options: Vec<(String, String)>,
    /// The client lets the citizen act as themself.
    pub self_allowed: bool,
    /// Whom the citizen chose at this client earlier in this SSO session
    /// (its latest grant), the only choice `prompt=none` may reuse; read
    /// only for `prompt=none` requests.
    pub remembered: Option<Acting>,
}

/// Whom the citizen acts as, or the step that must come first. A choice
/// made on the chooser page counts only while it is still open to the
/// citizen (a membership can end mid-flow). With `prompt=none` nobody can be
/// asked, and picking from the citizen's memberships would tell the service
/// about businesses the citizen never chose there: only the choice made at
/// this client in this SSO session is reused, if still open and matching
/// `business_hint` when one is given; otherwise `interaction_required`
/// (OIDC Core §3.1.2.6).
pub(super) fn acting(req: &AuthorizationRequest, b: &BusinessChoice) -> Result<Acting, Step> {
    if !req.wants_business() {
        return Ok(Acting::Myself);
    }
    let open = |a: &Acting| match a {
        Acting::Myself => b.self_allowed,
        Acting::Business(id) => b.options.iter().any(|(o, _)| o == id),
    };
    if let Some(chosen) = b.chosen.as_ref().filter(|c| open(c)) {
        return Ok(chosen.clone());
    }
    if !req.has_prompt("none") {
        return Err(Step::ChooseBusiness);
    }
    // A hint names a business: "myself" never matches one.
    let hinted = |a: &Acting| match (req.business_hint.as_deref(), a) {
        (None, _) => true,
        (Some(_), Acting::Myself) => false,
        (Some(hint), Acting::Business(id)) => b.options.iter().any(|(o, tax)| o == id && tax == hint),
    };
    match b.remembered.as_ref().filter(|r| open(r) && hinted(r)) {
        Some(r) => Ok(r.clone()),
        None => Err(Step::Fail(OAuthError::new(
            E::InteractionRequired,
            "the citizen must choose which business to act for",
        ))),
    }
}
