//! Subject types and sectors (OIDC Core §8, §8.1; OIDC Registration §2, §5).
//!
//! A pairwise client's `sub` values are computed over its sector. With a
//! `sector_identifier_uri`, the sector is that document's host: the document
//! must list every redirect URI of the client, and being served from the
//! host is the proof of control, so clients of any organisation proven that
//! way share the sector. Without one, the sector comes from the one host all
//! its redirect URIs share, which proves nothing (codes never need to reach
//! that host for a client to hold its `sub` values: a token exchange gives
//! them), so it belongs to the registering organisation:
//! `<organisation_id>:<host>`. Unproven sectors of two organisations, or an
//! unproven and a proven one, never share a `sub`.

use serde_json::Value;
use url::Url;

use super::ClientError;
use super::validate::check_uri;
use crate::store::Client;

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
    /// The sector (pairwise clients only): the document's host, or
    /// `<organisation_id>:<host>` without a document.
    pub sector_identifier: Option<String>,
    /// Where the sector's redirect URIs are listed (pairwise clients only).
    pub sector_identifier_uri: Option<String>,
}

/// The subject type and sector of a client of `organisation_id` with
/// `redirect_uris` (already checked). Pure: the sector document itself is
/// read by [`verify_document`].
pub(super) fn settings(
    subject_type: Option<String>,
    sector_identifier_uri: Option<String>,
    redirect_uris: &[String],
    organisation_id: &str,
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
                // OIDC Core §8.1 (unlinkability): an unproven host sector is the
                // organisation's own, so no one can join another's by naming a
                // redirect URI on its host.
                None => format!("{organisation_id}:{}", single_host(redirect_uris)?),
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
