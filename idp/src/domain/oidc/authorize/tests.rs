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
    }
}

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
    assert_eq!(decide(&req(&[], None), None, None, false, false, false, 100), Step::Login);
    assert!(
        matches!(decide(&req(&["none"], None), None, None, false, false, false, 100), Step::Fail(e) if e.code == E::LoginRequired)
    );
    assert_eq!(decide(&req(&[], None), Some(&who(50)), Some(&all), false, false, false, 100), Step::Issue);
    assert_eq!(decide(&req(&["login"], None), Some(&who(50)), Some(&all), false, false, false, 100), Step::Login);
    assert_eq!(decide(&req(&["login"], None), Some(&who(99)), Some(&all), true, false, false, 100), Step::Issue);
    assert_eq!(decide(&req(&[], Some(10)), Some(&who(50)), Some(&all), false, false, false, 100), Step::Login);
    assert_eq!(decide(&req(&[], Some(60)), Some(&who(50)), Some(&all), false, false, false, 100), Step::Issue);
    let partial = consent(&["openid"]);
    assert_eq!(decide(&req(&[], None), Some(&who(50)), Some(&partial), false, false, false, 100), Step::Consent);
    assert!(
        matches!(decide(&req(&["none"], None), Some(&who(50)), Some(&partial), false, false, false, 100), Step::Fail(e) if e.code == E::ConsentRequired)
    );
    assert_eq!(decide(&req(&["consent"], None), Some(&who(50)), Some(&all), false, false, false, 100), Step::Consent);
    assert_eq!(decide(&req(&["consent"], None), Some(&who(50)), Some(&all), false, true, false, 100), Step::Issue);
    let mut other = req(&[], None);
    other.hint_subject = Some("someone-else".into());
    assert_eq!(decide(&other, Some(&who(50)), Some(&all), false, false, false, 100), Step::Login);
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
    assert_eq!(decide(&strict, Some(&who(50)), Some(&all), false, false, true, 100), Step::StepUp);
    // Even right after a password login in this request.
    assert_eq!(decide(&strict, Some(&who(99)), Some(&all), true, false, true, 100), Step::StepUp);
    // No passkey: the RP learns the level cannot be met.
    let step = decide(&strict, Some(&who(50)), Some(&all), false, false, false, 100);
    assert!(matches!(step, Step::Fail(ref e) if e.code == E::UnmetAuthenticationRequirements), "{step:?}");
    // prompt=none cannot show the step-up page.
    let mut silent = strict.clone();
    silent.prompt = vec!["none".into()];
    let step = decide(&silent, Some(&who(50)), Some(&all), false, false, true, 100);
    assert!(matches!(step, Step::Fail(ref e) if e.code == E::LoginRequired), "{step:?}");
    // Not signed in: the login page first (a passkey there is enough).
    assert_eq!(decide(&strict, None, None, false, false, false, 100), Step::Login);
    // A passkey session goes through.
    let strong = SignedIn { acr: "LoA2".into(), amr: vec!["hwk".into(), "user".into(), "mfa".into()], ..who(50) };
    assert_eq!(decide(&strict, Some(&strong), Some(&all), false, false, true, 100), Step::Issue);
    // A LoA2 session satisfies a LoA1 request.
    assert_eq!(decide(&req(&[], None), Some(&strong), Some(&all), false, false, false, 100), Step::Issue);
}
