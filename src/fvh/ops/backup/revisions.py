"""The schema revisions this code knows: a backup is only written or restored at one of them."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from fvh.db import migrate


def known_revisions(engine: Engine) -> list[str]:
    """The migration revisions this code knows, oldest first (the history is linear)."""
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]
