//! Pairwise subject identifiers (OIDC Core §8): clients of one sector see the same `sub` for a
//! citizen, clients of another sector a different one, public clients the account's public one;
//! the sector document is fetched and checked at registration (OIDC Core §8.1, Registration §5).

use std::io::{Read as _, Write as _};
use std::time::Duration;

use e2e::server::free_ports;
use e2e::{Browser, Credentials, Idp, Rp, TestClient, query_param};
use serde_json::{Value, json};

use super::logout::{Receiver, check_logout_token};

/// Serves `body` as `application/json` at `http://127.0.0.1:<port>/sector.json`, as a sector
/// identifier document host would.
fn serve_document(body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sector.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// `idp-admin client register` with exactly `redirect_uri` and `extra`, in the test organisation.
fn register(idp: &Idp, redirect_uri: &str, extra: &[&str]) -> TestClient {
    register_in(idp, idp.ensure_org(), redirect_uri, extra)
}

/// `idp-admin client register` with exactly `redirect_uri` and `extra`, in organisation `org`.
fn register_in(idp: &Idp, org: &str, redirect_uri: &str, extra: &[&str]) -> TestClient {
    let mut args =
        vec!["client", "register", "--name", "Dịch vụ", "--org", org, "--type", "confidential", "--redirect-uri"];
    args.push(redirect_uri);
    args.extend_from_slice(extra);
    let out = idp.admin_json(&args);
    let view = out["client"].clone();
    TestClient {
        client_id: view["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {out}")).to_owned(),
        secret: out["client_secret"].as_str().map(str::to_owned),
        redirect_uri: redirect_uri.to_owned(),
        view,
    }
}

fn sub(v: &Value) -> String {
    v["sub"].as_str().unwrap_or_else(|| panic!("no sub in {v}")).to_owned()
}

