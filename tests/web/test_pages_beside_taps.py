"""A GUI page that takes long to render does not hold up the terminals."""

from __future__ import annotations

import base64
import threading
import time

from fvh.core import statements

TOKEN = b"\x04\x77\x01\x02"


def test_a_slow_page_view_does_not_hold_up_a_tap(app, build, member_browser, monkeypatch):
    """A member's statement PDF renders (here: until the tap is done) while a terminal books;
    the tap does not wait for the page, on SQLite neither for the writer lock."""
    build.token(build.member(code="3000000077", balance_cents=500), TOKEN)
    headers = {"X-API-Key": build.api_key()}
    rendering, tapped = threading.Event(), threading.Event()
    render = statements.to_pdf

    def slow_pdf(*args, **kwargs):
        rendering.set()
        tapped.wait(20)
        return render(*args, **kwargs)

    monkeypatch.setattr(statements, "to_pdf", slow_pdf)
    pages: list[int] = []
    page = threading.Thread(
        target=lambda: pages.append(member_browser.get("/me/statement.pdf").status_code)
    )
    page.start()
    try:
        assert rendering.wait(20), "the page did not start rendering"
        started = time.monotonic()
        tap = app.test_client().put(
            "/api/nfc-transaktion",
            json={"token": base64.b64encode(TOKEN).decode(), "beschreibung": "Theke"},
            headers=headers,
        )
        waited = time.monotonic() - started
    finally:
        tapped.set()
        page.join(20)
    assert tap.status_code == 200, tap.get_json()
    assert tap.get_json()["saldo"] == 4
    assert waited < 2.0, f"the tap waited {waited:.1f} s behind the page"
    assert pages == [200]
