"""API clients and their keys. A key is shown once; only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from fvh import audit
from fvh.errors import N_, Conflict, NotFound, ValidationError
from fvh.models import ApiClient, ApiKey, utcnow

KEY_PREFIX = "fvh_"
SCOPE_TERMINAL = "terminal"
SCOPE_ADMIN = "admin"
SCOPES = (SCOPE_TERMINAL, SCOPE_ADMIN)
# last_used is written at most this often per key, so that every tap is not a key write too.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> str:
    """`fvh_` followed by 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def scope_allows(granted: str, required: str) -> bool:
    """An admin key may do everything a terminal key may."""
    return granted in (SCOPE_ADMIN, required)


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 255:
        raise ValidationError(N_("Der Name muss 1 bis 255 Zeichen lang sein."), "name")
    return name


def get_client(session: Session, client_id: int) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"unknown API client {client_id}")
    return client


def find_client(session: Session, name: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.name == name.strip()))


def create_client(session: Session, name: str, actor: audit.Actor) -> ApiClient:
    name = _validate_name(name)
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


def authenticate(session: Session, presented: str | None) -> ApiKey | None:
    """The active key matching the presented value, found by its hash; None if none."""
    if not presented or len(presented) > 512:
        return None
    key = session.scalar(
        select(ApiKey)
        .options(joinedload(ApiKey.client))  # the client names the actor of every booking
        .where(ApiKey.key_hash == hash_key(presented), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key


def list_clients(session: Session) -> list[ApiClient]:
    """Every API client with its keys, by name."""
    query = select(ApiClient).options(selectinload(ApiClient.keys)).order_by(ApiClient.name)
    return list(session.scalars(query))


def get_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"unknown API key {key_id}")
    return key
