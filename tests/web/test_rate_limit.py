"""Flask-Limiter in front of the login form, counting in the shared database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from fvh.app import create_app
from fvh.db.models import RateLimitCounter, utcnow
from fvh.db.ratelimit_store import DatabaseStorage


def test_login_posts_are_limited_per_address_across_apps(config, build):
    # Two app instances stand for two gunicorn workers: they share the counters.
    first, second = create_app(config), create_app(config)
    clients = [first.test_client(), second.test_client()]
    statuses = []
    for i in range(31):
        client = clients[i % 2]
        response = client.post("/login", data={"identifier": "x", "password": "y"})
        statuses.append(response.status_code)
    # The form is refused without a CSRF token (400) until the limit answers first (429).
    assert statuses[:30] == [400] * 30
    assert statuses[30] == 429
    # Another address is not affected; GET is not limited.
    other = clients[0].post("/login", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 400
    assert clients[1].get("/login").status_code == 200
    for app in (first, second):
        app.extensions["fvh_db"].dispose()


def test_storage_counts_windows_and_expires(database):
    storage = DatabaseStorage(database=database)
    assert storage.check()
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3
    assert storage.get_expiry("k") > utcnow().timestamp() - 3600 * 24
    with database.session() as s:
        s.scalar(select(RateLimitCounter).where(RateLimitCounter.key == "k")).expires_at = (
            utcnow() - timedelta(seconds=1)
        )
    assert storage.get("k") == 0  # the window is over
    assert storage.incr("k", 60) == 1  # a new window starts
    storage.clear("k")
    assert storage.get("k") == 0
    storage.incr("a", 60, amount=5)
    assert storage.reset() == 1


def test_requests_outside_the_rule_skip_the_limiter(config, build, monkeypatch):
    """Terminal requests to a combined server, and page views, don't reach the limiter's
    resolution of limits at all (it cost a tap a fifth of its CPU); form POSTs still do."""
    import base64

    app = create_app(config)  # GUI and API in one app, as `fvh serve` runs them
    limiter = app.extensions["fvh_limiter"]
    resolved: list[str] = []
    resolve = limiter.limit_manager.resolve_limits

    def counting_resolve(app_, endpoint, *args, **kwargs):
        resolved.append(endpoint)
        return resolve(app_, endpoint, *args, **kwargs)

    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", counting_resolve)
    member = build.member(code="7100000001", balance_cents=500)
    build.token(member, b"\x07\x01")
    client = app.test_client()
    tap = client.put(
        "/api/nfc-transaktion",
        json={"token": base64.b64encode(b"\x07\x01").decode(), "beschreibung": "Theke"},
        headers={"X-API-Key": build.api_key()},
    )
    assert tap.status_code == 200
    assert client.get("/login").status_code == 200
    assert resolved == []
    client.post("/login", data={"identifier": "x", "password": "y"})
    assert resolved == ["web.login"]
    app.extensions["fvh_db"].dispose()
