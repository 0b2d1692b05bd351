"""The terminal protocol (docs/api.md), endpoint by endpoint: fields, types, codes, outcomes."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from sqlalchemy import func, select

import fvh
from fvh.app import create_app
from fvh.core import keys, system_settings, tokens
from fvh.core.audit import Actor
from fvh.db.models import Member, OutboxMessage, Transaction, UnknownTokenScan

TOKEN = bytes.fromhex("04a22b1c")
BOOKING_ROUTES = ["code", "nfc"]


# --- helpers ------------------------------------------------------------------------------


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def book(client, key, via, code, token=TOKEN, beschreibung="Kasse Theke"):
    """One terminal booking by member code (QR terminal) or by NFC token."""
    if via == "code":
        return client.put(
            f"/api/person/{code}/transaktion",
            json={"beschreibung": beschreibung},
            headers=auth(key),
        )
    return client.put(
        "/api/nfc-transaktion",
        json={"token": b64(token), "beschreibung": beschreibung},
        headers=auth(key),
    )


def journal_size(database, code=None) -> int:
    with database.session() as session:
        query = select(func.count()).select_from(Transaction)
        if code is not None:
            query = query.join(Member, Member.id == Transaction.member_id).where(
                Member.code == code
            )
        return session.scalar(query)


def change_settings(database, **changes) -> None:
    with database.session() as session:
        system_settings.update(session, Actor.system(), **changes)


def assert_number(value, expected) -> None:
    """`saldo` is an int for whole amounts and a float for fractions, never a string."""
    assert value == expected
    assert type(value) is type(expected), f"{value!r} should be {type(expected).__name__}"


@pytest.fixture
def key(build) -> str:
    return build.api_key(keys.SCOPE_TERMINAL)


@pytest.fixture
def admin_key(build) -> str:
    return build.api_key(keys.SCOPE_ADMIN)


@pytest.fixture
def member(build):
    """A factory for a member who also owns the NFC token TOKEN."""

    def make(**kwargs):
        kwargs.setdefault("first_name", "Jürgen")
        kwargs.setdefault("last_name", "Brandt")
        created = build.member(**kwargs)
        build.token(created, TOKEN)
        return created

    return make


# --- health and metadata ------------------------------------------------------------------


def test_health_version_and_database_check(client, key):
    health = client.get("/api/health")  # no key
    assert health.status_code == 200
    assert list(health.get_json()) == ["message"]
    assert isinstance(health.get_json()["message"], str) and health.get_json()["message"]
    checked = client.get("/api/health-protected", headers=auth(key))
    assert checked.status_code == 200
    assert list(checked.get_json()) == ["message"]
    assert isinstance(checked.get_json()["message"], str) and checked.get_json()["message"]
    version = client.get("/api/version", headers=auth(key))
    assert version.status_code == 200
    assert version.get_json() == {"version": fvh.__version__}
    assert isinstance(version.get_json()["version"], str)


@pytest.mark.parametrize(("prefix", "mode"), [("/fvh-api", "combined"), ("", "api")])
def test_base_url_may_carry_a_path_prefix(config, build, prefix, mode):
    """Terminals are configured with a base URL, with or without a path prefix."""
    other = create_app({**config, "API_PREFIX": prefix or "/api"}, mode=mode)
    try:
        client = other.test_client()
        key = build.api_key()
        assert client.get(f"{prefix}/health").status_code == 200
        version = client.get(f"{prefix}/version", headers=auth(key))
        assert version.get_json() == {"version": fvh.__version__}
        assert client.get(f"{prefix}/version").status_code == 401
        unknown = client.get(f"{prefix}/person/0000000001", headers=auth(key))
        assert unknown.status_code == 404
        assert list(unknown.get_json()) == ["error"]
        assert client.get("/api/health").status_code == 404
    finally:
        other.extensions["fvh_db"].dispose()


# --- balances and people ------------------------------------------------------------------


def test_saldo_alle_fields_and_number_types(client, key, build):
    whole = build.member(first_name="Anna", last_name="Arndt", balance_cents=500)
    fraction = build.member(first_name="Bernd", last_name="Bauer", balance_cents=450)
    negative = build.member(first_name="Cora", last_name="Cordes", balance_cents=-150)
    response = client.get("/api/saldo-alle", headers=auth(key))
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert isinstance(body, list)
    for item in body:
        assert set(item) == {"id", "nachname", "vorname", "saldo"}
        assert type(item["id"]) is int
        assert isinstance(item["nachname"], str)
        assert isinstance(item["vorname"], str)
    by_id = {item["id"]: item for item in body}
    assert by_id[whole.id]["nachname"] == "Arndt"
    assert by_id[whole.id]["vorname"] == "Anna"
    assert_number(by_id[whole.id]["saldo"], 5)
    assert_number(by_id[fraction.id]["saldo"], 4.5)
    assert_number(by_id[negative.id]["saldo"], -1.5)
    assert b'"saldo": "' not in response.data and b'"saldo":"' not in response.data


def test_saldo_alle_sorted_by_saldo_desc_then_nachname_then_vorname(client, key, build):
    for last, first, cents in [
        ("Zander", "Anna", 100),
        ("Abel", "Berta", 100),
        ("Abel", "Anna", 100),
        ("Mayer", "Xaver", 200),
        ("Bauer", "Yvonne", -50),
        ("Abel", "Carl", 0),
    ]:
        build.member(first_name=first, last_name=last, balance_cents=cents)
    body = client.get("/api/saldo-alle", headers=auth(key)).get_json()
    assert [(i["nachname"], i["vorname"], i["saldo"]) for i in body] == [
        ("Mayer", "Xaver", 2),
        ("Abel", "Anna", 1),
        ("Abel", "Berta", 1),
        ("Zander", "Anna", 1),
        ("Abel", "Carl", 0),
        ("Bauer", "Yvonne", -0.5),
    ]


def test_saldo_alle_limit_offset_and_total_count(client, key, build):
    for cents in (500, 400, 300, 200, 100):
        build.member(last_name=f"Person{cents}", balance_cents=cents)
    full = client.get("/api/saldo-alle", headers=auth(key))
    assert full.headers["X-Total-Count"] == "5"
    assert [i["saldo"] for i in full.get_json()] == [5, 4, 3, 2, 1]
    page = client.get("/api/saldo-alle?limit=2&offset=1", headers=auth(key))
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "5"
    assert [i["saldo"] for i in page.get_json()] == [4, 3]
    beyond = client.get("/api/saldo-alle?limit=2&offset=10", headers=auth(key))
    assert beyond.status_code == 200
    assert beyond.get_json() == []
    assert beyond.headers["X-Total-Count"] == "5"


def test_person_fields_and_saldo_type(client, key, build):
    for cents, saldo in [(700, 7), (450, 4.5), (0, 0), (-1, -0.01), (-250, -2.5)]:
        created = build.member(first_name="Anna", last_name="Arndt", balance_cents=cents)
        response = client.get(f"/api/person/{created.code}", headers=auth(key))
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"nachname", "vorname", "saldo"}
        assert (body["nachname"], body["vorname"]) == ("Arndt", "Anna")
        assert_number(body["saldo"], saldo)


def test_person_unknown_code_is_404_error(client, key, build):
    build.member(code="1111111111")
    response = client.get("/api/person/2222222222", headers=auth(key))
    assert response.status_code == 404
    body = response.get_json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"]


def test_person_existent(client, key, build):
    created = build.member(first_name="Anna", last_name="Arndt", balance_cents=300)
    response = client.get(f"/api/person/existent/{created.code}", headers=auth(key))
    assert response.status_code == 200
    assert response.get_json() == {"nachname": "Arndt", "vorname": "Anna"}
    unknown = client.get("/api/person/existent/0000000001", headers=auth(key))
    assert unknown.status_code == 404
    assert list(unknown.get_json()) == ["error"]


def test_users_lists_code_and_names_with_paging(client, admin_key, build):
    codes = [build.member(last_name=name, first_name="Vera").code for name in "CAB"]
    response = client.get("/api/users", headers=auth(admin_key))
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    body = response.get_json()
    assert all(set(item) == {"code", "nachname", "vorname"} for item in body)
    assert sorted(item["code"] for item in body) == sorted(codes)
    page = client.get("/api/users?limit=1&offset=2", headers=auth(admin_key))
    assert page.headers["X-Total-Count"] == "3"
    assert len(page.get_json()) == 1


def test_post_person_creates_member(client, admin_key, key, database):
    payload = {"code": "0123456789", "nachname": "Neumann", "vorname": "Nina"}
    response = client.post("/api/person", json=payload, headers=auth(admin_key))
    assert response.status_code == 201
    body = response.get_json()
    assert (body["code"], body["nachname"], body["vorname"]) == ("0123456789", "Neumann", "Nina")
    person = client.get("/api/person/0123456789", headers=auth(key)).get_json()
    assert person == {"nachname": "Neumann", "vorname": "Nina", "saldo": 0}
    # With the optional password, which is stored hashed.
    payload = {"code": "0123456780", "nachname": "Neu", "vorname": "Nils"}
    payload["password"] = "ein-langes-passwort"
    assert client.post("/api/person", json=payload, headers=auth(admin_key)).status_code == 201
    with database.session() as session:
        stored = session.scalar(select(Member).where(Member.code == "0123456780"))
        assert stored.password_hash and "ein-langes-passwort" not in stored.password_hash


INVALID_PEOPLE = [
    {"code": "12345", "nachname": "Neu", "vorname": "Nina"},
    {"code": "abcdefghij", "nachname": "Neu", "vorname": "Nina"},
    {"code": 1234567890, "nachname": "Neu", "vorname": "Nina"},
    {"nachname": "Neu", "vorname": "Nina"},
    {"code": "0123456789", "vorname": "Nina"},
    {"code": "0123456789", "nachname": "Neu"},
    {"code": "0123456789", "nachname": "", "vorname": "Nina"},
    {"code": "0123456789", "nachname": "Neu", "vorname": "Nina", "password": "kurz"},
]


def test_post_person_invalid_is_400(client, admin_key):
    for payload in INVALID_PEOPLE:
        response = client.post("/api/person", json=payload, headers=auth(admin_key))
        assert response.status_code == 400, payload
        assert list(response.get_json()) == ["error"]
    assert client.get("/api/users", headers=auth(admin_key)).get_json() == []


def test_post_person_duplicate_code_is_409(client, admin_key, build):
    build.member(code="0123456789", first_name="Alt", last_name="Bestand")
    payload = {"code": "0123456789", "nachname": "Neu", "vorname": "Nina"}
    response = client.post("/api/person", json=payload, headers=auth(admin_key))
    assert response.status_code == 409
    assert list(response.get_json()) == ["error"]
    users = client.get("/api/users", headers=auth(admin_key)).get_json()
    assert users == [{"code": "0123456789", "nachname": "Bestand", "vorname": "Alt"}]


def test_delete_person(client, admin_key, key, member, build):
    gone = member(balance_cents=300)
    kept = build.member(balance_cents=200)
    response = client.delete(f"/api/person/{gone.code}", headers=auth(admin_key))
    assert response.status_code == 200
    assert isinstance(response.get_json()["message"], str)
    assert client.get(f"/api/person/{gone.code}", headers=auth(key)).status_code == 404
    assert book(client, key, "nfc", gone.code).status_code == 404  # the token went with them
    assert build.balance(kept.code) == 200


def test_delete_person_unknown_is_404(client, admin_key, build):
    existing = build.member(balance_cents=200)
    response = client.delete("/api/person/0000000001", headers=auth(admin_key))
    assert response.status_code == 404
    assert list(response.get_json()) == ["error"]
    assert build.balance(existing.code) == 200


# --- journal ------------------------------------------------------------------------------


def test_transaktionen_newest_first_with_fields(client, admin_key, key, build):
    anna = build.member(first_name="Anna", last_name="Arndt", balance_cents=1000)
    for name in ("erste", "zweite", "dritte"):
        assert book(client, key, "code", anna.code, beschreibung=name).status_code == 200
    response = client.get("/api/transaktionen", headers=auth(admin_key))
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "4"
    body = response.get_json()
    assert [t["beschreibung"] for t in body] == ["dritte", "zweite", "erste", "Startguthaben"]
    for entry in body:
        assert {"id", "nachname", "vorname", "beschreibung", "timestamp"} <= set(entry)
        assert type(entry["id"]) is int
        assert (entry["nachname"], entry["vorname"]) == ("Arndt", "Anna")
        datetime.fromisoformat(entry["timestamp"])
    page = client.get("/api/transaktionen?limit=2&offset=1", headers=auth(admin_key))
    assert [t["beschreibung"] for t in page.get_json()] == ["zweite", "erste"]
    assert page.headers["X-Total-Count"] == "4"


def test_delete_all_transactions_resets_every_balance(client, admin_key, build, database):
    first = build.member(balance_cents=500)
    second = build.member(balance_cents=-300)
    response = client.delete("/api/transaktionen", headers=auth(admin_key))
    assert response.status_code == 200
    assert isinstance(response.get_json()["message"], str)
    assert journal_size(database) == 0
    assert (build.balance(first.code), build.balance(second.code)) == (0, 0)
    assert client.get("/api/transaktionen", headers=auth(admin_key)).get_json() == []


def test_delete_member_transactions_resets_only_that_member(client, admin_key, build, database):
    target = build.member(balance_cents=500)
    other = build.member(balance_cents=700)
    response = client.delete(f"/api/person/transaktionen/{target.code}", headers=auth(admin_key))
    assert response.status_code == 200
    assert isinstance(response.get_json()["message"], str)
    assert build.balance(target.code) == 0
    assert journal_size(database, target.code) == 0
    assert build.balance(other.code) == 700
    assert journal_size(database, other.code) == 1


def test_delete_member_transactions_unknown_is_404(client, admin_key, build, database):
    other = build.member(balance_cents=700)
    response = client.delete("/api/person/transaktionen/0000000001", headers=auth(admin_key))
    assert response.status_code == 404
    assert list(response.get_json()) == ["error"]
    assert build.balance(other.code) == 700
    assert journal_size(database) == 1


# --- booking outcomes ---------------------------------------------------------------------


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_booked(client, key, build, database, via):
    for index, (start, saldo, said) in enumerate([(500, 4, "4,00"), (450, 3.5, "3,50")]):
        token = bytes([index + 1]) * 4
        created = build.member(first_name="Jürgen", balance_cents=start)
        build.token(created, token)
        response = book(client, key, via, created.code, token=token)
        assert response.status_code == 200
        body = response.get_json()
        if via == "code":
            assert set(body) == {"message", "saldo", "vorname"}
            assert body["vorname"] == "Jürgen"
        else:
            assert set(body) == {"message", "saldo"}
        assert_number(body["saldo"], saldo)
        assert "Jürgen" in body["message"]
        assert said in body["message"]
        assert build.balance(created.code) == start - 100
        assert journal_size(database, created.code) == 2


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_booked_down_to_exactly_the_minimum(client, key, member, build, via):
    created = member(balance_cents=100)
    body = book(client, key, via, created.code).get_json()
    assert_number(body["saldo"], 0)
    assert build.balance(created.code) == 0


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_default_amount_follows_the_setting(client, key, member, build, database, via):
    change_settings(database, default_amount_cents=-250)
    created = member(balance_cents=1000)
    body = book(client, key, via, created.code).get_json()
    assert_number(body["saldo"], 7.5)
    assert "2,50" in body["message"]
    assert build.balance(created.code) == 750


def assert_blocked(response, first_name: str) -> None:
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"message", "action"}
    assert body["action"] == "block"
    assert first_name in body["message"]


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_block_below_global_default_minimum(client, key, member, build, database, via):
    created = member(balance_cents=50)
    assert_blocked(book(client, key, via, created.code), "Jürgen")
    assert build.balance(created.code) == 50
    assert journal_size(database, created.code) == 1


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_negative_global_minimum(client, key, member, build, database, via):
    change_settings(database, min_balance_cents=-200)
    created = member()
    assert_number(book(client, key, via, created.code).get_json()["saldo"], -1)
    assert_number(book(client, key, via, created.code).get_json()["saldo"], -2)
    assert_blocked(book(client, key, via, created.code), "Jürgen")
    assert build.balance(created.code) == -200
    assert journal_size(database, created.code) == 2


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_members_own_negative_minimum(client, key, member, build, database, via):
    created = member(min_balance_cents=-150)
    assert_number(book(client, key, via, created.code).get_json()["saldo"], -1)
    assert_blocked(book(client, key, via, created.code), "Jürgen")
    assert build.balance(created.code) == -100
    assert journal_size(database, created.code) == 1


@pytest.mark.parametrize("via", BOOKING_ROUTES)
def test_members_own_minimum_wins_over_global(client, key, build, database, via):
    change_settings(database, min_balance_cents=-500)
    for index, (minimum, start) in enumerate([(500, 550), (0, 0)]):
        token = bytes([index + 1]) * 4
        strict = build.member(first_name="Jürgen", min_balance_cents=minimum, balance_cents=start)
        build.token(strict, token)
        assert_blocked(book(client, key, via, strict.code, token=token), "Jürgen")
        assert build.balance(strict.code) == start
        assert journal_size(database, strict.code) == (1 if start else 0)


def test_locked(client, key, build, database):
    """Locked wins over everything, also over a balance that would block anyway."""
    for index, balance_cents in enumerate([1000, 0]):
        token = bytes([index + 1]) * 4
        created = build.member(first_name="Jürgen", locked=True, balance_cents=balance_cents)
        build.token(created, token)
        nfc = book(client, key, "nfc", created.code, token=token)
        assert nfc.status_code == 403
        assert list(nfc.get_json()) == ["error"]
        assert "Jürgen" in nfc.get_json()["error"]
        person = book(client, key, "code", created.code)
        assert person.status_code == 200
        body = person.get_json()
        assert set(body) == {"message", "action"}
        assert body["action"] == "locked"
        assert "Jürgen" in body["message"]
        assert build.balance(created.code) == balance_cents
        assert journal_size(database, created.code) == (1 if balance_cents else 0)


def _scans(database) -> list[tuple[bytes, int, str]]:
    with database.session() as session:
        return [
            (s.data, s.scan_count, s.last_terminal)
            for s in session.scalars(select(UnknownTokenScan).order_by(UnknownTokenScan.id))
        ]


def test_unknown_token_is_404_and_the_scan_recorded(client, member, build, database):
    """The scan names the terminal by its API client, not by the booking text."""
    owner = member(balance_cents=500)
    key = build.api_key(keys.SCOPE_TERMINAL, client="Theke Halle")
    stranger = bytes.fromhex("0a0b0c0d0e0f10")
    response = book(client, key, "nfc", None, token=stranger, beschreibung="Kasse Theke")
    assert response.status_code == 404
    body = response.get_json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"]
    assert _scans(database) == [(stranger, 1, "Theke Halle")]
    # The responsible admins are told by e-mail: token hex and terminal (sent after commit).
    with database.session() as session:
        mails = session.scalars(select(OutboxMessage)).all()
        assert [m.template for m in mails] == ["unknown_token"]
        assert "0A:0B:0C:0D:0E:0F:10" in mails[0].body_text
        assert "Theke Halle" in mails[0].body_text
    again = book(client, key, "nfc", None, token=stranger, beschreibung="Kasse Halle")
    assert again.status_code == 404
    assert _scans(database) == [(stranger, 2, "Theke Halle")]
    assert journal_size(database) == 1
    assert build.balance(owner.code) == 500


def test_unknown_code_is_404(client, key, build, database):
    other = build.member(code="1111111111", balance_cents=500)
    response = book(client, key, "code", "2222222222")
    assert response.status_code == 404
    assert list(response.get_json()) == ["error"]
    assert build.balance(other.code) == 500
    assert journal_size(database) == 1
    assert _scans(database) == []


def _token_last_used(database, data: bytes):
    with database.session() as session:
        return tokens.find(session, data).last_used_at


def test_nfc_booking_stores_token_last_used(client, key, member, database):
    created = member(balance_cents=500)
    assert _token_last_used(database, TOKEN) is None
    assert book(client, key, "nfc", created.code).status_code == 200
    assert isinstance(_token_last_used(database, TOKEN), datetime)


def test_nfc_token_lengths(client, key, build):
    """Card UIDs of 4, 7 or 10 bytes, a phone's longer ATS: lengths from 1 to 32 bytes."""
    for length in (1, 4, 7, 10, 32):
        created = build.member(balance_cents=500)
        data = bytes(range(1, length + 1))
        build.token(created, data)
        response = book(client, key, "nfc", created.code, token=data)
        assert response.status_code == 200, length
        assert_number(response.get_json()["saldo"], 4)
