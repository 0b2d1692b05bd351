"""Legacy NFC tokens and API keys: matched by their bytes or hash, added once, never changed.

A token or key whose owner was not imported is skipped; a key keeps its plaintext's hash, so
terminals configured with it go on booking unchanged.
"""

from __future__ import annotations

from sqlalchemy import select

from fvh.core import keys, tokens
from fvh.db.models import ApiClient, ApiKey, Member
from fvh.ops.legacy import source
from fvh.ops.legacy.run import ACTOR, ImportRun
from fvh.ops.legacy.values import as_text


def import_tokens(run: ImportRun) -> None:
    """The NFC tokens of imported members; one held by another member in FVH stays there."""
    if "nfc_token" not in run.tables:
        return
    for row in source.nfc_tokens(run.legacy):
        data = bytes(row["token_daten"] or b"")
        label = f"legacy token {row['token_id']} ({tokens.to_hex(data) or 'empty'})"
        member_id = run.member_ids.get(row["user_id"])
        if member_id is None:
            run.leave_out("tokens", f"{label}: its member was not imported; skipped.")
            continue
        if not 1 <= len(data) <= tokens.MAX_TOKEN_BYTES:
            run.leave_out("tokens", f"{label}: {len(data)} bytes is not a valid token; skipped.")
            continue
        existing = tokens.find(run.session, data)
        if existing is not None:
            run.count("tokens").present += 1
            if existing.member_id != member_id:
                run.warn(f"{label}: belongs to member {existing.member.code} in FVH; kept.")
            continue
        member = run.session.get(Member, member_id)
        assert member is not None
        token = tokens.add(run.session, member, data, as_text(row["token_name"])[:255], ACTOR)
        token.last_used_at = run.clock.to_utc(row.get("last_used"))
        run.count("tokens").imported += 1


def import_api_keys(run: ImportRun) -> None:
    """Legacy API users as API clients (by name) and their keys (by hash) in `run.key_scope`."""
    if not {"api_users", "api_keys"} <= run.tables:
        return
    clients = _import_api_clients(run)
    for row in source.api_keys(run.legacy):
        plaintext = as_text(row["api_key"]).strip()
        label = f"legacy API key {row['id']} ({as_text(row['api_key_name']) or 'unnamed'})"
        client = clients.get(row["user_id"])
        if client is None or not plaintext:
            run.leave_out("API keys", f"{label}: no API user or an empty key; skipped.")
            continue
        key_hash = keys.hash_key(plaintext)
        if run.session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)):
            run.count("API keys").present += 1
            continue
        keys.create_key(
            run.session,
            client,
            ACTOR,
            scope=run.key_scope,
            name=as_text(row["api_key_name"]),
            plaintext=plaintext,
        )
        run.count("API keys").imported += 1
        if len(plaintext) < 32:
            run.warn(f"{label}: only {len(plaintext)} characters; replace it soon.")


def _import_api_clients(run: ImportRun) -> dict[int, ApiClient]:
    """Legacy API user id -> the FVH client of that name, created when missing."""
    clients: dict[int, ApiClient] = {}
    for row in source.api_users(run.legacy):
        name = as_text(row["username"]).strip()[:255] or f"Legacy API user {row['id']}"
        client = keys.find_client(run.session, name)
        if client is None:
            client = keys.create_client(run.session, name, ACTOR)
            run.count("API clients").imported += 1
        else:
            run.count("API clients").present += 1
        clients[row["id"]] = client
    return clients
