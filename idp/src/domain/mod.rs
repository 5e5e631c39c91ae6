//! Business rules. Functions take their collaborators and `now` as
//! parameters; nothing here knows HTTP or SQL.

/// Citizen sign-up, login and throttling.
pub mod accounts;
/// Admin tokens and their roles.
pub mod admin;
/// The append-only, hash-chained audit trail.
pub mod audit;
/// Businesses, their members, and who may act for which business.
pub mod businesses;
/// Client registration, secrets and client authentication.
pub mod clients;
/// Signing-key ring: the keys in memory, start-up generation, reload.
pub mod keys;
/// The OpenID Connect protocol: authorize, tokens, claims, introspection.
pub mod oidc;
/// Passkeys: WebAuthn registration and sign-in ceremonies, renaming, removal.
pub mod passkeys;
/// The approximate place of a sign-in, from the operator's list of networks.
pub mod places;
/// Bulk import of existing portal accounts (already-hashed passwords).
pub mod user_import;

/// Text shown to people on one line (a name, a label): runs of whitespace
/// as one space, 1 to `max` characters, no control characters. `None` when
/// it breaks a rule.
pub(crate) fn one_line(raw: &str, max: usize) -> Option<String> {
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = text.chars().count();
    ((1..=max).contains(&len) && !text.chars().any(char::is_control)).then_some(text)
}
