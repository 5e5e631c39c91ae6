//! Subject identifiers (OIDC Core §8): what `sub` a client sees for a
//! citizen, or for a business a citizen acts for.
//!
//! `public` clients get the account's (or business's) stable random
//! `subject`, the same everywhere. `pairwise` clients get
//! `base64url(HMAC-SHA256(k, sector ‖ 0 ‖ kind ‖ 0 ‖ id))`: the same for
//! every client of one sector (the host of `sector_identifier_uri`, proven
//! by its document, or `<organisation id>:<host>` for the one host of the
//! redirect URIs, unproven and so the registering organisation's alone),
//! different across sectors, and not
//! computable without `k`. `k` is 256 random bits generated once per
//! deployment, stored sealed under the key-encryption key (table
//! `server_secrets`, name `pairwise`); the first node to start writes it and
//! every other node reads the same value. It must never change: every
//! pairwise `sub` depends on it (it survives `keys rewrap`, which only
//! re-seals it).

use base64::Engine as _;

use crate::crypto::aead::hmac_sha256;
use crate::domain::keys::Keyring;
use crate::store::{Account, Business, Client, Store, Timestamp};

/// Name of the pairwise key in `server_secrets` (also its sealing AAD).
pub const PAIRWISE_SECRET: &str = "pairwise";

/// Computes subjects; holds the pairwise key.
pub struct Subjects {
    key: Vec<u8>,
}

impl std::fmt::Debug for Subjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subjects(..)")
    }
}

impl Subjects {
    /// With a known key (tests).
    pub fn with_key(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// Read the deployment's pairwise key, creating it on first start.
    pub async fn load(store: &dyn Store, keys: &Keyring, now: Timestamp) -> Result<Self, String> {
        Ok(Self { key: keys.server_secret(store, PAIRWISE_SECRET, now).await? })
    }

    /// The `sub` `client` sees for a citizen.
    pub fn citizen(&self, client: &Client, account: &Account) -> String {
        self.for_client(client, "account", &account.id, &account.subject)
    }

    /// The `sub` `client` sees for a business a citizen acts for.
    pub fn business(&self, client: &Client, business: &Business) -> String {
        self.for_client(client, "business", &business.id, &business.subject)
    }

    fn for_client(&self, client: &Client, kind: &str, id: &str, public: &str) -> String {
        if client.subject_type != "pairwise" {
            return public.to_owned();
        }
        // A pairwise client always has a sector (registration sets it); the
        // client id is a safe fallback: a sector of its own.
        let sector = client.sector_identifier.as_deref().unwrap_or(&client.client_id);
        self.pairwise(sector, kind, id)
    }

    fn pairwise(&self, sector: &str, kind: &str, id: &str) -> String {
        let mac = hmac_sha256(&self.key, &[sector.as_bytes(), b"\0", kind.as_bytes(), b"\0", id.as_bytes()]);
        match mac {
            Ok(mac) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac),
            // HMAC-SHA256 over memory fails only if OpenSSL itself is broken.
            // Failing closed matters: any constant here would give every
            // citizen the same `sub` at pairwise services, merging their
            // accounts there. A random value makes the request fail at the
            // relying party instead (an unknown subject), never another's.
            Err(e) => {
                tracing::error!(error = %e, "pairwise subject computation failed");
                crate::crypto::random_token()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client(id: &str, subject_type: &str, sector: Option<&str>) -> Client {
        let mut c = crate::store::tests::fixtures::client(id, "org-1");
        c.subject_type = subject_type.into();
        c.sector_identifier = sector.map(str::to_owned);
        c
    }

    #[test]
    fn pairwise_subjects_match_within_a_sector_and_differ_across() {
        let s = Subjects::with_key(vec![1; 32]);
        let account = Account {
            id: "acc-1".into(),
            subject: "public-sub".into(),
            kind: "citizen".into(),
            status: "active".into(),
            created_at: 0,
        };
        let a1 = s.citizen(&client("a1", "pairwise", Some("health.gov.vn")), &account);
        let a2 = s.citizen(&client("a2", "pairwise", Some("health.gov.vn")), &account);
        let b = s.citizen(&client("b", "pairwise", Some("hanoi.gov.vn")), &account);
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_eq!(a1.len(), 43);
        assert_eq!(s.citizen(&client("p", "public", None), &account), "public-sub");
        let other_key = Subjects::with_key(vec![2; 32]);
        assert_ne!(other_key.citizen(&client("a1", "pairwise", Some("health.gov.vn")), &account), a1);
    }
}
