//! The key lifecycle: compare-and-set state changes, re-wrapping, the rotation
//! schedule, and which key signed a grant.

/// `KeyLifecycleStore`.
macro_rules! impl_keys {
    ($store:ident, $db:ty, $begin:literal) => {
        impl $store {
            /// Insert one signing key, on the pool or inside a transaction.
            pub(super) async fn insert_key<'e, E: sqlx::Executor<'e, Database = $db>>(
                executor: E,
                k: &SigningKey,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, state, private_enc, kek_id, public_jwk, \
                     created_at, activated_at, retired_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&k.kid)
                .bind(&k.alg)
                .bind(&k.state)
                .bind(&k.private_enc)
                .bind(&k.kek_id)
                .bind(&k.public_jwk)
                .bind(k.created_at)
                .bind(k.activated_at)
                .bind(k.retired_at)
                .execute(executor)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl KeyLifecycleStore for $store {
            async fn change_signing_keys(&self, updates: &[KeyUpdate], inserts: &[SigningKey]) -> StoreResult<bool> {
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                let applied = async {
                    for u in updates {
                        // Compare-and-set on the state: PostgreSQL re-checks the
                        // condition after waiting for a concurrent writer's row lock,
                        // SQLite's `BEGIN IMMEDIATE` serialises whole transactions.
                        let done = sqlx::query(
                            "UPDATE signing_keys SET state = $1, activated_at = $2, retired_at = $3 \
                             WHERE kid = $4 AND state = $5",
                        )
                        .bind(&u.state)
                        .bind(u.activated_at)
                        .bind(u.retired_at)
                        .bind(&u.kid)
                        .bind(&u.from_state)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if done.rows_affected() != 1 {
                            return Ok(false);
                        }
                    }
                    for k in inserts {
                        Self::insert_key(&mut *tx, k).await?;
                    }
                    Ok(true)
                }
                .await;
                match applied {
                    Ok(true) => {
                        tx.commit().await.map_err(db_err)?;
                        Ok(true)
                    }
                    // Another node changed the keys meanwhile: a failed
                    // compare-and-set, or a state it filled first (the
                    // one-key-per-state index).
                    Ok(false) | Err(StoreError::Conflict("signing_key_state")) => {
                        tx.rollback().await.map_err(db_err)?;
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }

            async fn delete_signing_key(&self, kid: &str, state: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1 AND state = $2")
                    .bind(kid)
                    .bind(state)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn rewrap_signing_keys(
                &self,
                keys: &[(SigningKey, String)],
                secrets: &[(ServerSecret, String)],
            ) -> StoreResult<bool> {
                let new_kek = match (keys.first(), secrets.first()) {
                    (Some((k, _)), _) => k.kek_id.clone(),
                    (None, Some((s, _))) => s.kek_id.clone(),
                    (None, None) => return Ok(true),
                };
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                for (k, old_kek) in keys {
                    let done = sqlx::query(
                        "UPDATE signing_keys SET private_enc = $1, kek_id = $2 WHERE kid = $3 AND kek_id = $4",
                    )
                    .bind(&k.private_enc)
                    .bind(&k.kek_id)
                    .bind(&k.kid)
                    .bind(old_kek)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() != 1 || k.kek_id != new_kek {
                        tx.rollback().await.map_err(db_err)?;
                        return Ok(false);
                    }
                }
                for (s, old_kek) in secrets {
                    let done = sqlx::query(
                        "UPDATE server_secrets SET value_enc = $1, kek_id = $2 WHERE name = $3 AND kek_id = $4",
                    )
                    .bind(&s.value_enc)
                    .bind(&s.kek_id)
                    .bind(&s.name)
                    .bind(old_kek)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() != 1 || s.kek_id != new_kek {
                        tx.rollback().await.map_err(db_err)?;
                        return Ok(false);
                    }
                }
                // A key or secret created meanwhile under the old KEK would be left behind.
                let left = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM signing_keys WHERE kek_id <> $1) \
                     + (SELECT COUNT(*) FROM server_secrets WHERE kek_id <> $1) AS n",
                )
                .bind(&new_kek)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                if col::<_, i64>(&left, "n")? != 0 {
                    tx.rollback().await.map_err(db_err)?;
                    return Ok(false);
                }
                tx.commit().await.map_err(db_err)?;
                Ok(true)
            }

            async fn get_key_schedule(&self) -> StoreResult<Option<KeySchedule>> {
                let Some(r) = sqlx::query("SELECT interval_secs, next_at, updated_at FROM key_schedule WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                else {
                    return Ok(None);
                };
                Ok(Some(KeySchedule {
                    interval_secs: col(&r, "interval_secs")?,
                    next_at: col(&r, "next_at")?,
                    updated_at: col(&r, "updated_at")?,
                }))
            }

            async fn put_key_schedule(&self, schedule: Option<&KeySchedule>) -> StoreResult<()> {
                match schedule {
                    Some(s) => sqlx::query(
                        "INSERT INTO key_schedule (id, interval_secs, next_at, updated_at) VALUES (1, $1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET interval_secs = excluded.interval_secs, \
                         next_at = excluded.next_at, updated_at = excluded.updated_at",
                    )
                    .bind(s.interval_secs)
                    .bind(s.next_at)
                    .bind(s.updated_at),
                    None => sqlx::query("DELETE FROM key_schedule WHERE id = 1"),
                }
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn advance_key_schedule(&self, old: Timestamp, new: Timestamp) -> StoreResult<bool> {
                // The once-per-cluster arbiter: of all nodes seeing the same
                // due `next_at`, exactly one UPDATE matches it.
                let done = sqlx::query("UPDATE key_schedule SET next_at = $1 WHERE id = 1 AND next_at = $2")
                    .bind(new)
                    .bind(old)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn add_grant_signing_kid(&self, grant_id: &str, kid: &str) -> StoreResult<()> {
                // Every refresh re-signs with the same key: once recorded, the
                // row stays (it is never deleted), so the write is skipped.
                let fact = $crate::store::live::signing_kid_fact(grant_id, kid);
                if self.live.fact(&fact).is_some() {
                    return Ok(());
                }
                sqlx::query(
                    "INSERT INTO grant_signing_kids (grant_id, kid) VALUES ($1, $2) \
                     ON CONFLICT (grant_id, kid) DO NOTHING",
                )
                .bind(grant_id)
                .bind(kid)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                self.live.put_fact(fact, 0);
                Ok(())
            }

            async fn revoke_grants_signed_by(&self, kid: &str, now: Timestamp) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::ALL.to_owned()]);
                // `grant_signing_kids` holds every key that signed one of a
                // grant's tokens (0005 copied the older `grants.signing_kid`).
                let done = sqlx::query(
                    "UPDATE grants SET revoked_at = $1 WHERE revoked_at IS NULL \
                     AND id IN (SELECT grant_id FROM grant_signing_kids WHERE kid = $2)",
                )
                .bind(now)
                .bind(kid)
                .execute(&self.writer)
                .await;
                marks.done().await;
                Ok(done.map_err(db_err)?.rows_affected())
            }
        }
    };
}
pub(crate) use impl_keys;
