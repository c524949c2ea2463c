"""Fault drill: several processes deciding and running the same step at the same moment.

Six ``cutover step`` processes are released together (each waits on a barrier file after
importing, so start-up time does not spread them out) on one step of one run. Exactly
one runs it; every other is refused with a message naming the process that has it (exit
2) and an audit entry, whether it lost at the gate (already running) or at the claim.
Also: many processes appending at once still make one unbroken chain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from console.plan import parse_plan
from console.store import Store
from tests.helpers import ROOT, demo_plan_text

RACERS = 6

RACER = """
import os, sys, time
barrier = sys.argv[1]
from console.cli.main import main
while not os.path.exists(barrier):
    time.sleep(0.005)
sys.exit(main(sys.argv[2:]))
"""


def race(barrier, argv_list, env) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(barrier), *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for argv in argv_list
    ]
    time.sleep(2.0)  # every racer has imported and waits at the barrier
    barrier.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def test_six_processes_confirming_the_same_step_run_it_once(tmp_path):
    # Nobody listens on these ports: the one that runs spends its request timeout failing.
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2").replace(
        'password = { env = "CUTOVER_DEMO_SOURCE_PASSWORD" }',
        'password = { env = "CUTOVER_DEMO_SOURCE_PASSWORD" }\nrequest_timeout_s = 6',
    )
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    env = {
        **os.environ,
        "CUTOVER_DEMO_SOURCE_PASSWORD": "unused-pw",
        "CUTOVER_DEMO_TARGET_PASSWORD": "unused-pw",
        "PYTHONPATH": str(ROOT),
    }
    argv = ["step", str(db), "inventory", "--confirm", "inventory"]
    results = race(tmp_path / "go", [argv] * RACERS, env)

    ran = [r for r in results if r.returncode != 2]
    refused = [r for r in results if r.returncode == 2]
    assert len(ran) == 1, [(r.returncode, r.stderr) for r in results]
    assert ran[0].returncode == 1 and "inventory: FAILED" in ran[0].stdout
    assert len(refused) == RACERS - 1
    for r in refused:
        assert "is already running" in r.stderr, r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr

    store = Store.open(db, readonly=True)
    log = store.audit_since(0)
    verdict = store.audit_verify()
    store.close()
    actions = [e.action for e in log]
    assert actions.count("step.started") == 1 and actions.count("step.finished") == 1
    # Every racer's decision is recorded: the gates that opened, and the ones that lost.
    decided = [a for a in actions if a.startswith("gate.")]
    assert len(decided) == RACERS
    losers = actions.count("gate.blocked") + actions.count("step.refused")
    assert losers == RACERS - 1
    for entry in log:
        if entry.action == "step.refused":
            assert "is already running in process" in entry.outcome
    assert verdict.ok, verdict.problem


APPENDER = """
import sys
from console.store import Store
store = Store.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.log("drill.append", params={"writer": sys.argv[3], "i": i})
store.close()
"""


def test_many_processes_appending_at_once_make_one_unbroken_chain(tmp_path):
    text = demo_plan_text()
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(db), "150", str(w)], cwd=ROOT)
        for w in range(4)
    ]
    assert all(p.wait(timeout=180) == 0 for p in procs)
    store = Store.open(db, readonly=True)
    log = store.audit_since(0)
    verdict = store.audit_verify()
    store.close()
    assert verdict.ok and verdict.count == 1 + 4 * 150
    assert [e.seq for e in log] == list(range(1, 602))
    for writer in range(4):
        mine = [e.params["i"] for e in log if e.params.get("writer") == str(writer)]
        assert mine == list(range(150))  # each writer's entries, all there, in its order
