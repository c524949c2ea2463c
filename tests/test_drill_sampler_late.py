"""The operations drill and a lag sampler that is alive but late with its round.

Right after a broker restart (the drill's own, when a run of it was interrupted and is
run again at once) the sampler's round waits on reconnecting clients and timed-out
requests, and its heartbeat goes STALE for a while. CI under load (ci29) saw the rerun
refuse with "the lag sampler is STALE: start the shadow copy first" though the sampler
ran and reported seconds later. No broker here: the process row is this test's own pid,
and STALE comes after 1 s instead of 15.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime

from console import pids, processes
from console.plan import parse_plan
from console.plan.steps import StepState
from console.runbook import drill
from console.runbook.outcome import StepContext
from console.shadow import lag
from console.store import Store
from tests.helpers import demo_plan_text, wait_for


def stamp(unix: float) -> str:
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def store_with_late_sampler(tmp_path, monkeypatch) -> Store:
    """The sampler's row names this test's own process, last heard from when it started:
    STALE once more than STALE_AFTER_S (here 1 s) has passed since."""
    monkeypatch.setattr("console.store.processes.STALE_AFTER_S", 1.0)
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    began = pids.started_at(os.getpid()) or time.time() - 60
    store.processes.upsert(
        lag.SAMPLER,
        pid=os.getpid(),
        state="running",
        started_at=stamp(began),
        heartbeat_at=stamp(began),
        detail="round 7: 1 partitions, 12 rec behind",
        log_path=str(tmp_path / "run.db.logs" / "sampler.log"),
    )
    wait_for(lambda: processes.get(store, lag.SAMPLER).status == "STALE", 5, "STALE")
    return store


def test_a_late_sampler_is_waited_for_and_the_drill_goes_on_when_it_reports(tmp_path, monkeypatch):
    store = store_with_late_sampler(tmp_path, monkeypatch)
    said: list[str] = []
    beat = threading.Timer(1.0, lambda: processes.heartbeat(store, lag.SAMPLER, "round 8"))
    beat.start()
    try:
        outcome = drill.run(StepContext(store=store, key="ops-drill", progress=said.append))
    finally:
        beat.cancel()
        store.close()
    # Past the sampler: what stops it now is the next check (this run has no samples).
    assert outcome.state == StepState.FAILED
    assert outcome.reason == "no lag samples yet to compare with", outcome.reason
    assert any("waiting for the sampler's next report" in line for line in said), said


def test_a_sampler_that_never_reports_fails_the_drill_saying_so(tmp_path, monkeypatch):
    monkeypatch.setattr(drill, "SAMPLER_LATE_S", 1.0)
    store = store_with_late_sampler(tmp_path, monkeypatch)
    try:
        outcome = drill.run(StepContext(store=store, key="ops-drill"))
    finally:
        store.close()
    assert outcome.state == StepState.FAILED
    assert re.search(r"the lag sampler runs but has not reported for \d+ s", outcome.reason), (
        outcome.reason
    )
    assert "(last: round 7: 1 partitions, 12 rec behind)" in outcome.reason
    assert "sampler.log" in outcome.reason and "run the drill again" in outcome.reason
    assert "start the shadow copy first" not in outcome.reason


def test_a_cancel_ends_the_wait(tmp_path, monkeypatch):
    store = store_with_late_sampler(tmp_path, monkeypatch)
    ctx = StepContext(store=store, key="ops-drill")
    ctx.cancel.set()
    try:
        info = processes.reporting(store, lag.SAMPLER, wait_s=60, cancel=ctx.cancel)
    finally:
        store.close()
    assert info.status == "STALE"
