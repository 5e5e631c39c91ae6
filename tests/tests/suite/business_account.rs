//! The citizen's businesses pages as two citizens use them: A registers a business (and a
//! wrong tax code is refused with the reason), invites B by national ID, B accepts, A sees B
//! active and removes them, and the refusals a citizen meets (the last legal representative
//! cannot leave, a non-representative cannot invite).

use e2e::{Browser, Idp, Page};

/// A browser signed in with a password (no relying party: straight to the login page).
fn signed_in(idp: &Idp, national_id: &str, password: &str) -> Browser {
    let browser = Browser::new(idp);
    let done = browser.submit_login(&idp.url("/login"), national_id, password);
    assert_eq!(done.status, 303, "{done:?}");
    browser
}

/// Load `path` (signed in), then post its form to `action` with its CSRF token and `fields`.
fn submit(idp: &Idp, browser: &Browser, path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
    let page = browser.get(&idp.url(path));
    assert_eq!(page.status, 200, "{page:?}");
    let csrf = page.hidden("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post_form(&idp.url(action), &all)
}

/// [`submit`], then follow the 303 back to the page and return its visible text.
fn change(idp: &Idp, browser: &Browser, path: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let done = submit(idp, browser, path, action, fields);
    assert_eq!(done.status, 303, "{action}: {}", done.text());
    let back = browser.get(&done.location.expect("303 has a Location"));
    assert_eq!(back.status, 200, "{back:?}");
    back.text()
}

/// The `value` of the remove button of the member row that mentions `who`.
fn member_button(page: &Page, who: &str) -> String {
    let row = page.body.find(who).unwrap_or_else(|| panic!("{who} not listed: {}", page.text()));
    let rest = &page.body[row..];
    let at = rest.find(r#"name="member" value=""#).expect("a remove button") + r#"name="member" value=""#.len();
    rest[at..at + rest[at..].find('"').expect("closing quote")].to_owned()
}

#[test]
fn citizens_register_invite_accept_and_remove_through_the_account_pages() {
    let idp = Idp::start();
    let a = idp.citizen();
    let b = idp.create_user("079188001234", "Trần Thị Bình", "binh.tran@example.vn", "Mua-xuan-ha-noi-2025");
    let (ab, bb) = (signed_in(&idp, &a.national_id, &a.password), signed_in(&idp, &b.national_id, &b.password));
    const OVERVIEW: &str = "/account/businesses?lang=en";
    const MEMBERS: &str = "/account/businesses/0100109106?lang=en";

    // The account page links to the businesses page.
    assert!(ab.get(&idp.url("/account")).body.contains(r#"href="/account/businesses""#));

    // A wrong check digit is refused with the reason, in the page's language.
    let fields = [("tax_code", "0100109105"), ("name", "Công ty TNHH Hoa Sen"), ("address", "")];
    let wrong = submit(&idp, &ab, OVERVIEW, OVERVIEW, &fields);
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(
        wrong.text().contains("the check digit (the tenth digit) does not match the first nine"),
        "{}",
        wrong.text()
    );
    let vi = submit(&idp, &ab, "/account/businesses?lang=vi", "/account/businesses?lang=vi", &fields);
    assert!(vi.text().contains("chữ số kiểm tra (chữ số thứ mười) không khớp"), "{}", vi.text());

    // A registers the business and is its legal representative.
    let fields = [("tax_code", "0100109106"), ("name", "Công ty TNHH Hoa Sen"), ("address", "12 Tràng Tiền, Hà Nội")];
    let page = change(&idp, &ab, OVERVIEW, OVERVIEW, &fields);
    assert!(page.contains("The business is registered."), "{page}");
    assert!(page.contains("Công ty TNHH Hoa Sen · 0100109106 · Legal representative · self-declared"), "{page}");

    // A invites B as authorised staff; B sees the invitation and accepts it.
    let invite = [("national_id", b.national_id.as_str()), ("role", "authorised_staff"), ("expires", "2099-12-31")];
    let page = change(&idp, &ab, MEMBERS, "/account/businesses/0100109106/invite?lang=en", &invite);
    assert!(page.contains("*********234 · Authorised staff · invited, not yet accepted"), "{page}");
    assert!(!page.contains("Trần Thị Bình"), "no name before the invitation is accepted: {page}");
    let invited = bb.get(&idp.url(OVERVIEW)).text();
    assert!(invited.contains("Invitations Công ty TNHH Hoa Sen · 0100109106 · Authorised staff"), "{invited}");
    let page = change(&idp, &bb, OVERVIEW, "/account/businesses/0100109106/accept?lang=en", &[]);
    assert!(page.contains("You accepted the invitation"), "{page}");
    assert!(page.contains("Công ty TNHH Hoa Sen · 0100109106 · Authorised staff · self-declared · until 31/12/2099"));

    // B is no legal representative: their invite is refused and changes nothing.
    let c = [("national_id", a.national_id.as_str()), ("role", "legal_representative"), ("expires", "")];
    let refused = submit(&idp, &bb, OVERVIEW, "/account/businesses/0100109106/invite?lang=en", &c);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.text().contains("Only a legal representative of the business may do this."), "{}", refused.text());
    assert_eq!(bb.get(&idp.url(MEMBERS)).status, 403, "B cannot open the members page");

    // A sees B active, and removes them; B no longer acts for the business.
    let members = ab.get(&idp.url(MEMBERS));
    assert!(members.text().contains("Trần Thị Bình · *********234 · Authorised staff · active"), "{}", members.text());
    assert!(!members.text().contains("invited, not yet accepted"), "{}", members.text());
    let b_member = member_button(&members, "Trần Thị Bình");
    let page = change(&idp, &ab, MEMBERS, "/account/businesses/0100109106/remove?lang=en", &[("member", &b_member)]);
    assert!(page.contains("The member was removed.") && !page.contains("Trần Thị Bình"), "{page}");
    let gone = bb.get(&idp.url(OVERVIEW)).text();
    assert!(gone.contains("You do not act for any business yet.") && !gone.contains("0100109106"), "{gone}");

    // A cannot leave as the last legal representative.
    let last = submit(&idp, &ab, OVERVIEW, "/account/businesses/0100109106/leave?lang=en", &[]);
    assert_eq!(last.status, 409, "{last:?}");
    assert!(last.text().contains("The business must keep at least one legal representative."), "{}", last.text());
    assert!(last.text().contains("Công ty TNHH Hoa Sen · 0100109106 · Legal representative"), "{}", last.text());
}
