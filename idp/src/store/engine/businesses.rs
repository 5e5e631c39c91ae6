//! Businesses, members and server secrets (one part of `impl_store!`).

use super::db_err;
use crate::store::StoreError;

/// Column list of the business `SELECT`s (table alias `b`).
macro_rules! business_select {
    () => {
        "SELECT b.id, b.tax_code, b.subject, b.name, b.address, b.status, b.verified, b.created_at, \
         b.updated_at FROM businesses b "
    };
}
pub(crate) use business_select;

/// Member columns under their own names (table alias `m`).
macro_rules! member_columns {
    () => {
        "m.business_id, m.account_id, m.role, m.status, m.expires_at, m.invited_by, m.created_at, \
         m.accepted_at "
    };
}
pub(crate) use member_columns;

/// Member columns with an `m_` prefix, for joins with `businesses` (both
/// tables have `status` and `created_at`).
macro_rules! member_columns_prefixed {
    () => {
        "m.business_id AS m_business_id, m.account_id AS m_account_id, m.role AS m_role, \
         m.status AS m_status, m.expires_at AS m_expires_at, m.invited_by AS m_invited_by, \
         m.created_at AS m_created_at, m.accepted_at AS m_accepted_at "
    };
}
pub(crate) use member_columns_prefixed;

/// Map the error of inserting a business: a duplicate tax code is the
/// caller's `Conflict("tax_code")`; a clash on `subject` (random, 128 bits or
/// so) is a fault, not something a user can fix, so `Backend`.
///
/// `db_err`'s shared table does not know the `businesses` constraints, and a
/// bare `Conflict("key")` would not tell the two apart.
pub(crate) fn business_insert_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        // PostgreSQL names the constraint; SQLite puts "table.column" in the message.
        let tax_code = db
            .constraint()
            .map_or_else(|| db.message().contains("businesses.tax_code"), |c| c == "businesses_tax_code_key");
        if tax_code {
            return StoreError::Conflict("tax_code");
        }
        if db.constraint().map_or_else(|| db.message().contains("businesses."), |c| c.starts_with("businesses_")) {
            return StoreError::Backend(format!("business unique key clash: {}", db.message()));
        }
    }
    db_err(e)
}

