//! Organisations, accounts, clients and consents (one half of `impl_store!`).

/// `OrganisationStore`, `AccountStore`, `ClientStore`, `ConsentStore`.
macro_rules! impl_accounts {
    ($store:ident, $begin:literal) => {
        #[async_trait::async_trait]
        impl OrganisationStore for $store {
            async fn create_organisation(&self, org: &Organisation) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO organisations (id, code, name, kind, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&org.id)
                .bind(&org.code)
                .bind(&org.name)
                .bind(&org.kind)
                .bind(org.created_at)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn find_organisation(&self, id_or_code: &str) -> StoreResult<Option<Organisation>> {
                sqlx::query(
                    "SELECT id, code, name, kind, created_at FROM organisations \
                     WHERE id = $1 OR code = $1 ORDER BY id = $1 DESC LIMIT 1",
                )
                .bind(id_or_code)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .map(|r| Self::organisation(&r))
                .transpose()
            }

            async fn list_organisations(&self) -> StoreResult<Vec<Organisation>> {
                sqlx::query("SELECT id, code, name, kind, created_at FROM organisations ORDER BY code")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::organisation)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl AccountStore for $store {
            async fn create_citizen(&self, citizen: &Citizen, password_hash: Option<&str>) -> StoreResult<()> {
                let (a, p) = (&citizen.account, &citizen.profile);
                let mut tx = self.writer.begin_with($begin).await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO accounts (id, subject, kind, status, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&a.id)
                .bind(&a.subject)
                .bind(&a.kind)
                .bind(&a.status)
                .bind(a.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                // The profile hangs off the account just inserted, whatever
                // `profile.account_id` says.
                sqlx::query(
                    "INSERT INTO citizen_profiles (account_id, national_id, full_name, email, \
                     email_verified, phone, phone_verified, birthdate, gender, address, \
                     updated_at, national_id_verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&a.id)
                .bind(&p.national_id)
                .bind(&p.full_name)
                .bind(&p.email)
                .bind(p.email_verified)
                .bind(&p.phone)
                .bind(p.phone_verified)
                .bind(&p.birthdate)
                .bind(&p.gender)
                .bind(&p.address)
                .bind(p.updated_at)
                .bind(p.national_id_verified)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if let Some(hash) = password_hash {
                    sqlx::query(
                        "INSERT INTO password_credentials (account_id, hash, created_at, \
                         updated_at) VALUES ($1, $2, $3, $3)",
                    )
                    .bind(&a.id)
                    .bind(hash)
                    .bind(a.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }

            async fn get_citizen(&self, account_id: &str) -> StoreResult<Option<Citizen>> {
                if let Some(c) = self.live.citizen(account_id) {
                    return Ok(Some(c));
                }
                let ticket = self.live.ticket();
                let citizen = sqlx::query(concat!(citizen_select!(), "WHERE a.id = $1"))
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::citizen(&r))
                    .transpose()?;
                if let Some(c) = &citizen {
                    self.live.put_citizen(ticket, c);
                }
                Ok(citizen)
            }

            async fn find_citizen_by_national_id(&self, national_id: &str) -> StoreResult<Option<Citizen>> {
                sqlx::query(concat!(citizen_select!(), "WHERE p.national_id = $1"))
                    .bind(national_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::citizen(&r))
                    .transpose()
            }

            async fn find_citizen_by_email(&self, email: &str) -> StoreResult<Option<Citizen>> {
                sqlx::query(concat!(citizen_select!(), "WHERE p.email = $1"))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::citizen(&r))
                    .transpose()
            }

            async fn get_password_hash(&self, account_id: &str) -> StoreResult<Option<String>> {
                sqlx::query("SELECT hash FROM password_credentials WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| col(&r, "hash"))
                    .transpose()
            }

            async fn set_password_hash(&self, account_id: &str, hash: &str, now: Timestamp) -> StoreResult<()> {
                // An unknown account fails the foreign key → NotFound.
                sqlx::query(
                    "INSERT INTO password_credentials (account_id, hash, created_at, \
                     updated_at) VALUES ($1, $2, $3, $3) ON CONFLICT (account_id) \
                     DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
                )
                .bind(account_id)
                .bind(hash)
                .bind(now)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn rehash_password(&self, account_id: &str, old: &str, new: &str) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE password_credentials SET hash = $1 WHERE account_id = $2 AND hash = $3")
                    .bind(new)
                    .bind(account_id)
                    .bind(old)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_account_status(&self, account_id: &str, status: &str) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::account_mark(account_id)]);
                let done = sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
                    .bind(status)
                    .bind(account_id)
                    .execute(&self.writer)
                    .await;
                marks.done().await;
                let done = done.map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn list_citizens(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Citizen>> {
                // Every id sorts after the empty string, so `None` is the first page.
                sqlx::query(concat!(citizen_select!(), "WHERE a.id > $1 ORDER BY a.id LIMIT $2"))
                    .bind(after.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(Self::citizen)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl ClientStore for $store {
            async fn create_client(&self, c: &Client) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO clients (client_id, organisation_id, name, client_type, \
                     auth_method, secret_hash, redirect_uris, post_logout_redirect_uris, \
                     grant_types, scopes, signing_alg, jwks, jwks_uri, require_pkce, status, \
                     created_at, updated_at, previous_secret_hash, previous_secret_expires_at, \
                     minimum_acr, backchannel_logout_uri, frontchannel_logout_uri, subject_type, \
                     sector_identifier, sector_identifier_uri, business_self_allowed, access_token_alg, \
                     require_par, dpop_bound) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                     $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)",
                )
                .bind(&c.client_id)
                .bind(&c.organisation_id)
                .bind(&c.name)
                .bind(&c.client_type)
                .bind(&c.auth_method)
                .bind(&c.secret_hash)
                .bind(to_json(&c.redirect_uris)?)
                .bind(to_json(&c.post_logout_redirect_uris)?)
                .bind(to_json(&c.grant_types)?)
                .bind(to_json(&c.scopes)?)
                .bind(&c.signing_alg)
                .bind(&c.jwks)
                .bind(&c.jwks_uri)
                .bind(c.require_pkce)
                .bind(&c.status)
                .bind(c.created_at)
                .bind(c.updated_at)
                .bind(&c.previous_secret_hash)
                .bind(c.previous_secret_expires_at)
                .bind(&c.minimum_acr)
                .bind(&c.backchannel_logout_uri)
                .bind(&c.frontchannel_logout_uri)
                .bind(&c.subject_type)
                .bind(&c.sector_identifier)
                .bind(&c.sector_identifier_uri)
                .bind(c.business_self_allowed)
                .bind(&c.access_token_alg)
                .bind(c.require_par)
                .bind(c.dpop_bound)
                .execute(&self.writer)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
                if let Some(c) = self.live.client(client_id) {
                    return Ok(Some(c));
                }
                let ticket = self.live.ticket();
                let client = sqlx::query(concat!(client_select!(), "WHERE client_id = $1"))
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Self::client(&r))
                    .transpose()?;
                if let Some(c) = &client {
                    self.live.put_client(ticket, c);
                }
                Ok(client)
            }

            async fn list_clients(&self, organisation_id: Option<&str>) -> StoreResult<Vec<Client>> {
                let rows = match organisation_id {
                    Some(org) => {
                        sqlx::query(concat!(client_select!(), "WHERE organisation_id = $1 ORDER BY client_id"))
                            .bind(org)
                            .fetch_all(&self.pool)
                            .await
                    }
                    None => sqlx::query(concat!(client_select!(), "ORDER BY client_id")).fetch_all(&self.pool).await,
                };
                rows.map_err(db_err)?.iter().map(Self::client).collect()
            }

            async fn update_client(&self, c: &Client) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::client_mark(&c.client_id)]);
                let done = sqlx::query(
                    "UPDATE clients SET name = $2, client_type = $3, auth_method = $4, \
                     secret_hash = $5, redirect_uris = $6, post_logout_redirect_uris = $7, \
                     grant_types = $8, scopes = $9, signing_alg = $10, jwks = $11, \
                     jwks_uri = $12, require_pkce = $13, status = $14, updated_at = $15, \
                     previous_secret_hash = $16, previous_secret_expires_at = $17, \
                     minimum_acr = $18, backchannel_logout_uri = $19, frontchannel_logout_uri = $20, \
                     subject_type = $21, sector_identifier = $22, sector_identifier_uri = $23, \
                     business_self_allowed = $24, access_token_alg = $25, require_par = $26, dpop_bound = $27 WHERE client_id = $1",
                )
                .bind(&c.client_id)
                .bind(&c.name)
                .bind(&c.client_type)
                .bind(&c.auth_method)
                .bind(&c.secret_hash)
                .bind(to_json(&c.redirect_uris)?)
                .bind(to_json(&c.post_logout_redirect_uris)?)
                .bind(to_json(&c.grant_types)?)
                .bind(to_json(&c.scopes)?)
                .bind(&c.signing_alg)
                .bind(&c.jwks)
                .bind(&c.jwks_uri)
                .bind(c.require_pkce)
                .bind(&c.status)
                .bind(c.updated_at)
                .bind(&c.previous_secret_hash)
                .bind(c.previous_secret_expires_at)
                .bind(&c.minimum_acr)
                .bind(&c.backchannel_logout_uri)
                .bind(&c.frontchannel_logout_uri)
                .bind(&c.subject_type)
                .bind(&c.sector_identifier)
                .bind(&c.sector_identifier_uri)
                .bind(c.business_self_allowed)
                .bind(&c.access_token_alg)
                .bind(c.require_par)
                .bind(c.dpop_bound)
                .execute(&self.writer)
                .await;
                marks.done().await;
                let done = done.map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl ConsentStore for $store {
            async fn get_consent(&self, account_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
                if let Some(c) = self.live.consent(account_id, client_id) {
                    return Ok(Some(c));
                }
                let ticket = self.live.ticket();
                let Some(r) = sqlx::query(
                    "SELECT account_id, client_id, scopes, granted_at FROM consents \
                     WHERE account_id = $1 AND client_id = $2",
                )
                .bind(account_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                let consent = Consent {
                    account_id: col(&r, "account_id")?,
                    client_id: col(&r, "client_id")?,
                    scopes: from_json(&col::<_, String>(&r, "scopes")?)?,
                    granted_at: col(&r, "granted_at")?,
                };
                self.live.put_consent(ticket, &consent);
                Ok(Some(consent))
            }

            async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
                let marks = self.live.pending(vec![$crate::store::live::consent_mark(
                    &consent.account_id,
                    &consent.client_id,
                )]);
                let done = sqlx::query(
                    "INSERT INTO consents (account_id, client_id, scopes, granted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, client_id) \
                     DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
                )
                .bind(&consent.account_id)
                .bind(&consent.client_id)
                .bind(to_json(&consent.scopes)?)
                .bind(consent.granted_at)
                .execute(&self.writer)
                .await;
                marks.done().await;
                done.map_err(db_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_accounts;
