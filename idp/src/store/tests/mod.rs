//! The store behaviour suite: every test runs against every engine, so the
//! engines cannot drift. SQLite always (a temporary file); PostgreSQL when
//! `TEST_DATABASE_URL` is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Once;

mod audit;
mod behaviour;
mod businesses;
pub(crate) mod fixtures;
mod logout;
mod passkeys;
mod read_cache;

use self::audit::*;
use self::behaviour::*;
use self::businesses::*;
use self::logout::*;
use self::passkeys::*;
use self::read_cache::*;
use super::*;

// ---------------------------------------------------------------- harness

async fn sqlite_store() -> (tempfile::TempDir, sqlite::SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: connect must create it.
    let url = format!("sqlite://{}/nested/motcua.db", dir.path().display());
    let store = sqlite::SqliteStore::connect(&url, 4).await.unwrap();
    (dir, store)
}

/// A fresh PostgreSQL database with the store on it, and the base URL and
/// database name to drop it afterwards; `None` (after one notice) without
/// `TEST_DATABASE_URL`.
async fn postgres_store() -> Option<(postgres::PgStore, String, String)> {
    static SKIP: Once = Once::new();
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        SKIP.call_once(|| eprintln!("skipping PostgreSQL store suite: TEST_DATABASE_URL not set"));
        return None;
    };
    let url = postgres::fresh_test_database(&base).await.unwrap();
    let name = url::Url::parse(&url).unwrap().path().trim_start_matches('/').to_owned();
    assert!(name.starts_with("motcua_t_"), "{url}");
    Some((postgres::PgStore::connect(&url, 4).await.unwrap(), base, name))
}

/// Drop a test database (only reached when the test passed; a failed one stays for a look).
async fn drop_database(base: &str, name: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = super::sqlite_store().await;
                    assert_eq!(super::Store::engine(&store), "sqlite");
                    super::$name(&store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((store, base, db)) = super::postgres_store().await else { return };
                    assert_eq!(super::Store::engine(&store), "postgres");
                    super::$name(&store).await;
                    drop(store);
                    super::drop_database(&base, &db).await;
                }
            )*
        }
        // Again with the read cache switched on (as a node runs with SQLite,
        // or with Redis): every write must drop what it changed, so each
        // test's reads after its writes still see them.
        mod on_sqlite_with_read_cache {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = super::sqlite_store().await;
                    super::Store::live(&store).enable();
                    super::$name(&store).await;
                }
            )*
        }
        mod on_postgres_with_read_cache {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((store, base, db)) = super::postgres_store().await else { return };
                    super::Store::live(&store).enable();
                    super::$name(&store).await;
                    drop(store);
                    super::drop_database(&base, &db).await;
                }
            )*
        }
    };
}

suite!(
    organisations,
    citizens,
    clients,
    consents,
    refresh_rotation,
    concurrent_rotation,
    grant_revocation_and_jtis,
    sso_sessions,
    signing_keys,
    admin_tokens,
    web_sessions,
    ping,
    audit_chain,
    import_idempotence,
    admin_token_revocation,
    secret_rotation_grace,
    passkeys,
    concurrent_passkey_deletion,
    logout_outbox,
    concurrent_logout_claims,
    businesses,
    business_members,
    business_grant_revocation,
    business_takeover,
    business_invitations,
    last_representative,
    session_business,
    server_secrets,
    subject_and_business_columns,
    read_cache_follows_writes,
);

// ---------------------------------------------------------------- migrations

