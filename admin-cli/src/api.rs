//! A small blocking client for the admin API: one base URL, one bearer
//! token, JSON in and out, and failures turned into one readable sentence.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::blocking::Client;
use serde_json::Value;

/// How long one admin API call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A failure the CLI reports as `idp-admin: <message>` with exit code 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the server or the OS said.
        let one_line: Vec<&str> = self.0.split_whitespace().collect();
        f.write_str(&one_line.join(" "))
    }
}

impl Failure {
    /// A failure with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The admin API at one base URL, called with one token.
pub struct Api {
    base: Url,
    shown: String,
    token: String,
    http: Client,
}

impl Api {
    /// Check the URL and token and build the HTTP client. Nothing is sent yet.
    pub fn new(url: &str, token: Option<&str>) -> Result<Self, Failure> {
        let shown = url.trim_end_matches('/').to_owned();
        let base = Url::parse(&shown)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Failure(format!("invalid admin API URL {url:?}: expected something like http://127.0.0.1:8081"))
            })?;
        let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
            Failure::new("no admin token: set IDP_ADMIN_TOKEN or pass --token (create one with `idp bootstrap-admin`)")
        })?;
        let http = Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("idp-admin/", env!("CARGO_PKG_VERSION")))
            // The admin API never redirects; never carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Failure(format!("cannot start the HTTP client: {}", chain(&e))))?;
        Ok(Self { base, shown, token: token.to_owned(), http })
    }

    /// `GET` the path (segments, percent-encoded here) with query pairs.
    pub fn get(&self, path: &[&str], query: &[(&str, &str)]) -> Result<Value, Failure> {
        self.call(Method::GET, path, query, None)
    }

    /// `POST` the path with an optional JSON body.
    pub fn post(&self, path: &[&str], body: Option<&Value>) -> Result<Value, Failure> {
        self.call(Method::POST, path, &[], body)
    }

    /// `PATCH` the path with a JSON body.
    pub fn patch(&self, path: &[&str], body: &Value) -> Result<Value, Failure> {
        self.call(Method::PATCH, path, &[], Some(body))
    }

    /// `PUT` the path with a JSON body.
    pub fn put(&self, path: &[&str], body: &Value) -> Result<Value, Failure> {
        self.call(Method::PUT, path, &[], Some(body))
    }

    fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let url = self.url(path, query)?;
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| self.transport(&e))?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|_| Failure(format!("the admin API at {} answered something that is not JSON", self.shown)));
        }
        Err(api_failure(status, &text))
    }

    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Result<Url, Failure> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Failure(format!("invalid admin API URL {:?}", self.shown)))?
            .pop_if_empty()
            .extend(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    fn transport(&self, e: &reqwest::Error) -> Failure {
        if e.is_connect() {
            Failure(format!("cannot reach the admin API at {}: is idp running?", self.shown))
        } else if e.is_timeout() {
            Failure(format!("the admin API at {} did not answer within {} seconds", self.shown, TIMEOUT.as_secs()))
        } else {
            Failure(format!("request to the admin API at {} failed: {}", self.shown, chain(e)))
        }
    }
}

/// The message of an admin API error answer (`{"error", "message"}`).
fn api_failure(status: StatusCode, text: &str) -> Failure {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message =
        parsed.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).filter(|m| !m.trim().is_empty());
    match (status, message) {
        (StatusCode::UNAUTHORIZED, Some(m)) => Failure(format!("{m} (check --token or IDP_ADMIN_TOKEN)")),
        (_, Some(m)) => Failure(m.to_owned()),
        (_, None) => Failure(format!("the admin API answered HTTP {status}")),
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest's own
/// `Display` stops at the outermost layer).
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_one_line() {
        assert_eq!(Failure::new("a\nb  c\r\n").to_string(), "a b c");
    }

    #[test]
    fn api_errors_show_the_message() {
        let f = api_failure(StatusCode::FORBIDDEN, r#"{"error":"forbidden","message":"no"}"#);
        assert_eq!(f.0, "no");
        let f = api_failure(StatusCode::UNAUTHORIZED, r#"{"error":"unauthorized","message":"bad token"}"#);
        assert!(f.0.starts_with("bad token"));
        let f = api_failure(StatusCode::BAD_GATEWAY, "<html>");
        assert_eq!(f.0, "the admin API answered HTTP 502 Bad Gateway");
    }

    #[test]
    fn urls_and_tokens_are_checked_before_sending() {
        assert!(Api::new("not a url", Some("t")).is_err());
        assert!(Api::new("ftp://x", Some("t")).is_err());
        assert!(Api::new("http://127.0.0.1:8081", None).is_err());
        assert!(Api::new("http://127.0.0.1:8081", Some("  ")).is_err());
        let api = Api::new("http://h:1/prefix/", Some("t")).unwrap();
        let url = api.url(&["admin", "v1", "clients", "a/b c"], &[("after", "x&y")]).unwrap();
        assert_eq!(url.as_str(), "http://h:1/prefix/admin/v1/clients/a%2Fb%20c?after=x%26y");
    }
}
