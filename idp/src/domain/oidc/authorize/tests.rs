//! Decisions of the authorization endpoint.

use super::*;

fn req(prompt: &[&str], max_age: Option<i64>) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "c".into(),
        return_to: ReturnTo { redirect_uri: "https://rp/cb".into(), response_mode: ResponseMode::Query, state: None },
        scopes: vec!["openid".into(), "email".into()],
        nonce: None,
        code_challenge: None,
        prompt: prompt.iter().map(|s| s.to_string()).collect(),
        max_age,
        login_hint: None,
        hint_subject: None,
        ui_locales: None,
        acr_values: vec![],
        claims: None,
        required_acr: "LoA1".into(),
        business_hint: None,
        dpop_jkt: None,
    }
}

/// `fresh_login`, `consent_shown`, `has_passkey`, no business step.
fn p(fresh_login: bool, consent_shown: bool, has_passkey: bool) -> Progress {
    Progress { fresh_login, consent_shown, has_passkey, business: BusinessChoice::default() }
}

const ISSUE: Step = Step::Issue(Acting::Myself);

fn who(auth_time: Timestamp) -> SignedIn {
    SignedIn {
        account_id: "a".into(),
        subject: "s".into(),
        sid: "sid".into(),
        auth_time,
        acr: "LoA1".into(),
        amr: vec!["pwd".into()],
    }
}

fn consent(scopes: &[&str]) -> Consent {
    Consent {
        account_id: "a".into(),
        client_id: "c".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        granted_at: 0,
    }
}

#[test]
fn decisions_follow_prompt_max_age_and_consent() {
    let all = consent(&["email", "openid"]);
    assert_eq!(decide(&req(&[], None), None, None, &p(false, false, false), 100), Step::Login);
    assert!(
        matches!(decide(&req(&["none"], None), None, None, &p(false, false, false), 100), Step::Fail(e) if e.code == E::LoginRequired)
    );
    assert_eq!(decide(&req(&[], None), Some(&who(50)), Some(&all), &p(false, false, false), 100), ISSUE);
    assert_eq!(decide(&req(&["login"], None), Some(&who(50)), Some(&all), &p(false, false, false), 100), Step::Login);
    assert_eq!(decide(&req(&["login"], None), Some(&who(99)), Some(&all), &p(true, false, false), 100), ISSUE);
    assert_eq!(decide(&req(&[], Some(10)), Some(&who(50)), Some(&all), &p(false, false, false), 100), Step::Login);
    assert_eq!(decide(&req(&[], Some(60)), Some(&who(50)), Some(&all), &p(false, false, false), 100), ISSUE);
    let partial = consent(&["openid"]);
    assert_eq!(decide(&req(&[], None), Some(&who(50)), Some(&partial), &p(false, false, false), 100), Step::Consent);
    assert!(
        matches!(decide(&req(&["none"], None), Some(&who(50)), Some(&partial), &p(false, false, false), 100), Step::Fail(e) if e.code == E::ConsentRequired)
    );
    assert_eq!(
        decide(&req(&["consent"], None), Some(&who(50)), Some(&all), &p(false, false, false), 100),
        Step::Consent
    );
    assert_eq!(decide(&req(&["consent"], None), Some(&who(50)), Some(&all), &p(false, true, false), 100), ISSUE);
    let mut other = req(&[], None);
    other.hint_subject = Some("someone-else".into());
    assert_eq!(decide(&other, Some(&who(50)), Some(&all), &p(false, false, false), 100), Step::Login);
}

