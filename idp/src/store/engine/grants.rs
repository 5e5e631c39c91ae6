//! Grants, refresh-token rotation and the jti deny-list.

/// `GrantStore`: grants, refresh-token families, the jti deny-list.
macro_rules! impl_grants {
    ($store:ident, $db:ty, $engine:literal, $begin:literal) => {
        #[async_trait::async_trait]
        impl GrantStore for $store {
            async fn create_grant(&self, g: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()> {
                self.create_signed_grant(g, refresh, &[]).await
            }

            async fn create_signed_grant(
                &self,
                g: &Grant,
                refresh: Option<&RefreshToken>,
                kids: &[String],
            ) -> StoreResult<()> {
                // Taken before the insert: the new grant is cached as written,
                // and any write to it (or its account, session or business)
                // that commits after ours marks it stale.
                let ticket = self.live.ticket();
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO grants (id, account_id, client_id, scopes, claims, sid, \
                     auth_time, acr, amr, created_at, expires_at, revoked_at, business_id, dpop_jkt) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&g.id)
                .bind(&g.account_id)
                .bind(&g.client_id)
                .bind(to_json(&g.scopes)?)
                .bind(&g.claims)
                .bind(&g.sid)
                .bind(g.auth_time)
                .bind(&g.acr)
                .bind(to_json(&g.amr)?)
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(g.revoked_at)
                .bind(&g.business_id)
                .bind(&g.dpop_jkt)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if let Some(t) = refresh {
                    // The first token belongs to this grant, whatever `t.grant_id` says.
                    insert_refresh(&mut *tx, &g.id, t).await?;
                }
                for kid in kids {
                    sqlx::query(
                        "INSERT INTO grant_signing_kids (grant_id, kid) VALUES ($1, $2) \
                         ON CONFLICT (grant_id, kid) DO NOTHING",
                    )
                    .bind(&g.id)
                    .bind(kid)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                for kid in kids {
                    self.live.put_fact($crate::store::live::signing_kid_fact(&g.id, kid), 0);
                }
                // The client's first use of its tokens (UserInfo) reads no row.
                self.live.put_grant(ticket, g);
                Ok(())
            }

            async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<Grant>> {
                if let Some(g) = self.live.grant(grant_id) {
                    return Ok(Some(g));
                }
                let ticket = self.live.ticket();
                let grant = sqlx::query(concat!(grant_select!(), "WHERE id = $1"))
                    .bind(grant_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::grant(&r))
                    .transpose()?;
                if let Some(g) = &grant {
                    self.live.put_grant(ticket, g);
                }
                Ok(grant)
            }

            async fn revoke_grant(&self, grant_id: &str, now: Timestamp) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::grant_mark(grant_id)]);
                // `revoked_at IS NULL` keeps the first revocation time.
                let done = sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(grant_id)
                    .execute(&self.writer)
                    .await;
                marks.done().await;
                done.map_err(db_err)?;
                Ok(())
            }

            async fn get_refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshToken>> {
                let Some(r) = sqlx::query(
                    "SELECT hash, grant_id, created_at, expires_at, used_at FROM refresh_tokens \
                     WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                Ok(Some(RefreshToken {
                    hash: col(&r, "hash")?,
                    grant_id: col(&r, "grant_id")?,
                    created_at: col(&r, "created_at")?,
                    expires_at: col(&r, "expires_at")?,
                    used_at: col(&r, "used_at")?,
                }))
            }

            async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken) -> StoreResult<Rotation> {
                // RFC 6819 §5.2.2.3 / OAuth 2.0 Security BCP §4.14: a refresh
                // token rotates once. One statement claims the old token (if
                // unused and its grant live) and stores the new one in its
                // family, so a rotation is one round trip to the database
                // (on SQLite one hop to the writer's thread, where BEGIN,
                // UPDATE, INSERT and COMMIT were four; README "Benchmarks").
                // Of two concurrent callers exactly one gets a row: SQLite
                // runs a write statement under the write lock from its first
                // read, and on PostgreSQL the UPDATE re-checks `used_at IS
                // NULL` after waiting for the other's row lock.
                let sql = if $engine == "sqlite" {
                    // The trigger `refresh_tokens_rotate` (migration 0014)
                    // marks the row named by `rotated_from` used, in the same
                    // statement.
                    "INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at, used_at, rotated_from) \
                     SELECT $1, r.grant_id, $2, $3, $4, r.hash FROM refresh_tokens r \
                     JOIN grants g ON g.id = r.grant_id \
                     WHERE r.hash = $5 AND r.used_at IS NULL AND g.revoked_at IS NULL"
                } else {
                    "WITH claimed AS ( \
                         UPDATE refresh_tokens SET used_at = $2 \
                         WHERE hash = $5 AND used_at IS NULL \
                           AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL) \
                         RETURNING grant_id, hash) \
                     INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at, used_at, rotated_from) \
                     SELECT $1, grant_id, $2, $3, $4, hash FROM claimed"
                };
                let rotated = sqlx::query(sql)
                    .bind(&new.hash)
                    .bind(new.created_at)
                    .bind(new.expires_at)
                    .bind(new.used_at)
                    .bind(old_hash)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                if rotated == 1 {
                    return Ok(Rotation::Rotated);
                }
                // Why not: a token is only ever marked used and a grant only
                // ever revoked, so what failed the statement still holds, and
                // a read after it (any connection: nothing of it committed)
                // says which.
                Ok(match self.get_refresh_token(old_hash).await? {
                    None => Rotation::Unknown,
                    Some(old) if old.used_at.is_some() => Rotation::Reused(old.grant_id),
                    Some(_) => Rotation::Revoked,
                })
            }

            async fn revoke_jti(&self, jti: &str, expires_at: Timestamp) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::jti_mark(jti)]);
                let done = sqlx::query(
                    "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(expires_at)
                .execute(&self.writer)
                .await;
                marks.done().await;
                done.map_err(db_err)?;
                Ok(())
            }

            async fn is_jti_revoked(&self, jti: &str) -> StoreResult<bool> {
                if self.live.jti_live(jti) {
                    return Ok(false);
                }
                let ticket = self.live.ticket();
                let row = sqlx::query("SELECT jti FROM revoked_jtis WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                if row.is_none() {
                    self.live.put_jti_live(ticket, jti);
                }
                Ok(row.is_some())
            }

            fn issued_jti(&self, jti: &str) {
                self.live.put_jti_live(self.live.ticket(), jti);
            }
        }

        /// Insert one refresh token of family `grant_id`.
        async fn insert_refresh(
            conn: &mut <$db as sqlx::Database>::Connection,
            grant_id: &str,
            t: &RefreshToken,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, grant_id, created_at, expires_at, used_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&t.hash)
            .bind(grant_id)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.used_at)
            .execute(conn)
            .await
            .map_err(db_err)?;
            Ok(())
        }
    };
}
pub(crate) use impl_grants;
