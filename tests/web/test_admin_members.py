"""Admin: the members table and the member pages (create, edit, lock, admin, password, delete)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from fvh.core import members
from fvh.db.models import AuditEntry, Member
from tests.web.conftest import PASSWORD, Browser


def _member(database, code: str) -> Member | None:
    with database.session() as session:
        return session.scalar(select(Member).where(Member.code == code))


def _count(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Member))


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_shows_totals_badges_bookings_and_unknown_tokens(admin_browser, build, database):
    from fvh.core import tokens

    build.member(code="3000000003", first_name="Berta", last_name="Brand", balance_cents=-250)
    build.member(
        code="3000000004", first_name="Carl", last_name="Cool", balance_cents=1000, locked=True
    )
    with database.session() as session:
        tokens.record_unknown_scan(session, bytes.fromhex("04a22b1c"), "Terminal 1")
    html = admin_browser.get("/admin/").get_data(as_text=True)
    assert re.search(r"Mitglieder</span><span class=\"value\">3<", html)
    assert "7,50\xa0€" in html  # sum of balances
    assert re.search(r"Im Minus</span><span class=\"value\">1<", html)
    assert "unter Minimum" in html
    assert "gesperrt" in html
    assert "badge-admin" in html
    assert "Startguthaben" in html  # latest bookings
    assert "04:A2:2B:1C" in html


def test_dashboard_search_sort_and_paging(admin_browser, build):
    for n in range(55):
        build.member(code=f"70000000{n:02d}", first_name=f"Vor{n:02d}", last_name=f"Nach{n:02d}")
    page1 = admin_browser.get("/admin/?sort=code").get_data(as_text=True)
    assert "Seite 1 von 2" in page1
    assert "7000000000" in page1
    assert "7000000054" not in page1
    page2 = admin_browser.get("/admin/?sort=code&page=2").get_data(as_text=True)
    assert "7000000054" in page2
    desc = admin_browser.get("/admin/?sort=code&dir=desc").get_data(as_text=True)
    assert desc.index("7000000054") < desc.index("7000000053")
    found = admin_browser.get("/admin/?q=vor07").get_data(as_text=True)
    assert "7000000007" in found
    assert "7000000008" not in found
    debt = admin_browser.get("/admin/?debt=1").get_data(as_text=True)
    assert "Keine Mitglieder gefunden." in debt


# --- create ---------------------------------------------------------------------------------


def test_create_member_with_a_generated_code(admin_browser, database):
    response = admin_browser.post(
        "/admin/members/new",
        {"first_name": "Neu", "last_name": "Ling", "email": "neu@example.org", "min_balance": "-5"},
    )
    assert response.status_code == 302
    with database.session() as session:
        created = session.scalar(select(Member).where(Member.email == "neu@example.org"))
        assert re.fullmatch(r"\d{10}", created.code)
        assert created.min_balance_cents == -500
        assert created.password_hash is None
        assert response.headers["Location"] == f"/admin/members/{created.id}"


def test_create_member_with_code_password_and_admin(app, admin_browser, database):
    response = admin_browser.post(
        "/admin/members/new",
        {
            "code": "8000000008",
            "first_name": "Zweit",
            "last_name": "Admin",
            "password": "ein-gutes-passwort",
            "is_admin": "y",
        },
    )
    assert response.status_code == 302
    assert _member(database, "8000000008").is_admin
    other = Browser(app.test_client())
    assert other.login("8000000008", "ein-gutes-passwort").headers["Location"] == "/admin/"


def test_create_member_errors_stay_next_to_the_field_and_nothing_is_written(
    admin_browser, member, database
):
    before = _count(database)
    response = admin_browser.post(
        "/admin/members/new",
        {"code": member.code, "first_name": "Doppel", "last_name": "Code"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "bereits vergeben" in html
    assert 'value="Doppel"' in html  # input kept
    assert re.search(r'id="code-error"', html)
    response = admin_browser.post(
        "/admin/members/new",
        {"code": "123", "first_name": "", "last_name": "X", "email": "kaputt"},
    )
    html = response.get_data(as_text=True)
    assert 'id="first_name-error"' in html
    response = admin_browser.post(
        "/admin/members/new",
        {"first_name": "A", "last_name": "B", "min_balance": "1,234"},
    )
    assert 'id="min_balance-error"' in response.get_data(as_text=True)
    response = admin_browser.post(
        "/admin/members/new", {"first_name": "A", "last_name": "B", "email": "kaputt"}
    )
    assert 'id="email-error"' in response.get_data(as_text=True)
    assert _count(database) == before


# --- edit -----------------------------------------------------------------------------------


def test_edit_member(admin_browser, member, database):
    page = admin_browser.get(f"/admin/members/{member.id}/edit").get_data(as_text=True)
    assert 'value="Max"' in page
    response = admin_browser.post(
        f"/admin/members/{member.id}/edit",
        {
            "first_name": "Maximilian",
            "last_name": "Muster",
            "email": "",
            "comment": "Kassenwart",
            "min_balance": "-10,50",
        },
    )
    assert response.status_code == 302
    changed = _member(database, member.code)
    assert changed.first_name == "Maximilian"
    assert changed.email is None
    assert changed.comment == "Kassenwart"
    assert changed.min_balance_cents == -1050
    with database.session() as session:
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == (
            "member.update"
        )


def test_edit_member_with_a_taken_email_writes_nothing(admin_browser, member, build, database):
    build.member(code="3000000003", email="taken@example.org")
    response = admin_browser.post(
        f"/admin/members/{member.id}/edit",
        {"first_name": "Geändert", "last_name": "Muster", "email": "taken@example.org"},
    )
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html
    assert 'value="Geändert"' in html
    unchanged = _member(database, member.code)
    assert unchanged.first_name == "Max"
    assert unchanged.email == "max@example.org"


# --- lock, admin, password ------------------------------------------------------------------


def test_lock_and_unlock(admin_browser, member, database):
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/lock", {"locked": "1"}, page=page)
    assert _member(database, member.code).locked
    assert "gesperrt" in admin_browser.get(page).get_data(as_text=True)
    admin_browser.post(f"{page}/lock", {"locked": "0"}, page=page)
    assert not _member(database, member.code).locked


def test_admin_cannot_lock_demote_or_delete_themself(admin_browser, admin, database):
    page = f"/admin/members/{admin.id}"
    response = admin_browser.post(f"{page}/lock", {"locked": "1"}, page=page, follow_redirects=True)
    assert "nicht selbst sperren" in response.get_data(as_text=True)
    response = admin_browser.post(
        f"{page}/admin", {"is_admin": "0"}, page=page, follow_redirects=True
    )
    assert "nicht selbst" in response.get_data(as_text=True)
    response = admin_browser.post(
        f"{page}/delete", {"confirmation": admin.code}, page=page, follow_redirects=True
    )
    assert "nicht selbst löschen" in response.get_data(as_text=True)
    after = _member(database, admin.code)
    assert after.is_admin
    assert not after.locked


def test_grant_and_revoke_admin(app, admin_browser, member, database):
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/admin", {"is_admin": "1"}, page=page)
    assert _member(database, member.code).is_admin
    admin_browser.post(f"{page}/admin", {"is_admin": "0"}, page=page)
    assert not _member(database, member.code).is_admin


def test_last_admin_cannot_be_removed(database, admin, member):
    from fvh.core import audit
    from fvh.core.errors import PermissionDenied

    with database.session() as session, pytest.raises(PermissionDenied, match="letzte"):
        members.set_admin(session, session.get(Member, admin.id), False, audit.Actor.system("t"))


def test_reset_password_shows_it_once_and_forces_a_change(app, admin_browser, member):
    page = f"/admin/members/{member.id}"
    response = admin_browser.post(f"{page}/password", {"confirm": "1"}, page=page)
    assert response.status_code == 200
    password = re.search(r'id="secret">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    assert password not in admin_browser.get(page).get_data(as_text=True)
    other = Browser(app.test_client())
    assert other.login(member.code, PASSWORD).status_code == 200  # old one is gone
    assert other.login(member.code, password).headers["Location"] == "/password"


# --- delete ---------------------------------------------------------------------------------


def test_delete_needs_the_typed_code(admin_browser, member, database):
    url = f"/admin/members/{member.id}/delete"
    response = admin_browser.post(url, {"confirmation": "0000000000"}, page=url)
    assert response.status_code == 200
    assert "Bitte genau den Code" in response.get_data(as_text=True)
    assert _member(database, member.code) is not None
    response = admin_browser.post(url, {"confirmation": member.code}, page=url)
    assert response.headers["Location"] == "/admin/"
    assert _member(database, member.code) is None


def test_delete_says_the_bookings_go_too_and_offers_their_csv(admin_browser, build, database):
    member = build.member(code="3000000003", first_name="Jörg", balance_cents=1250)
    build.member(code="3000000004", balance_cents=700)
    url = f"/admin/members/{member.id}/delete"
    html = admin_browser.get(url).get_data(as_text=True)
    assert "Jörg Muster wird gelöscht, mit allen Tokens und 1 Buchung" in html
    assert "verschwindet aus dem Journal (Guthaben: 12,50\xa0€)" in html
    csv_url = f"/admin/journal.csv?member={member.code}"
    assert f'id="export-first" href="{csv_url}"' in html
    rows = admin_browser.get(csv_url).get_data(as_text=True).splitlines()
    assert len(rows) == 2 and member.code in rows[1]  # exactly the bookings that go
    assert _member(database, member.code) is not None
    fresh = build.member(code="3000000005")
    html = admin_browser.get(f"/admin/members/{fresh.id}/delete").get_data(as_text=True)
    assert "mit allen Tokens und 0 Buchungen" in html and 'id="export-first"' not in html


@pytest.fixture
def count_queries(database):
    """Count the SQL statements the app sends while the block runs."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def counting():
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(database.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(database.engine, "before_cursor_execute", record)

    return counting


def test_dashboard_queries_do_not_grow_with_the_members(admin_browser, build, count_queries):
    def dashboard_queries() -> int:
        with count_queries() as statements:
            assert admin_browser.get("/admin/").status_code == 200
        return len(statements)

    for n in range(3):
        build.member(code=f"71000000{n:02d}", balance_cents=100)
    few = dashboard_queries()
    for n in range(3, 30):
        build.member(code=f"71000000{n:02d}", balance_cents=100)
    assert dashboard_queries() == few


# --- German names: search, order, namesakes ---------------------------------------------------

# (last, first) in the German order (DIN 5007-1); the admin fixture "Admin, Anna" comes second
# (Äbele sorts as Abele).
GERMAN_NAMES = [
    ("Äbele", "Karin"),
    ("Müller", "Anna"),
    ("Öztürk", "Mehmet"),
    ("Strauss", "Max"),
    ("Strauß", "Max"),
    ("Weiß", "Zoë"),
    ("Zander", "Ute"),
]


def _german_members(build):
    created = {}
    for index, (last, first) in enumerate(reversed(GERMAN_NAMES)):
        created[last] = build.member(code=f"40000000{index:02d}", first_name=first, last_name=last)
    return created


def _order_in(html, labels):
    positions = [html.find(label) for label in labels]
    assert all(p >= 0 for p in positions), list(zip(labels, positions, strict=True))
    return [label for _p, label in sorted(zip(positions, labels, strict=True))]


def _labels():
    return [f"{last}, {first}" for last, first in GERMAN_NAMES]


def test_every_member_list_is_in_german_order(admin_browser, build, database):
    """The dashboard, the bulk booking, the unknown tokens' dropdown and the token list list
    Äbele before Müller and Öztürk before Strauss, Strauß and Weiß, on every backend."""
    from fvh.core import tokens

    created = _german_members(build)
    for index, member in enumerate(created.values()):
        build.token(member, bytes([4, index, 0xA2, 0x2B]))
    with database.session() as session:
        tokens.record_unknown_scan(session, bytes.fromhex("04ffeedd"), "Terminal 1")
    expected = [_labels()[0], "Admin, Anna", *_labels()[1:]]
    for page in ("/admin/", "/admin/bookings/bulk", "/admin/tokens/unknown", "/admin/tokens/"):
        html = admin_browser.get(page).get_data(as_text=True)
        # The admin has no token and may be left out of the bulk booking's list.
        labels = [label for label in expected if label != "Admin, Anna" or label in html]
        assert _order_in(html, labels) == labels, page
    descending = admin_browser.get("/admin/?sort=name&dir=desc").get_data(as_text=True)
    assert _order_in(descending, expected) == expected[::-1]


@pytest.mark.parametrize(
    ("text", "found", "not_found"),
    [
        ("Öz", ["Öztürk, Mehmet"], ["Weiß, Zoë"]),
        ("oz", ["Öztürk, Mehmet"], ["Weiß, Zoë"]),
        ("ÖZTÜRK", ["Öztürk, Mehmet"], ["Müller, Anna"]),
        ("weiss", ["Weiß, Zoë"], ["Öztürk, Mehmet"]),
        ("strauss", ["Strauss, Max", "Strauß, Max"], ["Weiß, Zoë"]),
        ("4000000003", ["Strauss, Max"], ["Strauß, Max"]),
        ("04:03:A2:2B", ["Strauss, Max"], ["Strauß, Max"]),
    ],
)
def test_dashboard_search_ignores_case_and_accents(admin_browser, build, text, found, not_found):
    created = _german_members(build)
    build.token(created["Strauss"], bytes.fromhex("0403A22B"))
    html = admin_browser.get("/admin/", query_string={"q": text}).get_data(as_text=True)
    for label in found:
        assert label in html, label
    for label in not_found:
        assert label not in html, label


def test_a_second_member_of_the_same_name_needs_a_confirmation(admin_browser, build, database):
    anna = build.member(code="4100000001", first_name="Anna", last_name="Müller")
    before = _count(database)
    form = {"first_name": "anna", "last_name": "MÜLLER", "password": "ein-gutes-passwort"}
    response = admin_browser.post("/admin/members/new", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Es gibt schon ein Mitglied Anna Müller – trotzdem anlegen?" in html
    assert f'href="/admin/members/{anna.id}"' in html
    assert 'name="same_name_confirmed"' in html
    assert 'value="ein-gutes-passwort"' in html  # kept, so confirming keeps the password
    assert _count(database) == before

    response = admin_browser.post("/admin/members/new", {**form, "same_name_confirmed": "y"})
    assert response.status_code == 302
    assert _count(database) == before + 1
    with database.session() as session:
        twins = members.same_name(session, "Anna", "Müller")
        assert len(twins) == 2
        second = next(m for m in twins if m.id != anna.id)
        assert members.check_password(second, "ein-gutes-passwort")


def test_a_different_name_needs_no_confirmation(admin_browser, build, database):
    build.member(code="4100000001", first_name="Anna", last_name="Müller")
    for first, last in (("Anna", "Mueller"), ("Anne", "Müller"), ("Anna", "Müller-Lüdenscheidt")):
        response = admin_browser.post(
            "/admin/members/new", {"first_name": first, "last_name": last}
        )
        assert response.status_code == 302, (first, last)


# --- the journal's member filter -----------------------------------------------------------


def _booked_members(build):
    """The German names, each with one booking (its start balance), codes in list order."""
    return {
        last: build.member(
            code=f"42000000{index:02d}", first_name=first, last_name=last, balance_cents=100
        )
        for index, (last, first) in enumerate(GERMAN_NAMES)
    }


def _journal(admin_browser, **args):
    response = admin_browser.get("/admin/journal", query_string=args)
    return response.status_code, response.get_data(as_text=True)


def _journal_codes(html):
    return set(re.findall(r'<span class="muted">(42000000\d\d)</span>', html))


@pytest.mark.parametrize(
    ("typed", "last"),
    [
        ("ÖZTÜRK", "Öztürk"),
        ("oztürk mehmet", "Öztürk"),
        ("Weiß, Zoë (4200000005)", "Weiß"),  # a suggestion as the field holds it
        ("4200000005", "Weiß"),
        ("zoe", "Weiß"),
    ],
)
def test_journal_is_filtered_by_a_members_name_or_code(admin_browser, build, typed, last):
    booked = _booked_members(build)
    status, html = _journal(admin_browser, member=typed)
    assert status == 200
    assert f"Buchungen: {booked[last].full_name}" in html
    assert _journal_codes(html) == {booked[last].code}
    assert 'list="member-suggestions"' in html
    script = re.search(r'<script src="(/assets/member-suggest\.js[^"]*)"', html).group(1)
    with admin_browser.get(script) as served:  # a file, as the CSP wants
        assert served.status_code == 200


def test_journal_name_that_fits_several_lists_them_and_filters_nothing(admin_browser, build):
    booked = _booked_members(build)
    status, html = _journal(admin_browser, member="strauss", kind="credit")
    assert status == 400
    assert "Mehrere Mitglieder passen; bitte eins auswählen." in html
    assert _journal_codes(html) <= {booked["Strauss"].code, booked["Strauß"].code}
    assert "Keine Buchungen." in html
    links = re.findall(r'href="/admin/journal\?([^"]+)"', html)
    assert any(
        f"member={booked['Strauß'].code}" in link and "kind=credit" in link for link in links
    )
    status, html = _journal(admin_browser, member="Niemand")
    assert status == 200
    assert "Kein Mitglied gefunden: Niemand" in html
    assert len(_journal_codes(html)) == len(GERMAN_NAMES)  # the whole journal
    status, html = _journal(admin_browser, member="4299999999")
    assert "Kein Mitglied mit dem Code 4299999999." in html


def test_journal_csv_of_a_member_chosen_by_name(admin_browser, build):
    booked = _booked_members(build)
    response = admin_browser.get("/admin/journal.csv", query_string={"member": "weiss"})
    assert response.status_code == 200
    assert (
        f'filename="journal-{booked["Weiß"].code}.csv"' in response.headers["Content-Disposition"]
    )
    body = response.get_data(as_text=True)
    assert "Zoë Weiß" in body
    assert "Öztürk" not in body


def test_member_suggestions_come_from_the_search(admin_browser, build):
    _german_members(build)
    response = admin_browser.get("/admin/members/suggest", query_string={"q": "oz"})
    assert response.status_code == 200
    assert response.json == {
        "members": [{"code": "4000000004", "value": "Öztürk, Mehmet (4000000004)"}]
    }
    both = admin_browser.get("/admin/members/suggest", query_string={"q": "STRAUSS"}).json
    assert [m["value"] for m in both["members"]] == [
        "Strauss, Max (4000000003)",
        "Strauß, Max (4000000002)",
    ]
    assert admin_browser.get("/admin/members/suggest").json == {"members": []}
