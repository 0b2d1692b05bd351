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
    env.update(FVH_BENCH_TAPS="5", FVH_BENCH_HTTP_TAPS="5")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[sqlite]" in result.stdout
    assert "taps/s" in result.stdout
    assert "ledger check: OK" in result.stdout
