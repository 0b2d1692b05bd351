"""Paging of long tables: `?page=` in, offset and links out."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from flask_babel import gettext as _

from fvh.web.common import RequestRefused

PER_PAGE = 50
# Beyond any real list; a larger page number is refused instead of quietly clamped.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int = 0

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def with_total(self, total: int) -> Pager:
        return Pager(self.page, self.per_page, total)


def current_pager(per_page: int = PER_PAGE) -> Pager:
    """The page in `?page=`: missing, garbled or below 1 is page 1; above `MAX_PAGE` is 400."""
    page = request.args.get("page", 1, type=int) or 1
    if page > MAX_PAGE:
        raise RequestRefused(_("Die Seitenzahl darf höchstens %(max)d sein.", max=MAX_PAGE))
    return Pager(max(1, page), per_page)


def page_url(page: int) -> str:
    """The current page's URL with another `page` (filters and sorting kept)."""
    args = {**(request.view_args or {}), **request.args.to_dict(), "page": page}
    return url_for(request.endpoint or "web.index", **args)


def sort_url(column: str, current: str, descending: bool) -> str:
    """The URL that sorts by `column`, flipping the direction when it is the current column."""
    flip = column == current and not descending
    args = {**request.args.to_dict(), "sort": column, "dir": "desc" if flip else "asc", "page": 1}
    return url_for(request.endpoint or "web.index", **(request.view_args or {}), **args)
