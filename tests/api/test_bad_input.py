"""Bad input is a 4xx JSON `{"error": <German sentence>}` and writes nothing.

Each test sends a family of bad requests to one app and reports every case that failed, so
that the many cases stay cheap on the server backends.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from fvh.core import keys
from fvh.db.models import IdempotencyRecord, Member, Transaction, UnknownTokenScan

CODE = "0123456789"
TOKEN = bytes.fromhex("04a22b1c")
PERSON = f"/api/person/{CODE}/transaktion"
NFC = "/api/nfc-transaktion"
# Words of werkzeug's English defaults; none may reach a terminal that speaks German.
ENGLISH = {"the", "request", "not", "found", "invalid", "error", "must", "be", "is", "missing"}
ENGLISH |= {"too", "large", "method", "allowed", "could", "browser", "server", "bad", "entity"}
GERMAN = {"der", "die", "das", "ist", "nicht", "muss", "müssen", "fehlt", "ein", "eine", "kein"}
GERMAN |= {"zu", "diese", "diesen", "dieser", "ungültige", "bitte", "gültiges", "bis", "bytes"}
GERMAN |= {"keine", "gültige", "ungültig", "feld", "zeichen", "lang", "sein", "und"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def state(database) -> tuple[object, ...]:
    """Everything a bad request must leave alone: members, balances, journal, scans."""
    with database.session() as session:
        return (
            sorted(
                (m.code, m.first_name, m.last_name, m.balance_cents, m.locked)
                for m in session.scalars(select(Member))
            ),
            session.scalar(select(func.count()).select_from(Transaction)),
            session.scalar(select(func.count()).select_from(UnknownTokenScan)),
            session.scalar(select(func.count()).select_from(IdempotencyRecord)),
        )


def german_error_problem(response, status: int | None) -> str | None:
    """Why the response is not the expected 4xx `{"error": <German>}`; None when it is."""
    if status is not None and response.status_code != status:
        return f"status {response.status_code} instead of {status}: {response.data[:200]!r}"
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code} is not 4xx"
    body = response.get_json(silent=True) if response.is_json else None
    if not isinstance(body, dict) or list(body) != ["error"]:
        return f"not a JSON {{'error'}} object: {response.data[:200]!r}"
    message = body["error"]
    if not isinstance(message, str) or not message.strip():
        return f"empty message {message!r}"
    words = set(re.findall(r"[a-zäöüß]+", message.lower()))
    if words & ENGLISH or not words & GERMAN:
        return f"not German: {message!r}"
    return None


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: object = None
    raw: bytes | None = None
    scope: str = "terminal"
    status: int | None = 400  # None: any 4xx


def check(client, database, api_keys: dict[str, str], cases: list[Case]) -> None:
    """Send every case; fail naming each one that answered wrongly or changed the data."""
    assert cases
    before = state(database)
    problems = []
    for case in cases:
        data = case.raw if case.raw is not None else json.dumps(case.body)
        response = client.open(
            case.path,
            method=case.method,
            data=data,
            content_type="application/json",
            headers={"X-API-Key": api_keys[case.scope]},
        )
        problem = german_error_problem(response, case.status)
        if problem:
            problems.append(f"{case.name}: {problem}")
        after = state(database)
        if after != before:
            problems.append(f"{case.name}: wrote data {before} -> {after}")
            before = after
    assert not problems, "\n".join(problems)


@pytest.fixture
def api_keys(build) -> dict[str, str]:
    return {"terminal": build.api_key(), "admin": build.api_key(keys.SCOPE_ADMIN)}


@pytest.fixture
def existing(build):
    """A member with money and a token: what bad requests might wrongly touch."""
    member = build.member(code=CODE, first_name="Jürgen", balance_cents=1000)
    build.token(member, TOKEN)
    return member


# --- booking bodies -----------------------------------------------------------------------

MALFORMED = {
    "truncated-json": b'{"beschreibung": ',
    "form-encoded": b"beschreibung=Kasse",
    "empty-body": b"",
    "not-utf8": b"\xff\xfe{}",
    "json-array": b"[]",
    "json-string": b'"Kasse Theke"',
    "json-number": b"42",
    "json-null": b"null",
    "json-true": b"true",
}


def test_booking_body_not_a_json_object(client, api_keys, existing, database):
    cases = [
        Case(f"{path} {name}", "PUT", path, raw=raw)
        for path in (PERSON, NFC)
        for name, raw in MALFORMED.items()
    ]
    check(client, database, api_keys, cases)


BAD_BESCHREIBUNG = {
    "missing": {},
    "null": {"beschreibung": None},
    "int": {"beschreibung": 5},
    "float": {"beschreibung": 1.5},
    "bool": {"beschreibung": True},
    "list": {"beschreibung": ["Kasse"]},
    "object": {"beschreibung": {"name": "Kasse"}},
    "256-chars": {"beschreibung": "x" * 256},
    "256-umlauts": {"beschreibung": "ä" * 256},
    "nul": {"beschreibung": "Kasse\x00Theke"},  # PostgreSQL cannot store it
    "tab": {"beschreibung": "Kasse\tTheke"},  # no control character (the schema's pattern)
    "del": {"beschreibung": "Kasse\x7f"},
    "c1-control": {"beschreibung": "Kasse\x85"},
    "lone-surrogate": {"beschreibung": "Kasse \ud800"},  # no backend can store it
}


def test_booking_bad_beschreibung(client, api_keys, existing, database):
    cases = [Case(f"person {n}", "PUT", PERSON, body) for n, body in BAD_BESCHREIBUNG.items()]
    cases += [
        Case(f"nfc {n}", "PUT", NFC, {"token": b64(TOKEN), **body})
        for n, body in BAD_BESCHREIBUNG.items()
    ]
    check(client, database, api_keys, cases)


def test_long_and_unusual_beschreibung_is_accepted(client, api_keys, existing, build):
    """The boundaries of the checks above: 255 characters, umlauts and emoji still book."""
    balance = 1000
    for path in (PERSON, NFC):
        for text in ("x" * 255, "ä" * 255, "Kasse 🍺" * 35):
            body = {"beschreibung": text, "token": b64(TOKEN)}
            response = client.put(path, json=body, headers={"X-API-Key": api_keys["terminal"]})
            assert response.status_code == 200, (path, text)
            balance -= 100
            assert build.balance(CODE) == balance


BAD_TOKENS = {
    "missing": ...,
    "null": None,
    "int": 1234,
    "bool": True,
    "list": [b64(TOKEN)],
    "object": {"data": b64(TOKEN)},
    "not-base64": "kein base64!",
    "missing-padding": b64(TOKEN).rstrip("="),
    "extra-padding": b64(TOKEN) + "==",
    "urlsafe-alphabet": base64.urlsafe_b64encode(b"\xfb\xff\xbf").decode(),
    "bad-char": "BKIrHA#=",
    "0-bytes": "",
    "33-bytes": b64(bytes(33)),
    "33-bytes-nonzero": b64(bytes(range(1, 34))),
    "unused-bits-set": "BB==",  # decodes like BA==, but only the canonical spelling is base64
    "padding-after-full-group": "AAAA=",
}


def test_nfc_bad_token(client, api_keys, existing, database):
    cases = []
    for name, token in BAD_TOKENS.items():
        body = {"beschreibung": "Kasse Theke"} | ({} if token is ... else {"token": token})
        cases.append(Case(name, "PUT", NFC, body))
    check(client, database, api_keys, cases)


def test_oversized_body_is_413_json(client, api_keys, existing, database):
    cases = []
    for size in (16 * 1024 + 1, 2 * 1024 * 1024):
        body = {"beschreibung": "x", "token": b64(TOKEN), "code": "1111111111", "vorname": "V"}
        body["nachname"] = "N" * size  # otherwise valid: only the size may refuse it
        cases += [
            Case(f"person {size}", "PUT", PERSON, body, status=413),
            Case(f"nfc {size}", "PUT", NFC, body, status=413),
            Case(f"post {size}", "POST", "/api/person", body, scope="admin", status=413),
        ]
    check(client, database, api_keys, cases)


# --- codes and ids ------------------------------------------------------------------------

BAD_CODES = {
    "short": "123",
    "11-digits": "12345678901",
    "letters": "abcdefghij",
    "9-digits-and-letter": "012345678a",
    "minus": "-123456789",
    "leading-space": " 123456789",
    "qr-payload": CODE + "a",
}
# (scope, method, path template): every endpoint that takes a member code.
CODE_ROUTES = [
    ("terminal", "GET", "/api/person/{}"),
    ("terminal", "GET", "/api/person/existent/{}"),
    ("terminal", "PUT", "/api/person/{}/transaktion"),
    ("admin", "DELETE", "/api/person/{}"),
    ("admin", "DELETE", "/api/person/transaktionen/{}"),
]


def _code_cases(codes: dict[str, str], status: int | None) -> list[Case]:
    return [
        Case(
            f"{method} {template} {name}",
            method,
            template.format(quote(code)),
            {"beschreibung": "Kasse"},
            scope=scope,
            status=status,
        )
        for scope, method, template in CODE_ROUTES
        for name, code in codes.items()
    ]


def test_code_not_ten_digits(client, api_keys, existing, database):
    check(client, database, api_keys, _code_cases(BAD_CODES, 400))


def test_unknown_code(client, api_keys, existing, database):
    """An unknown code, or a lookalike of an existing one, never reaches a member."""
    codes = {"unknown": "0000000001", "newline": CODE + "\n", "arabic-digits": "٠١٢٣٤٥٦٧٨٩"}
    check(client, database, api_keys, _code_cases(codes, None))


def _person(code: object) -> Case:
    body = {"code": code, "nachname": "Neumann", "vorname": "Nina"}
    return Case(f"code {code!r}", "POST", "/api/person", body, scope="admin")


def test_post_person_bad_code(client, api_keys, database):
    codes = [*BAD_CODES.values(), "", 1234567890, None, ["0123456789"]]
    check(client, database, api_keys, [_person(code) for code in codes])


@pytest.mark.parametrize("code", [CODE + "\n", "٠١٢٣٤٥٦٧٨٩"], ids=["newline", "arabic-digits"])
def test_post_person_code_lookalikes(client, api_keys, database, code):
    check(client, database, api_keys, [_person(code)])


def test_post_person_bad_fields(client, api_keys, existing, database):
    valid = {"code": "1111111111", "nachname": "Neu", "vorname": "Nina"}
    variants = {
        "missing-nachname": {"nachname": ...},
        "missing-vorname": {"vorname": ...},
        "null-vorname": {"vorname": None},
        "int-nachname": {"nachname": 5},
        "list-vorname": {"vorname": ["Nina"]},
        "blank-nachname": {"nachname": " "},
        "nul-nachname": {"nachname": "Neu\x00"},
        "surrogate-vorname": {"vorname": "Nina\udc00"},
        "long-nachname": {"nachname": "N" * 256},
        "int-password": {"password": 12345678901},
        "short-password": {"password": "kurz"},
        "bad-email": {"email": "keine-adresse"},
        "empty-email": {"email": ""},  # none is null or no field (was accepted as none)
        "blank-email": {"email": "   "},
        "control-email": {"email": "nina\x01@example.org"},
        "empty-password": {"password": ""},
        "blank-password": {"password": " " * 12},
        "control-nachname": {"nachname": "Neu\x01"},
        "tab-vorname": {"vorname": "Ni\tna"},
        "c1-vorname": {"vorname": "Nina\x9f"},
        "long-with-spaces": {"nachname": " " + "N" * 255},  # counted as sent, before trimming
        "duplicate-code": {"code": CODE},
    }
    cases = []
    for name, change in variants.items():
        body = {k: v for k, v in (valid | change).items() if v is not ...}
        status = 409 if name == "duplicate-code" else 400
        cases.append(Case(name, "POST", "/api/person", body, scope="admin", status=status))
    cases += [
        Case(name, "POST", "/api/person", raw=raw, scope="admin") for name, raw in MALFORMED.items()
    ]
    check(client, database, api_keys, cases)


# --- paths, methods and paging ------------------------------------------------------------


def test_unknown_path_or_method(client, api_keys, existing, database):
    requests = [
        ("unknown path", "GET", "/api/gibt-es-nicht", 404),
        ("unknown sub-path", "PUT", f"/api/person/{CODE}/unbekannt", 404),
        ("code missing", "GET", "/api/person/", 404),
        ("POST saldo-alle", "POST", "/api/saldo-alle", 405),
        ("DELETE nfc", "DELETE", NFC, 405),
        ("GET booking", "GET", PERSON, 405),
    ]
    cases = [
        Case(f"{name} ({scope})", method, path, {"beschreibung": "K"}, scope=scope, status=status)
        for name, method, path, status in requests
        for scope in ("terminal", "admin")
    ]
    check(client, database, api_keys, cases)


def test_bad_paging(client, api_keys, existing, database):
    queries = ["limit=0", "limit=-1", "limit=abc", "offset=-1", "offset=1.5", "limit=10001"]
    cases = [
        Case(f"{path}?{query}", "GET", f"{path}?{query}", scope="admin")
        for path in ("/api/saldo-alle", "/api/users", "/api/transaktionen")
        for query in queries
    ]
    check(client, database, api_keys, cases)


LISTS = ("/api/saldo-alle", "/api/users", "/api/transaktionen")


def test_oversized_or_repeated_paging(client, api_keys, existing, database):
    """Beyond a BIGINT the databases fail (a 500 before); a repeated parameter is ambiguous."""
    queries = [
        "offset=99999999999999999999",
        "offset=9223372036854775808",
        "offset=1000000001",
        "limit=99999999999999999999",
        "limit=1&limit=x",
        "limit=1&limit=2",
        "offset=0&offset=1",
        "offset=0&limit=5&offset=0",
        "limit=%205",  # int() would take these five
        "limit=%2B5",
        "limit=1_0",
        "limit=%D9%A5",  # Arabic-Indic five
        "offset=5%0A",
        "limit=",
        "offset=0x10",
        "limit=" + "9" * 4000,  # far beyond a BIGINT, within the 4 KB request line
    ]
    cases = [
        Case(f"{path}?{query}", "GET", f"{path}?{query}", scope="admin")
        for path in LISTS
        for query in queries
    ]
    check(client, database, api_keys, cases)


def test_largest_offset_is_an_empty_page(client, api_keys, existing):
    for path in LISTS:
        response = client.get(f"{path}?offset=1000000000", headers={"X-API-Key": api_keys["admin"]})
        assert response.status_code == 200, path
        assert response.json == []
        assert response.headers["X-Offset"] == "1000000000"


# When a body has several faults, the terminal hears about them in this order: the token's
# presence, then the description, then the token or code itself.
FIRST_FAULT_REPORTED = [
    (PERSON.replace(CODE, "12"), {}, "Das Feld 'beschreibung' fehlt."),
    (NFC, {"token": "!!"}, "Das Feld 'beschreibung' fehlt."),
    (NFC, {"token": 5, "beschreibung": 7}, "Das Feld 'beschreibung' muss ein Text sein."),
    (NFC, {"beschreibung": 7}, "Das Feld 'token' fehlt."),
]


@pytest.mark.parametrize(("path", "body", "message"), FIRST_FAULT_REPORTED)
def test_the_first_fault_of_a_booking_body_is_reported(
    client, api_keys, database, path, body, message
):
    before = state(database)
    response = client.put(path, json=body, headers={"X-API-Key": api_keys["terminal"]})
    assert response.status_code == 400
    assert response.get_json() == {"error": message}
    assert state(database) == before


def test_optional_person_fields_null_or_trimmed(client, api_keys, build):
    """None is null or no field; an address is stored trimmed and in lower case."""
    bodies = [
        {"code": "1111111111", "email": None, "password": None},
        {"code": "1111111112", "email": " Nina@Example.org\u3000"},
        {"code": "1111111113", "nachname": "\u3000Neu "},
    ]
    for body in bodies:
        body = {"nachname": "Neu", "vorname": "Nina", **body}
        headers = {"X-API-Key": api_keys["admin"]}
        response = client.post("/api/person", json=body, headers=headers)
        assert response.status_code == 201, (body, response.get_json())
        assert response.get_json()["nachname"] == "Neu"
    with build.database.session() as session:
        emails = {m.code: m.email for m in session.scalars(select(Member))}
    assert emails == {"1111111111": None, "1111111112": "nina@example.org", "1111111113": None}


def test_overlong_request_line_is_414_json(client, api_keys, existing, database):
    """A query beyond the 4 KB request line is refused before anything reads it."""
    query = "limit=" + "9" * 5000
    cases = [Case(f"{path} 5000 digits", "GET", f"{path}?{query}", status=414) for path in LISTS]
    cases.append(
        Case("booking", "PUT", f"{PERSON}?x={'a' * 5000}", {"beschreibung": "K"}, status=414)
    )
    check(client, database, api_keys, cases)