#[test]
fn required_acr_is_the_strongest_demand() {
    let essential = |values: &[&str]| {
        let v: Vec<String> = values.iter().map(|s| format!("{s:?}")).collect();
        ClaimsRequest::parse(&format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":[{}]}}}}}}"#, v.join(",")))
            .unwrap()
    };
    let none: &[String] = &[];
    assert_eq!(required_acr("LoA1", none, None), "LoA1");
    assert_eq!(required_acr("LoA2", none, None), "LoA2");
    assert_eq!(required_acr("bogus", none, None), "LoA1");
    assert_eq!(required_acr("LoA1", &["LoA2".into()], None), "LoA2");
    assert_eq!(required_acr("LoA1", &["LoA1".into()], None), "LoA1");
    // acr_values lists acceptable levels in order of preference: any will do,
    // so the weakest known one decides (the conformance suite sends every
    // value of acr_values_supported and expects a password session to pass).
    assert_eq!(required_acr("LoA1", &["LoA2".into(), "LoA1".into()], None), "LoA1");
    assert_eq!(required_acr("LoA1", &["LoA1".into(), "LoA2".into()], None), "LoA1");
    assert_eq!(required_acr("LoA1", &["urn:unknown".into(), "LoA2".into()], None), "LoA2");
    assert_eq!(required_acr("LoA1", none, Some(&essential(&["LoA2"]))), "LoA2");
    // Any listed value satisfies an essential claim: the weakest one decides.
    assert_eq!(required_acr("LoA1", none, Some(&essential(&["LoA2", "LoA1"]))), "LoA1");
    // The client's minimum is never lowered by the request.
    assert_eq!(required_acr("LoA2", &["LoA1".into()], Some(&essential(&["LoA1"]))), "LoA2");
}

#[test]
fn a_weaker_session_steps_up_or_fails_per_oidc() {
    let all = consent(&["email", "openid"]);
    let mut strict = req(&[], None);
    strict.required_acr = "LoA2".into();
    // A password session with a passkey on the account: the step-up page.
    assert_eq!(decide(&strict, Some(&who(50)), Some(&all), &p(false, false, true), 100), Step::StepUp);
    // Even right after a password login in this request.
    assert_eq!(decide(&strict, Some(&who(99)), Some(&all), &p(true, false, true), 100), Step::StepUp);
    // No passkey: the RP learns the level cannot be met.
    let step = decide(&strict, Some(&who(50)), Some(&all), &p(false, false, false), 100);
    assert!(matches!(step, Step::Fail(ref e) if e.code == E::UnmetAuthenticationRequirements), "{step:?}");
    // prompt=none cannot show the step-up page.
    let mut silent = strict.clone();
    silent.prompt = vec!["none".into()];
    let step = decide(&silent, Some(&who(50)), Some(&all), &p(false, false, true), 100);
    assert!(matches!(step, Step::Fail(ref e) if e.code == E::LoginRequired), "{step:?}");
    // Not signed in: the login page first (a passkey there is enough).
    assert_eq!(decide(&strict, None, None, &p(false, false, false), 100), Step::Login);
    // A passkey session goes through.
    let strong = SignedIn { acr: "LoA2".into(), amr: vec!["hwk".into(), "user".into(), "mfa".into()], ..who(50) };
    assert_eq!(decide(&strict, Some(&strong), Some(&all), &p(false, false, true), 100), ISSUE);
    // A LoA2 session satisfies a LoA1 request.
    assert_eq!(decide(&req(&[], None), Some(&strong), Some(&all), &p(false, false, false), 100), ISSUE);
}

/// A request with the `business` scope, and what the business step knows.
fn business_req(prompt: &[&str], hint: Option<&str>) -> AuthorizationRequest {
    let mut r = req(prompt, None);
    r.scopes.push("business".into());
    r.business_hint = hint.map(str::to_owned);
    r
}

fn business(chosen: Option<Acting>, options: &[(&str, &str)], self_allowed: bool) -> Progress {
    let options = options.iter().map(|(id, tax)| (id.to_string(), tax.to_string())).collect();
    Progress { business: BusinessChoice { chosen, options, self_allowed, remembered: None }, ..p(false, false, false) }
}

#[test]
fn the_business_step_comes_after_sign_in_and_before_consent() {
    let all = consent(&["business", "email", "openid"]);
    let two = [("b1", "0100109106"), ("b2", "0101245486")];
    let first = business(None, &two, false);
    // Signed in, consented before: the chooser still comes (the choice is per authorization).
    assert_eq!(decide(&business_req(&[], None), Some(&who(50)), Some(&all), &first, 100), Step::ChooseBusiness);
    // Not signed in: the login page first.
    assert_eq!(decide(&business_req(&[], None), None, None, &first, 100), Step::Login);
    // A weaker session than needed: step-up first.
    let mut strict = business_req(&[], None);
    strict.required_acr = "LoA2".into();
    let needs_passkey = Progress { has_passkey: true, ..first.clone() };
    assert_eq!(decide(&strict, Some(&who(50)), Some(&all), &needs_passkey, 100), Step::StepUp);
    // Chosen: consent next when the business scope was not agreed to yet, then the code.
    let chose = business(Some(Acting::Business("b2".into())), &two, false);
    let old = consent(&["email", "openid"]);
    assert_eq!(decide(&business_req(&[], None), Some(&who(50)), Some(&old), &chose, 100), Step::Consent);
    let step = decide(&business_req(&[], None), Some(&who(50)), Some(&all), &chose, 100);
    assert_eq!(step, Step::Issue(Acting::Business("b2".into())));
    // Without the business scope nothing is asked, whatever the citizen could act for.
    assert_eq!(decide(&req(&[], None), Some(&who(50)), Some(&all), &first, 100), ISSUE);
}

#[test]
fn a_choice_counts_only_while_it_is_open_to_the_citizen() {
    let all = consent(&["business", "email", "openid"]);
    let r = business_req(&[], None);
    // The membership ended after the choice: choose again.
    let gone = business(Some(Acting::Business("b9".into())), &[("b1", "0100109106")], false);
    assert_eq!(decide(&r, Some(&who(50)), Some(&all), &gone, 100), Step::ChooseBusiness);
    // "Myself" only where the client allows it.
    let myself_refused = business(Some(Acting::Myself), &[("b1", "0100109106")], false);
    assert_eq!(decide(&r, Some(&who(50)), Some(&all), &myself_refused, 100), Step::ChooseBusiness);
    let myself = business(Some(Acting::Myself), &[], true);
    assert_eq!(decide(&r, Some(&who(50)), Some(&all), &myself, 100), ISSUE);
    // Nothing to choose from: the chooser page explains it (and offers the way back).
    assert_eq!(decide(&r, Some(&who(50)), Some(&all), &business(None, &[], false), 100), Step::ChooseBusiness);
}

/// `prompt=none`: what was chosen at this client in this session, else nothing.
fn remembered(r: Option<Acting>, options: &[(&str, &str)], self_allowed: bool) -> Progress {
    let mut progress = business(None, options, self_allowed);
    progress.business.remembered = r;
    progress
}

#[test]
fn prompt_none_reuses_only_the_choice_made_at_this_client_in_this_session() {
    let all = consent(&["business", "email", "openid"]);
    let two = [("b1", "0100109106"), ("b2", "0101245486")];
    let interaction = |step: Step| matches!(step, Step::Fail(ref e) if e.code == E::InteractionRequired);
    let silent = |hint: Option<&str>| business_req(&["none"], hint);
    let b2 = || Some(Acting::Business("b2".into()));
    // The business chosen here before, with or without a hint naming it.
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(b2(), &two, false), 100);
    assert_eq!(step, Step::Issue(Acting::Business("b2".into())));
    let step = decide(&silent(Some("0101245486")), Some(&who(50)), Some(&all), &remembered(b2(), &two, false), 100);
    assert_eq!(step, Step::Issue(Acting::Business("b2".into())));
    // A hint naming another business, even one the citizen may act for: nobody can be asked.
    let step = decide(&silent(Some("0100109106")), Some(&who(50)), Some(&all), &remembered(b2(), &two, false), 100);
    assert!(interaction(step.clone()), "{step:?}");
    // Never picked from the memberships: not the hinted one, not the only one.
    let step = decide(&silent(Some("0100109106")), Some(&who(50)), Some(&all), &remembered(None, &two, false), 100);
    assert!(interaction(step.clone()), "{step:?}");
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(None, &two[..1], false), 100);
    assert!(interaction(step.clone()), "{step:?}");
    // Nor "myself" where the client allows it: a session that signed in here only without the
    // `business` scope remembers no choice (the store answers `None`), so nothing is reused.
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(None, &[], true), 100);
    assert!(interaction(step.clone()), "{step:?}");
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(None, &two, true), 100);
    assert!(interaction(step.clone()), "{step:?}");
    // The citizen may no longer act for the business chosen then.
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(b2(), &two[..1], false), 100);
    assert!(interaction(step.clone()), "{step:?}");
    // "Myself" chosen here before: while the client allows it, and never against a hint.
    let myself = || Some(Acting::Myself);
    assert_eq!(decide(&silent(None), Some(&who(50)), Some(&all), &remembered(myself(), &two, true), 100), ISSUE);
    let step = decide(&silent(None), Some(&who(50)), Some(&all), &remembered(myself(), &two, false), 100);
    assert!(interaction(step.clone()), "{step:?}");
    let step = decide(&silent(Some("0100109106")), Some(&who(50)), Some(&all), &remembered(myself(), &two, true), 100);
    assert!(interaction(step.clone()), "{step:?}");
    // Without the consent the answer is consent_required whatever the businesses, so
    // it tells nothing about them.
    let old = consent(&["email", "openid"]);
    for progress in [remembered(b2(), &two, false), remembered(None, &two, false), remembered(None, &[], false)] {
        let step = decide(&silent(None), Some(&who(50)), Some(&old), &progress, 100);
        assert!(matches!(step, Step::Fail(ref e) if e.code == E::ConsentRequired), "{step:?}");
    }
}

