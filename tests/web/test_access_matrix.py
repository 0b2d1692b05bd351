"""The whole access matrix: every route and method of `app.url_map`, tried as five roles.

The routes are read from the running app, never listed here, so a view added tomorrow is
walked too. Each (route, method) is called as

- `anonymous`: no login, no key;
- `member` / `admin`: a GUI session of a logged-in member / admin, no key;
- `terminal_key` / `admin_key`: an `X-API-Key` of that scope and no login.

Every role carries a session cookie with a valid CSRF token (an anonymous one for the three
roles without a login) and posts it with its forms, so a refusal is the access check's and
never CSRF's. The answer must be what the view's declared rule (`fvh.access`) promises:

| rule         | anonymous | member  | admin   | terminal key | admin key |
|--------------|-----------|---------|---------|--------------|-----------|
| public       | allowed   | allowed | allowed | allowed      | allowed   |
| login        | to login  | allowed | allowed | to login     | to login  |
| admin        | to login  | 403     | allowed | to login     | to login  |
| api:terminal | 401       | 401     | 401     | allowed      | allowed   |
| api:admin    | 401       | 401     | 401     | 403          | allowed   |

"to login" is a redirect to the login page (a 401 is accepted for methods other than GET);
"allowed" is neither 401 nor 403 nor a redirect to the login page (the view ran: a 400 or 404
of the view itself is fine), and for GETs of non-public views whose URL could be filled with
real ids also no 4xx at all. A 5xx is always a failure.

URL parameters are filled with ids of objects created for the purpose (a member with a booking,
its token, an API client with a key, an unknown scan). GETs come first and share one set;
every other method gets a fresh set, so a delete, reversal, revocation or logout never breaks
the rest of the walk; a session that a call ended is logged in again.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.routing import Rule

from fvh.core import keys, ledger, members, tokens
from fvh.db import Database
from fvh.db.models import Member
from fvh.http import access
from fvh.web import auth as web_auth
from fvh.web import csrf as web_csrf
from tests.builders import TEST_ACTOR, Builder
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_account_reset import MAIL, PUBLIC_URL

# Flask's own static route: a bound method of the app that cannot carry a mark; it only
# serves files and is walked as if it were public.
UNMARKED_ALLOWED = {"static"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}

ANONYMOUS, MEMBER, ADMIN, TERMINAL_KEY, ADMIN_KEY = ROLES = (
    "anonymous",
    "member",
    "admin",
    "terminal_key",
    "admin_key",
)
SESSION_ROLES = (MEMBER, ADMIN)
KEY_SCOPES = {TERMINAL_KEY: keys.SCOPE_TERMINAL, ADMIN_KEY: keys.SCOPE_ADMIN}

# Expected outcomes.
ALLOWED = "allowed"
TO_LOGIN = "redirect to the login page"
STATUS_401 = "401"
STATUS_403 = "403"

EXPECTED: dict[str, dict[str, str]] = {
    access.PUBLIC: dict.fromkeys(ROLES, ALLOWED),
    access.LOGIN: {
        ANONYMOUS: TO_LOGIN,
        MEMBER: ALLOWED,
        ADMIN: ALLOWED,
        TERMINAL_KEY: TO_LOGIN,  # an API key is not a login
        ADMIN_KEY: TO_LOGIN,
    },
    access.ADMIN: {
        ANONYMOUS: TO_LOGIN,
        MEMBER: STATUS_403,
        ADMIN: ALLOWED,
        TERMINAL_KEY: TO_LOGIN,
        ADMIN_KEY: TO_LOGIN,
    },
    access.API_TERMINAL: {
        ANONYMOUS: STATUS_401,
        MEMBER: STATUS_401,  # a GUI session is not an API key
        ADMIN: STATUS_401,
        TERMINAL_KEY: ALLOWED,
        ADMIN_KEY: ALLOWED,
    },
    access.API_ADMIN: {
        ANONYMOUS: STATUS_401,
        MEMBER: STATUS_401,
        ADMIN: STATUS_401,
        TERMINAL_KEY: STATUS_403,
        ADMIN_KEY: ALLOWED,
    },
}
API_RULES = (access.API_TERMINAL, access.API_ADMIN)
REDIRECTS = (301, 302, 303, 307, 308)
# Files that exist behind the `filename` parameter of the file-serving routes.
FILENAMES = {"api.docs_static": "swagger-ui.css", "web.asset": "fvh.css"}


@pytest.fixture
def config(config):
    # /metrics also opens for allow-listed addresses; none here, so only the key counts.
    # With mail and PUBLIC_URL the account views (reset, e-mail change) run instead of
    # answering 503.
    return {**config, **MAIL, "METRICS_ALLOW_IPS": "", "PUBLIC_URL": PUBLIC_URL}


def test_the_matrix_knows_every_rule():
    assert set(EXPECTED) == set(access.RULES)
    assert all(set(row) == set(ROLES) for row in EXPECTED.values())


def test_every_endpoint_declares_a_rule(app):
    """Every endpoint of the url_map has a known rule; only Flask's `static` may lack one."""
    problems = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None:
            problems.append(f"{rule.rule}: no view function for {rule.endpoint}")
            continue
        declared = access.rule_of(view)
        if declared is None and rule.endpoint in UNMARKED_ALLOWED:
            # Flask's own file route (a lambda around `send_static_file`), nothing else
            assert rule.rule == f"{app.static_url_path}/<path:filename>", rule.rule
            assert view.__qualname__.startswith("Flask.__init__"), view.__qualname__
            continue
        if declared not in access.RULES:
            problems.append(f"{rule.rule} ({rule.endpoint}): rule {declared!r}")
    assert not problems, "\n".join(problems)


