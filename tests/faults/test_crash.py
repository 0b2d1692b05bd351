"""kill -9 of the whole served FVH under tap load, again and again: what was promised stays.

The server (`fvh serve`: gunicorn master and workers, one process group) is killed while
terminals tap, then started again, KILLS times, then started cleanly once more. Every tap
has its own description, so the journal says which requests were booked:
- every tap answered "booked" is in the journal, once (0 acknowledged taps lost);
- a tap booked without a "booked" answer (a phantom) is one whose connection broke: the
  terminal saw no answer at all, never an error answer;
- the ledger check (`fvh ledger check`) finds every balance equal to its journal;
- nothing of the dead servers is left: no metrics folder in /dev/shm once a server started
  cleanly, no stray file in the data folder.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import pytest

from tests.faults.served import (
    Server,
    Terminals,
    files_in,
    free_port,
    journal_counts,
    judge,
    ledger_check,
    own_database,
    prepare,
    served_env,
    truthful_failures,
)

KILLS = 10
TERMINALS = 6
ENGINES = ["sqlite"] + (["mysql"] if os.environ.get("FVH_TEST_MYSQL_URL") else [])

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)
@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_under_load_loses_no_acknowledged_tap(engine: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(20261206)  # the same kill rhythm on every run
    started = time.monotonic()
    with own_database(engine, tmp_path) as url:
        env = served_env(url, data)
        codes, key = prepare(env)
        server = Server(env, free_port(), tmp_path)
        server.start()  # a clean start and stop first: what the data folder holds normally
        assert server.stop() == 0
        usual_files = files_in(data)
        prefix = f"crash{engine}"
        try:
            with Terminals(server.port, key, codes, TERMINALS, prefix) as terminals:
                for _ in range(KILLS):
                    server.start()
                    time.sleep(rng.uniform(0.5, 2.0))  # taps in flight at the kill
                    server.kill()
                server.start()  # the clean start after the last kill, still under load
                time.sleep(1.5)
            still_there = [d for d in server.metrics_dirs[1:-1] if Path(d).exists()]
        finally:
            status = server.stop()
            last_dir_left = bool(server.metrics_dirs) and Path(server.metrics_dirs[-1]).exists()
            for folder in server.metrics_dirs:  # judged below: a run leaves nothing behind
                shutil.rmtree(folder, ignore_errors=True)
        log = server.log_text()
        figures = judge(terminals.answers, journal_counts(url, prefix))
        check = ledger_check(env)
        stray_files = files_in(data) - usual_files

    print(
        f"\n{figures.line(f'crash test on {engine}')}, kills {KILLS}, "
        f"starts {server.starts}, seconds {time.monotonic() - started:.0f}"
    )
    problems = truthful_failures(figures, terminals.answers, log, broken_allowed=True)
    if status != 0:
        problems.append(f"the last server stopped with {status}")
    if check:
        problems.append(f"ledger check: {check}")
    # Leftovers: every start had its metrics folder; none of a killed server outlived the
    # clean start after it, and the last one went with its server.
    if len(server.metrics_dirs) != server.starts:
        problems.append(f"metrics folders found for {len(server.metrics_dirs)} of {server.starts}")
    if still_there:
        problems.append(f"metrics folders of killed servers left in /dev/shm: {still_there}")
    if last_dir_left:
        problems.append("the metrics folder of the cleanly stopped server is left")
    if stray_files:
        problems.append(f"left in the data folder: {sorted(stray_files)}")
    assert figures.acknowledged > KILLS * 5, "the load was too thin to mean anything"
    assert not problems, "\n".join(problems)
