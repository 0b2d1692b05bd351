"""URL converters of the app."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the largest INTEGER primary key on every backend


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: positive and within INTEGER range, else the route is a 404.

    Without the bound, an id like 99999999999999999999 reaches the database driver and
    fails there (OverflowError on SQLite, a data error on PostgreSQL) as a 500.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(value: str | None) -> int | None:
    """An id from a query string or form: None when absent; ValueError when not a valid id."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise ValueError(f"not an id: {value!r}")
    return int(value)
