"""One heavy download at a time per server: a download that finds its slot taken is
answered at once (503, try again in a moment) instead of waiting for it.

Why: gunicorn's sync workers serve one request each, and a small machine runs two. Two
statements rendering at once would leave no worker for the terminals, whose taps would
then wait for a render to end. Waiting for the slot would hold a worker just the same, so
a taken slot is refused, never queued. The slot is an `flock` on a file in DATA_DIR, which
every worker and process of the installation shares; a process that dies lets it go.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import render_template
from flask_babel import gettext as _

from fvh.http.context import app_config

F = TypeVar("F", bound=Callable[..., Any])
RETRY_AFTER_SECONDS = 3


@contextmanager
def slot(data_dir: str, name: str) -> Iterator[bool]:
    """Hold the slot `name` for the block: True if it was free, False if another holds it.
    Without a slot file (the folder is not writable) the block runs unbounded, as before."""
    try:
        descriptor = os.open(Path(data_dir) / f"{name}.slot", os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # and with it the lock


def one_at_a_time(name: str) -> Callable[[F], F]:
    """A view that runs only in the free slot `name`; while it is taken, a 503 page."""

    def decorate(view: F) -> F:
        @wraps(view)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            with slot(app_config().data_dir, name) as free:
                if free:
                    return view(*args, **kwargs)
            message = _("Gerade wird ein anderer Download erstellt. Bitte gleich erneut versuchen.")
            page = render_template("web/error.html", code=503, message=message)
            return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}

        return bounded  # type: ignore[return-value]

    return decorate
