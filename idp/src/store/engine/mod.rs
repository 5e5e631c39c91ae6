//! The one copy of the SQL, shared by both engines.
//!
//! [`impl_store!`] expands to every store trait implementation for one engine.
//! It is invoked twice — in `sqlite.rs` and in `postgres.rs` — with the same
//! body, so the two engines run the same statements by construction and cannot
//! drift. That works because the SQL is written in the common subset both
//! engines accept: `$1`-style placeholders (sqlx binds `$N` on SQLite too),
//! `ON CONFLICT … DO UPDATE / DO NOTHING`, `excluded.`, `LIMIT $n`, and plain
//! column types that decode to the same Rust types (`BIGINT` → `i64`,
//! `BOOLEAN`/`INTEGER 0/1` → `bool`, `BYTEA`/`BLOB` → `Vec<u8>`).
//!
//! What genuinely differs is passed in explicitly and nowhere else:
//! - `store`: the struct holding `pool`;
//! - `db`: the sqlx database type (`sqlx::Sqlite`, `sqlx::Postgres`), which
//!   fixes the row and connection types the generated code works with;
//! - `engine`: the name `Store::engine` reports;
//! - `begin`: the statement that opens a write transaction. SQLite needs
//!   `BEGIN IMMEDIATE` so a transaction takes the write lock up front and waits
//!   on the busy timeout instead of failing with `SQLITE_BUSY_SNAPSHOT` when it
//!   later tries to upgrade; PostgreSQL uses a plain `BEGIN` and row locks.
//!
//! Rows are mapped by hand with `sqlx::Row::try_get` (no sqlx macros). The
//! macro is split by aggregate only to keep files short: `rows` (mappers),
//! `accounts` (organisations, accounts, clients, consents), `grants` (grants,
//! refresh rotation, jti deny-list), `sessions` (SSO and web sessions, keys,
//! admin tokens, `Store`), `passkeys`. `impl_store!` is the one entry point.

pub(super) mod accounts;
pub(super) mod audit;
pub(super) mod businesses;
pub(super) mod grants;
pub(super) mod keys;
pub(super) mod logout;
pub(super) mod passkeys;
pub(super) mod rows;
pub(super) mod sessions;

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{ColumnIndex, Decode, Row, SqlSafeStr, Type};

use super::{StoreError, StoreResult};

/// One embedded migration: version, description, SQL text.
pub(super) type EmbeddedMigration = (i64, &'static str, &'static str);

/// A migrator over migrations embedded with `include_str!`.
///
/// `sqlx::migrate!` needs sqlx's `macros` feature, which the workspace leaves
/// off; the store tests check that each embedded list matches its folder.
pub(super) fn migrator(list: &'static [EmbeddedMigration]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

/// Run `list` on `conn` (a pool or a connection); a failure names the engine.
pub(super) async fn migrate<'a, A>(list: &'static [EmbeddedMigration], conn: A, engine: &str) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator(list).run(conn).await.map_err(|e| StoreError::Backend(format!("{engine} migrations: {e}")))
}

/// Map a driver error to the store's error: unique violations name the field,
/// a missing referenced row is `NotFound`, a database out of reach is
/// `Unavailable` (503), everything else is `Backend` (500).
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    if is_unreachable(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            // PostgreSQL names the constraint; SQLite puts "table.column" in the message.
            let key = db.constraint().map_or_else(
                || {
                    let msg = db.message();
                    let cols = msg.split_once(": ").map_or(msg, |(_, cols)| cols);
                    cols.split(',').next().unwrap_or(cols).trim().to_owned()
                },
                str::to_owned,
            );
            return StoreError::Conflict(conflict_field(&key));
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    StoreError::Backend(e.to_string())
}

/// Whether `e` means "the database cannot serve us right now" rather than "this
/// statement is wrong": the pool found no live connection within its acquire
/// timeout, the socket failed, or the server refused or ended the session.
/// The request may succeed once the database is back, so it is answered 503.
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                // PostgreSQL SQLSTATE (Appendix A): class 08 connection exception;
                // 53300 too_many_connections; 55000, what a database with
                // ALLOW_CONNECTIONS false answers at connect; 57P01..57P03
                // admin/crash shutdown and cannot_connect_now (a restart);
                // 40001/40P01 serialization failure and deadlock (rolled back,
                // safe to retry).
                code.starts_with("08")
                    || matches!(&*code, "53300" | "55000" | "57P01" | "57P02" | "57P03" | "40001" | "40P01")
            } else {
                // SQLite primary result codes (the low byte of extended ones):
                // 5 SQLITE_BUSY, 6 SQLITE_LOCKED: the busy timeout ran out.
                code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

/// The field a unique constraint protects, from the SQLite `table.column` or
/// the PostgreSQL default constraint name (`table_column_key`, `table_pkey`).
fn conflict_field(key: &str) -> &'static str {
    match key {
        "organisations.code" | "organisations_code_key" => "code",
        "organisations.id" | "organisations_pkey" => "organisation_id",
        "accounts.id" | "accounts_pkey" => "account_id",
        "citizen_profiles.account_id" | "citizen_profiles_pkey" => "account_id",
        "password_credentials.account_id" | "password_credentials_pkey" => "account_id",
        "accounts.subject" | "accounts_subject_key" => "subject",
        "citizen_profiles.national_id" | "citizen_profiles_national_id_key" => "national_id",
        "citizen_profiles.email" | "citizen_profiles_email_key" => "email",
        "clients.client_id" | "clients_pkey" => "client_id",
        "grants.id" | "grants_pkey" => "grant_id",
        "refresh_tokens.hash" | "refresh_tokens_pkey" => "refresh_token",
        "sso_sessions.sid" | "sso_sessions_pkey" => "sid",
        "signing_keys.kid" | "signing_keys_pkey" => "kid",
        // The algorithm already has a key in that state (migration 0013).
        "signing_keys.alg" | "signing_keys_one_active" | "signing_keys_one_next" => "signing_key_state",
        "admin_tokens.id" | "admin_tokens_pkey" => "admin_token_id",
        "admin_tokens.hash" | "admin_tokens_hash_key" => "admin_token",
        "web_sessions.id" | "web_sessions_pkey" => "web_session_id",
        "audit_events.seq" | "audit_events_pkey" => "audit_seq",
        "passkeys.id" | "passkeys_pkey" => "passkey_id",
        "passkeys.credential_id" | "passkeys_credential_id_key" => "credential_id",
        _ => "key",
    }
}

