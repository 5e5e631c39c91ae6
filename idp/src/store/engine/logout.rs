//! The back-channel logout outbox (one part of `impl_store!`).

/// Column list of the outbox `SELECT`s.
macro_rules! outbox_select {
    () => {
        "SELECT id, client_id, target_uri, subject, sid, alg, attempts, next_attempt_at, lease_until, \
         delivered_at, given_up_at, last_error, created_at FROM logout_outbox "
    };
}
pub(crate) use outbox_select;

/// `LogoutOutboxStore`.
macro_rules! impl_logout {
    ($store:ident, $db:ty, $begin:literal) => {
        impl $store {
            fn logout_notice(r: &<$db as sqlx::Database>::Row) -> StoreResult<LogoutNotice> {
                Ok(LogoutNotice {
                    id: col(r, "id")?,
                    client_id: col(r, "client_id")?,
                    target_uri: col(r, "target_uri")?,
                    subject: col(r, "subject")?,
                    sid: col(r, "sid")?,
                    alg: col(r, "alg")?,
                    attempts: col(r, "attempts")?,
                    next_attempt_at: col(r, "next_attempt_at")?,
                    lease_until: col(r, "lease_until")?,
                    delivered_at: col(r, "delivered_at")?,
                    given_up_at: col(r, "given_up_at")?,
                    last_error: col(r, "last_error")?,
                    created_at: col(r, "created_at")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl LogoutOutboxStore for $store {
            async fn enqueue_logout_notices(&self, notices: &[LogoutNotice]) -> StoreResult<()> {
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                for n in notices {
                    sqlx::query(
                        "INSERT INTO logout_outbox (id, client_id, target_uri, subject, sid, alg, attempts, \
                         next_attempt_at, lease_until, delivered_at, given_up_at, last_error, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(&n.id)
                    .bind(&n.client_id)
                    .bind(&n.target_uri)
                    .bind(&n.subject)
                    .bind(&n.sid)
                    .bind(&n.alg)
                    .bind(n.attempts)
                    .bind(n.next_attempt_at)
                    .bind(n.lease_until)
                    .bind(n.delivered_at)
                    .bind(n.given_up_at)
                    .bind(&n.last_error)
                    .bind(n.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }

            async fn claim_logout_notices(
                &self,
                now: Timestamp,
                lease_until: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<LogoutNotice>> {
                let due = sqlx::query(concat!(
                    outbox_select!(),
                    "WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1 \
                     AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT $2"
                ))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(Self::logout_notice)
                .collect::<StoreResult<Vec<_>>>()?;
                let mut taken = Vec::with_capacity(due.len());
                for mut n in due {
                    // The same condition again, in one statement: of two nodes
                    // that read the row, only one changes it.
                    let done = sqlx::query(
                        "UPDATE logout_outbox SET lease_until = $2 WHERE id = $1 AND delivered_at IS NULL \
                         AND given_up_at IS NULL AND (lease_until IS NULL OR lease_until < $3)",
                    )
                    .bind(&n.id)
                    .bind(lease_until)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 1 {
                        n.lease_until = Some(lease_until);
                        taken.push(n);
                    }
                }
                Ok(taken)
            }

            async fn logout_notice_delivered(&self, id: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE logout_outbox SET delivered_at = $2, attempts = attempts + 1, lease_until = NULL, \
                     last_error = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn logout_notice_failed(
                &self,
                id: &str,
                lease_until: Timestamp,
                now: Timestamp,
                next_attempt_at: Option<Timestamp>,
                error: &str,
            ) -> StoreResult<()> {
                let error: String = error.chars().take(200).collect();
                // Only the holder of the current lease records a failure: a
                // worker whose lease lapsed (another node took the row, and may
                // have delivered it) must neither count an attempt nor undo a delivery.
                sqlx::query(
                    "UPDATE logout_outbox SET attempts = attempts + 1, lease_until = NULL, last_error = $2, \
                     next_attempt_at = COALESCE($3, next_attempt_at), \
                     given_up_at = CASE WHEN $3 IS NULL THEN $4 ELSE NULL END \
                     WHERE id = $1 AND delivered_at IS NULL AND lease_until = $5",
                )
                .bind(id)
                .bind(error)
                .bind(next_attempt_at)
                .bind(now)
                .bind(lease_until)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn revoke_session_grants(&self, sid: &str, now: Timestamp) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::session_mark(sid)]);
                // `scopes` is a JSON list of strings: the quoted name matches whole entries only.
                let done = sqlx::query(
                    "UPDATE grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL \
                     AND scopes NOT LIKE '%\"offline_access\"%'",
                )
                .bind(sid)
                .bind(now)
                .execute(&self.writer)
                .await;
                marks.done().await;
                Ok(done.map_err(db_err)?.rows_affected())
            }

            async fn revoke_account_grants(&self, account_id: &str, now: Timestamp) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::account_mark(account_id)]);
                let done =
                    sqlx::query("UPDATE grants SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
                        .bind(account_id)
                        .bind(now)
                        .execute(&self.writer)
                        .await;
                marks.done().await;
                Ok(done.map_err(db_err)?.rows_affected())
            }

            async fn live_account_sessions(&self, account_id: &str, now: Timestamp) -> StoreResult<Vec<SsoSession>> {
                sqlx::query(concat!(
                    sso_select!(),
                    "WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, sid"
                ))
                .bind(account_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(Self::sso_session)
                .collect()
            }

            async fn list_consents(&self, account_id: &str) -> StoreResult<Vec<Consent>> {
                sqlx::query(
                    "SELECT account_id, client_id, scopes, granted_at FROM consents WHERE account_id = $1 \
                     ORDER BY granted_at, client_id",
                )
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| {
                    Ok(Consent {
                        account_id: col(r, "account_id")?,
                        client_id: col(r, "client_id")?,
                        scopes: from_json(&col::<_, String>(r, "scopes")?)?,
                        granted_at: col(r, "granted_at")?,
                    })
                })
                .collect()
            }

            async fn revoke_consent(&self, account_id: &str, client_id: &str, now: Timestamp) -> StoreResult<bool> {
                let marks = self.live.pending(vec![$crate::store::live::account_mark(account_id)]);
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                let gone = sqlx::query("DELETE FROM consents WHERE account_id = $1 AND client_id = $2")
                    .bind(account_id)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "UPDATE grants SET revoked_at = $3 WHERE account_id = $1 AND client_id = $2 \
                     AND revoked_at IS NULL",
                )
                .bind(account_id)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let committed = tx.commit().await;
                marks.done().await;
                committed.map_err(db_err)?;
                Ok(gone.rows_affected() > 0)
            }

            async fn list_logout_notices(&self, client_id: &str) -> StoreResult<Vec<LogoutNotice>> {
                sqlx::query(concat!(outbox_select!(), "WHERE client_id = $1 ORDER BY created_at DESC, id"))
                    .bind(client_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::logout_notice)
                    .collect()
            }
        }
    };
}
pub(crate) use impl_logout;
