"""API keys: 401 without a valid key, 403 for a terminal key on admin endpoints, no key in logs."""

from __future__ import annotations

import base64
import logging
import threading
import urllib.error
import urllib.request

import pytest
from flask import url_for
from sqlalchemy import func, select
from werkzeug.serving import make_server

from fvh.core import keys
from fvh.core.audit import Actor
from fvh.db.models import IdempotencyRecord, Member, Token, Transaction, UnknownTokenScan
from fvh.http import access

CODE = "0123456789"
OTHER = "1111111111"
TOKEN = bytes.fromhex("04a22b1c")
# A body that would succeed on every endpoint that reads one: if a check let the request
# through, it would book, create or delete something and `state` would show it.
BODY = {
    "beschreibung": "Kasse Theke",
    "token": base64.b64encode(TOKEN).decode(),
    "code": "2222222222",
    "nachname": "Neumann",
    "vorname": "Nina",
}
TERMINAL_ENDPOINTS = {
    ("GET", "/health-protected"),
    ("GET", "/version"),
    ("GET", "/saldo-alle"),
    ("GET", "/person/<code>"),
    ("GET", "/person/existent/<code>"),
    ("PUT", "/person/<code>/transaktion"),
    ("PUT", "/nfc-transaktion"),
}
ADMIN_ENDPOINTS = {
    ("GET", "/users"),
    ("POST", "/person"),
    ("DELETE", "/person/<code>"),
    ("GET", "/transaktionen"),
    ("DELETE", "/transaktionen"),
    ("DELETE", "/person/transaktionen/<code>"),
}


def state(database) -> tuple[object, ...]:
    with database.session() as session:
        return (
            sorted((m.code, m.balance_cents) for m in session.scalars(select(Member))),
            session.scalar(select(func.count()).select_from(Transaction)),
            session.scalar(select(func.count()).select_from(Token)),
            session.scalar(select(func.count()).select_from(UnknownTokenScan)),
            session.scalar(select(func.count()).select_from(IdempotencyRecord)),
        )


def revoke(database, plaintext: str) -> None:
    with database.session() as session:
        found = keys.authenticate(session, plaintext)
        assert found is not None
        keys.revoke_key(session, keys.get_key(session, found.id), Actor.system())


def api_routes(app) -> list[tuple[str, str, str | None, str]]:
    """(method, rule without prefix, access rule, endpoint) of each `api` blueprint route."""
    prefix = app.config["FVH_API_PREFIX"]
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        kind = access.rule_of(app.view_functions[rule.endpoint])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule.removeprefix(prefix), kind, rule.endpoint))
    assert routes
    return routes


def url(app, endpoint: str, code: str = CODE) -> str:
    with app.test_request_context():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        values = {name: code if name == "code" else "x" for name in rule.arguments}
        return url_for(endpoint, **values)


def keyed_routes(app) -> list[tuple[str, str, str, str]]:
    routes = [r for r in api_routes(app) if r[2] != access.PUBLIC]
    assert all(r[2] in (access.API_TERMINAL, access.API_ADMIN) for r in routes), routes
    return routes


@pytest.fixture
def world(build):
    """Two members with money, one with a token, and a key of each scope."""
    member = build.member(code=CODE, first_name="Jürgen", balance_cents=1000)
    build.token(member, TOKEN)
    build.member(code=OTHER, first_name="Olga", balance_cents=500)
    return {"terminal": build.api_key(), "admin": build.api_key(keys.SCOPE_ADMIN)}


def test_health_needs_no_key(app, client, world, database):
    revoked = world["terminal"]
    revoke(database, revoked)
    public = {(m, r) for m, r, kind, _ in api_routes(app) if kind == access.PUBLIC}
    assert ("GET", "/health") in public
    for headers in ({}, {"X-API-Key": "fvh_unbekannt"}, {"X-API-Key": revoked}):
        response = client.get("/api/health", headers=headers)
        assert response.status_code == 200
        assert isinstance(response.get_json()["message"], str)


