"""Flask-Limiter in front of the login form, counting in the shared database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from fvh import create_app
from fvh.models import RateLimitCounter, utcnow
from fvh.ratelimit_store import DatabaseStorage


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
