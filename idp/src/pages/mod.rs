//! Server-rendered pages: minijinja templates embedded in the binary, in
//! Vietnamese (default) and English.
//!
//! Handlers call [`Pages::render`] with a template name, a [`Locale`] from
//! [`negotiate`] and a context; templates translate with `t("key")` or
//! `t("key", n=30)`, which fills the `{n}` placeholder of the message.

mod i18n;

use minijinja::value::{Kwargs, merge_maps};
use minijinja::{AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value, context};

/// The templates, by name. Names ending in `.html` are HTML-escaped.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("business_choose.html", include_str!("templates/business_choose.html")),
    ("error.html", include_str!("templates/error.html")),
    ("form_post.html", include_str!("templates/form_post.html")),
    ("home.html", include_str!("templates/home.html")),
    ("step_up.html", include_str!("templates/step_up.html")),
    ("passkey_new.html", include_str!("templates/passkey_new.html")),
    ("account.html", include_str!("templates/account.html")),
    ("logout_confirm.html", include_str!("templates/logout_confirm.html")),
    ("logged_out.html", include_str!("templates/logged_out.html")),
    ("account_sessions.html", include_str!("templates/account_sessions.html")),
    ("account_services.html", include_str!("templates/account_services.html")),
    ("account_password.html", include_str!("templates/account_password.html")),
    ("account_businesses.html", include_str!("templates/account_businesses.html")),
    ("account_business_members.html", include_str!("templates/account_business_members.html")),
];

/// `/assets/passkey.js`: the pages' only script, the WebAuthn calls.
pub const PASSKEY_SCRIPT: &str = include_str!("assets/passkey.js");

/// The inline script of `form_post.html`, byte for byte, so the handler can
/// allow it in its Content-Security-Policy by hash (see [`form_post_script_csp_source`]).
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit()";

/// A page language. Vietnamese is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    /// Tiếng Việt (`vi`), the default.
    #[default]
    Vi,
    /// English (`en`).
    En,
}

impl Locale {
    /// The BCP 47 tag used in `<html lang>`, cookies and `ui_locales`: `vi` or `en`.
    pub fn tag(&self) -> &'static str {
        match self {
            Locale::Vi => "vi",
            Locale::En => "en",
        }
    }

    /// Reads a language tag by its primary subtag, case-insensitively:
    /// `vi`, `vi-VN`, `EN`, `en-US`, `en_GB`… Anything else is `None`.
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("vi") {
            Some(Locale::Vi)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Locale::En)
        } else {
            None
        }
    }
}

/// Picks the page language: the citizen's own choice (`chosen`: the
/// language switcher's cookie, or a page's `lang` parameter), then the first
/// supported tag of the service's `ui_locales` (space-separated, in
/// preference order; OIDC Core §3.1.2.1), then the best supported
/// `Accept-Language` range by q-value (RFC 9110 §12.5.4), else Vietnamese.
/// A click on the switcher beats `ui_locales`, which is only the service's
/// guess: otherwise the switch would not hold during its sign-in.
pub fn negotiate(ui_locales: Option<&str>, chosen: Option<&str>, accept_language: Option<&str>) -> Locale {
    if let Some(l) = chosen.and_then(Locale::parse) {
        return l;
    }
    if let Some(l) = ui_locales.and_then(|s| s.split_whitespace().find_map(Locale::parse)) {
        return l;
    }
    accept_language.and_then(best_accept_language).unwrap_or_default()
}

/// The supported language with the highest q-value; the earlier wins a tie.
/// `*` stands for the default language; `q=0` means "not acceptable".
fn best_accept_language(header: &str) -> Option<Locale> {
    let mut best: Option<(Locale, u16)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim();
        let mut q: u16 = 1000;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = parse_qvalue(v.trim()).unwrap_or(0);
            }
        }
        let locale = if range == "*" { Some(Locale::default()) } else { Locale::parse(range) };
        if let Some(l) = locale
            && q > 0
            && best.is_none_or(|(_, bq)| q > bq)
        {
            best = Some((l, q));
        }
    }
    best.map(|(l, _)| l)
}

