"""A query counter on the hot path: a terminal tap stays a handful of statements."""

from __future__ import annotations

import base64
from contextlib import contextmanager

from sqlalchemy import event

TOKEN = base64.b64encode(b"\x04\xa2\x2b\x1c").decode()


@contextmanager
def count_statements(engine):
    statements: list[str] = []

    def observe(statement: str) -> None:
        verb = statement.split()[0].upper()
        if verb not in ("BEGIN", "SAVEPOINT", "RELEASE"):  # transaction control is not a query
            statements.append(verb)

    def before(_conn, _cursor, statement, *_args):
        observe(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_nfc_tap_uses_a_bounded_number_of_statements(client, build, database):
    member = build.member(code="3000000001", balance_cents=1000)
    build.token(member, b"\x04\xa2\x2b\x1c")
    key = build.api_key()
    headers = {"X-API-Key": key}
    client.put("/api/nfc-transaktion", json={"token": TOKEN, "beschreibung": "x"}, headers=headers)

    with count_statements(database.engine) as statements:
        response = client.put(
            "/api/nfc-transaktion", json={"token": TOKEN, "beschreibung": "x"}, headers=headers
        )
    assert response.status_code == 200
    # The key with the token, its member and the settings (one SELECT), UPDATE balance
    # RETURNING it, INSERT journal (on MariaDB, which has no UPDATE … RETURNING, the INSERT
    # returns the balance). Key and token `last_used` were written by the first tap and are
    # due again only after a minute.
    assert statements == ["SELECT", "UPDATE", "INSERT"], statements


def test_person_tap_uses_a_bounded_number_of_statements(client, build, database):
    build.member(code="3000000002", balance_cents=1000)
    headers = {"X-API-Key": build.api_key()}
    client.put("/api/person/3000000002/transaktion", json={"beschreibung": "x"}, headers=headers)
    with count_statements(database.engine) as statements:
        response = client.put(
            "/api/person/3000000002/transaktion", json={"beschreibung": "x"}, headers=headers
        )
    assert response.status_code == 200
    # The key with the member and the settings (one SELECT), UPDATE balance, INSERT journal.
    assert statements == ["SELECT", "UPDATE", "INSERT"], statements


def test_a_body_without_a_valid_token_reads_the_key_alone(client, build, database):
    """Nothing to read along: the key is checked on its own, then the body refused."""
    headers = {"X-API-Key": build.api_key()}
    client.get("/api/version", headers=headers)  # the key's first use is written
    with count_statements(database.engine) as statements:
        response = client.put(
            "/api/nfc-transaktion", json={"token": "not base64!"}, headers=headers
        )
    assert response.status_code == 400
    assert statements == ["SELECT"], statements
