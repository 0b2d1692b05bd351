"""Request ids, structured logs, metrics and `fvh doctor`."""

from __future__ import annotations

import json
import logging

from click.testing import CliRunner

from fvh.app import create_app
from fvh.http.observability import JsonFormatter, RequestIdFilter
from fvh.ops.cli import main


def test_request_id_is_generated_or_taken_over(client):
    generated = client.get("/api/health").headers["X-Request-ID"]
    assert len(generated) == 32
    assert (
        client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    # Anything odd is replaced, so it can't inject into log lines.
    odd = client.get("/api/health", headers={"X-Request-ID": 'a b;c="d"'}).headers["X-Request-ID"]
    assert odd != 'a b;c="d"'


def test_json_log_lines_carry_the_request_id(app):
    formatter = JsonFormatter()
    record_filter = RequestIdFilter()
    with app.test_request_context("/"):
        from flask import g

        g.request_id = "rid-42"
        record = logging.LogRecord("fvh.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
        record_filter.filter(record)
        entry = json.loads(formatter.format(record))
    assert entry == {
        "time": entry["time"],
        "level": "INFO",
        "logger": "fvh.test",
        "request_id": "rid-42",
        "message": "hello x",
    }


def test_metrics_need_an_admin_key(client, build):
    terminal = build.api_key("terminal")
    admin = build.api_key("admin")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": terminal}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_metrics_allow_list(config):
    app = create_app({**config, "METRICS_ALLOW_IPS": "127.0.0.0/8"})
    assert app.test_client().get("/metrics").status_code == 200
    other = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 401
    app.extensions["fvh_db"].dispose()


def _sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_bookings_by_outcome_and_read_gauges(client, build):
    build.member(code="4000000002", balance_cents=100)
    build.member(code="4000000003", balance_cents=-300)
    key = build.api_key("admin")
    headers = {"X-API-Key": key}
    before = client.get("/metrics", headers=headers).get_data(as_text=True)
    for _ in range(2):
        client.put(
            "/api/person/4000000002/transaktion", json={"beschreibung": "x"}, headers=headers
        )
    client.put("/api/person/9999999998/transaktion", json={"beschreibung": "x"}, headers=headers)
    after = client.get("/metrics", headers=headers).get_data(as_text=True)

    booked = 'fvh_bookings_total{endpoint="api.book_by_code",outcome="booked"}'
    block = 'fvh_bookings_total{endpoint="api.book_by_code",outcome="block"}'
    unknown = 'fvh_bookings_total{endpoint="api.book_by_code",outcome="unknown"}'
    assert _sample(after, booked) - _sample(before, booked) == 1
    assert _sample(after, block) - _sample(before, block) == 1
    assert _sample(after, unknown) - _sample(before, unknown) == 1
    assert "fvh_request_duration_seconds_bucket" in after
    assert "fvh_members 2" in after
    assert "fvh_balance_sum_cents -300" in after  # 100 - 100 (booked) - 300
    assert "fvh_members_in_debt 1" in after


def test_doctor_reports_findings_and_exit_code(config, app, build):
    runner = CliRunner()
    env = {k: str(v) for k, v in config.items() if k.isupper()}
    env["SMTP_HOST"] = ""
    env["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:600000"
    result = runner.invoke(main, ["doctor"], env=env)
    # No admin yet: that is an error with a fix.
    assert result.exit_code == 1
    assert "There is no administrator" in result.output
    assert "fvh create-admin" in result.output
    assert "[OK     ] migrations" in result.output
    assert "[WARNING] smtp" in result.output
    build.member(code="4000000004", is_admin=True)
    result = runner.invoke(main, ["doctor"], env=env)
    assert result.exit_code == 0, result.output
    assert "Every balance equals its journal" in result.output


def test_doctor_finds_an_unreachable_smtp_server(config, app, build):
    from tests.conftest import ALLOWED_SMTP

    ALLOWED_SMTP.add(("127.0.0.1", 1))  # nothing listens on port 1: the doctor must say so
    build.member(code="4000000005", is_admin=True)
    env = {k: str(v) for k, v in config.items() if k.isupper()}
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT="1")
    result = CliRunner().invoke(main, ["doctor"], env=env)
    assert result.exit_code == 1
    assert "[ERROR  ] smtp" in result.output
