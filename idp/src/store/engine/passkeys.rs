//! Passkeys (one part of `impl_store!`).

/// Column list of the passkey `SELECT`s.
macro_rules! passkey_select {
    () => {
        "SELECT id, account_id, credential_id, passkey, name, created_at, last_used_at, sign_count, \
         backup_eligible, backup_state, device FROM passkeys "
    };
}
pub(crate) use passkey_select;

/// `PasskeyStore`.
macro_rules! impl_passkeys {
    ($store:ident, $db:ty, $begin:literal) => {
        impl $store {
            fn passkey(r: &<$db as sqlx::Database>::Row) -> StoreResult<StoredPasskey> {
                Ok(StoredPasskey {
                    id: col(r, "id")?,
                    account_id: col(r, "account_id")?,
                    credential_id: col(r, "credential_id")?,
                    passkey: col(r, "passkey")?,
                    name: col(r, "name")?,
                    created_at: col(r, "created_at")?,
                    last_used_at: col(r, "last_used_at")?,
                    sign_count: col(r, "sign_count")?,
                    backup_eligible: col(r, "backup_eligible")?,
                    backup_state: col(r, "backup_state")?,
                    device: col(r, "device")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl PasskeyStore for $store {
            async fn create_passkey(&self, p: &StoredPasskey) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO passkeys (id, account_id, credential_id, passkey, name, created_at, \
                     last_used_at, sign_count, backup_eligible, backup_state, device) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&p.id)
                .bind(&p.account_id)
                .bind(&p.credential_id)
                .bind(&p.passkey)
                .bind(&p.name)
                .bind(p.created_at)
                .bind(p.last_used_at)
                .bind(p.sign_count)
                .bind(p.backup_eligible)
                .bind(p.backup_state)
                .bind(&p.device)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn list_passkeys(&self, account_id: &str) -> StoreResult<Vec<StoredPasskey>> {
                sqlx::query(concat!(passkey_select!(), "WHERE account_id = $1 ORDER BY created_at, id"))
                    .bind(account_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::passkey)
                    .collect()
            }

            async fn find_passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<StoredPasskey>> {
                sqlx::query(concat!(passkey_select!(), "WHERE credential_id = $1"))
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::passkey(&r))
                    .transpose()
            }

            async fn update_passkey_use(&self, p: &StoredPasskey) -> StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE passkeys SET passkey = $2, sign_count = $3, backup_eligible = $4, \
                     backup_state = $5, last_used_at = $6 WHERE id = $1",
                )
                .bind(&p.id)
                .bind(&p.passkey)
                .bind(p.sign_count)
                .bind(p.backup_eligible)
                .bind(p.backup_state)
                .bind(p.last_used_at)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn rename_passkey(&self, account_id: &str, id: &str, name: &str) -> StoreResult<()> {
                let done = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND account_id = $2")
                    .bind(id)
                    .bind(account_id)
                    .bind(name)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn delete_passkey(&self, account_id: &str, id: &str, keep_last: bool) -> StoreResult<()> {
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                // A no-op write on the account row: a row lock on PostgreSQL
                // (SQLite's BEGIN IMMEDIATE already holds the write lock), so
                // concurrent deletions for one account count one after the other.
                sqlx::query("UPDATE accounts SET status = status WHERE id = $1")
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let rows = sqlx::query("SELECT id FROM passkeys WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let ids = rows.iter().map(|r| col::<_, String>(r, "id")).collect::<StoreResult<Vec<_>>>()?;
                if !ids.iter().any(|i| i == id) {
                    return Err(StoreError::NotFound);
                }
                if keep_last && ids.len() <= 1 {
                    return Err(StoreError::Conflict("last_passkey"));
                }
                sqlx::query("DELETE FROM passkeys WHERE id = $1 AND account_id = $2")
                    .bind(id)
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)
            }
        }
    };
}
pub(crate) use impl_passkeys;
