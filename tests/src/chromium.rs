//! A real browser for the pages that need JavaScript: Debian's headless Chromium driven over the
//! DevTools protocol (through `chromiumoxide`), with a CDP virtual authenticator standing in for
//! a phone's or laptop's passkey store.
//!
//! `chromiumoxide` is async; [`Chromium`] owns a small Tokio runtime and offers a blocking API,
//! like the rest of the harness. Every wait has a timeout, and a failure shows the page's URL,
//! its visible text, the browser console and the HTTP errors it saw (the `Idp` prints its own
//! log when it is dropped during the panic).
//!
//! Availability: when Chromium is missing, [`Chromium::launch`] prints why and returns `None`
//! (the test returns early), unless `CI` is set, where a missing browser fails the test.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chromiumoxide::cdp::browser_protocol::emulation::SetUserAgentOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::network::{self, EventResponseReceived, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventJavascriptDialogOpening, HandleJavaScriptDialogParams,
    RemoveScriptToEvaluateOnNewDocumentParams, ScriptIdentifier,
};
use chromiumoxide::cdp::browser_protocol::web_authn::{
    self, AddVirtualAuthenticatorParams, AuthenticatorId, AuthenticatorProtocol, AuthenticatorTransport,
    GetCredentialsParams, RemoveVirtualAuthenticatorParams, VirtualAuthenticatorOptions,
};
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::runtime::Runtime;
use url::Url;

/// Debian's Chromium launcher (package `chromium`), used unless `E2E_CHROMIUM` names another.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a wait (URL, element, text) lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// One DevTools command (navigation included) may take this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// A headless Chromium with one tab, a fresh profile and a console recorder; killed when dropped.
pub struct Chromium {
    browser: Browser,
    page: Page,
    /// Console messages, uncaught exceptions, dialogs and HTTP responses ≥ 400, in order.
    events: Arc<Mutex<Vec<String>>>,
    /// URLs of the documents the tab loaded (navigations and redirects), in order.
    navigations: Arc<Mutex<Vec<String>>>,
    /// HTTP responses with a 5xx status (method-less: `STATUS URL`).
    server_errors: Arc<Mutex<Vec<String>>>,
    /// The init script that hides passkey autofill, while it is installed.
    no_autofill: Mutex<Option<ScriptIdentifier>>,
    _profile: tempfile::TempDir,
    /// Declared last, so dropped last: the browser's connection lives on it.
    rt: Runtime,
}

/// A CDP virtual authenticator attached to the tab (CDP `WebAuthn.addVirtualAuthenticator`).
#[derive(Clone, Debug)]
pub struct Authenticator {
    id: AuthenticatorId,
}

/// What kind of authenticator to emulate.
#[derive(Clone, Copy, Debug)]
pub struct AuthenticatorKind {
    /// Credentials it creates are backup eligible (a synced passkey, BE flag set).
    pub backup_eligible: bool,
    /// It reports user verification (UV flag) when asked.
    pub user_verified: bool,
}

impl Default for AuthenticatorKind {
    /// A platform authenticator with a fingerprint reader: resident keys, UV, not synced.
    fn default() -> Self {
        AuthenticatorKind { backup_eligible: false, user_verified: true }
    }
}

/// A credential held by a virtual authenticator (CDP `WebAuthn.Credential`).
#[derive(Clone, Debug)]
pub struct StoredCredential {
    /// The credential ID, base64url without padding (as `PublicKeyCredential.id` has it).
    pub id: String,
    /// Whether it is a discoverable (resident) credential.
    pub resident: bool,
    /// The RP ID it is scoped to.
    pub rp_id: Option<String>,
    /// The user handle the RP gave it, base64url without padding.
    pub user_handle: Option<String>,
    /// How many assertions it has signed.
    pub sign_count: i64,
}