fn migration_files(engine: &str) -> Vec<String> {
    let dir = format!("{}/../migrations/{engine}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

fn embedded_names(list: &[engine::EmbeddedMigration]) -> Vec<String> {
    list.iter().map(|(v, d, _)| format!("{v:04}_{d}.sql")).collect()
}

#[test]
fn migration_folders_match_name_for_name() {
    let sqlite = migration_files("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_files("postgres"));
}

#[test]
fn embedded_migrations_are_the_folders() {
    // sqlite.rs and postgres.rs list their migrations by hand (no sqlx macros):
    // a file added to a folder but not to the list would silently never run.
    assert_eq!(embedded_names(sqlite::MIGRATIONS), migration_files("sqlite"));
    assert_eq!(embedded_names(postgres::MIGRATIONS), migration_files("postgres"));
    for (list, engine) in [(sqlite::MIGRATIONS, "sqlite"), (postgres::MIGRATIONS, "postgres")] {
        for (v, d, sql) in list {
            let path = format!("{}/../migrations/{engine}/{v:04}_{d}.sql", env!("CARGO_MANIFEST_DIR"));
            assert_eq!(&std::fs::read_to_string(path).unwrap(), sql);
        }
    }
}

/// Migration 0013 on a database where two nodes that started together each
/// created a key pair: of the twin active keys the one nodes sign with (the
/// last loaded) stays active, of the twin next keys the one a rotation
/// promotes (the first); the others retire, and a second active key is
/// refused from then on. On SQLite, and on PostgreSQL when configured.
#[tokio::test]
async fn migration_0013_keeps_one_active_and_one_next_key_per_algorithm() {
    const SQLITE_BEFORE: &[engine::EmbeddedMigration] = sqlite::MIGRATIONS.split_at(12).0;
    const POSTGRES_BEFORE: &[engine::EmbeddedMigration] = postgres::MIGRATIONS.split_at(12).0;
    use sqlx::Connection as _;
    let twins = "INSERT INTO signing_keys (kid, alg, state, private_enc, kek_id, public_jwk, created_at) VALUES \
                 ('a-1', 'RS256', 'active', X'00', 'k', '{}', 10), ('a-2', 'RS256', 'active', X'00', 'k', '{}', 10), \
                 ('n-1', 'RS256', 'next', X'00', 'k', '{}', 10), ('n-2', 'RS256', 'next', X'00', 'k', '{}', 10), \
                 ('e-1', 'ES256', 'active', X'00', 'k', '{}', 10), ('r-1', 'ES256', 'retired', X'00', 'k', '{}', 5)";
    let postgres_twins = twins.replace("X'00'", "'\\x00'::bytea");
    let check = |keys: Vec<SigningKey>| {
        let states: Vec<(&str, &str, bool)> =
            keys.iter().map(|k| (k.kid.as_str(), k.state.as_str(), k.retired_at.is_some())).collect();
        assert_eq!(
            states,
            [
                ("r-1", "retired", false),
                ("a-1", "retired", true),
                ("a-2", "active", false),
                ("e-1", "active", false),
                ("n-1", "next", false),
                ("n-2", "retired", true),
            ]
        );
    };
    let second_active = "INSERT INTO signing_keys (kid, alg, state, private_enc, kek_id, public_jwk, created_at) \
                         VALUES ('a-3', 'ES256', 'active', X'00', 'k', '{}', 20)";

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.db?mode=rwc", dir.path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    engine::migrate(SQLITE_BEFORE, &mut conn, "sqlite").await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(twins)).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let store = sqlite::SqliteStore::connect(&url, 2).await.unwrap();
    check(store.list_signing_keys().await.unwrap());
    let refused = sqlx::raw_sql(sqlx::AssertSqlSafe(second_active))
        .execute(&mut sqlx::SqliteConnection::connect(&url).await.unwrap())
        .await;
    assert_eq!(engine::db_err(refused.unwrap_err()).to_string(), StoreError::Conflict("signing_key_state").to_string());

    let Ok(base) = std::env::var("TEST_DATABASE_URL") else { return };
    let url = postgres::fresh_test_database(&base).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    engine::migrate(POSTGRES_BEFORE, &mut conn, "postgres").await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(postgres_twins)).execute(&mut conn).await.unwrap();
    let store = postgres::PgStore::connect(&url, 2).await.unwrap();
    check(store.list_signing_keys().await.unwrap());
    let refused =
        sqlx::raw_sql(sqlx::AssertSqlSafe(second_active.replace("X'00'", "'\\x00'::bytea"))).execute(&mut conn).await;
    assert_eq!(engine::db_err(refused.unwrap_err()).to_string(), StoreError::Conflict("signing_key_state").to_string());
    conn.close().await.unwrap();
    drop(store);
    let name = url::Url::parse(&url).unwrap().path().trim_start_matches('/').to_owned();
    drop_database(&base, &name).await;
}

#[tokio::test]
async fn sqlite_in_memory_url_works() {
    let store = sqlite::SqliteStore::connect("sqlite::memory:", 4).await.unwrap();
    ping(&store).await;
    organisations(&store).await;
}
