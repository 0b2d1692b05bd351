"""Refused taps become visible: recorded with terminal, time and reason by the tap itself,
today's on the dashboard, a member's on their page (issue 13, item 4)."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import func, select, update

from fvh.core import refusals, tokens
from fvh.db.models import RefusedTap, utcnow

TOKEN = bytes.fromhex("04a1b2c3d4")
UNKNOWN_TOKEN = bytes.fromhex("0badc0de")


def tap_by_code(client, key: str, code: str, text: str = "Kühlschrank Halle"):
    return client.put(
        f"/api/person/{code}/transaktion", json={"beschreibung": text}, headers={"X-API-Key": key}
    )


def tap_by_token(client, key: str, data: bytes, text: str = "Kühlschrank Halle"):
    body = {"token": base64.b64encode(data).decode(), "beschreibung": text}
    return client.put("/api/nfc-transaktion", json=body, headers={"X-API-Key": key})


def refused_rows(database) -> list[RefusedTap]:
    with database.session() as session:
        return list(session.scalars(select(RefusedTap).order_by(RefusedTap.id)))


def test_blocked_locked_and_unknown_taps_are_recorded_with_terminal_and_reason(
    client, build, database
):
    poor = build.member(code="3000000003", first_name="Paula", last_name="Pleite")
    build.token(poor, TOKEN)
    locked = build.member(code="3000000004", first_name="Lars", last_name="Los", locked=True)
    rich = build.member(code="3000000005", first_name="Rita", balance_cents=5_000)
    key = build.api_key(client="Getränkekühlschrank")

    assert tap_by_token(client, key, TOKEN).get_json()["action"] == "block"
    assert tap_by_code(client, key, locked.code).get_json()["action"] == "locked"
    assert tap_by_token(client, key, UNKNOWN_TOKEN).status_code == 404
    assert tap_by_code(client, key, "3999999999").status_code == 404
    assert tap_by_code(client, key, rich.code).status_code == 200  # booked: not a refusal

    rows = refused_rows(database)
    assert [(r.reason, r.member_id, r.presented) for r in rows] == [
        (refusals.BLOCKED, poor.id, ""),
        (refusals.LOCKED, locked.id, ""),
        (refusals.UNKNOWN, None, tokens.to_hex(UNKNOWN_TOKEN)),
        (refusals.UNKNOWN, None, "3999999999"),
    ]
    assert {r.terminal for r in rows} == {"Getränkekühlschrank"}
    assert {r.description for r in rows} == {"Kühlschrank Halle"}
    assert rows[0].balance_cents == 0
    assert rows[0].amount_cents is not None and rows[0].amount_cents < 0
    assert all(abs((r.created_at - utcnow()).total_seconds()) < 60 for r in rows)


def test_dashboard_shows_todays_refusals_and_the_member_page_their_own(
    client, build, admin_browser
):
    poor = build.member(code="3000000003", first_name="Paula", last_name="Pleite")
    other = build.member(code="3000000006", first_name="Otto", last_name="Ohne", locked=True)
    key = build.api_key(client="Kasse Vereinsheim")
    tap_by_code(client, key, poor.code)
    tap_by_code(client, key, poor.code)
    tap_by_code(client, key, other.code)

    dashboard = admin_browser.get("/admin/").get_data(as_text=True)
    section = dashboard[dashboard.index('id="refused-today"') :]
    assert "Heute abgewiesen" in section and "(3)" in section
    assert "Paula Pleite" in section and "Otto Ohne" in section
    assert "Guthaben reicht nicht" in section and "Konto gesperrt" in section
    assert "Kasse Vereinsheim" in section

    page = admin_browser.get(f"/admin/members/{poor.id}").get_data(as_text=True)
    own = page[page.index('id="refused"') :]
    assert own.count("Guthaben reicht nicht") == 2
    assert "Konto gesperrt" not in own  # Otto's refusal is not Paula's


def test_refusals_before_local_midnight_are_not_today(client, build, database, admin_browser):
    poor = build.member(code="3000000003", first_name="Paula", last_name="Pleite")
    key = build.api_key()
    tap_by_code(client, key, poor.code)
    with database.session() as session:
        session.execute(update(RefusedTap).values(created_at=utcnow() - timedelta(days=2)))

    dashboard = admin_browser.get("/admin/").get_data(as_text=True)
    section = dashboard[dashboard.index('id="refused-today"') :]
    assert "(0)" in section and "Paula Pleite" not in section
    member_page = admin_browser.get(f"/admin/members/{poor.id}").get_data(as_text=True)
    assert 'id="refused"' in member_page  # the member's list is not limited to today


def test_unknown_token_inbox_names_the_terminal_not_the_booking_text(client, build, admin_browser):
    key = build.api_key(client="Zapfanlage Nord")
    tap_by_token(client, key, UNKNOWN_TOKEN, text="Bier 0,5")

    inbox = admin_browser.get("/admin/tokens/unknown").get_data(as_text=True)
    assert "Zapfanlage Nord" in inbox
    assert "Bier 0,5" not in inbox


def test_old_refusals_are_purged(client, build, database):
    poor = build.member(code="3000000003")
    key = build.api_key()
    tap_by_code(client, key, poor.code)
    tap_by_code(client, key, poor.code)
    with database.session() as session:
        oldest = session.scalar(select(func.min(RefusedTap.id)))
        session.execute(
            update(RefusedTap)
            .where(RefusedTap.id == oldest)
            .values(created_at=utcnow() - refusals.KEPT - timedelta(days=1))
        )
    with database.session() as session:
        assert refusals.purge(session) == 1
    assert len(refused_rows(database)) == 1
