//! A relying party as a ministry's service would write it: discovery, authorization request
//! with PKCE, code exchange and ID token validation through the `openidconnect` crate.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::Value;
use url::Url;

use crate::browser::{Browser, Credentials};
use crate::oauth::{self, ClientAuth, Reply};
use crate::server::{Idp, TestClient};

/// The `openidconnect` client type after discovery (auth URL set; token and userinfo URLs from
/// metadata).
pub type RpClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// One relying party: a registered client plus the `openidconnect` client built from discovery.
pub struct Rp {
    /// The `openidconnect` client.
    pub client: RpClient,
    /// The HTTP client it uses (no redirects, no cookies).
    pub http: reqwest::blocking::Client,
    /// The registration this RP acts for.
    pub reg: TestClient,
    /// The issuer, as the RP expects it in `iss`.
    pub issuer: String,
    /// The discovery document as raw JSON (for endpoints `openidconnect` does not model).
    pub discovery: Value,
}

/// An authorization request the RP sent and the secrets it keeps until the redirect comes back.
#[derive(Debug)]
pub struct Pending {
    /// The authorization URL the browser is sent to.
    pub url: Url,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: Nonce,
    /// The PKCE code verifier.
    pub verifier: String,
}

/// A successful code exchange, the ID token already validated.
#[derive(Debug)]
pub struct Tokens {
    /// The token response as `openidconnect` parsed it.
    pub response: CoreTokenResponse,
    /// The validated ID token claims.
    pub claims: CoreIdTokenClaims,
    /// The ID token's payload as raw JSON (for claims outside the core set, like `sid`).
    pub id_payload: Value,
    /// The access token.
    pub access_token: String,
    /// The refresh token, when one was issued.
    pub refresh_token: Option<String>,
}

impl Tokens {
    /// `auth_time` as Unix seconds; fails the test when absent.
    pub fn auth_time(&self) -> i64 {
        self.claims.auth_time().expect("ID token has auth_time").timestamp()
    }
}

