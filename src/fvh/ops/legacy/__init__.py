"""Import from the original FVH's MySQL/MariaDB database (schema: docs of `fvh import-legacy`).

Everything goes into the caller's one transaction, which the door commits (or rolls back
for a dry run). A second run adds nothing and changes nothing:

- members are matched by code, tokens by their bytes, API clients by name, keys by hash;
  what is present already is never modified;
- a member's legacy journal is imported as a whole, once: its rows are booked by the
  system actor labelled `IMPORT_LABEL`, and a member who already has such rows is skipped;
- the default amount is only set while FVH has no stored value for it.

The modules: `source` reads the legacy database, `values` converts its times and amounts,
`importer` runs the steps (`accounts`, `journal`, `credentials`, `settings`) on one
`run.ImportRun`, and `report` says what was done.
"""

from __future__ import annotations

from fvh.ops.legacy.importer import import_legacy
from fvh.ops.legacy.report import ImportReport
from fvh.ops.legacy.run import IMPORT_LABEL
from fvh.ops.legacy.source import LegacyImportError

__all__ = ["IMPORT_LABEL", "ImportReport", "LegacyImportError", "import_legacy"]
