"""Security notices through a real SMTP server: a changed address or password is told to the
member, and the e-mail form never reveals whose address is taken."""

from __future__ import annotations

from fvh.ops.mail import send_due, smtp_settings
from tests.mail.mails import NEW_PASSWORD, deliver, html_of, link_in, text_of
from tests.web.conftest import PASSWORD, Browser


def _ask_for_address(browser: Browser, email: str):
    return browser.post(
        "/account/email", {"email": email, "password": PASSWORD}, page="/account/email"
    )


def test_the_old_address_is_told_when_the_address_changes(
    account_app, build, database, smtp_server, browser
):
    member = build.member(
        code="7200000001", first_name="Ida", email="ida@example.org", password=PASSWORD
    )
    browser.login(member.code)
    assert _ask_for_address(browser, "ida.neu@example.org").status_code == 302
    [verification] = deliver(account_app, database, smtp_server, 1)
    path = link_in(verification, "/account/email/confirm")
    assert browser.post(path, page=path).status_code == 302

    notice = deliver(account_app, database, smtp_server, 2)[1]
    assert notice["X-Envelope-To"] == "ida@example.org"  # the OLD address
    assert "E-Mail-Adresse wurde geändert" in notice["Subject"]
    assert "ida.neu@example.org" in text_of(notice)
    assert "ida.neu@example.org" in html_of(notice)
    assert "token=" not in text_of(notice) + html_of(notice)


def test_a_password_change_is_mailed_to_the_member(
    account_app, build, database, smtp_server, browser
):
    member = build.member(
        code="7200000002", first_name="Max", email="max@example.org", password=PASSWORD
    )
    browser.login(member.code)
    response = browser.post(
        "/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/password",
    )
    assert response.status_code == 302
    [notice] = deliver(account_app, database, smtp_server, 1)
    assert notice["X-Envelope-To"] == "max@example.org"
    assert "Passwort wurde geändert" in notice["Subject"]
    assert "Hallo Max" in text_of(notice)
    assert member.code in html_of(notice)


def test_a_refused_password_change_is_not_mailed(
    account_app, build, database, smtp_server, browser
):
    member = build.member(code="7200000003", email="max@example.org", password=PASSWORD)
    browser.login(member.code)
    response = browser.post(
        "/password",
        {"current_password": "falsch-falsch-1", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        page="/password",
    )
    assert response.status_code == 200
    assert send_due(database, smtp_settings(account_app.config["FVH"])).sent == 0


def test_a_password_reset_is_mailed_to_the_member(
    account_app, build, database, smtp_server, browser
):
    member = build.member(code="7200000004", email="erika@example.org", password=PASSWORD)
    browser.post("/account/forgot", {"email": "erika@example.org"})
    [reset] = deliver(account_app, database, smtp_server, 1)
    path = link_in(reset, "/account/reset")
    response = browser.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page=path)
    assert response.status_code == 302

    notice = deliver(account_app, database, smtp_server, 2)[1]
    assert notice["X-Envelope-To"] == "erika@example.org"
    assert "Passwort wurde geändert" in notice["Subject"]
    assert "Link aus einer E-Mail neu gesetzt" in text_of(notice)
    assert browser.login(member.code, NEW_PASSWORD).status_code == 302


def test_a_taken_address_tells_its_owner_and_sends_no_link(
    account_app, build, database, smtp_server, browser
):
    build.member(code="7200000005", first_name="Anna", email="anna@example.org")
    member = build.member(code="7200000006", email="max@example.org", password=PASSWORD)
    browser.login(member.code)
    response = _ask_for_address(browser, "anna@example.org")
    assert response.status_code == 302
    page = browser.get("/account/email").get_data(as_text=True)
    assert "Wir haben einen Bestätigungslink an anna@example.org geschickt" in page
    assert "vergeben" not in page

    [to_owner] = deliver(account_app, database, smtp_server, 1)
    assert to_owner["X-Envelope-To"] == "anna@example.org"
    assert "anderes Konto" in to_owner["Subject"]
    assert "Hallo Anna" in text_of(to_owner)
    body = text_of(to_owner) + html_of(to_owner)
    assert "token=" not in body
    assert "/account/email/confirm" not in body
    assert "7200000006" not in body  # nothing about who asked


def _admin_browser(build, browser: Browser) -> Browser:
    admin = build.member(code="7200000009", first_name="Anna", is_admin=True, password=PASSWORD)
    assert browser.login(admin.code).status_code == 302
    return browser


def test_an_address_changed_by_an_admin_is_told_to_the_old_address(
    account_app, build, database, smtp_server, browser
):
    member = build.member(
        code="7200000007", first_name="Ida", last_name="Brand", email="ida@example.org"
    )
    admin = _admin_browser(build, browser)
    edit = f"/admin/members/{member.id}/edit"
    form = {"first_name": "Ida", "last_name": "Brand", "email": "ida.neu@example.org"}
    assert admin.post(edit, form, page=edit).status_code == 302
    [notice] = deliver(account_app, database, smtp_server, 1)
    assert notice["X-Envelope-To"] == "ida@example.org"  # the OLD address
    assert "E-Mail-Adresse wurde geändert" in notice["Subject"]
    assert "ida.neu@example.org" in text_of(notice)

    # The address taken away altogether is told too; a save without a change mails nobody.
    assert admin.post(edit, {**form, "email": ""}, page=edit).status_code == 302
    assert admin.post(edit, {**form, "email": ""}, page=edit).status_code == 302
    notices = deliver(account_app, database, smtp_server, 2)
    assert notices[1]["X-Envelope-To"] == "ida.neu@example.org"
    assert "keine E-Mail-Adresse mehr" in text_of(notices[1])
    assert send_due(database, smtp_settings(account_app.config["FVH"])).sent == 0


def test_a_password_set_by_an_admin_is_mailed_to_the_member(
    account_app, build, database, smtp_server, browser
):
    member = build.member(code="7200000008", first_name="Max", email="max@example.org")
    admin = _admin_browser(build, browser)
    page = f"/admin/members/{member.id}"
    response = admin.post(f"{page}/password", {"confirm": "1"}, page=page)
    assert 'id="secret"' in response.get_data(as_text=True)
    [notice] = deliver(account_app, database, smtp_server, 1)
    assert notice["X-Envelope-To"] == "max@example.org"
    assert "Passwort wurde geändert" in notice["Subject"]
    assert "von einem Administrator" in text_of(notice)
    assert "von einem Administrator" in html_of(notice)
