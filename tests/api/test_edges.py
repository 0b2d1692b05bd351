"""The OpenAPI document states the rules that validation applies, no more and no less.

Each test draws values for one field (text with control characters, every kind of space,
boundary lengths, near-miss addresses and tokens), validates them against the schema of the
served document with jsonschema_rs (the validator schemathesis uses), sends them to the real
app, and asserts: the schema accepts a value exactly when the server does. The draws are
derandomized, so a run is repeatable.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fvh.core import keys

PREFIX = "/api"
CODE = "1234567890"
SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Characters where rules differ: C0, DEL and C1 controls, the spaces str.strip() drops (some
# of them controls, some not), a space it keeps (U+FEFF), the soft hyphen, and what
# addresses and base64 are made of.
AWKWARD = list("aZ09@.+/= -äß€\t\n\r\x00\x01\x1c\x1f\x7f\x85\x9f\xa0\xad\u2000\u3000\ufeff")
CHARACTERS = st.one_of(st.sampled_from(AWKWARD), st.characters(codec="utf-8"))
TEXTS = st.one_of(
    st.text(CHARACTERS, max_size=20),
    st.text(CHARACTERS, min_size=250, max_size=260),
    st.tuples(st.sampled_from(["", " ", "\u3000", "\t"]), st.integers(250, 260)).map(
        lambda t: t[0] + "x" * t[1]
    ),
)


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def validator(document: dict[str, Any], ref: str) -> jsonschema_rs.Validator:
    """A validator for one schema of the document, its references resolved inside it."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": ref}
    root["components"] = document["components"]
    return jsonschema_rs.validator_for(root)


