//! Businesses, the citizens who act for them, and the secrets the server
//! generates for itself.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{StoreResult, Timestamp};

/// A legal entity identified by its tax code (mã số thuế).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    /// Internal id, never shown to relying parties.
    pub id: String,
    /// `NNNNNNNNNN` or, for a branch, `NNNNNNNNNN-NNN` (unique).
    pub tax_code: String,
    /// Stable random public identifier: the `sub` public clients see when a
    /// citizen acts for the business.
    pub subject: String,
    /// Registered name.
    pub name: String,
    /// Head-office address, one formatted string.
    pub address: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Created by an admin (checked against the business register), not
    /// self-declared by a citizen on the account page.
    pub verified: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// `legal_representative`: may act for the business and manage its members.
pub const ROLE_LEGAL_REPRESENTATIVE: &str = "legal_representative";
/// `authorised_staff`: may act for the business.
pub const ROLE_AUTHORISED_STAFF: &str = "authorised_staff";
/// Member status before the citizen accepts.
pub const MEMBER_INVITED: &str = "invited";
/// Member status once accepted (or added by an admin).
pub const MEMBER_ACTIVE: &str = "active";

/// One citizen's place in one business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessMember {
    /// Business.
    pub business_id: String,
    /// Citizen account.
    pub account_id: String,
    /// [`ROLE_LEGAL_REPRESENTATIVE`] or [`ROLE_AUTHORISED_STAFF`].
    pub role: String,
    /// [`MEMBER_INVITED`] or [`MEMBER_ACTIVE`].
    pub status: String,
    /// When the authorisation ends by itself (exclusive), if ever.
    pub expires_at: Option<Timestamp>,
    /// Who invited or added them: an account id or an admin actor string.
    pub invited_by: Option<String>,
    /// When invited or added.
    pub created_at: Timestamp,
    /// When the citizen accepted (admin additions: when added).
    pub accepted_at: Option<Timestamp>,
}

impl BusinessMember {
    /// Whether the member may act for the business at `now` (the business
    /// itself must be active too; that is the caller's check).
    pub fn can_act(&self, now: Timestamp) -> bool {
        self.status == MEMBER_ACTIVE && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A membership with its business, as account pages and the business
/// chooser list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The business.
    pub business: Business,
    /// The member row.
    pub member: BusinessMember,
}

/// A member with the citizen's name and national ID, as the legal
/// representative's page and `idp-admin business show` list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// The member row.
    pub member: BusinessMember,
    /// The citizen's full name.
    pub full_name: String,
    /// The citizen's national ID number.
    pub national_id: String,
}

