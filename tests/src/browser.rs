//! A citizen's browser without JavaScript: cookies kept, redirects followed by hand so each
//! hop can be checked, forms found by their hidden inputs.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore as _, Jar};
use url::Url;

use crate::server::Idp;

/// A cookie-keeping client pointed at one `idp`.
pub struct Browser {
    http: reqwest::blocking::Client,
    jar: Arc<Jar>,
    origin: Url,
}

/// One response, read whole.
#[derive(Debug)]
pub struct Page {
    /// The URL that was requested.
    pub url: Url,
    /// HTTP status code.
    pub status: u16,
    /// The `Location` header resolved against [`Page::url`].
    pub location: Option<Url>,
    /// Every `Set-Cookie` header, raw.
    pub set_cookies: Vec<String>,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// The value of `<input type="hidden" name=NAME value=…>` in the body; fails the test when
    /// the page has none.
    pub fn hidden(&self, name: &str) -> String {
        hidden_input(&self.body, name).unwrap_or_else(|| {
            panic!("no input named {name:?} on {} ({}):\n{}", self.url, self.status, snippet(&self.body))
        })
    }

    /// The `Set-Cookie` header that sets `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies.iter().map(String::as_str).find(|c| c.starts_with(&prefix))
    }

    /// The page's visible text: tags removed, whitespace collapsed.
    pub fn text(&self) -> String {
        visible_text(&self.body)
    }
}

/// How the browser answers the login page when a flow reaches it.
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// Reaching the login page fails the test (SSO expected).
    None,
    /// Submit the login form with this identifier (national ID or email) and password.
    Password(&'a str, &'a str),
    /// Leave the login page for the sign-up page and create this account.
    SignUp(&'a SignUpForm),
}

/// The fields of the sign-up form.
#[derive(Clone, Debug)]
pub struct SignUpForm {
    /// National ID number (12 digits).
    pub national_id: String,
    /// Full name.
    pub full_name: String,
    /// Email address.
    pub email: String,
    /// Password, also typed in `password_confirm`.
    pub password: String,
}

/// Where an authorization flow ended and which IdP pages it went through.
#[derive(Debug)]
pub struct Flow {
    /// The first redirect that left the IdP: the client's redirect URI with its parameters.
    pub redirect: Url,
    /// Paths of every IdP URL visited, in order (`/authorize`, `/login`, …).
    pub visited: Vec<String>,
}

impl Flow {
    /// Whether the flow went through this IdP path.
    pub fn visited(&self, path: &str) -> bool {
        self.visited.iter().any(|p| p == path)
    }
}

impl Browser {
    /// A new browser with an empty cookie jar.
    pub fn new(idp: &Idp) -> Self {
        Self::build(idp, reqwest::blocking::Client::builder())
    }

    /// A new browser that sends `user_agent` (a phone's, a laptop's) on every request.
    pub fn with_user_agent(idp: &Idp, user_agent: &str) -> Self {
        Self::build(idp, reqwest::blocking::Client::builder().user_agent(user_agent))
    }

    fn build(idp: &Idp, builder: reqwest::blocking::ClientBuilder) -> Self {
        let jar = Arc::new(Jar::default());
        let http = builder
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build browser client");
        Browser { http, jar, origin: idp.url("/") }
    }

    /// The same browser (same cookie jar) pointed at another node of the cluster, e.g.
    /// [`crate::Node::url`]`("/")`: cookies are per host, not per port, so its session goes along.
    pub fn on(&self, origin: Url) -> Browser {
        Browser { http: self.http.clone(), jar: self.jar.clone(), origin }
    }

