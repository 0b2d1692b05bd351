"""Small builders for test data, all going through the domain core (no SQL in tests)."""

from __future__ import annotations

from dataclasses import dataclass

from fvh.core import audit, keys, ledger, members, tokens
from fvh.db import Database
from fvh.db.models import Member

TEST_ACTOR = audit.Actor.system("tests")


@dataclass
class Builder:
    database: Database
    _counter: int = 0

    def member(
        self,
        *,
        code: str | None = None,
        first_name: str = "Max",
        last_name: str = "Muster",
        balance_cents: int = 0,
        locked: bool = False,
        is_admin: bool = False,
        email: str | None = None,
        password: str | None = None,
        min_balance_cents: int | None = None,
    ) -> Member:
        with self.database.session() as session:
            member = members.create(
                session,
                members.NewMember(
                    code=code,
                    first_name=first_name,
                    last_name=last_name,
                    email=email,
                    password=password,
                    is_admin=is_admin,
                    locked=locked,
                    min_balance_cents=min_balance_cents,
                ),
                TEST_ACTOR,
            )
            if balance_cents:
                ledger.book(session, member.id, balance_cents, "Startguthaben", TEST_ACTOR)
            session.flush()
            session.refresh(member)
            return member

    def token(self, member: Member, data: bytes, name: str = "Chip") -> None:
        with self.database.session() as session:
            tokens.add(session, session.get(Member, member.id), data, name, TEST_ACTOR)

    def api_key(self, scope: str = keys.SCOPE_TERMINAL, client: str | None = None) -> str:
        self._counter += 1
        with self.database.session() as session:
            name = client or f"Terminal {self._counter}"
            api_client = keys.find_client(session, name) or keys.create_client(
                session, name, TEST_ACTOR
            )
            _row, plaintext = keys.create_key(session, api_client, TEST_ACTOR, scope=scope)
            return plaintext

    def balance(self, code: str) -> int:
        with self.database.session() as session:
            return members.get_by_code(session, code).balance_cents
