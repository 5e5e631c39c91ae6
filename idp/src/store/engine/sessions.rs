//! SSO sessions, signing keys, admin tokens, web sessions, `Store`.

/// SSO sessions, signing keys, admin tokens, web sessions and `Store` itself.
macro_rules! impl_sessions {
    ($store:ident, $engine:literal) => {
        #[async_trait::async_trait]
        impl SsoSessionStore for $store {
            async fn create_sso_session(&self, s: &SsoSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sso_sessions (sid, account_id, auth_time, acr, amr, created_at, \
                     expires_at, revoked_at, user_agent, last_seen_at, place) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&s.sid)
                .bind(&s.account_id)
                .bind(s.auth_time)
                .bind(&s.acr)
                .bind(to_json(&s.amr)?)
                .bind(s.created_at)
                .bind(s.expires_at)
                .bind(s.revoked_at)
                .bind(&s.user_agent)
                .bind(s.last_seen_at)
                .bind(&s.place)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                // A session starts seen: the sign-ins through it in the next
                // minute write nothing (see `touch_sso_session`).
                if let Some(seen) = s.last_seen_at {
                    self.live.put_fact($crate::store::live::seen_fact(&s.sid), seen);
                }
                Ok(())
            }

            async fn touch_sso_session(&self, sid: &str, now: Timestamp, not_before: Timestamp) -> StoreResult<bool> {
                // Known recent: no statement at all (it would queue for the writer).
                let fact = $crate::store::live::seen_fact(sid);
                if self.live.fact(&fact).is_some_and(|seen| seen >= not_before) {
                    return Ok(false);
                }
                // The condition in the UPDATE: a recent `last_seen_at` matches no row, so no write.
                let done = sqlx::query(
                    "UPDATE sso_sessions SET last_seen_at = $1 \
                     WHERE sid = $2 AND (last_seen_at IS NULL OR last_seen_at < $3)",
                )
                .bind(now)
                .bind(sid)
                .bind(not_before)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                if done.rows_affected() > 0 {
                    self.live.put_fact(fact, now);
                    // Only the row's display time changed: its grants stay
                    // cached, and a missed mark costs nothing but that time.
                    self.live.invalidate(&[$crate::store::live::session_seen_mark(sid)]).await;
                }
                Ok(done.rows_affected() > 0)
            }

            async fn get_sso_session(&self, sid: &str) -> StoreResult<Option<SsoSession>> {
                if let Some(s) = self.live.sso_session(sid) {
                    return Ok(Some(s));
                }
                let ticket = self.live.ticket();
                let session = sqlx::query(concat!(sso_select!(), "WHERE sid = $1"))
                    .bind(sid)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::sso_session(&r))
                    .transpose()?;
                if let Some(s) = &session {
                    self.live.put_sso_session(ticket, s);
                }
                Ok(session)
            }

            async fn revoke_sso_session(&self, sid: &str, now: Timestamp) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::session_mark(sid)]);
                let done = sqlx::query("UPDATE sso_sessions SET revoked_at = $1 WHERE sid = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(sid)
                    .execute(&self.writer)
                    .await;
                marks.done().await;
                done.map_err(db_err)?;
                Ok(())
            }

            async fn revoke_account_sessions(&self, account_id: &str, now: Timestamp) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::account_mark(account_id)]);
                // Expired sessions are already dead: leave them, and count only live ones.
                let done = sqlx::query(
                    "UPDATE sso_sessions SET revoked_at = $1 \
                     WHERE account_id = $2 AND revoked_at IS NULL AND expires_at > $1",
                )
                .bind(now)
                .bind(account_id)
                .execute(&self.writer)
                .await;
                marks.done().await;
                Ok(done.map_err(db_err)?.rows_affected())
            }

            async fn add_session_client(&self, sid: &str, client_id: &str, now: Timestamp) -> StoreResult<()> {
                let fact = format!("client {sid} {client_id}");
                if self.live.fact(&fact).is_some() {
                    return Ok(());
                }
                // DO NOTHING keeps the first sign-in time.
                sqlx::query(
                    "INSERT INTO session_clients (sid, client_id, first_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (sid, client_id) DO NOTHING",
                )
                .bind(sid)
                .bind(client_id)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                self.live.put_fact(fact, now);
                Ok(())
            }

            async fn list_session_clients(&self, sid: &str) -> StoreResult<Vec<String>> {
                sqlx::query(
                    "SELECT client_id FROM session_clients WHERE sid = $1 \
                     ORDER BY first_at, client_id",
                )
                .bind(sid)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| col(r, "client_id"))
                .collect()
            }
        }

        #[async_trait::async_trait]
        impl KeyStore for $store {
            async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
                sqlx::query(concat!(key_select!(), "ORDER BY created_at, kid"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::signing_key)
                    .collect()
            }

            async fn insert_signing_key(&self, k: &SigningKey) -> StoreResult<()> {
                Self::insert_key(&self.writer, k).await
            }

            async fn update_signing_key(&self, k: &SigningKey) -> StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE signing_keys SET state = $2, created_at = $3, activated_at = $4, \
                     retired_at = $5 WHERE kid = $1",
                )
                .bind(&k.kid)
                .bind(&k.state)
                .bind(k.created_at)
                .bind(k.activated_at)
                .bind(k.retired_at)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl AdminTokenStore for $store {
            async fn create_admin_token(&self, t: &AdminToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO admin_tokens (id, hash, role, organisation_id, label, created_at, \
                     expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&t.id)
                .bind(&t.hash)
                .bind(&t.role)
                .bind(&t.organisation_id)
                .bind(&t.label)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.revoked_at)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn find_admin_token(&self, hash: &str) -> StoreResult<Option<AdminToken>> {
                sqlx::query(concat!(admin_select!(), "WHERE hash = $1"))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::admin_token(&r))
                    .transpose()
            }

            async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminToken>> {
                sqlx::query(concat!(admin_select!(), "ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::admin_token)
                    .collect()
            }

            async fn revoke_admin_token(&self, id: &str, now: Timestamp) -> StoreResult<AdminToken> {
                // COALESCE keeps the first revocation time: revoking twice is harmless.
                sqlx::query("UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                sqlx::query(concat!(admin_select!(), "WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::admin_token(&r))
                    .transpose()?
                    .ok_or(StoreError::NotFound)
            }
        }

        #[async_trait::async_trait]
        impl WebSessionStore for $store {
            async fn load_web_session(&self, id: &str, now: Timestamp) -> StoreResult<Option<Vec<u8>>> {
                sqlx::query("SELECT data FROM web_sessions WHERE id = $1 AND expires_at > $2")
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| col(&r, "data"))
                    .transpose()
            }

            async fn save_web_session(&self, id: &str, data: &[u8], expires_at: Timestamp) -> StoreResult<()> {
                let upsert = "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                              ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at";
                self.write_web_session(upsert, id, data, expires_at).await.map(|_| ())
            }

            async fn create_web_session(&self, id: &str, data: &[u8], expires_at: Timestamp) -> StoreResult<bool> {
                let insert = "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                              ON CONFLICT (id) DO NOTHING";
                Ok(self.write_web_session(insert, id, data, expires_at).await? > 0)
            }

            async fn delete_web_session(&self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM web_sessions WHERE id = $1")
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64> {
                let sessions = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                let jtis = sqlx::query("DELETE FROM revoked_jtis WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                // Logout notices are kept 30 days after their outcome, for operators.
                let notices = sqlx::query(
                    "DELETE FROM logout_outbox WHERE (delivered_at IS NOT NULL AND delivered_at <= $1 - 2592000) \
                     OR (given_up_at IS NOT NULL AND given_up_at <= $1 - 2592000)",
                )
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(sessions.rows_affected() + jtis.rows_affected() + notices.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                // Both pools: a wedged writer must show on /readyz too.
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
                sqlx::query("SELECT 1").execute(&self.writer).await.map_err(db_err)?;
                Ok(())
            }

            async fn changed_elsewhere(&self) -> StoreResult<bool> {
                self.engine_changed_elsewhere().await
            }

            fn live(&self) -> &std::sync::Arc<$crate::store::live::LiveCache> {
                &self.live
            }

            fn engine(&self) -> &'static str {
                $engine
            }
        }

        impl $store {
            /// Run `sql`, an insert of one web session row (`id`, `data`,
            /// `expires_at`); rows written.
            async fn write_web_session(
                &self,
                sql: &'static str,
                id: &str,
                data: &[u8],
                expires_at: Timestamp,
            ) -> StoreResult<u64> {
                let done = sqlx::query(sql)
                    .bind(id)
                    .bind(data)
                    .bind(expires_at)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_sessions;
