"""The import as a whole: every step in order inside the caller's transaction, then checked.

The door commits (or rolls back for a dry run). The ledger is checked before the caller can
commit, and a run that changed something is recorded in the audit log.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fvh.core import audit, keys, ledger
from fvh.ops.legacy import accounts, credentials, journal, settings, source
from fvh.ops.legacy.report import ImportReport
from fvh.ops.legacy.run import ACTOR, ImportRun
from fvh.ops.legacy.source import LegacyImportError
from fvh.ops.legacy.values import Clock


def import_legacy(
    session: Session,
    url: str,
    *,
    key_scope: str = keys.SCOPE_TERMINAL,
    zone: str | None = None,
) -> ImportReport:
    """Import the legacy database at `url` into the session's transaction; returns the report.

    The caller commits (or rolls back for a dry run). Raises LegacyImportError, leaving the
    transaction to be rolled back, when the data can't be imported consistently.
    """
    if key_scope not in keys.SCOPES:
        raise LegacyImportError(f"Unknown key scope {key_scope!r}.")
    clock = Clock(zone)
    source_name = source.display_url(url)
    report = ImportReport(source=source_name, zone=clock.description)
    try:
        with source.open_legacy(url) as legacy:
            _run_steps(ImportRun(session, legacy, clock, key_scope, report))
    except DBAPIError as exc:
        raise LegacyImportError(f"The import failed with a database error: {exc.orig}") from exc
    session.flush()
    mismatches = ledger.check(session)
    if mismatches:
        codes = ledger.describe(mismatches)
        raise LegacyImportError(f"After the import the ledger is inconsistent for {codes}.")
    if report.changed:
        audit.record(session, ACTOR, "legacy.import", source_name, after=report.summary())
    session.flush()
    return report


def _run_steps(run: ImportRun) -> None:
    """Members first (the other rows refer to them), then their journals, tokens and keys."""
    run.tables = source.table_names(run.legacy)
    users = source.users(run.legacy)
    for user in users:
        accounts.import_member(run, user)
    accounts.import_notifications(run, users)
    for user in users:
        if user["id"] in run.member_ids:
            journal.import_journal(run, user)
        else:
            journal.skip_journal(run, user)
    credentials.import_tokens(run)
    credentials.import_api_keys(run)
    settings.import_settings(run)
    _note_left_out(run)


def _note_left_out(run: ImportRun) -> None:
    """The legacy data FVH deliberately has no place for."""
    run.report.not_imported.append(
        "acc_duties / acc_privacy_policy (FVH asks for no such consent)."
    )
    if "password_reset_tokens" in run.tables:
        run.report.not_imported.append("password reset tokens (short-lived; by design).")