# --- the walk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    rule: Rule
    method: str
    declared: str

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    @property
    def is_api(self) -> bool:
        return self.declared in API_RULES or self.endpoint.startswith("api.")

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule} ({self.endpoint}, rule {self.declared})"


def calls_of(app: Flask) -> list[Call]:
    """Every (rule, method) of the url_map; GETs first, the rest (state-changing) after."""
    found = []
    for rule in app.url_map.iter_rules():
        declared = access.rule_of(app.view_functions[rule.endpoint])
        if declared is None and rule.endpoint in UNMARKED_ALLOWED:
            declared = access.PUBLIC
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            found.append(Call(rule, method, declared or "<none>"))
    return sorted(found, key=lambda c: (c.method != "GET", c.rule.rule, c.method))


@dataclass(frozen=True)
class Targets:
    """Real objects whose ids fill the URL parameters."""

    member_id: int
    code: str
    token_id: int
    token_data: bytes
    transaction_id: int
    client_id: int
    key_id: int
    scan_id: int
    serial: int

    def url_values(self, endpoint: str) -> dict[str, object]:
        return {
            "member_id": self.member_id,
            "code": self.code,
            "token_id": self.token_id,
            "transaction_id": self.transaction_id,
            "client_id": self.client_id,
            "key_id": self.key_id,
            "scan_id": self.scan_id,
            "filename": FILENAMES.get(endpoint, "fvh.css"),
        }

    def api_body(self) -> dict[str, str]:
        """A JSON body that every API endpoint reading one accepts (new code, known token)."""
        return {
            "beschreibung": "Matrix",
            "token": base64.b64encode(self.token_data).decode(),
            "code": f"{5_000_000_000 + self.serial}",
            "nachname": "Neumann",
            "vorname": "Nina",
        }


_serials = itertools.count(1)


def make_targets(database: Database) -> Targets:
    serial = next(_serials)
    with database.session() as session:
        victim = members.create(
            session,
            members.NewMember(first_name="Vera", last_name=f"Ziel {serial}"),
            TEST_ACTOR,
        )
        session.flush()
        booking = ledger.book(session, victim.id, 1000, "Startguthaben", TEST_ACTOR)
        token_data = b"\x7a" + serial.to_bytes(4, "big")
        token = tokens.add(session, victim, token_data, "Chip", TEST_ACTOR)
        client = keys.create_client(session, f"Matrix-Terminal {serial}", TEST_ACTOR)
        key, _plaintext = keys.create_key(session, client, TEST_ACTOR)
        scan = tokens.record_unknown_scan(session, b"\x7b" + serial.to_bytes(4, "big"), "Matrix")
        session.flush()
        return Targets(
            member_id=victim.id,
            code=victim.code,
            token_id=token.id,
            token_data=token_data,
            transaction_id=booking.transaction_id,
            client_id=client.id,
            key_id=key.id,
            scan_id=scan.id,
            serial=serial,
        )


def build_url(app: Flask, call: Call, targets: Targets) -> tuple[str, bool]:
    """The URL of this very rule, and whether every parameter got a real value."""
    known = targets.url_values(call.endpoint)
    unknown = [name for name in call.rule.arguments if name not in known]
    adapter = app.url_map.bind("localhost")
    # A parameter added after this test was written gets any well-formed value: the access
    # check runs before the view looks the object up.
    for filler in (1, "x"):
        values = {name: known.get(name, filler) for name in call.rule.arguments}
        built = call.rule.build(values, append_unknown=False)
        if built is None:
            continue
        path = built[1]
        matched, _args = adapter.match(path, method=call.method, return_rule=True)
        if matched is call.rule:
            return path, not unknown
    raise AssertionError(f"cannot build a URL that leads to {call}")


