//! Motcua: an OpenID Connect identity provider for a public-service portal
//! federation. This file is the module map; the README's Code Tour follows it.

/// Start-up: configuration → store → keys → listeners; the offline subcommands.
pub mod app;
/// Ephemeral state with a TTL (codes, pending logins, counters): memory or Redis.
pub mod cache;
/// Wall-clock time as a parameter, so tests can pin it.
pub mod clock;
/// Layered configuration: defaults → TOML file → `IDP_*` environment → flags.
pub mod config;
/// Random tokens, hashes, Argon2id, key encryption at rest, JWS signing.
pub mod crypto;
/// Business rules: accounts, clients, the OIDC protocol. No axum, no SQL.
pub mod domain;
/// Routers, extractors, handlers, RFC-shaped errors; the admin API.
pub mod http;
/// Prometheus metrics: logins, tokens, latency by route, key ages, cache and store errors.
pub mod metrics;
/// Server-rendered pages (minijinja) in Vietnamese and English.
pub mod pages;
/// Durable state: one trait per aggregate, SQLite and PostgreSQL engines.
pub mod store;
