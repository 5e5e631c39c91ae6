//! Hand-written row mappers (`sqlx::Row::try_get`), generated per engine row type.

/// Row mappers for one engine's row type.
macro_rules! impl_rows {
    ($store:ident, $row:ty) => {
        impl $store {
            fn organisation(r: &$row) -> StoreResult<Organisation> {
                Ok(Organisation {
                    id: col(r, "id")?,
                    code: col(r, "code")?,
                    name: col(r, "name")?,
                    kind: col(r, "kind")?,
                    created_at: col(r, "created_at")?,
                })
            }

            fn citizen(r: &$row) -> StoreResult<Citizen> {
                let id: String = col(r, "id")?;
                Ok(Citizen {
                    profile: CitizenProfile {
                        account_id: id.clone(),
                        national_id: col(r, "national_id")?,
                        national_id_verified: col(r, "national_id_verified")?,
                        full_name: col(r, "full_name")?,
                        email: col(r, "email")?,
                        email_verified: col(r, "email_verified")?,
                        phone: col(r, "phone")?,
                        phone_verified: col(r, "phone_verified")?,
                        birthdate: col(r, "birthdate")?,
                        gender: col(r, "gender")?,
                        address: col(r, "address")?,
                        updated_at: col(r, "updated_at")?,
                    },
                    account: Account {
                        id,
                        subject: col(r, "subject")?,
                        kind: col(r, "kind")?,
                        status: col(r, "status")?,
                        created_at: col(r, "created_at")?,
                    },
                })
            }

            fn client(r: &$row) -> StoreResult<Client> {
                Ok(Client {
                    client_id: col(r, "client_id")?,
                    organisation_id: col(r, "organisation_id")?,
                    name: col(r, "name")?,
                    client_type: col(r, "client_type")?,
                    auth_method: col(r, "auth_method")?,
                    secret_hash: col(r, "secret_hash")?,
                    redirect_uris: from_json(&col::<_, String>(r, "redirect_uris")?)?,
                    post_logout_redirect_uris: from_json(&col::<_, String>(r, "post_logout_redirect_uris")?)?,
                    grant_types: from_json(&col::<_, String>(r, "grant_types")?)?,
                    scopes: from_json(&col::<_, String>(r, "scopes")?)?,
                    signing_alg: col(r, "signing_alg")?,
                    jwks: col(r, "jwks")?,
                    jwks_uri: col(r, "jwks_uri")?,
                    require_pkce: col(r, "require_pkce")?,
                    status: col(r, "status")?,
                    created_at: col(r, "created_at")?,
                    updated_at: col(r, "updated_at")?,
                    previous_secret_hash: col(r, "previous_secret_hash")?,
                    previous_secret_expires_at: col(r, "previous_secret_expires_at")?,
                    minimum_acr: col(r, "minimum_acr")?,
                    backchannel_logout_uri: col(r, "backchannel_logout_uri")?,
                    frontchannel_logout_uri: col(r, "frontchannel_logout_uri")?,
                    subject_type: col(r, "subject_type")?,
                    sector_identifier: col(r, "sector_identifier")?,
                    sector_identifier_uri: col(r, "sector_identifier_uri")?,
                    business_self_allowed: col(r, "business_self_allowed")?,
                    access_token_alg: col(r, "access_token_alg")?,
                    require_par: col(r, "require_par")?,
                    dpop_bound: col(r, "dpop_bound")?,
                })
            }

            fn grant(r: &$row) -> StoreResult<Grant> {
                Ok(Grant {
                    id: col(r, "id")?,
                    account_id: col(r, "account_id")?,
                    client_id: col(r, "client_id")?,
                    scopes: from_json(&col::<_, String>(r, "scopes")?)?,
                    claims: col(r, "claims")?,
                    sid: col(r, "sid")?,
                    auth_time: col(r, "auth_time")?,
                    acr: col(r, "acr")?,
                    amr: from_json(&col::<_, String>(r, "amr")?)?,
                    created_at: col(r, "created_at")?,
                    expires_at: col(r, "expires_at")?,
                    revoked_at: col(r, "revoked_at")?,
                    business_id: col(r, "business_id")?,
                    dpop_jkt: col(r, "dpop_jkt")?,
                })
            }

            fn sso_session(r: &$row) -> StoreResult<SsoSession> {
                Ok(SsoSession {
                    sid: col(r, "sid")?,
                    account_id: col(r, "account_id")?,
                    auth_time: col(r, "auth_time")?,
                    acr: col(r, "acr")?,
                    amr: from_json(&col::<_, String>(r, "amr")?)?,
                    created_at: col(r, "created_at")?,
                    expires_at: col(r, "expires_at")?,
                    revoked_at: col(r, "revoked_at")?,
                    user_agent: col(r, "user_agent")?,
                    place: col(r, "place")?,
                    last_seen_at: col(r, "last_seen_at")?,
                })
            }

            fn signing_key(r: &$row) -> StoreResult<SigningKey> {
                Ok(SigningKey {
                    kid: col(r, "kid")?,
                    alg: col(r, "alg")?,
                    state: col(r, "state")?,
                    private_enc: col(r, "private_enc")?,
                    kek_id: col(r, "kek_id")?,
                    public_jwk: col(r, "public_jwk")?,
                    created_at: col(r, "created_at")?,
                    activated_at: col(r, "activated_at")?,
                    retired_at: col(r, "retired_at")?,
                })
            }

            fn admin_token(r: &$row) -> StoreResult<AdminToken> {
                Ok(AdminToken {
                    id: col(r, "id")?,
                    hash: col(r, "hash")?,
                    role: col(r, "role")?,
                    organisation_id: col(r, "organisation_id")?,
                    label: col(r, "label")?,
                    created_at: col(r, "created_at")?,
                    expires_at: col(r, "expires_at")?,
                    revoked_at: col(r, "revoked_at")?,
                })
            }
        }
    };
}
pub(crate) use impl_rows;
