"""What an import did (or, in a dry run, would do): counts per kind, notes and warnings.

The report is the import's only output besides the rows it writes: the CLI prints its
lines, the audit log keeps its summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("members", "journal rows", "tokens", "API clients", "API keys", "settings")


@dataclass
class Count:
    imported: int = 0
    present: int = 0
    skipped: int = 0


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    source: str
    zone: str
    counts: dict[str, Count] = field(default_factory=lambda: {k: Count() for k in KINDS})
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.imported for c in self.counts.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {k: vars(c).copy() for k, c in self.counts.items()}

    def lines(self) -> list[str]:
        out = [f"Legacy import from {self.source}"]
        for kind, count in self.counts.items():
            out.append(
                f"  {kind + ':':14} {count.imported:6} imported, {count.present:6} already "
                f"present, {count.skipped:6} skipped"
            )
        out.append(f"Times: the legacy server's local time, converted to UTC using {self.zone}.")
        out.extend(self.notes)
        out.extend(f"Not imported: {line}" for line in self.not_imported)
        out.extend(f"WARNING: {line}" for line in self.warnings)
        return out
