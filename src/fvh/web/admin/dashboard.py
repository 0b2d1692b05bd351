"""The dashboard: the members table with totals, latest bookings, today's refused taps and
unknown tokens.

One line says when the System page has something to do (settings missing, mail stuck).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue

from fvh.core import ledger, members, refusals, registration, tokens
from fvh.http.context import app_config, db_session
from fvh.web.admin import bp, status
from fvh.web.auth import admin_required
from fvh.web.paging import current_pager


@bp.get("/")
@admin_required
def dashboard() -> ResponseReturnValue:
    session = db_session()
    query = request.args.get("q", "").strip()[:100]
    sort = request.args.get("sort", "name")
    if sort not in members.MEMBER_SORTS:
        sort = "name"
    descending = request.args.get("dir") == "desc"
    only_in_debt = request.args.get("debt") == "1"
    pager = current_pager()
    page = members.search(
        session,
        query,
        sort=sort,
        descending=descending,
        only_in_debt=only_in_debt,
        limit=pager.per_page,
        offset=pager.offset,
    )
    return render_template(
        "web/admin/dashboard.html",
        members=page.rows,
        pager=pager.with_total(page.total),
        query=query,
        sort=sort,
        descending=descending,
        only_in_debt=only_in_debt,
        totals=members.totals(session),
        latest=ledger.journal(session, ledger.JournalFilter(), limit=10),
        unknown_scans=tokens.unknown_scans(session, limit=10),
        refused_today=refusals.today(session, ZoneInfo(app_config().timezone)),
        pending_registrations=registration.pending(session, limit=20),
        system_summary=status.current_summary(session),
    )


SUGGESTIONS = 10  # members offered while typing a name


@bp.get("/members/suggest")
@admin_required
def member_suggestions() -> ResponseReturnValue:
    """Members found by `?q=` (the dashboard's search), for a name field's suggestions.

    Each `value` is what the field then holds: the name with the code in brackets, which
    the journal's member filter reads.
    """
    query = request.args.get("q", "").strip()[:100]
    found = members.search(db_session(), query, sort="name", limit=SUGGESTIONS) if query else None
    return jsonify(
        members=[
            {"code": m.code, "value": f"{m.last_name}, {m.first_name} ({m.code})"}
            for m in (found.rows if found else [])
        ]
    )
