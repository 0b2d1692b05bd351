"""Operations door: Prometheus metrics at /metrics (admin key or allow-listed address)."""

from __future__ import annotations

import ipaddress

from flask import Flask, Response, abort, request

from fvh import db
from fvh.core import keys, members, notify, tokens
from fvh.http import access
from fvh.http.context import app_config, db_session
from fvh.http.observability import render_metrics


def _allowed_by_address() -> bool:
    allowed = [a.strip() for a in app_config().metrics_allow_ips.split(",") if a.strip()]
    if not allowed or not request.remote_addr:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr)
        return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)
    except ValueError:
        return False


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key")


@access.mark(access.API_ADMIN)
def metrics() -> Response:
    """Counters of all workers plus gauges read from the database now."""
    session = db_session()
    if not _allowed_by_address():
        key = keys.identify(session, _presented_key())
        if key is None:
            abort(401)
        if not keys.scope_allows(key.scope, keys.SCOPE_ADMIN):
            abort(403)
    db.begin_read(session)
    totals = members.totals(session)
    unknown = tokens.count_unknown_scans(session)
    outbox = notify.backlog(session)
    gauges = [
        "# HELP fvh_members Members in the database.",
        "# TYPE fvh_members gauge",
        f"fvh_members {totals.members}",
        "# HELP fvh_balance_sum_cents Sum of all balances in cents.",
        "# TYPE fvh_balance_sum_cents gauge",
        f"fvh_balance_sum_cents {totals.balance_cents}",
        "# HELP fvh_members_in_debt Members with a negative balance.",
        "# TYPE fvh_members_in_debt gauge",
        f"fvh_members_in_debt {totals.in_debt}",
        "# HELP fvh_unknown_tokens Unknown tokens scanned and not yet assigned.",
        "# TYPE fvh_unknown_tokens gauge",
        f"fvh_unknown_tokens {unknown}",
        "# HELP fvh_outbox_backlog E-mails waiting in the outbox.",
        "# TYPE fvh_outbox_backlog gauge",
        f"fvh_outbox_backlog {outbox}",
    ]
    return render_metrics(gauges)


def init_app(app: Flask) -> None:
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
