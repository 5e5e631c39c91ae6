//! End-to-end harness for Motcua: starts the real `idp` binary on free ports with its own
//! database, drives `idp-admin` against it, and plays the two other parties — a citizen's
//! browser ([`Browser`]) and a relying party ([`Rp`], built on the `openidconnect` crate).
//!
//! The suite itself lives in `tests/suite/`. Run it with `cargo test --workspace`, which builds
//! the `idp` and `idp-admin` binaries first. With `E2E_BACKEND=production` (and
//! `TEST_DATABASE_URL`, `TEST_REDIS_URL`) every test runs on PostgreSQL + Redis instead of the
//! embedded SQLite + in-process cache; see [`server::Backend`].

// This crate is test code only: a failed expectation is a failed test, so panicking helpers are
// the point (the workspace denies them for production code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Embedded (SQLite, in-process cache) or production (PostgreSQL + Redis) runs: `E2E_BACKEND`.
pub mod backend;
/// The citizen's side: a cookie-keeping HTTP client that walks the login, sign-up and consent pages.
pub mod browser;
/// A real browser: headless Chromium over the DevTools protocol, with a WebAuthn virtual
/// authenticator.
pub mod chromium;
/// OAuth plumbing shared by tests: raw form posts, JWT decoding, query parameters, PKCE.
pub mod oauth;
/// The relying party's side, through the `openidconnect` crate.
pub mod rp;
/// Starting and stopping `idp` for one test, and running `idp-admin` against it.
pub mod server;

pub use backend::{Backend, backend};
pub use browser::{Browser, Credentials, Flow, Page, SignUpForm};
pub use oauth::{Reply, jwt_header, jwt_payload, query_param};
pub use rp::{Pending, Rp, Tokens};
pub use server::{Citizen, Idp, Node, TestClient};
