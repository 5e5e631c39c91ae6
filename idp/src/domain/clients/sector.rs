//! Subject types and sectors (OIDC Core §8, §8.1; OIDC Registration §2, §5).
//!
//! A pairwise client's `sub` values are computed over its sector: the host
//! of its `sector_identifier_uri`, or — without one — the one host all its
//! redirect URIs share. Clients of one sector see the same `sub` for a
//! citizen, so a sector document is how several services of one agency on
//! different hosts share subjects; it must list every redirect URI of the
//! client, which stops a client from claiming a sector it does not control.
//! A sector taken from a redirect host is proven by nothing, so it is only
//! accepted while no other organisation's client uses that sector
//! ([`check_sector_owner`]).

use serde_json::Value;
use url::Url;

use super::ClientError;
use super::validate::check_uri;
use crate::store::{Client, Store};

/// `public`: one `sub` per citizen for every client.
pub const PUBLIC: &str = "public";
/// `pairwise`: a `sub` per citizen and sector.
pub const PAIRWISE: &str = "pairwise";

/// Fetches a registered document (a sector identifier document) from the
/// network, with the outbound guards of the deployment.
#[async_trait::async_trait]
pub trait DocumentFetcher: Send + Sync {
    /// The document's text; the error says why it could not be read.
    async fn fetch_document(&self, uri: &str) -> Result<String, String>;

    /// Whether outbound calls may reach loopback and private addresses
    /// (`IDP_OUTBOUND_ALLOW_PRIVATE`: development and tests only). Only then
    /// is a plain-`http` loopback sector document accepted.
    fn allows_private(&self) -> bool {
        false
    }
}

/// A registration's subject settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubjectSettings {
    /// `public` or `pairwise`.
    pub subject_type: String,
    /// The sector host (pairwise clients only).
    pub sector_identifier: Option<String>,
    /// Where the sector's redirect URIs are listed (pairwise clients only).
    pub sector_identifier_uri: Option<String>,
}

/// The subject type and sector of a client with `redirect_uris` (already
/// checked). Pure: the sector document itself is read by [`verify_document`].
pub(super) fn settings(
    subject_type: Option<String>,
    sector_identifier_uri: Option<String>,
    redirect_uris: &[String],
) -> Result<SubjectSettings, ClientError> {
    let subject_type = subject_type.unwrap_or_else(|| PUBLIC.to_owned());
    // An empty string (from an update) removes the URI.
    let sector_identifier_uri = sector_identifier_uri.filter(|u| !u.is_empty());
    match subject_type.as_str() {
        PUBLIC if sector_identifier_uri.is_some() => Err(ClientError::SectorUriNeedsPairwise),
        PUBLIC => Ok(SubjectSettings { subject_type, sector_identifier: None, sector_identifier_uri: None }),
        PAIRWISE => {
            let sector = match &sector_identifier_uri {
                Some(uri) => {
                    // OIDC Registration §2, §5: the sector_identifier_uri MUST use
                    // https. Loopback http passes here, as for redirect URIs, but
                    // `verify_document` refuses it unless the deployment is a
                    // development one (outbound calls may reach private addresses).
                    check_uri(uri).map_err(|reason| ClientError::InvalidSectorUri { uri: uri.clone(), reason })?;
                    host(uri)
                        .ok_or_else(|| ClientError::InvalidSectorUri { uri: uri.clone(), reason: "has no host" })?
                }
                None => single_host(redirect_uris)?,
            };
            Ok(SubjectSettings { subject_type, sector_identifier: Some(sector), sector_identifier_uri })
        }
        _ => Err(ClientError::InvalidSubjectType(subject_type)),
    }
}

/// OIDC Core §8.1: without a sector document, the sector is the host of the
/// redirect URIs, which must then all share it.
fn single_host(redirect_uris: &[String]) -> Result<String, ClientError> {
    let mut hosts = redirect_uris.iter().filter_map(|u| host(u));
    let first = hosts.next().ok_or(ClientError::NoSector)?;
    if hosts.any(|h| h != first) {
        return Err(ClientError::SeveralSectorHosts);
    }
    Ok(first)
}

/// The host of a URI, as the URL parser normalises it (lower case).
fn host(uri: &str) -> Option<String> {
    Url::parse(uri).ok()?.host_str().map(str::to_owned)
}

/// OIDC Core §8.1, Registration §5: fetch a pairwise client's sector
/// document and check that it lists every redirect URI of the client.
/// Nothing to do without a `sector_identifier_uri`.
pub(super) async fn verify_document(fetcher: &dyn DocumentFetcher, client: &Client) -> Result<(), ClientError> {
    let Some(uri) = &client.sector_identifier_uri else {
        return Ok(());
    };
    // OIDC Registration §5: the sector_identifier_uri MUST use https. Plain
    // http (loopback only, `settings` checked) is for development set-ups.
    if !uri.starts_with("https://") && !fetcher.allows_private() {
        return Err(ClientError::InvalidSectorUri { uri: uri.clone(), reason: "must use https" });
    }
    let text =
        fetcher.fetch_document(uri).await.map_err(|reason| ClientError::SectorFetch { uri: uri.clone(), reason })?;
    check_document(uri, &text, &client.redirect_uris)
}

/// OIDC Core §8.1 (unlinkability): a sector taken from the redirect host,
/// without a document, proves nothing — codes never need to reach that host
/// for the client to hold the sector's `sub` values (a token exchange gives
/// them). So an organisation may not take, that way, a sector another
/// organisation's clients already use; with a `sector_identifier_uri` on the
/// sector host, the fetched document (checked by [`verify_document`]) is the
/// proof of control. Registration is rare: listing every client is fine.
pub(super) async fn check_sector_owner(store: &dyn Store, client: &Client) -> Result<(), ClientError> {
    let Some(sector) = &client.sector_identifier else {
        return Ok(());
    };
    if client.sector_identifier_uri.is_some() {
        return Ok(());
    }
    let others = store.list_clients(None).await?;
    let taken = others.iter().any(|c| {
        c.organisation_id != client.organisation_id
            && c.client_id != client.client_id
            && c.sector_identifier.as_ref() == Some(sector)
    });
    if taken {
        return Err(ClientError::SectorTaken(sector.clone()));
    }
    Ok(())
}

/// The document must be a JSON array of strings containing every redirect
/// URI, compared exactly (as redirect URIs are matched).
pub(super) fn check_document(uri: &str, text: &str, redirect_uris: &[String]) -> Result<(), ClientError> {
    let invalid = || ClientError::InvalidSectorDocument(uri.to_owned());
    let value: Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let listed = value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|v| v.as_str().ok_or_else(invalid))
        .collect::<Result<Vec<&str>, _>>()?;
    match redirect_uris.iter().find(|r| !listed.contains(&r.as_str())) {
        Some(missing) => {
            Err(ClientError::SectorMissingRedirectUri { uri: uri.to_owned(), redirect_uri: missing.clone() })
        }
        None => Ok(()),
    }
}
