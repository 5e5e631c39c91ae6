use std::process::Output;

use e2e::{Browser, Idp, SignUpForm};

const VALID: &str = "0100109106";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A refused command: exit code 1, nothing on stdout, one line `idp-admin: <message>`; the message.
fn one_line_failure(what: &str, out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{what}: status {}, stderr {err:?}", out.status);
    assert!(stdout(out).trim().is_empty(), "{what}: stdout {:?}", stdout(out));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: stderr is not one line: {err:?}");
    lines[0].strip_prefix("idp-admin: ").unwrap_or_else(|| panic!("{what}: {err:?}")).to_owned()
}

fn run_ok(idp: &Idp, args: &[&str]) -> String {
    let out = idp.admin(args);
    assert!(out.status.success(), "idp-admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    stdout(&out)
}

#[test]
fn businesses_are_registered_checked_listed_and_shown() {
    let idp = Idp::start();
    let text = run_ok(&idp, &["business", "create", "--tax-code", VALID, "--name", "Công ty Điện lực Hà Nội"]);
    assert!(text.contains(VALID) && text.contains("Công ty Điện lực Hà Nội"), "{text}");

    let list = idp.admin_json(&["business", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!((list[0]["tax_code"].as_str(), list[0]["verified"].as_bool()), (Some(VALID), Some(true)));
    let table = run_ok(&idp, &["business", "list"]);
    assert!(table.starts_with("TAX_CODE") && table.contains(VALID), "{table}");
    let shown = idp.admin_json(&["business", "show", VALID]);
    assert_eq!(shown["business"]["name"], "Công ty Điện lực Hà Nội");
    assert_eq!(shown["members"], serde_json::json!([]));

    // The tenth digit is the check digit of the first nine (Circular 105/2020/TT-BTC).
    let bad = idp.admin(&["business", "create", "--tax-code", "0100109105", "--name", "Sai"]);
    let line = one_line_failure("wrong check digit", &bad);
    assert_eq!(line, "invalid tax code: the check digit (the tenth digit) does not match the first nine digits");
    let bad = idp.admin(&["business", "create", "--tax-code", "0100109105-001", "--name", "Chi nhánh"]);
    let line = one_line_failure("branch of an invalid parent", &bad);
    assert!(line.contains("first ten digits of a branch code must be a valid tax code"), "{line}");
    let again = idp.admin(&["business", "create", "--tax-code", VALID, "--name", "Lần hai"]);
    let line = one_line_failure("duplicate", &again);
    assert_eq!(line, "a business with this tax code is already registered");
    let line = one_line_failure("unknown business", &idp.admin(&["business", "show", "0101243150"]));
    assert_eq!(line, "no business with this tax code");

    let list = idp.admin_json(&["business", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "a refused create registered something: {list}");
}

#[test]
fn members_are_added_by_national_id_removed_and_a_business_disabled() {
    let idp = Idp::start();
    let an = idp.citizen();
    idp.admin_json(&["business", "create", "--tax-code", VALID, "--name", "Công ty A"]);

    let member = idp.admin_json(&[
        "business",
        "add-member",
        VALID,
        "--national-id",
        &an.national_id,
        "--role",
        "authorised_staff",
        "--expires",
        "2099-12-31",
    ]);
    assert_eq!((member["status"].as_str(), member["name"].as_str()), (Some("active"), Some(an.full_name.as_str())));
    let shown = run_ok(&idp, &["business", "show", VALID]);
    assert!(shown.contains(&an.national_id) && shown.contains("authorised_staff"), "{shown}");
    assert!(shown.contains("2099-12-31") && shown.contains(&an.full_name), "{shown}");

    let twice =
        idp.admin(&["business", "add-member", VALID, "--national-id", &an.national_id, "--role", "authorised_staff"]);
    assert_eq!(one_line_failure("already a member", &twice), "the citizen is already a member of this business");
    let nobody =
        idp.admin(&["business", "add-member", VALID, "--national-id", "001099999999", "--role", "authorised_staff"]);
    assert!(one_line_failure("unknown citizen", &nobody).contains("national ID"));
    let bad_role = idp.admin(&["business", "add-member", VALID, "--national-id", &an.national_id, "--role", "boss"]);
    assert!(!bad_role.status.success(), "clap refuses an unknown role");

    let text = run_ok(&idp, &["business", "remove-member", VALID, "--national-id", &an.national_id]);
    assert!(text.contains("0 grant(s)"), "{text}");
    let shown = idp.admin_json(&["business", "show", VALID]);
    assert_eq!(shown["members"], serde_json::json!([]));
    let again = idp.admin(&["business", "remove-member", VALID, "--national-id", &an.national_id]);
    assert_eq!(one_line_failure("not a member", &again), "the citizen is not a member of this business");

    let disabled = idp.admin_json(&["business", "disable", VALID]);
    assert_eq!(
        (disabled["business"]["status"].as_str(), disabled["grants_revoked"].as_u64()),
        (Some("disabled"), Some(0))
    );
    let late =
        idp.admin(&["business", "add-member", VALID, "--national-id", &an.national_id, "--role", "authorised_staff"]);
    assert_eq!(one_line_failure("disabled business", &late), "the business is disabled");

    // Every change is in the audit trail under the tax code.
    let events = idp.admin_json(&["audit", "search", "--target", VALID]);
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["business.create", "business.member_add", "business.member_remove", "business.disable"] {
        assert!(actions.contains(&action), "{action} not audited: {actions:?}");
    }
}

/// A browser signed in with a password (no relying party: straight to the login page).
fn signed_in(idp: &Idp, national_id: &str, password: &str) -> Browser {
    let browser = Browser::new(idp);
    let done = browser.submit_login(&idp.url("/login"), national_id, password);
    assert_eq!(done.status, 303, "{done:?}");
    browser
}

/// Load `path` (signed in), post its form to `path` with its CSRF token and `fields`; the 303's target.
fn post_on_page(idp: &Idp, browser: &Browser, path: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let page = browser.get(&idp.url(path));
    assert_eq!(page.status, 200, "{page:?}");
    let csrf = page.hidden("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let done = browser.post_form(&idp.url(action), &all);
    assert_eq!(done.status, 303, "{action}: {}", done.text());
    browser.get(&done.location.expect("303 has a Location")).text()
}

#[test]
fn an_admin_takes_over_a_self_declared_tax_code_and_adds_only_verified_citizens() {
    let idp = Idp::start();
    let an = idp.citizen();
    let binh = idp.create_user("079188001234", "Trần Thị Bình", "binh.tran@example.vn", "Mua-xuan-ha-noi-2025");
    let browser = signed_in(&idp, &an.national_id, &an.password);
    const OVERVIEW: &str = "/account/businesses?lang=en";

    // A citizen declares the tax code and invites someone.
    let fields = [("tax_code", VALID), ("name", "Công ty Giả"), ("address", "")];
    let page = post_on_page(&idp, &browser, OVERVIEW, OVERVIEW, &fields);
    assert!(page.contains("Công ty Giả · 0100109106 · Legal representative · self-declared"), "{page}");
    let invite = [("national_id", binh.national_id.as_str()), ("role", "authorised_staff"), ("expires", "")];
    let members = "/account/businesses/0100109106?lang=en";
    post_on_page(&idp, &browser, members, "/account/businesses/0100109106/invite?lang=en", &invite);
    let declared = idp.admin_json(&["business", "show", VALID]);
    assert_eq!(declared["business"]["verified"], false);
    assert_eq!(declared["members"].as_array().map(Vec::len), Some(2), "{declared}");

    // The admin registers the real business: it takes the code over.
    let real = idp.admin_json(&["business", "create", "--tax-code", VALID, "--name", "Công ty Điện lực Hà Nội"]);
    assert_eq!((real["verified"].as_bool(), real["name"].as_str()), (Some(true), Some("Công ty Điện lực Hà Nội")));
    assert_ne!(real["subject"], declared["business"]["subject"], "a new public sub for the real business");
    assert_ne!(real["id"], declared["business"]["id"], "a new id, and so new pairwise subs");
    let shown = idp.admin_json(&["business", "show", VALID]);
    assert_eq!(shown["members"], serde_json::json!([]), "the declarant and their invitee are gone");
    let page = browser.get(&idp.url(OVERVIEW)).text();
    assert!(page.contains("You do not act for any business yet.") && !page.contains(VALID), "{page}");
    let events = idp.admin_json(&["audit", "search", "--target", VALID, "--action", "business.takeover"]);
    let detail = events[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(r#""members_removed":2"#) && detail.contains(r#""grants_revoked":0"#), "{events}");

    // A verified business keeps its code.
    let again = idp.admin(&["business", "create", "--tax-code", VALID, "--name", "Lần hai"]);
    assert_eq!(one_line_failure("verified business", &again), "a business with this tax code is already registered");

    // A citizen who only signed up on the page cannot be made a member.
    let form = SignUpForm {
        national_id: "001090012346".into(),
        full_name: "Lê Văn Cường".into(),
        email: String::new(),
        password: "Suong-mu-da-lat-2025".into(),
    };
    assert_eq!(Browser::new(&idp).submit_signup("", &form).status, 303);
    let unverified =
        idp.admin(&["business", "add-member", VALID, "--national-id", "001090012346", "--role", "authorised_staff"]);
    let line = one_line_failure("unverified citizen", &unverified);
    assert_eq!(line, "this citizen's national ID number is not verified, so they cannot act for a business");
    let added = idp.admin_json(&[
        "business",
        "add-member",
        VALID,
        "--national-id",
        &binh.national_id,
        "--role",
        "legal_representative",
    ]);
    assert_eq!(added["status"], "active");
}
