"""WSGI entry points for external servers (uWSGI, gunicorn, mod_wsgi, waitress, ...).

    application  GUI and API together, the API under API_PREFIX (what `fvh serve` runs)
    api          the API alone at /             (what `fvh serve api` runs)
    gui          the GUI alone                  (what `fvh serve gui` runs)

e.g. `uwsgi --module fvh.wsgi:api` or `gunicorn fvh.wsgi:application`. Settings come from the
environment and `.env` in the working directory, as for the `fvh` command.

Each object is a plain WSGI callable that builds its Flask app on first use, in the process
that uses it: importing this module reads no settings, creates no engine or data folder and
connects to nothing, and a pre-forking server (uWSGI without `lazy-apps`) never shares a
connection pool between workers. The schema is not migrated here: run `fvh db upgrade` first
(the systemd units do it in ExecStartPre).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["api", "application", "gui"]


class LazyApp:
    """A WSGI callable that creates `create_app(mode=...)` once, at the first request."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._app: Flask | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Flask:
        """The Flask app (built now if it wasn't yet); settings are read at that moment."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from fvh.app import create_app

                    self._app = create_app(mode=self.mode)
        return self._app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return self.app(environ, start_response)

    def __repr__(self) -> str:
        state = "built" if self._app is not None else "not built yet"
        return f"<fvh.wsgi.LazyApp mode={self.mode!r} ({state})>"


application = LazyApp("combined")
api = LazyApp("api")
gui = LazyApp("gui")