/// The Chromium binary the tests start: `$E2E_CHROMIUM`, or [`CHROMIUM`].
pub fn executable() -> PathBuf {
    std::env::var_os("E2E_CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from)
}

/// Why browser tests cannot run here, or `None` when they can.
pub fn unavailable() -> Option<String> {
    let exe = executable();
    (!exe.is_file())
        .then(|| format!("{} not found (Debian package `chromium`, which `.ci/run` installs)", exe.display()))
}

impl Chromium {
    /// Starts headless Chromium with a fresh profile and opens a blank tab. Returns `None` (after
    /// printing why) when Chromium is not installed, unless the `CI` environment variable is set:
    /// there a missing browser fails the test.
    pub fn launch() -> Option<Self> {
        if let Some(reason) = unavailable() {
            assert!(std::env::var_os("CI").is_none(), "CI is set but the browser tests cannot run: {reason}");
            eprintln!("skipping browser test: {reason}");
            return None;
        }
        Some(Self::start(&executable()))
    }

    fn start(executable: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("build the browser's runtime");
        let profile = tempfile::Builder::new().prefix("motcua-chromium-").tempdir().expect("create profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(executable)
            .disable_default_args()
            // headless is the builder's default (`--headless`, Chromium's new headless mode).
            .no_sandbox()
            .user_data_dir(profile.path())
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                // Plain http on localhost is a secure context; never let Chromium try https first.
                "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            ])
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(COMMAND_TIMEOUT)
            .build()
            .unwrap_or_else(|e| panic!("chromium config: {e}"));
        let (browser, mut handler) = rt
            .block_on(Browser::launch(config))
            .unwrap_or_else(|e| panic!("could not start {}: {e}", executable.display()));
        // The handler is the connection's event loop: it must be polled for any command to finish.
        rt.spawn(async move {
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        let page = rt
            .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, browser.new_page("about:blank")).await })
            .unwrap_or_else(|_| panic!("opening a tab timed out"))
            .unwrap_or_else(|e| panic!("opening a tab failed: {e}"));
        let chromium = Chromium {
            rt,
            browser,
            page,
            events: Arc::default(),
            navigations: Arc::default(),
            server_errors: Arc::default(),
            no_autofill: Mutex::new(None),
            _profile: profile,
        };
        chromium.record_events();
        chromium.set_languages("vi-VN,vi");
        chromium
    }

    /// Records console output, uncaught exceptions, navigations and HTTP errors (for failure
    /// messages, [`Chromium::navigations`] and [`Chromium::server_errors`]), and accepts any
    /// `alert`/`confirm` dialog, as a citizen clicking OK would (an unanswered dialog blocks the
    /// page).
    fn record_events(&self) {
        let page = &self.page;
        let (console, exceptions, responses, dialogs) = self.run("subscribe to events", async {
            page.execute(network::EnableParams::default()).await?;
            let console = page.event_listener::<EventConsoleApiCalled>().await?;
            let exceptions = page.event_listener::<EventExceptionThrown>().await?;
            let responses = page.event_listener::<EventResponseReceived>().await?;
            let dialogs = page.event_listener::<EventJavascriptDialogOpening>().await?;
            Ok::<_, chromiumoxide::error::CdpError>((console, exceptions, responses, dialogs))
        });
        let (events, page) = (self.events.clone(), self.page.clone());
        self.rt.spawn(dialogs.for_each(move |e| {
            push(&events, format!("dialog {:?} accepted: {}", e.r#type, e.message));
            let page = page.clone();
            async move {
                let _ = page.execute(HandleJavaScriptDialogParams::new(true)).await;
            }
        }));
        let events = self.events.clone();
        self.rt.spawn(console.for_each(move |e| {
            let args: Vec<String> =
                e.args.iter().map(|a| a.value.as_ref().map_or("?".into(), Value::to_string)).collect();
            push(&events, format!("console.{:?}: {}", e.r#type, args.join(" ")));
            async {}
        }));
        let events = self.events.clone();
        self.rt.spawn(exceptions.for_each(move |e| {
            let d = &e.exception_details;
            let detail = d.exception.as_ref().and_then(|x| x.description.clone()).unwrap_or_default();
            push(&events, format!("uncaught exception: {} {detail}", d.text));
            async {}
        }));
        let events = self.events.clone();
        let navigations = self.navigations.clone();
        let server_errors = self.server_errors.clone();
        self.rt.spawn(responses.for_each(move |e| {
            if e.r#type == ResourceType::Document {
                push(&navigations, e.response.url.clone());
            }
            let line = format!("HTTP {} {}", e.response.status, e.response.url);
            // Browsers ask every site for a favicon; the idp has none, which is no finding.
            if e.response.status >= 400 && !e.response.url.ends_with("/favicon.ico") {
                push(&events, line.clone());
            }
            if e.response.status >= 500 {
                push(&server_errors, line);
            }
            async {}
        }));
    }

    /// Sets the `Accept-Language` the tab sends (default `vi-VN,vi`: Vietnamese pages, as most
    /// citizens see them; the idp picks the language from it when no cookie or `ui_locales` says
    /// otherwise).
    pub fn set_languages(&self, accept_language: &str) {
        let page = &self.page;
        self.run("setting Accept-Language", async {
            let user_agent = page.user_agent().await?;
            let params = SetUserAgentOverrideParams::builder()
                .user_agent(user_agent)
                .accept_language(accept_language)
                .build()
                .map_err(chromiumoxide::error::CdpError::msg)?;
            page.execute(params).await.map(|_| ())
        });
    }

    /// Runs one DevTools exchange to completion, failing the test on error or timeout.
    fn run<T, E: std::fmt::Display>(&self, what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
        match self.rt.block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await }) {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => self.fail(&format!("{what} failed: {e}")),
            Err(_) => self.fail(&format!("{what} timed out after {COMMAND_TIMEOUT:?}")),
        }
    }

    /// Like [`Chromium::run`], but an error is an answer, not a failure (for polling).
    fn try_run<T, E>(&self, fut: impl Future<Output = Result<T, E>>) -> Option<T> {
        self.rt.block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await }).ok()?.ok()
    }

    /// Navigates the tab to `url` and waits for the load (redirects followed).
    pub fn goto(&self, url: &str) {
        let page = &self.page;
        self.run(&format!("navigating to {url}"), async { page.goto(url).await.map(|_| ()) });
    }

    /// The tab's current URL (`location.href`).
    pub fn url(&self) -> String {
        match self.try_eval("location.href") {
            Some(Value::String(href)) => href,
            _ => {
                let page = &self.page;
                self.try_run(page.url()).flatten().unwrap_or_default()
            }
        }
    }

    /// The page's visible text (`document.body.innerText`).
    pub fn text(&self) -> String {
        match self.try_eval("document.body ? document.body.innerText : ''") {
            Some(Value::String(text)) => text,
            _ => String::new(),
        }
    }

    /// Evaluates a JavaScript expression in the page (promises awaited) and returns its JSON
    /// value (`null` for `undefined`); fails the test when it throws.
    pub fn eval(&self, js: &str) -> Value {
        let page = &self.page;
        let result = self.run(&format!("evaluating {js}"), page.evaluate(js));
        result.value().cloned().unwrap_or(Value::Null)
    }

    /// Like [`Chromium::eval`], but `None` when the page cannot answer (it is navigating, or
    /// the expression threw): for polling.
    pub fn try_eval(&self, js: &str) -> Option<Value> {
        let page = &self.page;
        self.try_run(page.evaluate(js)).map(|r| r.value().cloned().unwrap_or(Value::Null))
    }

    /// Whether an element matches the CSS `selector` now.
    pub fn exists(&self, selector: &str) -> bool {
        let js = format!("document.querySelector({}) !== null", js_string(selector));
        self.try_eval(&js) == Some(Value::Bool(true))
    }

    /// The visible text of the first element matching `selector` (`None` when there is none).
    pub fn text_of(&self, selector: &str) -> Option<String> {
        let js = format!("(e => e ? e.innerText : null)(document.querySelector({}))", js_string(selector));
        self.try_eval(&js).and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Types `value` into the input with id `id`, replacing what it held.
    pub fn fill(&self, id: &str, value: &str) {
        self.fill_selector(&format!("#{id}"), value);
    }

    /// Types `value` into the first input matching `selector`, replacing what it held (focus,
    /// select all, then CDP `Input.insertText`, as an IME would: any Unicode text goes in).
    pub fn fill_selector(&self, selector: &str, value: &str) {
        self.wait_for_visible(selector);
        let page = &self.page;
        self.run(&format!("typing into {selector}"), async {
            let input = page.find_element(selector).await?;
            input.call_js_fn("function() { this.focus(); if (this.select) this.select(); }", false).await?;
            page.execute(InsertTextParams::new(value)).await.map(|_| ())
        });
    }

    /// Clicks (mouse press and release at its centre) the first element matching `selector`,
    /// waiting for it to be shown first (pages reveal their WebAuthn buttons from JavaScript).
    pub fn click(&self, selector: &str) {
        self.wait_for_visible(selector);
        let page = &self.page;
        self.run(&format!("clicking {selector}"), async {
            page.find_element(selector).await?.click().await.map(|_| ())
        });
    }

    /// Clicks the element with id `id`.
    pub fn click_id(&self, id: &str) {
        self.click(&format!("#{id}"));
    }

    /// Polls `check` every 100 ms until it returns `Some`, for at most [`WAIT`]; fails the test
    /// with `what` (and the page's state) otherwise.
    pub fn wait_until<T>(&self, what: &str, mut check: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {WAIT:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the tab's URL starts with `prefix` and returns it.
    pub fn wait_for_url(&self, prefix: &str) -> Url {
        let href = self.wait_until(&format!("a URL starting with {prefix}"), |c| {
            let url = c.url();
            url.starts_with(prefix).then_some(url)
        });
        Url::parse(&href).unwrap_or_else(|e| self.fail(&format!("not a URL ({e}): {href}")))
    }

    /// Waits until an element matches `selector`.
    pub fn wait_for(&self, selector: &str) {
        self.wait_until(&format!("an element matching {selector:?}"), |c| c.exists(selector).then_some(()));
    }

    /// Waits until the first element matching `selector` is rendered (not `hidden`, not
    /// `display: none`).
    pub fn wait_for_visible(&self, selector: &str) {
        self.wait_until(&format!("a visible element matching {selector:?}"), |c| c.visible(selector).then_some(()));
    }

    /// Whether the first element matching `selector` is rendered now.
    pub fn visible(&self, selector: &str) -> bool {
        let js =
            format!("(e => !!e && e.getClientRects().length > 0)(document.querySelector({}))", js_string(selector));
        self.try_eval(&js) == Some(Value::Bool(true))
    }

    /// Waits until the page's visible text contains `needle`.
    pub fn wait_for_text(&self, needle: &str) {
        self.wait_until(&format!("the text {needle:?}"), |c| c.text().contains(needle).then_some(()));
    }

    /// Every 5xx response the tab received so far (`HTTP STATUS URL`), navigations and `fetch`
    /// calls alike.
    pub fn server_errors(&self) -> Vec<String> {
        self.server_errors.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// URLs of the documents loaded so far (each hop of a redirect chain that returned a page;
    /// 3xx hops are not documents).
    pub fn navigations(&self) -> Vec<String> {
        self.navigations.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Console messages, uncaught exceptions, dialogs and HTTP responses ≥ 400 seen so far.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Writes a PNG screenshot of the viewport (to look at a page while writing a test).
    pub fn screenshot(&self, path: &Path) {
        let page = &self.page;
        let png = self.run("taking a screenshot", page.screenshot(chromiumoxide::page::ScreenshotParams::default()));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Whether pages see passkey autofill (conditional mediation, on by default in Chromium).
    /// With a virtual authenticator Chromium answers a conditional request at once with the
    /// first matching credential, as if the citizen picked it from the autofill list; turning
    /// autofill off (from the next page load) makes the page behave as in a browser without it,
    /// so only a button click can start a ceremony.
    pub fn set_passkey_autofill(&self, available: bool) {
        let mut installed = self.no_autofill.lock().unwrap_or_else(|e| e.into_inner());
        let page = &self.page;
        match (available, installed.take()) {
            (true, Some(script)) => {
                let params = RemoveScriptToEvaluateOnNewDocumentParams::new(script);
                self.run("removing the no-autofill script", async { page.execute(params).await.map(|_| ()) });
            }
            (false, None) => {
                let source = "if (window.PublicKeyCredential) { Object.defineProperty(PublicKeyCredential, \
                              'isConditionalMediationAvailable', { value: () => Promise.resolve(false) }); }";
                let params = AddScriptToEvaluateOnNewDocumentParams::new(source);
                let script = self.run("installing the no-autofill script", async {
                    page.execute(params).await.map(|r| r.result.identifier)
                });
                *installed = Some(script);
            }
            (_, unchanged) => *installed = unchanged,
        }
    }

    /// From the next page load on, the tab behaves as a browser without
    /// WebAuthn (old Android WebViews, some in-app browsers): no
    /// `PublicKeyCredential`, no `navigator.credentials`.
    pub fn hide_webauthn(&self) {
        let page = &self.page;
        let source = "delete window.PublicKeyCredential; \
                      Object.defineProperty(navigator, 'credentials', { value: undefined });";
        let params = AddScriptToEvaluateOnNewDocumentParams::new(source);
        self.run("installing the no-WebAuthn script", async { page.execute(params).await.map(|_| ()) });
    }

    /// Enables the WebAuthn domain and attaches a virtual CTAP2 authenticator with the `internal`
    /// transport (a platform authenticator), resident keys and user verification, whose user
    /// presence is simulated (every ceremony is approved at once).
    pub fn add_authenticator(&self, kind: AuthenticatorKind) -> Authenticator {
        let options = VirtualAuthenticatorOptions::builder()
            .protocol(AuthenticatorProtocol::Ctap2)
            .transport(AuthenticatorTransport::Internal)
            .has_resident_key(true)
            .has_user_verification(true)
            .is_user_verified(kind.user_verified)
            .automatic_presence_simulation(true)
            .default_backup_eligibility(kind.backup_eligible)
            .default_backup_state(kind.backup_eligible)
            .build()
            .unwrap_or_else(|e| panic!("authenticator options: {e}"));
        let page = &self.page;
        let id = self.run("adding a virtual authenticator", async {
            page.execute(web_authn::EnableParams::default()).await?;
            page.execute(AddVirtualAuthenticatorParams::new(options)).await.map(|r| r.result.authenticator_id)
        });
        Authenticator { id }
    }

    /// Detaches a virtual authenticator (its credentials go with it).
    pub fn remove_authenticator(&self, authenticator: &Authenticator) {
        let page = &self.page;
        let params = RemoveVirtualAuthenticatorParams::new(authenticator.id.clone());
        self.run("removing a virtual authenticator", async { page.execute(params).await.map(|_| ()) });
    }

    /// The credentials a virtual authenticator holds (CDP `WebAuthn.getCredentials`).
    pub fn credentials(&self, authenticator: &Authenticator) -> Vec<StoredCredential> {
        let page = &self.page;
        let params = GetCredentialsParams::new(authenticator.id.clone());
        let creds = self.run("reading the authenticator's credentials", async {
            page.execute(params).await.map(|r| r.result.credentials)
        });
        creds
            .into_iter()
            .map(|c| StoredCredential {
                id: base64url(c.credential_id.as_ref()),
                resident: c.is_resident_credential,
                rp_id: c.rp_id,
                user_handle: c.user_handle.map(|h| base64url(h.as_ref())),
                sign_count: c.sign_count,
            })
            .collect()
    }

    /// Fails the test with `msg`, the tab's URL and text, and what the browser logged.
    pub fn fail(&self, msg: &str) -> ! {
        let events = self.events();
        panic!(
            "{msg}\n  page URL: {}\n---- page text ----\n{}\n---- browser console and HTTP errors ({}) ----\n{}\n\
             (the idp's log follows when the test's Idp is dropped)",
            self.url(),
            self.text(),
            events.len(),
            events.join("\n")
        )
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let browser = &mut self.browser;
        self.rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.close()).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.wait()).await;
            let _ = browser.kill().await;
        });
    }
}

fn push(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut log) = log.lock() {
        log.push(line);
    }
}

/// CDP sends binary as standard base64; WebAuthn and the idp speak base64url without padding.
fn base64url(standard: &str) -> String {
    match STANDARD.decode(standard) {
        Ok(bytes) => URL_SAFE_NO_PAD.encode(bytes),
        Err(_) => standard.to_owned(),
    }
}

/// A JavaScript string literal for `s`.
fn js_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The relying party's redirect URI as a web page: a one-thread HTTP server on the URI's host
/// and port that answers every request with a small 200 page and records the request targets,
/// so the browser lands somewhere real (a refused connection would leave it on Chromium's
/// error page) and the test reads the code from the tab's URL.
pub struct RpCallback {
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl RpCallback {
    /// Starts serving the host and port of `redirect_uri` (an `http://127.0.0.1:<port>/…` URI
    /// whose port the harness picked free).
    pub fn serve(redirect_uri: &str) -> Self {
        let uri = Url::parse(redirect_uri).unwrap_or_else(|e| panic!("redirect URI {redirect_uri}: {e}"));
        let addr = format!("{}:{}", uri.host_str().unwrap_or("127.0.0.1"), uri.port_or_known_default().unwrap_or(80));
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("bind the RP callback on {addr}: {e}"));
        listener.set_nonblocking(true).expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, hits) = (stop.clone(), hits.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => answer(stream, &hits),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        RpCallback { stop, hits, thread: Some(thread) }
    }

    /// The request targets (path and query) received so far.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for RpCallback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, hits: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    if let Some(target) = head.lines().next().and_then(|l| l.split(' ').nth(1)) {
        push(hits, target.to_owned());
    }
    let body = "<!doctype html><meta charset=utf-8><title>RP</title><p>Relying party callback</p>";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
