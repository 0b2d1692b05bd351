"""Administration under /admin/: only members with admin rights (the views say so each)."""

from __future__ import annotations

from fvh.web.common import gui_blueprint

bp = gui_blueprint("admin", __name__)

# The view modules attach their routes to `bp`.
from fvh.web.admin import (  # noqa: E402
    audit_log,
    bookings,
    clients,
    dashboard,
    members,
    status,
    system,
    tokens,
)

__all__ = [
    "audit_log",
    "bookings",
    "bp",
    "clients",
    "dashboard",
    "members",
    "status",
    "system",
    "tokens",
]
