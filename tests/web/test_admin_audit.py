"""The audit log in words: every recorded action and field has a label in both languages, an
unknown one shows as recorded, and a dropdown filters by group or by action."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import fvh
from fvh.core import audit
from fvh.web.admin import audit_log
from tests.builders import TEST_ACTOR

SOURCE = Path(fvh.__file__).parent


def _recorded_actions() -> set[str]:
    """The action names of every `audit.record(...)` call (literals and `a if c else b`)."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
            ):
                continue
            action = node.args[2] if len(node.args) > 2 else None
            values = [action] if not isinstance(action, ast.IfExp) else [action.body, action.orelse]
            for value in values:
                assert isinstance(value, ast.Constant), (
                    f"{path}:{node.lineno}: action not a literal"
                )
                found.add(value.value)
    return found


def test_every_recorded_action_has_a_label():
    actions = _recorded_actions()
    assert {"token.add", "api_key.create", "member.lock", "member.unlock"} <= actions
    assert len(actions) >= 20
    assert sorted(actions - set(audit_log.ACTION_LABELS)) == []


def _table(html: str) -> str:
    return html[html.index("<tbody>") : html.index("</tbody>")]


def test_actions_and_fields_read_as_words_in_german_and_english(admin_browser, build):
    build.api_key()
    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    table = _table(html)
    assert "API-Schlüssel erzeugt" in table and "API-Benutzer angelegt" in table
    assert "Schlüssel-Nr.:" in table and "Schlüsselanfang:" in table
    assert re.search(r"Berechtigung:</span>\s*Terminal<", table)
    assert "key_id" not in table and "scope" not in table and ">api_key.create<" not in table
    assert 'title="api_key.create"' in table  # the recorded name stays at hand

    admin_browser.client.set_cookie("fvh_lang", "en")
    table = _table(admin_browser.get("/admin/audit").get_data(as_text=True))
    assert "API key created" in table and "API user created" in table
    assert "Key no.:" in table and "Key start:" in table
    assert re.search(r"Permission:</span>\s*Terminal<", table)


def test_an_unknown_action_or_field_shows_as_recorded(admin_browser, database):
    with database.session() as session:
        audit.record(session, TEST_ACTOR, "custom.thing", "x", after={"mystery": 3})
    table = _table(admin_browser.get("/admin/audit").get_data(as_text=True))
    assert ">custom.thing<" in table and "mystery:</span>" in table


def test_the_dropdown_filters_by_group_and_by_action(admin_browser, build, member):
    page = f"/admin/members/{member.id}"
    admin_browser.post(f"{page}/lock", {"locked": "1"}, page=page)
    build.token(member, b"\x04\xa2")
    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert '<select name="action" class="autosubmit">' in html
    assert '<option value="tokens">alle: Tokens</option>' in html
    assert '<option value="member.lock">Mitglied gesperrt</option>' in html

    html = admin_browser.get("/admin/audit?action=tokens").get_data(as_text=True)
    assert '<option value="tokens" selected>' in html
    table = _table(html)
    assert "Token hinzugefügt" in table and "Mitglied" not in table

    table = _table(admin_browser.get("/admin/audit?action=member.lock").get_data(as_text=True))
    assert "Mitglied gesperrt" in table
    assert "Mitglied angelegt" not in table and "Token hinzugefügt" not in table

    # A prefix the dropdown does not offer (an older link) still filters and stays visible.
    html = admin_browser.get("/admin/audit?action=member.").get_data(as_text=True)
    assert '<option value="member." selected>member.</option>' in html
    table = _table(html)
    assert "Mitglied gesperrt" in table and "Mitglied angelegt" in table
    assert "Token hinzugefügt" not in table


def test_the_bookings_group_covers_reversals_and_deleted_journals(admin_browser, build, database):
    from fvh.core import ledger, members

    erika = build.member(code="3000000003", first_name="Erika", last_name="Beispiel")
    with database.session() as session:
        booking = ledger.book(session, erika.id, 500, "Bar", TEST_ACTOR)
        ledger.reverse(session, booking.transaction_id, TEST_ACTOR)
        ledger.delete_journal(session, TEST_ACTOR, members.get_by_code(session, erika.code))
    table = _table(admin_browser.get("/admin/audit?action=bookings").get_data(as_text=True))
    assert "Buchung storniert" in table and "Buchungen gelöscht" in table
    assert "Mitglied angelegt" not in table