#[test]
fn pairwise_subjects_are_shared_within_a_sector_and_differ_across() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [pa1, pa2, pb, pbc] = free_ports();
    let (a1_uri, a2_uri) = (format!("http://127.0.0.1:{pa1}/cb"), format!("http://127.0.0.1:{pa2}/cb"));
    // Sector 127.0.0.1: one document lists both services' redirect URIs.
    let doc = serve_document(json!([a1_uri, a2_uri]).to_string());
    let bc = format!("http://127.0.0.1:{pbc}/bc");
    let rx = Receiver::listen(pbc);
    let pairwise = ["--subject-type", "pairwise", "--sector-identifier-uri", doc.as_str()];
    let a1 = register(&idp, &a1_uri, &[&pairwise[..], &["--backchannel-logout-uri", &bc]].concat());
    let a2 = register(&idp, &a2_uri, &pairwise);
    // Sector localhost of the test organisation: no document, the redirect URI's host is the
    // sector, the organisation's own.
    let b = register(&idp, &format!("http://localhost:{pb}/cb"), &["--subject-type", "pairwise"]);
    let public = idp.register_client(&[]);
    assert_eq!(
        (a1.view["subject_type"].as_str(), a1.view["sector_identifier"].as_str()),
        (Some("pairwise"), Some("127.0.0.1"))
    );
    assert_eq!(a1.view["sector_identifier_uri"], doc.as_str());
    let own_localhost = format!("{}:localhost", b.view["organisation_id"].as_str().unwrap());
    assert_eq!(
        (b.view["subject_type"].as_str(), b.view["sector_identifier"].as_str()),
        (Some("pairwise"), Some(own_localhost.as_str()))
    );
    assert_eq!(
        (public.view["subject_type"].as_str(), public.view["sector_identifier"].as_str()),
        (Some("public"), None)
    );

    let browser = Browser::new(&idp);
    let password = Credentials::Password(&citizen.national_id, &citizen.password);
    let consent = [("prompt", "consent")];
    let (rp_a1, rp_a2, rp_b, rp_public) =
        (Rp::new(&idp, &a1), Rp::new(&idp, &a2), Rp::new(&idp, &b), Rp::new(&idp, &public));
    let t_a1 = rp_a1.sign_in(&browser, &["offline_access"], &consent, password);
    let t_a2 = rp_a2.sign_in(&browser, &[], &[], Credentials::None);
    let t_b = rp_b.sign_in(&browser, &[], &[], Credentials::None);
    let t_public = rp_public.sign_in(&browser, &[], &[], Credentials::None);
    let (s_a1, s_a2, s_b, s_public) =
        (sub(&t_a1.id_payload), sub(&t_a2.id_payload), sub(&t_b.id_payload), sub(&t_public.id_payload));
    assert_eq!(s_a1, s_a2, "one sector, one sub");
    assert_ne!(s_a1, s_b, "another sector, another sub");
    assert!(s_public != s_a1 && s_public != s_b, "the public sub is not a pairwise one");
    assert_eq!(s_public, citizen.view["subject"].as_str().unwrap(), "public clients get the account's subject");
    assert!(![&s_a1, &s_b, &s_public].iter().any(|s| s.contains(&citizen.national_id)), "never the national ID");

    // UserInfo and introspection use the same sub as the ID token.
    for (rp, t, s) in [(&rp_a1, &t_a1, &s_a1), (&rp_b, &t_b, &s_b)] {
        assert_eq!(sub(rp.userinfo(&t.access_token).ok_json()), *s);
    }
    let refresh = t_a1.refresh_token.as_deref().expect("a refresh token with offline_access");
    let introspected = rp_a1.introspect(refresh).ok_json().clone();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(sub(&introspected), s_a1);

    // An id_token_hint names the citizen by the client's pairwise sub: a silent request succeeds.
    let hint = t_a1.response.extra_fields().id_token().expect("an ID token").to_string();
    let silent = rp_a1.authorize(&[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let redirect = browser.get(&silent.url).location.expect("redirect to the client");
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");

    // The logout token to a pairwise client carries its pairwise sub; the hint (with its sid)
    // ties the request to the session.
    let sid = t_a1.id_payload["sid"].as_str().expect("sid").to_owned();
    let mut end = idp.url("/logout");
    end.query_pairs_mut().append_pair("id_token_hint", &hint);
    let out = browser.get(&end);
    assert!(matches!(out.status, 200 | 303), "{out:?}");
    let tokens = rx.wait(Duration::from_secs(10));
    assert_eq!(tokens.len(), 1, "one notice for the one client with a back-channel endpoint");
    check_logout_token(&idp, &tokens[0], &a1.client_id, &sid, &s_a1);
}

#[test]
fn registration_checks_the_sector_document_and_the_subject_type_stays() {
    let idp = Idp::start();
    let org = idp.ensure_org();
    let [p1, p2] = free_ports();
    let (listed, unlisted) = (format!("http://127.0.0.1:{p1}/cb"), format!("http://127.0.0.1:{p2}/cb"));
    let doc = serve_document(json!([listed]).to_string());
    let register = |redirect: &str, extra: &[&str]| {
        let mut args = vec!["client", "register", "--name", "Dịch vụ", "--org", org, "--type", "confidential"];
        args.extend_from_slice(&["--redirect-uri", redirect]);
        args.extend_from_slice(extra);
        idp.admin(&args)
    };
    let one_line = |out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "stderr {err:?}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "not one line: {err:?}");
        lines[0].to_owned()
    };

    let refused = register(&unlisted, &["--subject-type", "pairwise", "--sector-identifier-uri", &doc]);
    let line = one_line(&refused);
    assert!(line.contains("does not list the redirect URI") && line.contains(&unlisted), "{line}");

    // A sector document is for pairwise clients only.
    let line = one_line(&register(&listed, &["--sector-identifier-uri", &doc]));
    assert!(line.contains("only for pairwise clients"), "{line}");

    let ok = register(&listed, &["--subject-type", "pairwise", "--sector-identifier-uri", &doc, "--json"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let view: Value = serde_json::from_slice(&ok.stdout).unwrap();
    let id = view["client"]["client_id"].as_str().unwrap().to_owned();
    // The subject type cannot change; a redirect URI outside the document is refused on update too.
    let line = one_line(&idp.admin(&["client", "update", &id, "--subject-type", "public"]));
    assert!(line.contains("subject_type cannot change"), "{line}");
    let line = one_line(&idp.admin(&["client", "update", &id, "--redirect-uri", &unlisted]));
    assert!(line.contains("does not list the redirect URI"), "{line}");
    let shown = String::from_utf8_lossy(&idp.admin(&["client", "show", &id]).stdout).into_owned();
    assert!(shown.contains("pairwise") && shown.contains(&doc), "{shown}");
}

#[test]
fn unproven_sectors_are_per_organisation() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [pa, pb, pa_doc, pb_doc] = free_ports();
    let pairwise = ["--subject-type", "pairwise"];
    // Organisation A's service: no document, so its sector is A's own on the host 127.0.0.1.
    let a = register(&idp, &format!("http://127.0.0.1:{pa}/cb"), &pairwise);
    let a_org = a.view["organisation_id"].as_str().unwrap();
    assert_eq!(a.view["sector_identifier"], format!("{a_org}:127.0.0.1"));

    // OIDC Core §8.1: organisation B naming a redirect URI on that host proves nothing, and
    // gets a sector of its own: its token exchanges can never reveal A's subjects.
    let b_org = "bo-tai-chinh";
    idp.admin_json(&["org", "create", "--code", b_org, "--name", "Bộ Tài chính", "--kind", "ministry"]);
    let b = register_in(&idp, b_org, &format!("http://127.0.0.1:{pb}/cb"), &pairwise);
    let b_org_id = b.view["organisation_id"].as_str().unwrap();
    assert_ne!(b_org_id, a_org);
    assert_eq!(b.view["sector_identifier"], format!("{b_org_id}:127.0.0.1"));

    // A document on the host, listing the redirect URIs, is the proof of control: both
    // organisations' proven clients share the sector 127.0.0.1.
    let (a_doc_uri, b_doc_uri) = (format!("http://127.0.0.1:{pa_doc}/cb"), format!("http://127.0.0.1:{pb_doc}/cb"));
    let doc = serve_document(json!([a_doc_uri, b_doc_uri]).to_string());
    let proven = [&pairwise[..], &["--sector-identifier-uri", doc.as_str()]].concat();
    let a_proven = register(&idp, &a_doc_uri, &proven);
    let b_proven = register_in(&idp, b_org, &b_doc_uri, &proven);
    assert_eq!(a_proven.view["sector_identifier"], "127.0.0.1");
    assert_eq!(b_proven.view["sector_identifier"], "127.0.0.1");

    let browser = Browser::new(&idp);
    let password = Credentials::Password(&citizen.national_id, &citizen.password);
    let mut subs = Vec::new();
    for (i, client) in [&a, &b, &a_proven, &b_proven].into_iter().enumerate() {
        let creds = if i == 0 { password } else { Credentials::None };
        subs.push(sub(&Rp::new(&idp, client).sign_in(&browser, &[], &[], creds).id_payload));
    }
    let [s_a, s_b, s_a_proven, s_b_proven] = <[String; 4]>::try_from(subs).unwrap();
    assert_ne!(s_a, s_b, "unproven sectors of two organisations, two subs");
    assert_eq!(s_a_proven, s_b_proven, "one proven sector, one sub");
    assert!(![&s_a, &s_b].contains(&&s_a_proven), "a proven sector is never an unproven one");
}
