//! The audit trail and the bulk citizen import (one part of `impl_store!`).
//!
//! Both build statements with `sqlx::QueryBuilder` (optional filters, multi-row
//! `VALUES`), which is generic over the engine, hence the `$db` parameter.

/// Rows per multi-row `INSERT`: 11 binds a profile row × 500 stays far below
/// SQLite's 32766 and PostgreSQL's 65535 bind parameters.
pub(crate) const INSERT_CHUNK: usize = 500;

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Column list of the audit `SELECT`s (a macro so `concat!` can splice it).
macro_rules! audit_select {
    () => {
        "SELECT seq, at, actor, action, target, source_ip, request_id, outcome, detail, prev_hash, hash \
         FROM audit_events "
    };
}
pub(crate) use audit_select;

/// `AuditStore` and `ImportStore`.
macro_rules! impl_audit {
    ($store:ident, $db:ty, $begin:literal) => {
        impl $store {
            fn audit_event(r: &<$db as sqlx::Database>::Row) -> StoreResult<AuditEvent> {
                Ok(AuditEvent {
                    seq: col(r, "seq")?,
                    at: col(r, "at")?,
                    actor: col(r, "actor")?,
                    action: col(r, "action")?,
                    target: col(r, "target")?,
                    source_ip: col(r, "source_ip")?,
                    request_id: col(r, "request_id")?,
                    outcome: col(r, "outcome")?,
                    detail: col(r, "detail")?,
                    prev_hash: col(r, "prev_hash")?,
                    hash: col(r, "hash")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl AuditStore for $store {
            async fn append_audit_event(&self, event: &AuditEvent, chain: AuditChain) -> StoreResult<AuditEvent> {
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                // Moving the head first takes its row lock (PostgreSQL) inside
                // the write transaction (SQLite: BEGIN IMMEDIATE): concurrent
                // appends queue here, so each reads the hash the previous one wrote.
                let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let mut stored = event.clone();
                stored.seq = col(&head, "seq")?;
                stored.prev_hash = col(&head, "hash")?;
                stored.hash = chain(&stored);
                sqlx::query(
                    "INSERT INTO audit_events (seq, at, actor, action, target, source_ip, request_id, \
                     outcome, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(stored.seq)
                .bind(stored.at)
                .bind(&stored.actor)
                .bind(&stored.action)
                .bind(&stored.target)
                .bind(&stored.source_ip)
                .bind(&stored.request_id)
                .bind(&stored.outcome)
                .bind(&stored.detail)
                .bind(&stored.prev_hash)
                .bind(&stored.hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                    .bind(&stored.hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(stored)
            }

            async fn audit_events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditEvent>> {
                sqlx::query(concat!(
                    $crate::store::engine::audit::audit_select!(),
                    "WHERE seq > $1 ORDER BY seq LIMIT $2"
                ))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(Self::audit_event)
                .collect()
            }

            async fn search_audit_events(&self, f: &AuditFilter, limit: u32) -> StoreResult<Vec<AuditEvent>> {
                use $crate::store::engine::audit::like_escape;
                let mut q = sqlx::QueryBuilder::<$db>::new(concat!(
                    $crate::store::engine::audit::audit_select!(),
                    "WHERE 1 = 1"
                ));
                if let Some(actor) = &f.actor {
                    q.push(" AND LOWER(actor) LIKE ");
                    q.push_bind(format!("%{}%", like_escape(&actor.to_lowercase())));
                    q.push(" ESCAPE '\\'");
                }
                match f.action.as_deref() {
                    Some(prefix) if prefix.ends_with('.') => {
                        q.push(" AND action LIKE ");
                        q.push_bind(format!("{}%", like_escape(prefix)));
                        q.push(" ESCAPE '\\'");
                    }
                    Some(action) => {
                        q.push(" AND action = ");
                        q.push_bind(action.to_owned());
                    }
                    None => {}
                }
                if let Some(target) = &f.target {
                    q.push(" AND target = ");
                    q.push_bind(target.clone());
                }
                if let Some(since) = f.since {
                    q.push(" AND at >= ");
                    q.push_bind(since);
                }
                q.push(" ORDER BY seq DESC LIMIT ");
                q.push_bind(i64::from(limit));
                q.build().fetch_all(&self.pool).await.map_err(db_err)?.iter().map(Self::audit_event).collect()
            }

            async fn audit_head(&self) -> StoreResult<(i64, String)> {
                let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok((col(&r, "seq")?, col(&r, "hash")?))
            }
        }

        #[async_trait::async_trait]
        impl ImportStore for $store {
            async fn import_citizens(&self, batch: &[ImportedCitizen]) -> StoreResult<Vec<ImportOutcome>> {
                use std::collections::HashSet;

                use $crate::store::engine::audit::INSERT_CHUNK;

                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                // What is already there, in two indexed lookups per chunk.
                let mut present: HashSet<String> = HashSet::new();
                let mut emails: HashSet<String> = HashSet::new();
                for chunk in batch.chunks(INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT national_id FROM citizen_profiles WHERE national_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for row in chunk {
                        list.push_bind(row.citizen.profile.national_id.clone());
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                        present.insert(col(&r, "national_id")?);
                    }
                    let with_email: Vec<String> =
                        chunk.iter().filter_map(|row| row.citizen.profile.email.clone()).collect();
                    if with_email.is_empty() {
                        continue;
                    }
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT email FROM citizen_profiles WHERE email IN (");
                    let mut list = q.separated(", ");
                    for email in with_email {
                        list.push_bind(email);
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                        emails.insert(col(&r, "email")?);
                    }
                }
                // Decide each row; later duplicates within the batch lose to earlier ones.
                let mut outcomes = Vec::with_capacity(batch.len());
                let mut candidates: Vec<&ImportedCitizen> = Vec::new();
                for row in batch {
                    let p = &row.citizen.profile;
                    let outcome = if !present.insert(p.national_id.clone()) {
                        ImportOutcome::AlreadyPresent
                    } else if p.email.as_ref().is_some_and(|e| !emails.insert(e.clone())) {
                        ImportOutcome::EmailTaken
                    } else {
                        candidates.push(row);
                        ImportOutcome::Inserted
                    };
                    outcomes.push(outcome);
                }
                let mut inserted: HashSet<String> = HashSet::new();
                for chunk in candidates.chunks(INSERT_CHUNK) {
                    let mut q =
                        sqlx::QueryBuilder::<$db>::new("INSERT INTO accounts (id, subject, kind, status, created_at) ");
                    q.push_values(chunk, |mut b, row| {
                        let a = &row.citizen.account;
                        b.push_bind(a.id.clone())
                            .push_bind(a.subject.clone())
                            .push_bind(a.kind.clone())
                            .push_bind(a.status.clone())
                            .push_bind(a.created_at);
                    });
                    q.build().execute(&mut *tx).await.map_err(db_err)?;
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO citizen_profiles (account_id, national_id, full_name, email, \
                         email_verified, phone, phone_verified, birthdate, gender, address, updated_at, \
                         national_id_verified) ",
                    );
                    q.push_values(chunk, |mut b, row| {
                        let (a, p) = (&row.citizen.account, &row.citizen.profile);
                        b.push_bind(a.id.clone())
                            .push_bind(p.national_id.clone())
                            .push_bind(p.full_name.clone())
                            .push_bind(p.email.clone())
                            .push_bind(p.email_verified)
                            .push_bind(p.phone.clone())
                            .push_bind(p.phone_verified)
                            .push_bind(p.birthdate.clone())
                            .push_bind(p.gender.clone())
                            .push_bind(p.address.clone())
                            .push_bind(p.updated_at)
                            .push_bind(p.national_id_verified);
                    });
                    // Idempotence even against a concurrent import of the same
                    // rows: a national ID that appeared meanwhile is skipped.
                    q.push(" ON CONFLICT (national_id) DO NOTHING RETURNING account_id");
                    for r in q.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                        inserted.insert(col(&r, "account_id")?);
                    }
                }
                // Accounts whose profile lost that race: remove, report as present.
                let lost: Vec<&str> = candidates
                    .iter()
                    .map(|row| row.citizen.account.id.as_str())
                    .filter(|id| !inserted.contains(*id))
                    .collect();
                for chunk in lost.chunks(INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("DELETE FROM accounts WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind((*id).to_owned());
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await.map_err(db_err)?;
                }
                let with_hash: Vec<(&str, &str, i64)> = candidates
                    .iter()
                    .filter(|row| inserted.contains(&row.citizen.account.id))
                    .filter_map(|row| {
                        let a = &row.citizen.account;
                        row.password_hash.as_deref().map(|h| (a.id.as_str(), h, a.created_at))
                    })
                    .collect();
                for chunk in with_hash.chunks(INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO password_credentials (account_id, hash, created_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut b, (id, hash, at)| {
                        b.push_bind((*id).to_owned()).push_bind((*hash).to_owned()).push_bind(*at).push_bind(*at);
                    });
                    q.build().execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                for (row, outcome) in batch.iter().zip(outcomes.iter_mut()) {
                    if *outcome == ImportOutcome::Inserted && !inserted.contains(&row.citizen.account.id) {
                        *outcome = ImportOutcome::AlreadyPresent;
                    }
                }
                Ok(outcomes)
            }
        }
    };
}
pub(crate) use impl_audit;