/// A q-value in thousandths (`0.8` → 800); `None` if malformed.
fn parse_qvalue(v: &str) -> Option<u16> {
    let f: f32 = v.parse().ok()?;
    if (0.0..=1.0).contains(&f) {
        // Bounded to 0..=1000 by the range check above.
        Some((f * 1000.0).round() as u16)
    } else {
        None
    }
}

/// The message for `key` in `locale`, or the key itself when it is unknown.
/// A `&'static str` key gives a `&'static str` back.
pub fn text(locale: Locale, key: &str) -> &str {
    match i18n::MESSAGES.iter().find(|(k, _, _)| *k == key) {
        Some((_, vi, _)) if locale == Locale::Vi => vi,
        Some((_, _, en)) => en,
        None => key,
    }
}

/// Like [`text`], with `{name}` placeholders filled from `args`,
/// e.g. `text_with(locale, "err.throttled", &[("n", "30")])`.
pub fn text_with(locale: Locale, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = text(locale, key).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// The CSP source that allows [`FORM_POST_SCRIPT`]: `'sha256-<base64>'`
/// (CSP Level 3 §2.3.1, hash-source).
pub fn form_post_script_csp_source() -> String {
    use base64::Engine as _;
    let digest = openssl::sha::sha256(FORM_POST_SCRIPT.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The page renderer: an environment over the embedded templates.
pub struct Pages {
    /// Each template is compiled on its first render and kept. Compiling them
    /// all at start-up would keep minijinja's compiler and every compiled
    /// template in memory (about 0.9 MiB) in a node that may serve tokens
    /// only; the templates are part of the binary, so the test
    /// `every_embedded_template_compiles` is what a start-up check would be.
    env: Environment<'static>,
}

impl Pages {
    /// The renderer over the embedded templates (compiled on first use).
    pub fn new() -> Result<Pages, Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        // Handlers may leave optional keys out or pass `None`: both render as
        // nothing rather than failing or printing "none".
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_formatter(format_value);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("t", translate);
        env.set_loader(|name| Ok(TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, source)| (*source).to_owned())));
        Ok(Pages { env })
    }

    /// Renders template `name` (e.g. `"login.html"`) with `ctx` plus `lang`
    /// (the locale tag) and the `t(key, name=value…)` function.
    pub fn render(&self, name: &str, locale: Locale, ctx: Value) -> Result<String, Error> {
        let template = self.env.get_template(name)?;
        template.render(merge_maps([context! { lang => locale.tag() }, ctx]))
    }
}

/// Writes a value into a template: `None` as nothing; in HTML, text is
/// escaped for element content and quoted attributes (`& < > " '`). Unlike
/// minijinja's default it leaves `/` alone, so URLs stay readable.
fn format_value(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    if value.is_none() {
        return Ok(());
    }
    if state.auto_escape() != AutoEscape::Html || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut rest = text.as_str();
    let write_err = |_| Error::new(minijinja::ErrorKind::WriteFailure, "cannot write output");
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        let entity = match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        };
        out.write_str(&rest[..i]).map_err(write_err)?;
        out.write_str(entity).map_err(write_err)?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest).map_err(write_err)
}

/// The template function `t(key, name=value…)`: the message for `key` in the
/// page's `lang`, with each `{name}` replaced by its value. `None` and
/// undefined values leave the placeholder out. The result is plain text,
/// so the template escapes it (and any value put into it).
fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let locale = state.lookup("lang").and_then(|v| v.as_str().and_then(Locale::parse)).unwrap_or_default();
    let mut s = text(locale, key).to_owned();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let value = if value.is_none() || value.is_undefined() { String::new() } else { value.to_string() };
        s = s.replace(&format!("{{{name}}}"), &value);
    }
    kwargs.assert_all_used()?;
    Ok(s)
}

#[cfg(test)]
mod tests;