class Codes:
    """A fresh member code per request, so that only a code clash can answer 409."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1_000_000_000)

    def __call__(self) -> str:
        return str(next(self._numbers))


def _agree(schema_says: bool, status: int, accepted: set[int], value: object) -> None:
    assert status in accepted | {400}, (status, value)
    assert schema_says == (status != 400), (
        f"schema {'accepts' if schema_says else 'refuses'}, server answered {status}: {value!r}"
    )


# --- POST /person -------------------------------------------------------------------------


def _post_person(client, key: str, body: dict[str, Any]) -> int:
    response = client.post(f"{PREFIX}/person", json=body, headers={"X-API-Key": key})
    return response.status_code


@pytest.mark.parametrize("field", ["nachname", "vorname"])
def test_names_agree_with_the_schema(client, build, document, field):
    key, codes = build.api_key(keys.SCOPE_ADMIN), Codes()
    schema = validator(document, "#/components/schemas/NewPerson")

    @SETTINGS
    @given(value=TEXTS)
    @example(value=" ")
    @example(value="\u3000Anna")
    @example(value=" " + "x" * 255)
    @example(value="x" * 255)
    @example(value="Anna\x85")
    def check(value: str) -> None:
        body = {"code": codes(), "nachname": "Neu", "vorname": "Nina", field: value}
        _agree(schema.is_valid(body), _post_person(client, key, body), {201}, value)

    check()


ADDRESS_PARTS = st.text(st.sampled_from(list("ab.@ \t\x01\x85\xa0\u3000äZ")), max_size=4)
ADDRESSES = st.one_of(
    TEXTS,
    st.tuples(ADDRESS_PARTS, ADDRESS_PARTS, ADDRESS_PARTS, ADDRESS_PARTS).map(
        lambda p: f"{p[0]}x{p[1]}@y{p[2]}.z{p[3]}"
    ),
)


def test_email_agrees_with_the_schema(client, build, document):
    key, codes = build.api_key(keys.SCOPE_ADMIN), Codes()
    schema = validator(document, "#/components/schemas/NewPerson")

    @SETTINGS
    @given(value=ADDRESSES)
    @example(value="")
    @example(value="  ")
    @example(value=" carla@example.org\u3000")
    @example(value="carla@example")
    @example(value="a@b.c" + "d" * 250)
    def check(value: str) -> None:
        body = {"code": codes(), "nachname": "Neu", "vorname": "Nina", "email": value}
        # 409: a valid address drawn twice (stored trimmed and in lower case) is taken
        _agree(schema.is_valid(body), _post_person(client, key, body), {201, 409}, value)

    check()


def test_password_agrees_with_the_schema(client, build, document):
    key, codes = build.api_key(keys.SCOPE_ADMIN), Codes()
    schema = validator(document, "#/components/schemas/NewPerson")

    @SETTINGS
    @given(value=st.one_of(TEXTS, st.text(CHARACTERS, min_size=8, max_size=12)))
    @example(value="")
    @example(value=" " * 12)
    @example(value="gut-und-lang" + "x" * 116)
    @example(value="gut-und-lang" + "x" * 117)
    def check(value: str) -> None:
        body = {"code": codes(), "nachname": "Neu", "vorname": "Nina", "password": value}
        _agree(schema.is_valid(body), _post_person(client, key, body), {201}, value)

    check()


def test_optional_fields_may_be_null_or_absent_required_ones_not(client, build, document):
    key, codes = build.api_key(keys.SCOPE_ADMIN), Codes()
    schema = validator(document, "#/components/schemas/NewPerson")
    full = {"nachname": "Neu", "vorname": "Nina", "password": "ein-langes-passwort"}
    full["email"] = "nina@example.org"
    bodies = [{**full, "email": None, "password": None}]
    bodies += [{k: v for k, v in full.items() if k != name} for name in full]
    bodies += [{**full, name: None} for name in ("nachname", "vorname")]
    for number, body in enumerate(bodies):
        body = {"code": codes(), **body}
        if body.get("email"):
            body["email"] = f"{number}{body['email']}"
        _agree(schema.is_valid(body), _post_person(client, key, body), {201}, body)
    _agree(False, _post_person(client, key, full), {201}, "no code")


# --- bookings -----------------------------------------------------------------------------


@pytest.fixture
def locked_member(build):
    """A locked member answers a valid tap with 200 `locked` and books nothing."""
    member = build.member(code=CODE, first_name="Anna", balance_cents=500, locked=True)
    build.token(member, bytes.fromhex("04A22B1C"))
    return member


def test_beschreibung_agrees_with_the_schema(client, build, document, locked_member):
    key = build.api_key()
    schema = validator(document, "#/components/schemas/BookingByCodeRequest")

    @SETTINGS
    @given(value=TEXTS)
    @example(value="")
    @example(value="x" * 255)
    @example(value=" " * 256)
    @example(value="Kasse\x7fTheke")
    def check(value: str) -> None:
        body = {"beschreibung": value}
        response = client.put(
            f"{PREFIX}/person/{CODE}/transaktion", json=body, headers={"X-API-Key": key}
        )
        _agree(schema.is_valid(body), response.status_code, {200}, value)

    check()
    assert build.balance(CODE) == 500


B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
TOKENS = st.one_of(
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.tuples(
        st.sampled_from(["", " ", "\n", "\x1c", "\u3000", "\ufeff", "\x01"]),
        st.binary(min_size=1, max_size=32).map(lambda b: base64.b64encode(b).decode()),
        st.sampled_from(["", "\t", "\x1f\x85", "=", "A", "\x00"]),
    ).map("".join),
    st.text(st.sampled_from(list(B64_ALPHABET + " \n-_")), max_size=48),
)


def test_token_agrees_with_the_schema(client, build, document, locked_member):
    key = build.api_key()
    schema = validator(document, "#/components/schemas/BookingByTokenRequest")

    @SETTINGS
    @given(value=TOKENS)
    @example(value="BKIrHA==")
    @example(value="BB==")
    @example(value="AAAA=")
    @example(value=base64.b64encode(bytes(32)).decode())
    @example(value=base64.b64encode(bytes(33)).decode())
    def check(value: str) -> None:
        body = {"token": value, "beschreibung": "Kasse"}
        response = client.put(f"{PREFIX}/nfc-transaktion", json=body, headers={"X-API-Key": key})
        # 403: the locked owner of BKIrHA==; 404: a token nobody owns
        _agree(schema.is_valid(body), response.status_code, {403, 404}, value)

    check()


# Characters the HTTP server refuses in a header before the app sees it (a 400 of its own,
# tests/ops/test_serve.py); the test client would pass them on.
BARRED_BY_HTTP = "".join(map(chr, [*range(0x09), *range(0x0A, 0x20), 0x7F]))
HEADER_VALUES = st.one_of(
    st.text(st.characters(max_codepoint=0xFF, exclude_characters=BARRED_BY_HTTP), max_size=20),
    st.integers(250, 260).map(lambda n: "k" * n),
    st.tuples(st.sampled_from(["", " ", "\xa0"]), st.integers(253, 256)).map(
        lambda t: "k" * t[1] + t[0]
    ),
)


def test_idempotency_key_agrees_with_the_schema(client, build, document, locked_member):
    key = build.api_key()
    schema = jsonschema_rs.validator_for(
        document["components"]["parameters"]["Idempotency-Key"]["schema"]
    )

    @SETTINGS
    @given(value=HEADER_VALUES)
    @example(value="k" * 255 + "\xa0")
    @example(value="k\xadk")
    @example(value="ä-1")
    def check(value: str) -> None:
        # HTTP drops outer spaces and tabs itself (the test client does not)
        value = value.strip(" \t")
        response = client.put(
            f"{PREFIX}/person/{CODE}/transaktion",
            json={"beschreibung": "Kasse"},
            headers={"X-API-Key": key, "Idempotency-Key": value},
        )
        _agree(schema.is_valid(value), response.status_code, {200}, value)

    check()


# --- paging -------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-5, 12_000).map(str),
    st.integers(999_999_990, 1_000_000_010).map(str),
    st.text(st.sampled_from(list("0123456789 +-_.xe٥")), min_size=1, max_size=6),
)


@pytest.mark.parametrize("name", ["limit", "offset"])
def test_paging_parameters_agree_with_the_schema(client, build, document, name):
    """The schema says integer with bounds; the server takes exactly the ASCII decimal
    spellings of such integers, from the document's own bounds."""
    key = build.api_key(keys.SCOPE_ADMIN)
    schema = document["components"]["parameters"][name]["schema"]

    def schema_accepts(value: str) -> bool:
        if not (value.isascii() and value.isdigit()) or len(value) > 20:
            return False
        return schema["minimum"] <= int(value) <= schema["maximum"]

    @SETTINGS
    @given(value=NUMBERS)
    @example(value=str(schema["maximum"]))
    @example(value=str(schema["maximum"] + 1))
    @example(value="9" * 4000)  # the longest that fits the 4 KB request line
    def check(value: str) -> None:
        response = client.get(
            f"{PREFIX}/users", query_string={name: value}, headers={"X-API-Key": key}
        )
        _agree(schema_accepts(value), response.status_code, {200}, value)

    check()