class Walker:
    """One role's client: its session, its CSRF token, its key header."""

    def __init__(self, app: Flask, database: Database, role: str, actor: Member | None) -> None:
        self.app = app
        self.database = database
        self.role = role
        self.actor = actor
        self.browser = Browser(app.test_client())
        self.headers: dict[str, str] = {}
        self.csrf_token = ""
        self.csrf_raw: object = None
        self.logins = 0
        if role in KEY_SCOPES:
            self.headers["X-API-Key"] = Builder(database).api_key(
                KEY_SCOPES[role], client=f"Rolle {role}"
            )
        self.log_in()

    def log_in(self) -> None:
        if self.actor is not None:
            response = self.browser.login(self.actor.code, PASSWORD)
            assert response.status_code == 302, f"{self.role} cannot log in"
            self.logins += 1
        self.refresh_csrf()

    def refresh_csrf(self) -> None:
        self.csrf_token = self.browser.token()
        self.csrf_raw = self._session().get("csrf_token")
        assert self.csrf_raw, "no CSRF token in the session"

    def _session(self) -> dict[str, object]:
        with self.browser.client.session_transaction() as session:
            return dict(session)

    def session_alive(self) -> bool:
        """Whether the actor's login still holds (cookie and database agree)."""
        assert self.actor is not None
        cookie = self._session()
        if cookie.get("_user_id") != str(self.actor.id):
            return False
        with self.database.session() as session:
            member = session.get(Member, self.actor.id)
            return (
                member is not None
                and not member.locked
                and member.session_version == cookie.get(web_auth.SESSION_VERSION_KEY)
            )

    def recover(self) -> None:
        """After a state-changing call: log in again if it ended the session, new CSRF token."""
        if self.actor is not None and not self.session_alive():
            self.log_in()
        elif self._session().get("csrf_token") != self.csrf_raw:
            self.refresh_csrf()

    def send(self, call: Call, path: str, targets: Targets):
        kwargs: dict[str, object] = {"method": call.method, "headers": self.headers}
        if call.method != "GET":
            if call.is_api:
                kwargs["json"] = targets.api_body()
            else:
                kwargs["data"] = {"csrf_token": self.csrf_token}
        response = self.browser.client.open(path, **kwargs)
        response.close()
        return response


@pytest.fixture
def csrf_watch(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose request CSRF protection refused (so the access check never ran)."""
    refused: list[str] = []
    original = web_csrf.protect

    def protect(*args, **kwargs):
        from flask import request
        from flask_wtf.csrf import CSRFError

        try:
            return original(*args, **kwargs)
        except CSRFError:
            refused.append(request.path)
            raise

    monkeypatch.setattr(web_csrf, "protect", protect)
    return refused


def judge(expected: str, call: Call, response, login_path: str, strict: bool) -> str | None:
    """None when the answer keeps the rule, else what is wrong."""
    status = response.status_code
    location = response.headers.get("Location", "")
    to_login = status in REDIRECTS and urlsplit(location).path == login_path
    seen = f"got {status}" + (f" -> {location}" if location else "")
    if status >= 500:
        return f"server error, {seen}"
    if expected == ALLOWED:
        if status in (401, 403):
            return f"expected access, {seen}"
        if call.declared == access.PUBLIC:
            return None  # a public view may well send to the login page (e.g. logout)
        if to_login:
            return f"expected access, sent to the login page ({seen})"
        if strict and status >= 400:
            return f"expected the view's answer to a valid GET, {seen}"
        return None
    if expected == TO_LOGIN:
        if to_login or (call.method != "GET" and status == 401):
            return None
        return f"expected a redirect to {login_path}, {seen}"
    if str(status) != expected:
        return f"expected {expected}, {seen}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_the_role_as_its_rule_says(
    app, database, role, admin, member, csrf_watch
):
    actor = {MEMBER: member, ADMIN: admin}.get(role)
    walker = Walker(app, database, role, actor)
    with app.test_request_context():
        from flask import url_for

        login_path = url_for("web.login")
    calls = calls_of(app)
    shared = make_targets(database)
    problems: list[str] = []
    outcomes: dict[str, int] = {}
    for call in calls:
        if call.declared not in EXPECTED:
            problems.append(f"{role}: {call}: no access rule")
            continue
        targets = shared if call.method == "GET" else make_targets(database)
        path, complete = build_url(app, call, targets)
        expected = EXPECTED[call.declared][role]
        refused_before = len(csrf_watch)
        try:
            response = walker.send(call, path, targets)
        except Exception as exc:  # TESTING propagates a view's exception: report, walk on
            problems.append(f"{role}: {call}: raised {type(exc).__name__}: {exc}")
            walker.recover()
            continue
        if len(csrf_watch) > refused_before:
            problems.append(f"{role}: {call}: CSRF refused the request, access never checked")
        else:
            strict = complete and call.method == "GET"
            problem = judge(expected, call, response, login_path, strict)
            if problem:
                problems.append(f"{role}: {call}: {problem}")
        outcomes[expected] = outcomes.get(expected, 0) + 1
        if call.method != "GET":
            walker.recover()
    assert not problems, "\n".join(problems)
    # The walk really covered the matrix: every rule occurs, and this role met each outcome
    # its row of the table holds.
    declared = {c.declared for c in calls}
    assert declared == set(access.RULES), declared
    assert set(outcomes) == {row[role] for row in EXPECTED.values()}, outcomes
    assert len(calls) >= 50, len(calls)
    if actor is not None:
        assert walker.session_alive(), f"{role} lost the session at the end of the walk"
