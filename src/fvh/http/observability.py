"""Logs with a request id (text or JSON), and Prometheus metrics.

Metrics work across gunicorn workers through prometheus_client's multiprocess mode: `fvh
serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

BOOKINGS = Counter(
    "fvh_bookings_total",
    "Terminal booking requests by endpoint and outcome.",
    ["endpoint", "outcome"],
)
BOOKING_RETRIES = Counter(
    "fvh_booking_retries_total",
    "Booking transactions run again after a conflict (deadlock, Galera certification).",
)
REQUEST_LATENCY = Histogram(
    "fvh_request_duration_seconds",
    "Time to answer a request, by endpoint and status class.",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def booking_attempts(attempts: int) -> None:
    """Count the runs of a booking's transaction beyond the first (after conflicts)."""
    if attempts > 1:
        BOOKING_RETRIES.inc(attempts - 1)


def booking_outcome(endpoint: str, status: int, body: dict[str, Any]) -> None:
    """Count a booking answer: booked, block, locked, unknown or error."""
    if status == 200 and "saldo" in body:
        outcome = "booked"
    elif body.get("action") in ("block", "locked"):
        outcome = body["action"]
    elif status == 403:
        outcome = "locked"
    elif status == 404:
        outcome = "unknown"
    else:
        outcome = "error"
    BOOKINGS.labels(endpoint, outcome).inc()


def current_request_id() -> str:
    try:
        return g.get("request_id", "-")
    except RuntimeError:  # outside a request
        return "-"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(level: str, fmt: str) -> None:
    """Give the root logger one handler with our format (once per process)."""
    root = logging.getLogger()
    if any(getattr(h, "fvh_handler", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.fvh_handler = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


def init_app(app: Flask) -> None:
    """Request ids, latency metrics and the /metrics endpoint."""

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        started = g.get("request_started")
        if started is not None:
            endpoint = request.endpoint or "unmatched"
            REQUEST_LATENCY.labels(endpoint, f"{response.status_code // 100}xx").observe(
                time.perf_counter() - started
            )
        return response


def render_metrics(extra_lines: list[str]) -> Response:
    """The metrics of all workers (multiprocess mode) or of this process, plus gauges read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    body += "".join(line + "\n" for line in extra_lines).encode()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