/// RFC 8252 §7.3: a native app's loopback redirect matches on any port; every
/// other part, and every other URI, must be exactly the registered text.
#[test]
fn loopback_redirect_uris_match_on_any_port_and_nothing_else_loosens() {
    use super::redirect_matches;
    for (registered, presented) in [
        ("https://rp.example.vn/cb", "https://rp.example.vn/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/cb"),
        ("http://127.0.0.1:8080/cb?x=1", "http://127.0.0.1/cb?x=1"),
        ("http://[::1]:8080/cb", "http://[::1]:61000/cb"),
        ("http://127.0.0.1:80/cb", "http://127.0.0.1:51004/cb"),
    ] {
        assert!(redirect_matches(registered, presented), "{registered} vs {presented}");
    }
    for (registered, presented) in [
        ("https://rp.example.vn/cb", "https://rp.example.vn:8443/cb"),
        ("http://localhost:8080/cb", "http://localhost:51004/cb"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/cb/"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/CB"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.2:51004/cb"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/cb?x=1"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/a/../cb"),
        ("http://127.0.0.1:8080/cb", "https://127.0.0.1:51004/cb"),
        ("http://127.0.0.1:8080/cb", "http://user@127.0.0.1:51004/cb"),
    ] {
        assert!(!redirect_matches(registered, presented), "{registered} vs {presented}");
    }
}