impl Rp {
    /// Discovers the issuer and builds the client for `reg`.
    pub fn new(idp: &Idp, reg: &TestClient) -> Self {
        let http = idp.http();
        let issuer = IssuerUrl::new(idp.issuer()).expect("issuer URL");
        let metadata = CoreProviderMetadata::discover(&issuer, &http)
            .unwrap_or_else(|e| panic!("openidconnect discovery failed: {e:?}"));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(reg.client_id.clone()),
            reg.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(reg.redirect_uri.clone()).expect("redirect URI"));
        let discovery =
            oauth::reply(http.get(idp.url("/.well-known/openid-configuration")).send().expect("fetch discovery"))
                .ok_json()
                .clone();
        Rp { client, http, reg: reg.clone(), issuer: idp.issuer(), discovery }
    }

    /// Builds an authorization request for `openid` plus `scopes`, with PKCE S256, a random
    /// state and nonce, and `extra` parameters (`prompt`, `max_age`, …).
    pub fn authorize(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Pending {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in scopes.iter().filter(|s| **s != "openid") {
            req = req.add_scope(Scope::new((*scope).to_owned()));
        }
        for (name, value) in extra {
            req = req.add_extra_param((*name).to_owned(), (*value).to_owned());
        }
        let (url, state, nonce) = req.url();
        Pending { url, state: state.secret().clone(), nonce, verifier: verifier.secret().clone() }
    }

    /// Checks the redirect back to the RP (no error, state and `iss` echoed) and returns the code.
    pub fn code_from(&self, pending: &Pending, redirect: &Url) -> String {
        let expected = Url::parse(&self.reg.redirect_uri).expect("redirect URI");
        assert_eq!(
            (redirect.origin(), redirect.path()),
            (expected.origin(), expected.path()),
            "redirected somewhere other than the redirect URI: {redirect}"
        );
        if let Some(error) = oauth::query_param(redirect, "error") {
            panic!("authorization failed: {error} ({:?})", oauth::query_param(redirect, "error_description"));
        }
        assert_eq!(
            oauth::query_param(redirect, "state").as_deref(),
            Some(pending.state.as_str()),
            "state not echoed in {redirect}"
        );
        // RFC 9207: the authorization response names its issuer.
        assert_eq!(
            oauth::query_param(redirect, "iss").as_deref(),
            Some(self.issuer.as_str()),
            "iss missing or wrong in {redirect}"
        );
        oauth::query_param(redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"))
    }

    /// Redeems `code` through `openidconnect` and validates the ID token: signature against the
    /// JWKS, issuer, audience, expiry, nonce, and `at_hash` against the access token.
    pub fn exchange(&self, pending: &Pending, code: &str) -> Tokens {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .expect("token endpoint in discovery")
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request(&self.http)
            .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
        let id_token = response.id_token().expect("token response has an id_token");
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &pending.nonce)
            .unwrap_or_else(|e| panic!("ID token rejected by openidconnect: {e:?}"))
            .clone();
        // OIDC Core §3.1.3.8: at_hash is the left half of the hash of the access token.
        let at_hash = claims.access_token_hash().expect("ID token from the token endpoint has at_hash");
        let computed = AccessTokenHash::from_token(
            response.access_token(),
            id_token.signing_alg().expect("signing alg"),
            id_token.signing_key(&verifier).expect("signing key"),
        )
        .expect("compute at_hash");
        assert_eq!(*at_hash, computed, "at_hash does not match the access token");
        let id_payload = oauth::jwt_payload(&id_token.to_string());
        Tokens {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            response,
            claims,
            id_payload,
        }
    }

    /// Runs the whole flow in `browser` for `openid` plus `scopes` and returns validated tokens.
    pub fn sign_in(
        &self,
        browser: &Browser,
        scopes: &[&str],
        extra: &[(&str, &str)],
        creds: Credentials<'_>,
    ) -> Tokens {
        let pending = self.authorize(scopes, extra);
        let flow = browser.run_flow(&pending.url, creds);
        let code = self.code_from(&pending, &flow.redirect);
        self.exchange(&pending, &code)
    }

    /// This client's `client_secret_basic` credentials.
    pub fn auth(&self) -> ClientAuth<'_> {
        ClientAuth::Basic(&self.reg.client_id, self.reg.secret.as_deref().expect("client has a secret"))
    }

    /// An endpoint URL from the discovery document.
    pub fn endpoint(&self, name: &str) -> Url {
        let url = self.discovery[name].as_str().unwrap_or_else(|| panic!("{name} missing from discovery"));
        Url::parse(url).unwrap_or_else(|e| panic!("{name} is not a URL ({e}): {url}"))
    }

    /// Pushes the parameters of `pending` (its URL's query) to the PAR endpoint (RFC 9126)
    /// with `auth`, plus `extra` form fields.
    pub fn push(&self, pending: &Pending, auth: ClientAuth<'_>, extra: &[(&str, &str)]) -> Reply {
        let mut form: Vec<(String, String)> = pending.url.query_pairs().into_owned().collect();
        form.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        oauth::post_form(&self.http, &self.endpoint("pushed_authorization_request_endpoint"), auth, &form)
    }

    /// The authorization URL that sends the browser with only `client_id` and `request_uri`.
    pub fn pushed_url(&self, request_uri: &str) -> Url {
        let mut url = self.endpoint("authorization_endpoint");
        url.query_pairs_mut().append_pair("client_id", &self.reg.client_id).append_pair("request_uri", request_uri);
        url
    }

    /// `POST /token` with this client's basic credentials.
    pub fn token(&self, params: &[(&str, &str)]) -> Reply {
        oauth::post_form(&self.http, &self.endpoint("token_endpoint"), self.auth(), params)
    }

    /// A raw `authorization_code` grant (no `openidconnect` validation).
    pub fn redeem_raw(&self, code: &str, verifier: &str) -> Reply {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.reg.redirect_uri),
            ("code_verifier", verifier),
        ])
    }

    /// A `refresh_token` grant.
    pub fn refresh(&self, refresh_token: &str) -> Reply {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
    }

    /// RFC 7662 introspection, authenticated as this client.
    pub fn introspect(&self, token: &str) -> Reply {
        oauth::post_form(&self.http, &self.endpoint("introspection_endpoint"), self.auth(), &[("token", token)])
    }

    /// RFC 7009 revocation, authenticated as this client.
    pub fn revoke(&self, token: &str, hint: &str) -> Reply {
        oauth::post_form(
            &self.http,
            &self.endpoint("revocation_endpoint"),
            self.auth(),
            &[("token", token), ("token_type_hint", hint)],
        )
    }

    /// `GET` the UserInfo endpoint with a bearer token.
    pub fn userinfo(&self, access_token: &str) -> Reply {
        oauth::reply(
            self.http
                .get(self.endpoint("userinfo_endpoint"))
                .bearer_auth(access_token)
                .send()
                .expect("userinfo request"),
        )
    }

    /// The issuer's JWKS as raw JSON.
    pub fn jwks(&self) -> Value {
        oauth::reply(self.http.get(self.endpoint("jwks_uri")).send().expect("jwks request")).ok_json().clone()
    }
}