def test_no_valid_key_is_401_on_every_keyed_endpoint(app, client, world, database):
    plaintext = world["terminal"]
    assert client.get("/api/version", headers={"X-API-Key": plaintext}).status_code == 200
    revoke(database, plaintext)
    credentials = {
        "missing": {},
        "empty": {"X-API-Key": ""},
        "unknown": {"X-API-Key": keys.generate_key()},
        "revoked": {"X-API-Key": plaintext},
        "changed case": {"X-API-Key": world["admin"].upper()},
        "truncated": {"X-API-Key": world["admin"][:-1]},
        "oversized": {"X-API-Key": "fvh_" + "x" * 1000},
    }
    before = state(database)
    problems = []
    for name, headers in credentials.items():
        for method, rule, _, endpoint in keyed_routes(app):
            response = client.open(url(app, endpoint), method=method, json=BODY, headers=headers)
            body = response.get_json(silent=True)
            if response.status_code != 401:
                problems.append(f"{name}: {method} {rule}: {response.status_code}")
            elif not isinstance(body, dict) or not (
                isinstance(body.get("error"), str) or isinstance(body.get("message"), str)
            ):
                problems.append(f"{name}: {method} {rule}: 401 without a JSON message")
    assert not problems, problems
    assert state(database) == before


def test_a_bad_key_is_401_before_the_body_or_code_is_judged(app, client, world, database):
    """The bookings read their token or member along with the key; when the request names
    none that could exist, the key is still checked first: 401, not 400 or 413."""
    before = state(database)
    bad = {"X-API-Key": keys.generate_key()}
    oversized = b'{"token": "' + b"A" * (app.config["FVH"].api_max_body_bytes + 10) + b'"}'
    requests = [
        ("/api/nfc-transaktion", {"json": {"token": "not base64!"}}),
        ("/api/nfc-transaktion", {"json": {"token": base64.b64encode(b"").decode()}}),
        ("/api/nfc-transaktion", {"data": b"{not json", "content_type": "application/json"}),
        ("/api/nfc-transaktion", {"data": oversized, "content_type": "application/json"}),
        ("/api/person/12345/transaktion", {"json": {"beschreibung": "x"}}),
    ]
    for path, body in requests:
        assert client.put(path, headers=bad, **body).status_code == 401, (path, body)
    good = {"X-API-Key": world["terminal"]}
    assert [client.put(path, headers=good, **body).status_code for path, body in requests] == [
        400,
        400,
        400,
        413,
        400,
    ]
    assert state(database) == before


def test_terminal_key_gets_403_on_every_admin_endpoint(app, client, world, database):
    admin = {(m, r) for m, r, kind, _ in keyed_routes(app) if kind == access.API_ADMIN}
    assert admin == ADMIN_ENDPOINTS
    before = state(database)
    problems = []
    for method, rule, kind, endpoint in keyed_routes(app):
        if kind != access.API_ADMIN:
            continue
        response = client.open(
            url(app, endpoint), method=method, json=BODY, headers={"X-API-Key": world["terminal"]}
        )
        body = response.get_json(silent=True)
        if response.status_code != 403 or not isinstance(body, dict) or "error" not in body:
            problems.append(f"{method} {rule}: {response.status_code} {response.data!r}")
    assert not problems, problems
    assert state(database) == before


def test_terminal_key_may_use_every_terminal_endpoint(app, client, world):
    terminal = {(m, r) for m, r, kind, _ in keyed_routes(app) if kind == access.API_TERMINAL}
    assert terminal >= TERMINAL_ENDPOINTS
    problems = []
    for method, rule, kind, endpoint in keyed_routes(app):
        if kind != access.API_TERMINAL:
            continue
        response = client.open(
            url(app, endpoint), method=method, json=BODY, headers={"X-API-Key": world["terminal"]}
        )
        if response.status_code != 200:
            problems.append(f"{method} {rule}: {response.status_code} {response.data!r}")
    assert not problems, problems


