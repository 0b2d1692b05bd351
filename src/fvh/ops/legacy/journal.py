"""A member's legacy journal: imported as a whole, once, with the balance change it makes.

The rows are booked by the import's system actor; a member who already has such rows is
skipped, so a second run adds nothing. No mails are queued for history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm.util import identity_key

from fvh.core import ledger
from fvh.db.models import Member, Transaction
from fvh.ops.legacy import source
from fvh.ops.legacy.run import ACTOR, IMPORT_LABEL, ImportRun
from fvh.ops.legacy.source import LegacyImportError
from fvh.ops.legacy.values import as_text, cents


def import_journal(run: ImportRun, user: dict[str, Any]) -> None:
    """All legacy transactions of one member, unless an earlier run imported them."""
    member_id = run.member_ids[user["id"]]
    rows = source.journal(run.legacy, user["id"])
    if not rows:
        return
    done = _imported_before(run, member_id)
    if done:
        run.count("journal rows").present += len(rows)
        if done != len(rows):
            run.warn(
                f"member {user['code']}: {len(rows)} legacy transactions, but {done} were "
                "imported earlier; the legacy journal changed since and is not re-imported."
            )
        return
    entries = [_entry(run, member_id, row) for row in rows]
    # The journal rows and the balance change go together, as in the ledger; no mails are
    # queued for history. `ledger.check` at the end proves the two agree.
    run.session.execute(insert(Transaction), entries)
    _add_to_balance(run, member_id, sum(e["amount_cents"] for e in entries))
    run.count("journal rows").imported += len(entries)


def skip_journal(run: ImportRun, user: dict[str, Any]) -> None:
    """Count the journal of a legacy user who was not imported as skipped."""
    run.count("journal rows").skipped += source.journal_size(run.legacy, user["id"])


def _imported_before(run: ImportRun, member_id: int) -> int:
    """How many journal rows an earlier import booked for the member."""
    return (
        run.session.scalar(
            select(func.count())
            .select_from(Transaction)
            .where(
                Transaction.member_id == member_id,
                Transaction.booked_by_kind == ACTOR.kind,
                Transaction.booked_by_label == IMPORT_LABEL,
            )
        )
        or 0
    )


def _entry(run: ImportRun, member_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """The FVH journal row for one legacy transaction."""
    try:
        amount = cents(row["saldo_aenderung"])
    except ValueError as exc:
        raise LegacyImportError(f"legacy transaction {row['id']}: {exc}") from exc
    return {
        "member_id": member_id,
        "amount_cents": amount,
        "description": as_text(row["beschreibung"])[: ledger.MAX_DESCRIPTION_LENGTH],
        "created_at": run.clock.to_utc(row["timestamp"]) or datetime.now(UTC),
        "booked_by_kind": ACTOR.kind,
        "booked_by_label": IMPORT_LABEL,
    }


def _add_to_balance(run: ImportRun, member_id: int, total: int) -> None:
    """One UPDATE past the ORM; a loaded Member forgets its cached balance."""
    run.session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(balance_cents=Member.balance_cents + total)
        .execution_options(synchronize_session=False)
    )
    loaded = run.session.identity_map.get(identity_key(Member, member_id))
    if loaded is not None:
        run.session.expire(loaded, ["balance_cents"])
