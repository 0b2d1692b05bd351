"""Members, tokens, API keys and settings in the domain core."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from fvh.core import audit, keys, members, system_settings, tokens
from fvh.core.errors import (
    DuplicateCode,
    DuplicateEmail,
    DuplicateToken,
    PermissionDenied,
    ValidationError,
)
from fvh.db.models import AuditEntry, Member, UnknownTokenScan

ACTOR = audit.Actor.system("tests")


@pytest.mark.parametrize("code", ["123456789", "12345678901", "12345abcde", "", " 123456789"])
def test_codes_are_ten_digits(code):
    with pytest.raises(ValidationError):
        members.validate_code(code)


def test_generated_codes_are_ten_digits_and_unique(database):
    with database.session() as s:
        created = [members.create(s, members.NewMember("A", "B"), ACTOR) for _ in range(20)]
        codes = {m.code for m in created}
    assert len(codes) == 20
    assert all(len(c) == 10 and c.isdigit() for c in codes)


def test_duplicates_are_refused(build, database):
    build.member(code="2000000001", email="a@example.org")
    with database.session() as s:
        with pytest.raises(DuplicateCode):
            members.create(s, members.NewMember("X", "Y", code="2000000001"), ACTOR)
        with pytest.raises(DuplicateEmail):
            members.create(s, members.NewMember("X", "Y", email="A@example.org"), ACTOR)


def test_member_create_validates_names_and_email(database):
    with database.session() as s:
        for bad in (
            members.NewMember("", "Y"),
            members.NewMember("X", "y" * 256),
            members.NewMember("X", "Y", email="no-at-sign"),
            members.NewMember("X", "Y", password="short"),
        ):
            with pytest.raises(ValidationError):
                members.create(s, bad, ACTOR)
        assert s.scalar(select(Member.id)) is None


def test_password_check_rehashes_weaker_hashes(build, database):
    build.member(code="2000000002")
    with database.session() as s:
        m = members.get_by_code(s, "2000000002")
        m.password_hash = generate_password_hash("geheim-geheim", "pbkdf2:sha256:1000")
    with database.session() as s:
        m = members.get_by_code(s, "2000000002")
        assert not members.check_password(m, "falsch", "pbkdf2:sha256:600000")
        assert m.password_hash.startswith("pbkdf2:sha256:1000$")
        assert members.check_password(m, "geheim-geheim", "pbkdf2:sha256:600000")
        assert m.password_hash.startswith("pbkdf2:sha256:600000$")
    with database.session() as s:
        m = members.get_by_code(s, "2000000002")
        assert members.check_password(m, "geheim-geheim", "pbkdf2:sha256:600000")


def test_legacy_scrypt_hash_still_verifies(build, database):
    build.member(code="2000000003")
    with database.session() as s:
        m = members.get_by_code(s, "2000000003")
        m.password_hash = generate_password_hash("changeme", "scrypt:32768:8:1")
        assert members.check_password(m, "changeme", "pbkdf2:sha256:1000")


def test_lock_bumps_session_version_and_is_audited(build, database):
    build.member(code="2000000004")
    with database.session() as s:
        m = members.get_by_code(s, "2000000004")
        version = m.session_version
        members.set_locked(s, m, True, ACTOR)
        assert m.session_version == version + 1
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "member.lock"))


def test_admin_cannot_lock_or_delete_self_and_last_admin_stays(build, database):
    admin = build.member(code="2000000005", is_admin=True)
    me = audit.Actor.for_member(admin.id, "Admin")
    with database.session() as s:
        m = members.get_by_code(s, "2000000005")
        with pytest.raises(PermissionDenied):
            members.set_locked(s, m, True, me)
        with pytest.raises(PermissionDenied):
            members.delete(s, m, me)
        with pytest.raises(PermissionDenied):
            members.delete(s, m, ACTOR)


def test_bootstrap_admin_only_on_empty_database(database):
    with database.session() as s:
        password = members.ensure_bootstrap_admin(s)
    assert password and len(password) >= 12
    with database.session() as s:
        admin = members.get_by_code(s, members.BOOTSTRAP_ADMIN_CODE)
        assert admin.is_admin and admin.must_change_password
        assert members.check_password(admin, password, "pbkdf2:sha256:1000")
        assert members.ensure_bootstrap_admin(s) is None


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("04a22b1c", b"\x04\xa2\x2b\x1c"),
        ("04:A2:2B:1C", b"\x04\xa2\x2b\x1c"),
        ("04 a2-2b 1c", b"\x04\xa2\x2b\x1c"),
    ],
)
def test_hex_input_is_tolerant(text, data):
    assert tokens.parse_hex(text) == data


@pytest.mark.parametrize("text", ["", "0", "zz", "00" * 33])
def test_hex_input_rejects(text):
    with pytest.raises(ValidationError):
        tokens.parse_hex(text)


@pytest.mark.parametrize("text", ["", "!!!!", "AAA", base64.b64encode(b"x" * 33).decode(), 5])
def test_base64_rejects(text):
    with pytest.raises(ValidationError):
        tokens.parse_base64(text)


def test_token_owned_by_someone_names_the_owner(build, database):
    owner = build.member(code="2000000006", first_name="Erika", last_name="Feuer")
    other = build.member(code="2000000007")
    build.token(owner, b"\x01\x02")
    with database.session() as s, pytest.raises(DuplicateToken) as info:
        tokens.add(s, s.get(Member, other.id), b"\x01\x02", "", ACTOR)
    assert "Erika Feuer" in info.value.message


def test_assigning_an_unknown_scan_removes_it(build, database):
    m = build.member(code="2000000008")
    with database.session() as s:
        tokens.record_unknown_scan(s, b"\x0a\x0b", "Kasse")
        tokens.record_unknown_scan(s, b"\x0a\x0b", "Theke")
    with database.session() as s:
        scan = s.scalar(select(UnknownTokenScan))
        assert (scan.scan_count, scan.last_terminal) == (2, "Theke")
    build.token(m, b"\x0a\x0b")
    with database.session() as s:
        assert s.scalar(select(UnknownTokenScan)) is None


def test_api_keys_are_hashed_prefixed_and_revocable(database):
    with database.session() as s:
        client = keys.create_client(s, "Kasse", ACTOR)
        row, plaintext = keys.create_key(s, client, ACTOR, scope=keys.SCOPE_TERMINAL)
        assert plaintext.startswith("fvh_")
        assert len(plaintext) >= 4 + 43  # 256 random bits, base64url
        assert row.key_hash == keys.hash_key(plaintext) != plaintext
        assert keys.authenticate(s, plaintext).id == row.id
        assert keys.authenticate(s, plaintext + "x") is None
        assert keys.authenticate(s, None) is None
        keys.revoke_key(s, row, ACTOR)
        assert keys.authenticate(s, plaintext) is None


def test_scopes():
    assert keys.scope_allows("admin", "terminal")
    assert keys.scope_allows("terminal", "terminal")
    assert not keys.scope_allows("terminal", "admin")


def test_settings_defaults_validation_and_audit(database):
    with database.session() as s:
        current = system_settings.load(s)
        assert (current.default_amount_cents, current.min_balance_cents) == (-100, 0)
        assert (current.currency, current.decimals) == ("EUR", 2)
        for bad in ({"default_amount_cents": 100}, {"decimals": 3}, {"currency": ""}, {"nope": 1}):
            with pytest.raises(ValidationError):
                system_settings.update(s, ACTOR, **bad)
        system_settings.update(
            s, ACTOR, default_amount_cents=-150, organisation_name="FF Musterdorf"
        )
    with database.session() as s:
        assert system_settings.load(s).default_amount_cents == -150
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "settings.update"))
        assert '"default_amount_cents": -100' in entry.before
        assert '"organisation_name": "FF Musterdorf"' in entry.after


def test_idempotency_records_expire_after_the_ttl_but_never_before_24h(database):
    from datetime import timedelta

    from fvh.core import idempotency
    from fvh.db.models import IdempotencyRecord, utcnow

    with database.session() as s:
        client = keys.create_client(s, "Kasse", ACTOR)
        row, _ = keys.create_key(s, client, ACTOR)
        for key, age in (("old", 49), ("day", 23), ("new", 0)):
            record = idempotency.reserve(s, row.id, key, "h")
            idempotency.complete(record, 200, {"saldo": 1})
            record.created_at = utcnow() - timedelta(hours=age)
    with database.session() as s:
        assert idempotency.purge_expired(s, timedelta(hours=1)) == 1  # clamped to 24 h
        assert idempotency.purge_expired(s, timedelta(hours=48)) == 0
        left = set(s.scalars(select(IdempotencyRecord.key)))
    assert left == {"day", "new"}