def test_the_spelled_out_spaces_are_what_strip_drops():
    """The patterns spell whitespace out (no `\\s`): the list must be Python's exactly."""
    import re

    from fvh.api import openapi

    spelled = re.compile(f"[{openapi.SPACES}{openapi.CONTROL_SPACES}]")
    every = map(chr, range(0x110000))
    assert {c for c in every if c.isspace()} == {
        c for c in map(chr, range(0x110000)) if spelled.fullmatch(c)
    }


# --- the request's head (fvh.http.limits) -------------------------------------------------


def test_head_limits_apply_in_the_app(client):
    """The app itself refuses an over-long line, over-large or too many headers and control
    characters in a header (under any WSGI server): JSON on API paths, plain text on GUI
    paths. Exactly at a limit the request passes. (Served: tests/ops/test_serve.py.)"""
    from fvh.http import limits

    line = len("GET  HTTP/1.1")
    cases = [
        ({"query_string": "q=" + "a" * 5000}, {}, 414),
        ({}, {"X-Big": "a" * (limits.MAX_HEADER_FIELD - len("X-Big: ") + 1)}, 431),
        ({}, {f"X-H{i}": "v" for i in range(limits.MAX_HEADER_FIELDS + 1)}, 431),
        ({}, {"X-A": "a\x01b"}, 400),
        ({}, {"X-A": "a\x7f"}, 400),
    ]
    for path, as_json in (("/api/health", True), ("/login", False)):
        for options, headers, status in cases:
            response = client.get(path, headers=headers, **options)
            assert response.status_code == status, (path, status)
            if as_json:
                assert response.get_json() == {"error": limits.MESSAGES[status]}
            else:
                assert response.mimetype == "text/plain"
                assert response.get_data(as_text=True) == limits.MESSAGES[status] + "\n"
        at_limit = "q=" + "a" * (limits.MAX_REQUEST_LINE - line - len(path) - 3)
        assert client.get(path, query_string=at_limit).status_code == 200
        big = {"X-Big": "a" * (limits.MAX_HEADER_FIELD - len("X-Big: "))}
        assert client.get(path, headers=big).status_code == 200
        assert client.get(path, headers={"X-A": "a\tb"}).status_code == 200
