"""API clients and their keys. A key is shown once; only its SHA-256 hash is stored."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from sqlalchemy import Select, bindparam, select, true
from sqlalchemy.orm import Session, selectinload

from fvh import db
from fvh.core import audit, last_used
from fvh.core.errors import N_, Conflict, NotFound, ValidationError
from fvh.core.names import validate_name
from fvh.db.models import ApiClient, ApiKey, utcnow

KEY_PREFIX = "fvh_"
SCOPE_TERMINAL = "terminal"
SCOPE_ADMIN = "admin"
SCOPES = (SCOPE_TERMINAL, SCOPE_ADMIN)
T = TypeVar("T")


def generate_key() -> str:
    """`fvh_` followed by 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def scope_allows(granted: str, required: str) -> bool:
    """An admin key may do everything a terminal key may."""
    return granted in (SCOPE_ADMIN, required)


def get_client(session: Session, client_id: int) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"unknown API client {client_id}")
    return client


def find_client(session: Session, name: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.name == name.strip()))


def create_client(session: Session, name: str, actor: audit.Actor) -> ApiClient:
    message = N_("Der Name muss 1 bis 255 Zeichen lang sein.")
    name = validate_name(name, "name", missing=message, too_long=message)
    if find_client(session, name) is not None:
        raise Conflict(N_("Ein API-Benutzer namens %(name)r existiert bereits."), name=name)
    client = ApiClient(name=name)
    session.add(client)
    session.flush()
    audit.record(session, actor, "api_client.create", name)
    return client


def delete_client(session: Session, client: ApiClient, actor: audit.Actor) -> None:
    audit.record(session, actor, "api_client.delete", client.name)
    session.delete(client)
    session.flush()


def create_key(
    session: Session,
    client: ApiClient,
    actor: audit.Actor,
    *,
    scope: str = SCOPE_TERMINAL,
    name: str = "",
    plaintext: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; returns the row and the key itself, which is never retrievable again.

    `plaintext` lets an importer keep a key that terminals already use.
    """
    if scope not in SCOPES:
        raise ValidationError(N_("Unbekannter Geltungsbereich %(scope)r."), "scope", scope=scope)
    key = plaintext or generate_key()
    row = ApiKey(
        client_id=client.id,
        name=(name or "").strip()[:255],
        key_hash=hash_key(key),
        display_prefix=key[:8],
        scope=scope,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "api_key.create",
        client.name,
        after={"key_id": row.id, "prefix": row.display_prefix, "scope": scope},
    )
    return row, key


def revoke_key(session: Session, key: ApiKey, actor: audit.Actor) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "api_key.revoke",
            key.client.name,
            before={"key_id": key.id, "prefix": key.display_prefix},
        )
        session.flush()


@dataclass(frozen=True)
class KeyIdentity:
    """Who presented a valid key: what a request needs to know, detached from any session."""

    id: int
    scope: str
    client_name: str
    last_used_at: datetime | None

    def actor(self) -> audit.Actor:
        """Who books or changes something with this key, as the journal and audit log say."""
        return audit.Actor.for_api_key(self.id, f"API: {self.client_name}")


def identify(session: Session, presented: str | None) -> KeyIdentity | None:
    """The active key presented, read as a reader (on SQLite beside the writer), its use
    noted (`record_use`); None without one, refused without asking the database when no
    key could be it."""
    if not _plausible(presented):
        return None
    db.begin_read(session)
    key = authenticate(session, presented)
    if key is not None:
        record_use(session, key)
    return key


def authenticate(session: Session, presented: str | None) -> KeyIdentity | None:
    """The active key matching the presented value, found by its hash; None if none.

    Only reads; `record_use` notes the use.
    """
    if not _plausible(presented):
        return None
    row = session.connection().execute(_ACTIVE_KEY, {"key_hash": hash_key(presented)}).one_or_none()
    return KeyIdentity(*row) if row is not None else None


def authenticate_with(
    session: Session, presented: str | None, lookup: db.Lookup[T]
) -> tuple[KeyIdentity | None, T | None]:
    """`authenticate` and, in the same query (one round trip), `lookup`: a terminal's tap
    reads its key and its token at once. The lookup's result only comes with an active key.
    """
    if not _plausible(presented):
        return None, None
    params = {**lookup.params, "key_hash": hash_key(presented)}
    row = session.connection().execute(_with_key(lookup.statement), params).one_or_none()
    if row is None:
        return None, None
    key, found = KeyIdentity(*row[:_KEY_WIDTH]), row[_KEY_WIDTH:]
    return key, (None if found[0] is None else lookup.build(found))


def _plausible(presented: str | None) -> TypeGuard[str]:
    """Worth hashing: present, and no longer than any key could be."""
    return presented is not None and 0 < len(presented) <= 512


_KEYS, _CLIENTS = ApiKey.__table__.c, ApiClient.__table__.c
_KEY_COLUMNS = (_KEYS.id, _KEYS.scope, _CLIENTS.name, _KEYS.last_used_at)
_KEY_WIDTH = len(_KEY_COLUMNS)
_KEY_AND_CLIENT = ApiKey.__table__.join(ApiClient.__table__, _CLIENTS.id == _KEYS.client_id)
_KEY_IS_ACTIVE = (_KEYS.key_hash == bindparam("key_hash"), _KEYS.revoked_at.is_(None))
_ACTIVE_KEY = select(*_KEY_COLUMNS).select_from(_KEY_AND_CLIENT).where(*_KEY_IS_ACTIVE)


@functools.lru_cache(maxsize=32)
def _with_key(statement: Select[Any]) -> Select[Any]:
    """The active key's columns, then those of `statement`'s row, if it finds one (NULLs if not)."""
    key, found = _ACTIVE_KEY.subquery("active_key"), statement.subquery("found")
    return select(*key.c, *found.c).select_from(key.outerjoin(found, true()))


def record_use(session: Session, key: KeyIdentity) -> None:
    """Note the key's use, at most once a minute, in a transaction of its own (it commits).

    Not inside a booking: on MariaDB the journal row's foreign key locks the key row, and
    two bookings that share a key could deadlock on it. Bookkeeping only: when it fails
    (on a Galera cluster, two nodes noting the same key conflict), the request goes on.
    """
    if last_used.due(key.last_used_at):
        session.commit()
        db.commit_quietly(
            session, lambda: last_used.note(session, ApiKey.__table__, key.id), "a key's last use"
        )


def list_clients(session: Session) -> list[ApiClient]:
    """Every API client with its keys, by name."""
    query = select(ApiClient).options(selectinload(ApiClient.keys)).order_by(ApiClient.name)
    return list(session.scalars(query))


def get_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"unknown API key {key_id}")
    return key