/// Read one column, mapping decode errors to `Backend`.
pub(super) fn col<'r, R, T>(row: &'r R, name: &str) -> StoreResult<T>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: ColumnIndex<R>,
{
    row.try_get(name).map_err(db_err)
}

/// Encode a list of strings as the JSON text stored in the database.
pub(super) fn to_json(list: &[String]) -> StoreResult<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Backend(e.to_string()))
}

/// Decode a JSON text column into a list of strings.
pub(super) fn from_json(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("bad JSON list: {e}")))
}

/// Column lists shared by the `SELECT`s below (macros so `concat!` can splice them).
macro_rules! citizen_select {
    () => {
        "SELECT a.id, a.subject, a.kind, a.status, a.created_at, p.national_id, p.national_id_verified, p.full_name, \
         p.email, p.email_verified, p.phone, p.phone_verified, p.birthdate, p.gender, p.address, \
         p.updated_at FROM accounts a JOIN citizen_profiles p ON p.account_id = a.id "
    };
}
macro_rules! client_select {
    () => {
        "SELECT client_id, organisation_id, name, client_type, auth_method, secret_hash, \
         redirect_uris, post_logout_redirect_uris, grant_types, scopes, signing_alg, jwks, \
         jwks_uri, require_pkce, status, created_at, updated_at, previous_secret_hash, \
         previous_secret_expires_at, minimum_acr, backchannel_logout_uri, \
         frontchannel_logout_uri, subject_type, sector_identifier, sector_identifier_uri, \
         business_self_allowed, access_token_alg, require_par, dpop_bound FROM clients "
    };
}
macro_rules! grant_select {
    () => {
        "SELECT id, account_id, client_id, scopes, claims, sid, auth_time, acr, amr, created_at, \
         expires_at, revoked_at, business_id, dpop_jkt FROM grants "
    };
}
macro_rules! sso_select {
    () => {
        "SELECT sid, account_id, auth_time, acr, amr, created_at, expires_at, revoked_at, \
         user_agent, last_seen_at, place FROM sso_sessions "
    };
}
macro_rules! key_select {
    () => {
        "SELECT kid, alg, state, private_enc, kek_id, public_jwk, created_at, activated_at, \
         retired_at FROM signing_keys "
    };
}
macro_rules! admin_select {
    () => {
        "SELECT id, hash, role, organisation_id, label, created_at, expires_at, revoked_at \
         FROM admin_tokens "
    };
}
pub(super) use {admin_select, citizen_select, client_select, grant_select, key_select, sso_select};

/// Every store trait, plus `Store`, for one engine. See the module doc.
macro_rules! impl_store {
    (store: $store:ident, db: $db:ty, engine: $engine:literal, begin: $begin:literal $(,)?) => {
        /// Trait implementations generated by `engine::impl_store!`.
        mod generated {
            use super::$store;
            use $crate::store::engine::logout::outbox_select;
            use $crate::store::engine::passkeys::passkey_select;
            use $crate::store::engine::{
                admin_select, citizen_select, client_select, col, db_err, from_json, grant_select, key_select,
                sso_select, to_json,
            };
            use $crate::store::*;

            $crate::store::engine::rows::impl_rows!($store, <$db as sqlx::Database>::Row);
            $crate::store::engine::accounts::impl_accounts!($store, $begin);
            $crate::store::engine::grants::impl_grants!($store, $db, $engine, $begin);
            $crate::store::engine::sessions::impl_sessions!($store, $engine);
            $crate::store::engine::keys::impl_keys!($store, $db, $begin);
            $crate::store::engine::audit::impl_audit!($store, $db, $begin);
            $crate::store::engine::passkeys::impl_passkeys!($store, $db, $begin);
            $crate::store::engine::logout::impl_logout!($store, $db, $begin);
            $crate::store::engine::businesses::impl_businesses!($store, $db, $begin);
        }
    };
}
pub(crate) use impl_store;
