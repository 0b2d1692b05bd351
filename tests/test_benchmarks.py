"""`make bench` keeps working: the benchmark scripts run end to end with tiny counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the benchmark scripts start servers and processes

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, cwd: Path) -> str:
    """The script's output, run on SQLite only (no server URLs from the environment)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FVH_TEST_", "FVH_BENCH_", "DATABASE_URL", "MYSQL_"))
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_benchmark_script_runs(tmp_path):
    args = ["--members", "5", "--transactions", "50", "--clients", "1,2", "--seconds", "1"]
    output = _run("run.py", *args, "--backends", "sqlite", cwd=tmp_path)
    assert "[baseline]" in output
    assert "[sqlite] seeded 5 members, 50 transactions" in output
    assert "PUT /nfc-transaktion C=2" in output
    assert "balance mismatches 0" in output
    assert "ledger check: OK" in output


def test_in_process_benchmark_runs(tmp_path):
    output = _run("inprocess.py", "--taps", "30", cwd=tmp_path)
    assert output.count("[sqlite] round") == 3
    assert "µs CPU" in output


def test_downloads_benchmark_runs(tmp_path):
    args = ["--bookings", "500", "--seconds", "2", "--members-per-client", "2"]
    output = _run("downloads.py", *args, "--backends", "sqlite", cwd=tmp_path)
    assert "[sqlite] seeded 4 members with 500 bookings each" in output
    assert "taps beside 2 downloads" in output
    assert output.count("  errors 0") == 2  # the taps, alone and beside the downloads
    assert output.count(", 0 errors") == 2  # the two download clients
    assert "ledger check: OK" in output