def test_admin_key_may_do_everything(app, client, world, build):
    """Every keyed endpoint once with an admin key, in an order in which each succeeds."""
    admin = {"X-API-Key": world["admin"]}
    planned = [
        ("GET", "/health-protected", None, 200),
        ("GET", "/version", None, 200),
        ("GET", "/saldo-alle", None, 200),
        ("GET", f"/person/{CODE}", None, 200),
        ("GET", f"/person/existent/{CODE}", None, 200),
        ("PUT", f"/person/{CODE}/transaktion", {"beschreibung": "Kasse"}, 200),
        ("PUT", "/nfc-transaktion", BODY, 200),
        ("GET", "/users", None, 200),
        ("POST", "/person", BODY, 201),
        ("GET", "/transaktionen", None, 200),
        ("DELETE", f"/person/transaktionen/{CODE}", None, 200),
        ("DELETE", "/transaktionen", None, 200),
        ("DELETE", f"/person/{OTHER}", None, 200),
    ]
    problems = []
    for method, path, body, status in planned:
        response = client.open("/api" + path, method=method, json=body, headers=admin)
        if response.status_code != status:
            problems.append(f"{method} {path}: {response.status_code} {response.data!r}")
    assert not problems, problems
    assert build.balance(CODE) == 0
    # Endpoints added later must at least not refuse the admin key.
    adapter = app.url_map.bind("localhost")
    covered = {(m, adapter.match("/api" + p, method=m)[0]) for m, p, _, _ in planned}
    for method, rule, _, endpoint in keyed_routes(app):
        if (method, endpoint) in covered:
            continue
        response = client.open(url(app, endpoint), method=method, json=BODY, headers=admin)
        assert response.status_code not in (401, 403), f"{method} {rule}"
        assert response.status_code < 500, f"{method} {rule}"


@pytest.fixture
def live_server(app):
    """The app behind werkzeug's real server, so that its request log lines are produced."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def http(base: str, method: str, path: str, key: str | None, data: bytes | None = None) -> int:
    request = urllib.request.Request(base + path, data=data, method=method)
    if key is not None:
        request.add_header("X-API-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_no_key_value_appears_in_the_logs(client, world, database, live_server, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    revoked = keys.generate_key()
    with database.session() as session:
        client_row = keys.create_client(session, "Alte Kasse", Actor.system())
        keys.create_key(session, client_row, Actor.system(), plaintext=revoked)
    revoke(database, revoked)
    unknown = keys.generate_key()
    terminal, admin = world["terminal"], world["admin"]
    booking = b'{"beschreibung": "Kasse", "token": "BKIrHA=="}'
    requests = [
        ("GET", "/api/version", terminal, None, 200),
        ("PUT", "/api/nfc-transaktion", terminal, booking, 200),
        ("PUT", f"/api/person/{CODE}/transaktion", terminal, b'{"beschreibung": "K"}', 200),
        ("GET", "/api/users", admin, None, 200),
        ("GET", "/api/users", terminal, None, 403),
        ("DELETE", "/api/transaktionen", terminal, None, 403),
        ("GET", "/api/saldo-alle", unknown, None, 401),
        ("GET", "/api/saldo-alle", revoked, None, 401),
        ("PUT", "/api/nfc-transaktion", terminal, b"{kaputt", 400),
        ("PUT", "/api/nfc-transaktion", terminal, b'{"beschreibung": "K", "token": "AQ=="}', 404),
        ("GET", "/api/person/0000000001", terminal, None, 404),
        ("GET", "/api/gibt-es-nicht", unknown, None, 404),
    ]
    statuses = [http(live_server, m, p, k, d) for m, p, k, d, _ in requests]
    assert statuses == [expected for *_, expected in requests]
    for method, path, key, data, _ in requests:  # the same through the test client
        client.open(path, method=method, data=data, headers={"X-API-Key": key})
    assert any(r.name == "werkzeug" for r in caplog.records), "no request log captured"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (terminal, admin, revoked, unknown):
        assert secret not in logged
        assert secret[len(keys.KEY_PREFIX) :] not in logged
