//! Motcua end-to-end suite: the real `idp` and `idp-admin` binaries, one fresh `Idp` (own
//! database, own ports) per test, driven as a relying party, a citizen's browser and an admin
//! would drive them. One binary with modules, to link once.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The citizen's account pages: the device and last use of each session, and a password
/// change that signs out every other session (and tells its services).
mod account;
/// `idp-admin` as a security admin sees it: output, exit codes, error lines.
mod admin_cli;
/// Delegated administration and the audit trail: org-admin and auditor tokens, token
/// lifecycle, client secret grace, CSV user import, tamper detection.
mod admin_roles;
/// The citizen's businesses pages: registering a business, inviting by national ID, accepting,
/// removing, and the refusals (wrong tax code, last legal representative, non-representative).
mod business_account;
/// Businesses through `idp-admin business`: tax-code checks, members by national ID, disabling.
mod business_admin;
/// Acting for a business: the chooser, `business_hint`, the `business` and `act` claims, removal
/// ending the tokens, and RFC 8693 token exchange within one organisation.
mod business_login;
/// Authorization code flow for a citizen: sign-up, login, claims, userinfo, login failures.
mod code_flow;
/// Discovery document and JWKS as an RP library reads them.
mod discovery;
/// DPoP (RFC 9449): tokens bound to a phone app's key, refused to a thief as a bearer token
/// or with another key; clients that must send proofs; introspection's `cnf`.
mod dpop;
/// Malformed and unauthorised requests at every endpoint: RFC-shaped errors, never a 500.
mod errors;
/// Faults: PostgreSQL out of reach mid-load (production mode), `kill -9` during refresh
/// rotations, acknowledged writes across a crash.
mod faults;
/// Signing-key lifecycle: rotation with pre-publication, revocation, two nodes, `idp-admin keys`.
mod keys;
/// Single logout: RP-initiated logout, back-channel notices (retried, durable), front-channel
/// iframes, refused open redirects.
mod logout;
/// The operator's view: `/metrics`, JSON logs with request ids, graceful shutdown on SIGTERM,
/// configuration errors, and compose.yaml / Dockerfile checked against the real binary.
mod operations;
/// The pages in headless Chromium as a citizen sees them: the language link on every page.
mod pages;
/// Pairwise subject identifiers: one `sub` per sector, sector documents checked at registration.
mod pairwise;
/// Pushed authorization requests (RFC 9126): sign-in by `request_uri`, one use, per client,
/// clients that must push, and the PAR endpoint's JSON errors.
mod par;
/// Passkeys in headless Chromium with a virtual authenticator: sign-up, passkey sign-in,
/// step-up to LoA2, the account page.
mod passkeys;
/// Redis: two nodes sharing one Redis (codes, key-change notices, sessions), and Redis faults.
mod redis;
/// Request objects (RFC 9101): a signed `request` at `/authorize` and `/par`, forged, expired,
/// misaddressed and unsigned ones refused.
mod request_object;
/// Single sign-on: sessions across clients, consent memory, `prompt`, `max_age`, restarts.
mod sso;
/// TLS to PostgreSQL (`sslmode=verify-ca`) and Redis (`rediss://`): configuration only.
mod tls;
/// Token endpoint grants and token lifecycle: refresh rotation, code reuse, client
/// credentials, `private_key_jwt`, introspection, revocation.
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock in Unix seconds, to bracket `auth_time`, `iat` and `exp`.
// The suite checks a real server against the real clock; the ban on `SystemTime::now` is for
// domain code, which takes time from a `Clock`.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}
