"""Flask-Limiter in front of the login form, counting in the shared database."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from fvh.app import create_app
from fvh.db.models import RateLimitCounter, utcnow
from fvh.db.ratelimit_store import DatabaseStorage
from tests.web.conftest import csrf_from


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


def _burst(storage: DatabaseStorage, key: str, requests: int) -> tuple[list[int], list]:
    """`requests` threads count `key` at the same moment: the counts they got, and errors."""
    start = threading.Barrier(requests)
    counts: list[int] = []
    failures: list[BaseException] = []

    def hit() -> None:
        start.wait()
        try:
            counts.append(storage.incr(key, 60))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return counts, failures


def test_thirteen_first_requests_at_once_all_count(database):
    """Requests that open the same window at the same moment each count once; none fails
    (on PostgreSQL the look-then-insert raised "rate limit counter kept colliding"). Five
    bursts, each on a new key: one race alone is not always lost."""
    storage = DatabaseStorage(database=database)
    for burst in range(5):
        counts, failures = _burst(storage, f"burst-{burst}", 13)
        assert failures == []
        assert sorted(counts) == list(range(1, 14))
        assert storage.get(f"burst-{burst}") == 13


def test_thirteen_first_login_posts_at_once_are_answered(app, member):
    """The same burst through the app: every POST is answered (a wrong login), none is a 500."""
    clients = [app.test_client() for _ in range(13)]
    tokens = [csrf_from(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(i: int) -> None:
        start.wait()
        data = {"csrf_token": tokens[i], "identifier": f"nobody-{i}", "password": "falsch"}
        statuses.append(clients[i].post("/login", data=data).status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] * 13
