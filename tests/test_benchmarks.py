"""`make bench` keeps working: the benchmark script runs end to end with tiny counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_script_runs(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FVH_TEST_", "FVH_BENCH_", "DATABASE_URL", "MYSQL_"))
    }
    args = ["--members", "5", "--transactions", "50", "--clients", "1,2", "--seconds", "1"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), *args, "--backends", "sqlite"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[baseline]" in result.stdout
    assert "[sqlite] seeded 5 members, 50 transactions" in result.stdout
    assert "PUT /nfc-transaktion C=2" in result.stdout
    assert "balance mismatches 0" in result.stdout
    assert "ledger check: OK" in result.stdout


def test_in_process_benchmark_runs(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("FVH_")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "inprocess.py"), "--taps", "30"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[sqlite] round") == 3
    assert "µs CPU" in result.stdout