    /// `GET url`.
    pub fn get(&self, url: &Url) -> Page {
        self.read(url, self.http.get(url.clone()))
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body.
    pub fn post_form(&self, url: &Url, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let req = self.http.post(url.clone()).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.read(url, req)
    }

    /// The value of a cookie the IdP origin would receive.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.origin)?;
        let header = header.to_str().ok()?.to_owned();
        header.split("; ").find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    /// Plants a cookie for the IdP origin, as an attacker-controlled page could.
    pub fn plant_cookie(&self, name: &str, value: &str) {
        self.jar.add_cookie_str(&format!("{name}={value}; Path=/"), &self.origin);
    }

    /// Walks an authorization request: follows each redirect on the IdP, answers the login page
    /// with `creds`, allows consent, and stops at the first redirect that leaves the IdP.
    pub fn run_flow(&self, start: &Url, creds: Credentials<'_>) -> Flow {
        let mut visited = vec![start.path().to_owned()];
        let mut page = self.get(start);
        for _ in 0..20 {
            let Some(next) = page.location.clone() else {
                panic!("expected a redirect from {} but got {}:\n{}", page.url, page.status, snippet(&page.body));
            };
            if next.origin() != self.origin.origin() {
                return Flow { redirect: next, visited };
            }
            visited.push(next.path().to_owned());
            page = match next.path() {
                "/login" | "/signup" => self.answer_login(&next, creds),
                "/consent" => self.consent(&next, "allow"),
                _ => self.get(&next),
            };
        }
        panic!("more than 20 redirects from {start}; visited {visited:?}");
    }

    /// [`Browser::run_flow`] with a password login; returns the redirect to the client.
    pub fn login_flow(&self, start: &Url, identifier: &str, password: &str) -> Url {
        self.run_flow(start, Credentials::Password(identifier, password)).redirect
    }

    /// Loads the login page and submits the form; returns the response to the POST.
    pub fn submit_login(&self, login_url: &Url, identifier: &str, password: &str) -> Page {
        let page = self.get(login_url);
        assert_eq!(page.status, 200, "login page: {page:?}");
        let csrf = page.hidden("csrf");
        let req = page.hidden("req");
        self.post_form(
            &self.origin.join("/login").expect("URL"),
            &[("csrf", &csrf), ("req", &req), ("identifier", identifier), ("password", password)],
        )
    }

    /// Loads the consent page and submits `decision` (`allow` or `deny`).
    pub fn consent(&self, consent_url: &Url, decision: &str) -> Page {
        let page = self.get(consent_url);
        assert_eq!(page.status, 200, "consent page: {page:?}");
        let csrf = page.hidden("csrf");
        let req = page.hidden("req");
        self.post_form(
            &self.origin.join("/consent").expect("URL"),
            &[("csrf", &csrf), ("req", &req), ("decision", decision)],
        )
    }

    /// Loads `/signup?req=REQ` and submits the form; returns the response to the POST.
    pub fn submit_signup(&self, req: &str, form: &SignUpForm) -> Page {
        let mut url = self.origin.join("/signup").expect("URL");
        url.query_pairs_mut().append_pair("req", req);
        let page = self.get(&url);
        assert_eq!(page.status, 200, "sign-up page: {page:?}");
        let csrf = page.hidden("csrf");
        let req = page.hidden("req");
        self.post_form(
            &self.origin.join("/signup").expect("URL"),
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("national_id", &form.national_id),
                ("full_name", &form.full_name),
                ("email", &form.email),
                ("password", &form.password),
                ("password_confirm", &form.password),
            ],
        )
    }

    fn answer_login(&self, login_url: &Url, creds: Credentials<'_>) -> Page {
        let page = match creds {
            Credentials::None => panic!("unexpected login page {login_url} (SSO expected)"),
            Credentials::Password(identifier, password) => self.submit_login(login_url, identifier, password),
            Credentials::SignUp(form) => {
                let req = crate::oauth::query_param(login_url, "req")
                    .unwrap_or_else(|| panic!("login URL without req: {login_url}"));
                self.submit_signup(&req, form)
            }
        };
        assert_eq!(page.status, 303, "submitting {creds:?} on {login_url} did not redirect:\n{}", snippet(&page.body));
        page
    }

    fn read(&self, url: &Url, req: reqwest::blocking::RequestBuilder) -> Page {
        let resp = req.send().unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| url.join(l).unwrap_or_else(|e| panic!("bad Location {l:?}: {e}")));
        let set_cookies =
            headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
        let body = resp.text().expect("read body");
        Page { url: url.clone(), status, location, set_cookies, headers, body }
    }
}

/// Finds the `value` of the `<input>` whose `name` is `name` (attributes in any order).
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<input") {
        let after = &rest[start..];
        let end = after.find('>')?;
        let tag = &after[..end];
        if attribute(tag, "name").as_deref() == Some(name) {
            return attribute(tag, "value");
        }
        rest = &after[end..];
    }
    None
}

/// The unescaped value of `attr="…"` (or `attr='…'`) inside one tag.
fn attribute(tag: &str, attr: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let needle = format!("{attr}={quote}");
        for (pos, _) in tag.match_indices(&needle) {
            // Only a whole attribute name: `name=` but not `data-name=`.
            if !tag[..pos].ends_with(char::is_whitespace) {
                continue;
            }
            let value = &tag[pos + needle.len()..];
            let end = value.find(quote)?;
            return Some(unescape(&value[..end]));
        }
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Text a reader sees: tags, `<script>` and `<style>` removed, entities for quotes unescaped,
/// whitespace collapsed.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let tail = &rest[lt..];
        let skip_to = ["script", "style"].iter().find_map(|t| {
            tail.get(1..=t.len()).filter(|n| n.eq_ignore_ascii_case(t)).and_then(|_| tail.find(&format!("</{t}>")))
        });
        let from = skip_to.unwrap_or(0);
        match tail[from..].find('>') {
            Some(gt) => rest = &tail[from + gt + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first 2,000 characters of a body, for failure messages.
pub fn snippet(body: &str) -> &str {
    let mut end = body.len().min(2000);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}
