"""One import in progress: where it reads and writes, what it has matched, what it reports.

Every step (members, journal, credentials, settings) works on the same `ImportRun`, so the
legacy user ids it has mapped to FVH members are shared, and all rows are booked by one
system actor: a journal row labelled `IMPORT_LABEL` marks a member whose journal is in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fvh.core import audit
from fvh.db.models import Member
from fvh.ops.legacy.report import Count, ImportReport
from fvh.ops.legacy.values import Clock

IMPORT_LABEL = "Legacy-Import"
ACTOR = audit.Actor.system(IMPORT_LABEL)


@dataclass
class ImportRun:
    session: Session
    legacy: Connection
    clock: Clock
    key_scope: str
    report: ImportReport
    tables: set[str] = field(default_factory=set)  # the legacy tables present
    member_ids: dict[int, int] = field(default_factory=dict)  # legacy user id -> member id
    new_members: dict[int, Member] = field(default_factory=dict)  # legacy user id -> new member

    def count(self, kind: str) -> Count:
        return self.report.counts[kind]

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    def leave_out(self, kind: str, message: str) -> None:
        """Count one legacy row of `kind` as skipped, saying why."""
        self.count(kind).skipped += 1
        self.warn(message)