/// Businesses and their members.
#[async_trait]
pub trait BusinessStore: Send + Sync {
    /// Insert a business and, optionally, its first member (the legal
    /// representative registering it), in one transaction;
    /// `Conflict("tax_code")` on a duplicate tax code.
    async fn create_business(&self, business: &Business, first_member: Option<&BusinessMember>) -> StoreResult<()>;
    /// By internal id.
    async fn get_business(&self, id: &str) -> StoreResult<Option<Business>>;
    /// By tax code.
    async fn find_business_by_tax_code(&self, tax_code: &str) -> StoreResult<Option<Business>>;
    /// Page through businesses by tax code, `limit` rows after `after`.
    async fn list_businesses(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Business>>;
    /// `active` / `disabled`; `NotFound` if no such business.
    async fn set_business_status(&self, id: &str, status: &str, now: Timestamp) -> StoreResult<()>;
    /// In one transaction: set the business `disabled` and revoke every live
    /// grant acting for it, so no grant outlives the switch. Returns how many
    /// grants were revoked; `NotFound` if no such business.
    async fn disable_business(&self, id: &str, now: Timestamp) -> StoreResult<u64>;
    /// In one transaction, an admin takes over the self-declared business
    /// `id`: delete every member row (invitations too), revoke every live
    /// grant acting for it, and replace the row by `business` (same tax code;
    /// its new id, subject, name, address, status, `verified` and times), so
    /// neither its public nor its pairwise `sub` (computed over the id) is the
    /// old one. Returns (members removed, grants revoked);
    /// `Conflict("tax_code")` if `id` was verified meanwhile or is gone. Once
    /// it has run, writing a member of `id` answers `NotFound`.
    async fn take_over_business(&self, id: &str, business: &Business, now: Timestamp) -> StoreResult<(u64, u64)>;
    /// Insert or replace the member row of (`business_id`, `account_id`).
    async fn put_business_member(&self, member: &BusinessMember) -> StoreResult<()>;
    /// Insert the member row, or replace it only while it is still an
    /// invitation, in one statement (so an active member is never
    /// overwritten, however requests interleave). `false` if an active row
    /// was there and nothing was written.
    async fn invite_business_member(&self, member: &BusinessMember) -> StoreResult<bool>;
    /// Make the invitation created at `invited_created_at` for `invited_role`
    /// active, accepted at `now`, in one statement. `false` if that invitation
    /// is no longer there (withdrawn, replaced by a newer one, or already
    /// accepted). The role is matched too: a re-invitation within the same
    /// second has the same `created_at` but may name another role.
    async fn accept_business_invitation(
        &self,
        business_id: &str,
        account_id: &str,
        invited_created_at: Timestamp,
        invited_role: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Delete the member row of (`business_id`, `account_id`) only while it is
    /// still an invitation, in one statement (a decline). `false` if there was
    /// none: withdrawn, or accepted meanwhile (an active member is kept).
    async fn delete_business_invitation(&self, business_id: &str, account_id: &str) -> StoreResult<bool>;
    /// One member row.
    async fn get_business_member(&self, business_id: &str, account_id: &str) -> StoreResult<Option<BusinessMember>>;
    /// A business's members with names, legal representatives first, then by name.
    async fn list_business_members(&self, business_id: &str) -> StoreResult<Vec<MemberView>>;
    /// A citizen's memberships (invited ones too), with their businesses, by business name.
    async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<Membership>>;
    /// In one transaction: delete the member row and revoke (set
    /// `revoked_at = now` where unset) every grant of `account_id` acting for
    /// `business_id`. Returns the number of grants revoked; `NotFound` if there
    /// was no member row.
    ///
    /// With `keep_representative_at: Some(t)`, the business row is locked
    /// first and, if the deleted row was a legal representative able to act
    /// at `t` and no other one remains, nothing is changed and the answer is
    /// `Conflict("last_representative")`: two representatives removing each
    /// other at once cannot leave the business with none.
    async fn remove_business_member(
        &self,
        business_id: &str,
        account_id: &str,
        now: Timestamp,
        keep_representative_at: Option<Timestamp>,
    ) -> StoreResult<u64>;
    /// Whom the citizen chose to act as in the most recent grant of SSO
    /// session `sid` at `client_id` that carried the `business` scope: `None`
    /// when there is none (no choice was made there; a login without the
    /// scope also has no business, but chose nothing), `Some(None)` for
    /// "myself", `Some(Some(id))` for that business. `prompt=none` reuses it
    /// and a logout notice names the `sub` that client was given.
    async fn session_business(&self, sid: &str, client_id: &str) -> StoreResult<Option<Option<String>>>;
}

/// A secret the server generated for itself, sealed under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSecret {
    /// Name (`pairwise`).
    pub name: String,
    /// AES-256-GCM ciphertext, as `Kek::seal` makes it.
    pub value_enc: Vec<u8>,
    /// Which key-encryption key sealed it.
    pub kek_id: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Server-generated secrets.
#[async_trait]
pub trait ServerSecretStore: Send + Sync {
    /// Insert `secret` unless one with its name exists; return the one
    /// stored (first writer wins, so every node ends up with the same value).
    async fn put_server_secret_if_absent(&self, secret: &ServerSecret) -> StoreResult<ServerSecret>;
    /// Every secret (for `keys rewrap`, which re-seals them in
    /// `KeyLifecycleStore::rewrap_signing_keys`).
    async fn list_server_secrets(&self) -> StoreResult<Vec<ServerSecret>>;
}