/// `BusinessStore` and `ServerSecretStore`.
macro_rules! impl_businesses {
    ($store:ident, $db:ty, $begin:literal) => {
        use $crate::store::engine::businesses::{business_select, member_columns, member_columns_prefixed};

        impl $store {
            fn business(r: &<$db as sqlx::Database>::Row) -> StoreResult<Business> {
                Ok(Business {
                    id: col(r, "id")?,
                    tax_code: col(r, "tax_code")?,
                    subject: col(r, "subject")?,
                    name: col(r, "name")?,
                    address: col(r, "address")?,
                    status: col(r, "status")?,
                    verified: col(r, "verified")?,
                    created_at: col(r, "created_at")?,
                    updated_at: col(r, "updated_at")?,
                })
            }

            /// A member row whose column names carry `prefix` (`""` or `"m_"`).
            fn business_member(r: &<$db as sqlx::Database>::Row, prefix: &str) -> StoreResult<BusinessMember> {
                let c = |name: &str| format!("{prefix}{name}");
                Ok(BusinessMember {
                    business_id: col(r, &c("business_id"))?,
                    account_id: col(r, &c("account_id"))?,
                    role: col(r, &c("role"))?,
                    status: col(r, &c("status"))?,
                    expires_at: col(r, &c("expires_at"))?,
                    invited_by: col(r, &c("invited_by"))?,
                    created_at: col(r, &c("created_at"))?,
                    accepted_at: col(r, &c("accepted_at"))?,
                })
            }

            fn server_secret(r: &<$db as sqlx::Database>::Row) -> StoreResult<ServerSecret> {
                Ok(ServerSecret {
                    name: col(r, "name")?,
                    value_enc: col(r, "value_enc")?,
                    kek_id: col(r, "kek_id")?,
                    created_at: col(r, "created_at")?,
                })
            }

            /// Insert one business row under `tax_code`, on a pool or in a transaction;
            /// a duplicate tax code is `Conflict("tax_code")`.
            async fn insert_business<'e, E>(exec: E, b: &Business, tax_code: &str) -> StoreResult<()>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO businesses (id, tax_code, subject, name, address, status, verified, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&b.id)
                .bind(tax_code)
                .bind(&b.subject)
                .bind(&b.name)
                .bind(&b.address)
                .bind(&b.status)
                .bind(b.verified)
                .bind(b.created_at)
                .bind(b.updated_at)
                .execute(exec)
                .await
                .map_err($crate::store::engine::businesses::business_insert_err)?;
                Ok(())
            }

            /// The insert-or-replace of one member row, on a pool or in a transaction.
            async fn upsert_business_member<'e, E>(exec: E, m: &BusinessMember) -> StoreResult<()>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO business_members (business_id, account_id, role, status, expires_at, \
                     invited_by, created_at, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (business_id, account_id) DO UPDATE SET role = excluded.role, \
                     status = excluded.status, expires_at = excluded.expires_at, \
                     invited_by = excluded.invited_by, created_at = excluded.created_at, \
                     accepted_at = excluded.accepted_at",
                )
                .bind(&m.business_id)
                .bind(&m.account_id)
                .bind(&m.role)
                .bind(&m.status)
                .bind(m.expires_at)
                .bind(&m.invited_by)
                .bind(m.created_at)
                .bind(m.accepted_at)
                .execute(exec)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl BusinessStore for $store {
            async fn create_business(&self, b: &Business, first_member: Option<&BusinessMember>) -> StoreResult<()> {
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                Self::insert_business(&mut *tx, b, &b.tax_code).await?;
                if let Some(m) = first_member {
                    Self::upsert_business_member(&mut *tx, m).await?;
                }
                tx.commit().await.map_err(db_err)
            }

            async fn get_business(&self, id: &str) -> StoreResult<Option<Business>> {
                sqlx::query(concat!(business_select!(), "WHERE b.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::business(&r))
                    .transpose()
            }

            async fn find_business_by_tax_code(&self, tax_code: &str) -> StoreResult<Option<Business>> {
                sqlx::query(concat!(business_select!(), "WHERE b.tax_code = $1"))
                    .bind(tax_code)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::business(&r))
                    .transpose()
            }

            async fn list_businesses(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Business>> {
                // Every tax code sorts after the empty string, so `None` is the first page.
                sqlx::query(concat!(business_select!(), "WHERE b.tax_code > $1 ORDER BY b.tax_code LIMIT $2"))
                    .bind(after.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::business)
                    .collect()
            }

            async fn set_business_status(&self, id: &str, status: &str, now: Timestamp) -> StoreResult<()> {
                let done = sqlx::query("UPDATE businesses SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(status)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn disable_business(&self, id: &str, now: Timestamp) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::business_mark(id)]);
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                let done = sqlx::query("UPDATE businesses SET status = 'disabled', updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                // Every holder's grants, not only the members': a removed
                // member's grants were revoked with them already.
                let revoked =
                    sqlx::query("UPDATE grants SET revoked_at = $2 WHERE business_id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                let committed = tx.commit().await;
                marks.done().await;
                committed.map_err(db_err)?;
                Ok(revoked)
            }

            async fn take_over_business(&self, id: &str, b: &Business, now: Timestamp) -> StoreResult<(u64, u64)> {
                let marks = self.live.pending(vec![$crate::store::live::business_mark(id)]);
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                // Counted before the delete cascades to them. (A member
                // written in the very instant is deleted too, uncounted.)
                let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM business_members WHERE business_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                // Delete, not re-key, the old row: a DELETE takes PostgreSQL's
                // FOR UPDATE row lock, which waits for a member insert's
                // foreign-key lock (a no-op UPDATE's lock does not), and
                // cascades to every member row; an insert that comes later
                // finds no business (`NotFound`), so none outlives the
                // take-over. Only while unverified: of two admins registering
                // the code at once only one takes it over. (SQLite's BEGIN
                // IMMEDIATE serialises writers.) The tax code stays the one
                // taken over.
                let gone = sqlx::query("DELETE FROM businesses WHERE id = $1 AND verified = $2 RETURNING tax_code")
                    .bind(id)
                    .bind(false)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let Some(gone) = gone else {
                    tx.rollback().await.map_err(db_err)?;
                    return Err(StoreError::Conflict("tax_code"));
                };
                let tax_code: String = col(&gone, "tax_code")?;
                // Whoever holds them: nothing the self-declared business was
                // trusted with outlives the take-over.
                let revoked =
                    sqlx::query("UPDATE grants SET revoked_at = $2 WHERE business_id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                Self::insert_business(&mut *tx, b, &tax_code).await?;
                let members = u64::try_from(members).unwrap_or_default();
                let committed = tx.commit().await;
                marks.done().await;
                committed.map_err(db_err)?;
                Ok((members, revoked))
            }

            async fn put_business_member(&self, m: &BusinessMember) -> StoreResult<()> {
                Self::upsert_business_member(&self.writer, m).await
            }

            async fn invite_business_member(&self, m: &BusinessMember) -> StoreResult<bool> {
                // The `WHERE` of the upsert makes "not an active member yet"
                // and the write one statement: a row that became active since
                // the caller looked is left alone (0 rows).
                let done = sqlx::query(
                    "INSERT INTO business_members (business_id, account_id, role, status, expires_at, \
                     invited_by, created_at, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (business_id, account_id) DO UPDATE SET role = excluded.role, \
                     status = excluded.status, expires_at = excluded.expires_at, \
                     invited_by = excluded.invited_by, created_at = excluded.created_at, \
                     accepted_at = excluded.accepted_at WHERE business_members.status = $9",
                )
                .bind(&m.business_id)
                .bind(&m.account_id)
                .bind(&m.role)
                .bind(&m.status)
                .bind(m.expires_at)
                .bind(&m.invited_by)
                .bind(m.created_at)
                .bind(m.accepted_at)
                .bind(MEMBER_INVITED)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn accept_business_invitation(
                &self,
                business_id: &str,
                account_id: &str,
                invited_created_at: Timestamp,
                invited_role: &str,
                now: Timestamp,
            ) -> StoreResult<bool> {
                // Only the very invitation the citizen saw: a withdrawn one is
                // gone, a re-sent one has another `created_at` or, within the
                // same second, maybe another role, so neither is resurrected
                // nor accepted with a role the citizen never saw.
                let done = sqlx::query(
                    "UPDATE business_members SET status = $5, accepted_at = $4 WHERE business_id = $1 \
                     AND account_id = $2 AND status = $6 AND created_at = $3 AND role = $7",
                )
                .bind(business_id)
                .bind(account_id)
                .bind(invited_created_at)
                .bind(now)
                .bind(MEMBER_ACTIVE)
                .bind(MEMBER_INVITED)
                .bind(invited_role)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_business_invitation(&self, business_id: &str, account_id: &str) -> StoreResult<bool> {
                // The status in the same statement: an invitation accepted in
                // another tab meanwhile is an active member, not declined away.
                let done = sqlx::query(
                    "DELETE FROM business_members WHERE business_id = $1 AND account_id = $2 AND status = $3",
                )
                .bind(business_id)
                .bind(account_id)
                .bind(MEMBER_INVITED)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn get_business_member(
                &self,
                business_id: &str,
                account_id: &str,
            ) -> StoreResult<Option<BusinessMember>> {
                sqlx::query(concat!(
                    "SELECT ",
                    member_columns!(),
                    "FROM business_members m WHERE m.business_id = $1 AND m.account_id = $2"
                ))
                .bind(business_id)
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .map(|r| Self::business_member(&r, ""))
                .transpose()
            }

            async fn list_business_members(&self, business_id: &str) -> StoreResult<Vec<MemberView>> {
                sqlx::query(concat!(
                    "SELECT ",
                    member_columns!(),
                    ", p.full_name, p.national_id FROM business_members m \
                     JOIN citizen_profiles p ON p.account_id = m.account_id WHERE m.business_id = $1 \
                     ORDER BY CASE WHEN m.role = $2 THEN 0 ELSE 1 END, p.full_name, m.account_id"
                ))
                .bind(business_id)
                .bind(ROLE_LEGAL_REPRESENTATIVE)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| {
                    Ok(MemberView {
                        member: Self::business_member(r, "")?,
                        full_name: col(r, "full_name")?,
                        national_id: col(r, "national_id")?,
                    })
                })
                .collect()
            }

            async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<Membership>> {
                sqlx::query(concat!(
                    "SELECT ",
                    member_columns_prefixed!(),
                    ", b.id, b.tax_code, b.subject, b.name, b.address, b.status, b.verified, \
                     b.created_at, b.updated_at FROM business_members m \
                     JOIN businesses b ON b.id = m.business_id WHERE m.account_id = $1 \
                     ORDER BY b.name, b.tax_code"
                ))
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| Ok(Membership { business: Self::business(r)?, member: Self::business_member(r, "m_")? }))
                .collect()
            }

            async fn remove_business_member(
                &self,
                business_id: &str,
                account_id: &str,
                now: Timestamp,
                keep_representative_at: Option<Timestamp>,
            ) -> StoreResult<u64> {
                let marks = self.live.pending(vec![$crate::store::live::business_mark(business_id)]);
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                if keep_representative_at.is_some() {
                    // A no-op write takes the business row's lock on
                    // PostgreSQL, so removals guarded this way run one after
                    // the other and each counts what the previous one left.
                    // (SQLite's BEGIN IMMEDIATE already serialises writers.)
                    sqlx::query("UPDATE businesses SET updated_at = updated_at WHERE id = $1")
                        .bind(business_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                let deleted = sqlx::query(
                    "DELETE FROM business_members WHERE business_id = $1 AND account_id = $2 \
                     RETURNING role, status, expires_at",
                )
                .bind(business_id)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or(StoreError::NotFound)?;
                if let Some(at) = keep_representative_at {
                    // The same test as `BusinessMember::can_act`, on the deleted row.
                    let role: String = col(&deleted, "role")?;
                    let status: String = col(&deleted, "status")?;
                    let expires_at: Option<Timestamp> = col(&deleted, "expires_at")?;
                    let could_act = status == MEMBER_ACTIVE && expires_at.is_none_or(|e| at < e);
                    if role == ROLE_LEGAL_REPRESENTATIVE && could_act {
                        let left: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM business_members WHERE business_id = $1 AND role = $2 \
                             AND status = $3 AND (expires_at IS NULL OR expires_at > $4)",
                        )
                        .bind(business_id)
                        .bind(ROLE_LEGAL_REPRESENTATIVE)
                        .bind(MEMBER_ACTIVE)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if left == 0 {
                            tx.rollback().await.map_err(db_err)?;
                            return Err(StoreError::Conflict("last_representative"));
                        }
                    }
                }
                // Only the grants acting for this business: the citizen's own
                // grants and those for other businesses stay live.
                let revoked = sqlx::query(
                    "UPDATE grants SET revoked_at = $3 WHERE account_id = $1 AND business_id = $2 \
                     AND revoked_at IS NULL",
                )
                .bind(account_id)
                .bind(business_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
                let committed = tx.commit().await;
                marks.done().await;
                committed.map_err(db_err)?;
                Ok(revoked)
            }

            async fn session_business(&self, sid: &str, client_id: &str) -> StoreResult<Option<Option<String>>> {
                // Only grants with the `business` scope record a choice: an
                // ordinary login also has no business_id, but the citizen
                // never chose "myself" there. `scopes` is JSON text on both
                // engines, so the quoted name matches exactly one scope. The
                // latest such grant decides; `id` breaks same-second ties.
                let row = sqlx::query(
                    "SELECT business_id FROM grants WHERE sid = $1 AND client_id = $2 \
                     AND scopes LIKE '%\"business\"%' ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(sid)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                row.map(|r| col(&r, "business_id")).transpose()
            }
        }

        #[async_trait::async_trait]
        impl ServerSecretStore for $store {
            async fn put_server_secret_if_absent(&self, s: &ServerSecret) -> StoreResult<ServerSecret> {
                // First writer wins: a second node's insert is a no-op and it
                // reads back the first node's value, so all compute the same.
                sqlx::query(
                    "INSERT INTO server_secrets (name, value_enc, kek_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(&s.name)
                .bind(&s.value_enc)
                .bind(&s.kek_id)
                .bind(s.created_at)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                let row = sqlx::query("SELECT name, value_enc, kek_id, created_at FROM server_secrets WHERE name = $1")
                    .bind(&s.name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                Self::server_secret(&row)
            }

            async fn list_server_secrets(&self) -> StoreResult<Vec<ServerSecret>> {
                sqlx::query("SELECT name, value_enc, kek_id, created_at FROM server_secrets ORDER BY name")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::server_secret)
                    .collect()
            }
        }
    };
}
pub(crate) use impl_businesses;
