//! The audit trail, bulk import, admin-token revocation and secret-rotation
//! grace, on every engine; and tamper detection with SQL run behind the
//! store's back.

use sqlx::Connection as _;

use super::fixtures::*;
use crate::domain::audit::{self, GENESIS_HASH, NewEvent, Outcome};
use crate::domain::clients;
use crate::store::*;

fn event(actor: &str, action: &str, target: Option<&str>) -> NewEvent {
    NewEvent {
        actor: actor.into(),
        action: action.into(),
        target: target.map(Into::into),
        source_ip: Some("127.0.0.1".into()),
        request_id: Some("rid-1".into()),
        outcome: Outcome::Success,
        detail: Some(serde_json::json!({ "fields": ["scopes"] })),
    }
}

/// Three events: seq 1..=3, linked, verifiable.
async fn three_events(s: &dyn Store) {
    audit::record(s, 1_000, event("admin:t1 (ops)", "client.update", Some("cli-1"))).await.unwrap();
    audit::record(s, 2_000, event("account:acc-1", "login.password", Some("acc-1"))).await.unwrap();
    audit::record(s, 3_000, event("admin:t2 (moh)", "client.disable", Some("cli-2"))).await.unwrap();
}

pub(super) async fn audit_chain(s: &dyn Store) {
    assert_eq!(s.audit_head().await.unwrap(), (0, GENESIS_HASH.to_owned()));
    let empty = audit::verify(s).await.unwrap();
    assert!(empty.ok && empty.events == 0);
    three_events(s).await;

    let all = s.audit_events_after(0, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(all[0].prev_hash, GENESIS_HASH);
    assert_eq!(all[1].prev_hash, all[0].hash);
    assert_eq!(all[2].prev_hash, all[1].hash);
    assert_eq!(all[0].detail.as_deref(), Some(r#"{"fields":["scopes"]}"#));
    assert_eq!(s.audit_head().await.unwrap(), (3, all[2].hash.clone()));
    // A verified chain reports its head, for export outside the database.
    let v = audit::verify(s).await.unwrap();
    assert_eq!((v.head_seq, v.head_hash.as_deref()), (Some(3), Some(all[2].hash.as_str())));
    assert_eq!(s.audit_events_after(2, 10).await.unwrap().len(), 1);

    let seqs = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    let search = |f: AuditFilter| async move { seqs(s.search_audit_events(&f, 10).await.unwrap()) };
    assert_eq!(search(AuditFilter::default()).await, [3, 2, 1]);
    assert_eq!(search(AuditFilter { actor: Some("ADMIN:".into()), ..Default::default() }).await, [3, 1]);
    assert_eq!(search(AuditFilter { actor: Some("(moh)".into()), ..Default::default() }).await, [3]);
    assert_eq!(search(AuditFilter { action: Some("client.".into()), ..Default::default() }).await, [3, 1]);
    assert_eq!(search(AuditFilter { action: Some("client.update".into()), ..Default::default() }).await, [1]);
    // `_` and `%` are literal, not wildcards.
    assert!(search(AuditFilter { action: Some("client_".into()), ..Default::default() }).await.is_empty());
    assert!(search(AuditFilter { actor: Some("%".into()), ..Default::default() }).await.is_empty());
    assert_eq!(search(AuditFilter { target: Some("cli-2".into()), ..Default::default() }).await, [3]);
    assert_eq!(search(AuditFilter { since: Some(2_000), ..Default::default() }).await, [3, 2]);
    assert_eq!(seqs(s.search_audit_events(&AuditFilter::default(), 1).await.unwrap()), [3]);

    // Concurrent appends never fork the chain.
    let appends = (0..8).map(|i| audit::record(s, 4_000 + i, event("x", "token.revoke", None)));
    for r in futures_join(appends).await {
        r.unwrap();
    }
    let v = audit::verify(s).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.events, 11);
}

/// Run futures concurrently on this task (no `'static` bound, unlike spawning).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

/// Edit a row, delete one, cut the tail: `verify` names the first broken seq each time.
/// `sql` runs a statement behind the store's back and says whether the
/// database accepted it; `drop_triggers` removes the append-only triggers.
async fn tamper<F, Fut>(s: &dyn Store, sql: F, drop_triggers: &'static str)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    three_events(s).await;
    assert!(audit::verify(s).await.unwrap().ok);
    // The database itself refuses a plain edit or delete (0005's triggers).
    for plain in [
        "UPDATE audit_events SET detail = NULL WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
    ] {
        let refused = sql(plain).await.expect_err(plain);
        assert!(refused.contains("audit_events is append-only"), "{plain}: {refused}");
    }
    assert_eq!(s.audit_events_after(0, 10).await.unwrap().len(), 3);
    assert!(audit::verify(s).await.unwrap().ok);
    // An attacker with DDL rights drops the triggers first; the hash chain is
    // what catches them from here on.
    sql(drop_triggers).await.unwrap();
    let sql = |q: &'static str| {
        let run = sql(q);
        async move { run.await.unwrap() }
    };
    sql("UPDATE audit_events SET detail = '{\"fields\":[]}' WHERE seq = 2").await;
    let v = audit::verify(s).await.unwrap();
    assert!(!v.ok);
    assert_eq!(v.first_broken_seq, Some(2), "{v:?}");
    assert_eq!(v.events, 1);
    sql("UPDATE audit_events SET detail = '{\"fields\":[\"scopes\"]}' WHERE seq = 2").await;
    assert!(audit::verify(s).await.unwrap().ok);
    // A deleted event in the middle.
    sql("DELETE FROM audit_events WHERE seq = 2").await;
    assert_eq!(audit::verify(s).await.unwrap().first_broken_seq, Some(2));
    // The last event cut: the head still records it.
    sql("DELETE FROM audit_events WHERE seq >= 2").await;
    let v = audit::verify(s).await.unwrap();
    assert_eq!((v.ok, v.first_broken_seq), (false, Some(2)), "{v:?}");
}

#[tokio::test]
async fn audit_tamper_detected_on_sqlite() {
    let (dir, store) = super::sqlite_store().await;
    let url = format!("sqlite://{}/nested/motcua.db", dir.path().display());
    let drop_triggers = "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;";
    let run = |sql| {
        let url = url.clone();
        async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    tamper(&store, run, drop_triggers).await;
}

#[tokio::test]
async fn audit_tamper_detected_on_postgres() {
    let Some((store, base, db)) = super::postgres_store().await else { return };
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{db}"));
    let url = url.to_string();
    let drop_triggers = "DROP TRIGGER audit_events_no_update ON audit_events; \
                DROP TRIGGER audit_events_no_delete ON audit_events;";
    let run = |sql| {
        let url = url.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    tamper(&store, run, drop_triggers).await;
    drop(store);
    super::drop_database(&base, &db).await;
}

fn imported(id: &str, national_id: &str, email: Option<&str>, hash: Option<&str>) -> ImportedCitizen {
    let mut citizen = citizen(id, national_id, email);
    // Imported rows come from the portal's checked records.
    citizen.profile.national_id_verified = true;
    ImportedCitizen { citizen, password_hash: hash.map(Into::into) }
}

pub(super) async fn import_idempotence(s: &dyn Store) {
    use ImportOutcome::*;
    s.create_citizen(&citizen("acc-0", "001090000009", Some("taken@example.vn")), None).await.unwrap();
    let batch = vec![
        imported("acc-1", "001090000001", Some("an@example.vn"), Some("$argon2id$v=19$m=19456,t=2,p=1$x$y")),
        imported("acc-2", "001090000002", None, None),
        // Already there (created above).
        imported("acc-3", "001090000009", None, None),
        // Email of another account.
        imported("acc-4", "001090000004", Some("taken@example.vn"), None),
        // The same national ID twice in one batch: the first wins.
        imported("acc-5", "001090000002", None, None),
    ];
    assert_eq!(
        s.import_citizens(&batch).await.unwrap(),
        [Inserted, Inserted, AlreadyPresent, EmailTaken, AlreadyPresent]
    );
    assert_eq!(s.get_password_hash("acc-1").await.unwrap().as_deref(), Some("$argon2id$v=19$m=19456,t=2,p=1$x$y"));
    assert_eq!(s.get_password_hash("acc-2").await.unwrap(), None);
    let second = s.find_citizen_by_national_id("001090000002").await.unwrap().unwrap();
    assert_eq!(second.account.id, "acc-2");
    assert!(second.profile.national_id_verified, "the imported flag is stored");
    for gone in ["acc-3", "acc-4", "acc-5"] {
        assert_eq!(s.get_citizen(gone).await.unwrap(), None);
    }
    // A re-run (fresh account ids, as a new import would make) changes nothing.
    let again: Vec<_> = batch
        .iter()
        .enumerate()
        .map(|(i, r)| ImportedCitizen {
            citizen: citizen(&format!("re-{i}"), &r.citizen.profile.national_id, r.citizen.profile.email.as_deref()),
            password_hash: r.password_hash.clone(),
        })
        .collect();
    let outcomes = s.import_citizens(&again).await.unwrap();
    assert_eq!(outcomes, [AlreadyPresent, AlreadyPresent, AlreadyPresent, EmailTaken, AlreadyPresent]);
    assert_eq!(s.list_citizens(None, 100).await.unwrap().len(), 3);
    assert!(s.import_citizens(&[]).await.unwrap().is_empty());

    // A batch bigger than one multi-row INSERT chunk.
    let big: Vec<_> =
        (0..1_200).map(|i| imported(&format!("b-{i:04}"), &format!("0790900{i:05}"), None, None)).collect();
    let outcomes = s.import_citizens(&big).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == Inserted));
    assert_eq!(s.list_citizens(Some("b-"), 500).await.unwrap().len(), 500);
    assert!(s.import_citizens(&big).await.unwrap().iter().all(|o| *o == AlreadyPresent));
}

pub(super) async fn admin_token_revocation(s: &dyn Store) {
    let t = AdminToken {
        id: "t1".into(),
        hash: "ab".repeat(32),
        role: "auditor".into(),
        organisation_id: None,
        label: "audit".into(),
        created_at: 1_000,
        expires_at: Some(9_000),
        revoked_at: None,
    };
    s.create_admin_token(&t).await.unwrap();
    let revoked = s.revoke_admin_token("t1", 2_000).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(2_000));
    // Idempotent: the first time stays.
    assert_eq!(s.revoke_admin_token("t1", 3_000).await.unwrap().revoked_at, Some(2_000));
    assert_eq!(s.find_admin_token(&t.hash).await.unwrap().unwrap().revoked_at, Some(2_000));
    assert!(matches!(s.revoke_admin_token("nope", 3_000).await, Err(StoreError::NotFound)));
}

pub(super) async fn secret_rotation_grace(s: &dyn Store) {
    seed(s).await;
    let before = s.get_client("cli-1").await.unwrap().unwrap();
    let (after, secret) = clients::rotate_secret(s, 2_000, "cli-1", Some(3600)).await.unwrap();
    let stored = s.get_client("cli-1").await.unwrap().unwrap();
    assert_eq!(stored, after);
    assert_eq!(stored.previous_secret_hash, before.secret_hash);
    assert_eq!(stored.previous_secret_expires_at, Some(5_600));
    assert!(clients::secret_matches(&stored, secret.expose()));
    // Rotating again without grace ends the old secret's grace at once.
    let (_, _) = clients::rotate_secret(s, 3_000, "cli-1", None).await.unwrap();
    let stored = s.get_client("cli-1").await.unwrap().unwrap();
    assert_eq!((stored.previous_secret_hash, stored.previous_secret_expires_at), (None, None));
    assert!(matches!(
        clients::rotate_secret(s, 3_000, "cli-1", Some(clients::MAX_SECRET_GRACE + 1)).await,
        Err(clients::ClientError::GraceTooLong)
    ));
}
