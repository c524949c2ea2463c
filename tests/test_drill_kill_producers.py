"""Fault drill: ``kill -9`` of ``move-producers`` and ``rollback`` at every audit boundary,
cyclic on ONE producer world (a case per boundary, each on a moved world of its own, is
60+ cases of 1-2 min each).

The world (tests/test_producers.py's scene: class ``checkout``, a group that reads its
topic, the built-in mirror) starts on the source; the class moves and rolls back once,
unkilled. That first move writes entries no later one does (it opens the rollback
window and creates the target's ALLOWs; later moves lift the last rollback's target
fence and keep those ALLOWs): the cycles drill the steady state, a class that has moved
and rolled back before. (test_producers' TestKill kills a first move and its rollback
every 3, 5 and 7 sub-step entries.) A reference cycle moves and rolls back unkilled,
counting the commits each step's process makes (``CUTOVER_DRILL_COUNT_FILE``): the
counts are written down below and the reference fails when a step starts writing a
different number, so no boundary is ever dropped silently. Cycle ``c`` then, with a
workload of its own writing as the class:

1. runs the move with ``CUTOVER_DRILL_KILL_AFTER_ENTRY=k`` (the process SIGKILLs itself
   right after its k-th commit), reopens: the chain verifies, the step reads
   INTERRUPTED (or as it was, killed before its claim), never RUNNING; runs it again to
   completion;
2. lets the class write on the target, puts the group part-way through those records;
3. runs the rollback killed after its j-th commit, reopens and checks likewise, runs it
   again to completion;
4. stops the workload and reads both clusters (its own consumer, not the console's
   bookkeeping): every acknowledged record of every cycle so far exactly once on each,
   none twice; the group back on the source at the reverse copy of its next record; no
   ACL recorded twice for a run; the class on the source with no fence left, as it began.

``k = c % MOVE_ENTRIES + 1`` and ``j = c % ROLLBACK_ENTRIES + 1``, so the cycles
``0 .. max - 1`` cover every boundary of both steps. ``make drill-full``
(``CUTOVER_DRILL_FULL=1``) runs them all; ``make test`` runs every ``STRIDE``-th cycle and
the last (see :func:`cycles`, and NOT_YET_DRILLED in tests/test_drill_kill.py, which names
what only ``make drill-full`` covers).

A class is moved again as soon as its rollback ends: the move's final tail comparison
(the ``tail_seconds`` before its fence) then starts inside the rollback's reverse copies on
the source, and must find their originals on the target (it once counted them missing:
see console/compare/windows.py, ``_reach_originals``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from console.cli.main import main
from console.cutover.producers import switch
from console.store import Store
from console.store.faults import COUNT_FILE_ENV, KILL_AFTER_ENV
from tests.helpers import ROOT, wait_for
from tests.producer_scene import (
    ADMIN_ENV,
    ADMIN_PW,
    WRITER_PW,
    Scene,
    admin,
    read_all,
)
from tests.test_producers import (
    commit_on,
    committed_on,
    group_plan,
    mirror_caught_up,
    offset_plan_for_test,
    prepare,
    read_count_after,
)

MOVE_ENTRIES = 61
"""Commits a move of the class (after a rollback) makes in its own process: gate,
started, then each sub-step (preflight, fence, transactions, quiet, drain, point, open,
switch, verify) with its run binding entries, the source fence (intent, binding,
result), the mirror stopped, the tail comparison's window, the cutover points, the last
rollback's target fence lifted, the target's ALLOW kept, the switch told, evidence,
finished; each commit its own."""
ROLLBACK_ENTRIES = 57
"""Commits a rollback makes: gate, started, preflight, fence-target (its ACLs), settle,
copy-back (the reverse copy's intent and result), groups-back, unfence (the source
fence removed, the mirror resumed), switch-back, verify, the move undone, evidence,
finished."""
STRIDE = 32
"""``make test`` runs every STRIDE-th cycle and the last (cycles 0, 32 and 62: a cycle
takes 1-2 min); ``make drill-full`` every one."""
FULL = os.environ.get("CUTOVER_DRILL_FULL") == "1"
CLASS = "checkout"
MOVE, ROLLBACK = f"move-producers:{CLASS}", f"rollback:{CLASS}"


def cycles(full: bool = FULL) -> list[int]:
    n = max(MOVE_ENTRIES, ROLLBACK_ENTRIES)
    return list(range(n)) if full else sorted({*range(0, n, STRIDE), n - 1})


def move_boundary(cycle: int) -> int:
    return cycle % MOVE_ENTRIES + 1


def rollback_boundary(cycle: int) -> int:
    return cycle % ROLLBACK_ENTRIES + 1


def covered(full: bool = FULL) -> tuple[list[int], list[int]]:
    """The move's and the rollback's boundaries a run kills after."""
    found = cycles(full)
    return (
        sorted({move_boundary(c) for c in found}),
        sorted({rollback_boundary(c) for c in found}),
    )


def test_the_full_drill_covers_every_boundary_of_both_steps():
    moves, rollbacks = covered(full=True)
    assert moves == list(range(1, MOVE_ENTRIES + 1))
    assert rollbacks == list(range(1, ROLLBACK_ENTRIES + 1))


class World:
    """The scene and the ledgers of every workload so far."""

    def __init__(self, scene: Scene, group: str) -> None:
        self.scene = scene
        self.group = group
        self.acked: set[int] = set()


ENV = {ADMIN_ENV: ADMIN_PW, "PRODUCERS_TEST_WRITER_PASSWORD": WRITER_PW}


@pytest.fixture(scope="module")
def world(source, target, tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    scene = Scene(source, target, tmp_path_factory.mktemp("cycle"))
    group = f"billing-{uuid.uuid4().hex[:8]}"
    try:
        store = scene.build(with_payments=False, groups=group_plan(scene, group))
        prepare(scene, store, rate=100)
        offset_plan_for_test(store, group)
        store.close()
        made = World(scene, group)
        # The class's first move and rollback, unkilled (checked as every cycle is): the
        # cycles drill the steady state after them (see the module docstring).
        one_cycle(made, None, None)
        yield made
    finally:
        scene.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cutover(*args: str) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def step_process(db: Path, step: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``cutover step`` in a process of its own (it may be killed)."""
    args = [sys.executable, "-m", "console.cli", "step", str(db), step, "--class", CLASS]
    return subprocess.run(
        [*args, "--confirm", CLASS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def own_entries(db: Path, since: int) -> list:
    """The entries after ``since`` the step's own process wrote (the mirror and lag
    sampler write theirs in between)."""
    store = Store.open(db, readonly=True)
    try:
        found = store.audit_since(since)
    finally:
        store.close()
    return [e for e in found if not e.action.startswith(("lag.", "mirror."))]


def head(db: Path) -> int:
    store = Store.open(db, readonly=True)
    try:
        found = store.audit_since(0)
        return found[-1].seq if found else 0
    finally:
        store.close()


def run_killed_then_again(world: World, key: str, n: int | None, count: Path | None) -> None:
    """Run the step killed after its n-th commit (None: unkilled, counting its commits
    into ``count``); reopen and check; run it again to completion."""
    db = world.scene.db
    assert db is not None
    step = key.partition(":")[0]
    before = head(db)
    if n is None:
        done = step_process(db, step, {COUNT_FILE_ENV: str(count)} if count else {})
        assert done.returncode == 0, (done.stdout, done.stderr)
        return
    killed = step_process(db, step, {KILL_AFTER_ENV: str(n)})
    assert killed.returncode == -signal.SIGKILL, (
        f"{key} was not killed after entry {n} (did it write fewer? update the counts)",
        killed.stdout,
        killed.stderr,
    )
    own = own_entries(db, before)
    assert own[0].action == "gate.confirmed", [e.action for e in own]
    claimed = any(e.action == "step.started" and e.step == key for e in own)
    finished = any(e.action == "step.finished" and e.step == key for e in own)
    verify = cutover("audit", "verify", str(db))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = cutover("status", str(db), "--json")
    row = next(s for s in json.loads(status.stdout)["steps"] if s["key"] == key)
    if finished:
        assert row["state"] == "passed", row
    elif claimed:
        assert row["state"] == "interrupted", row
    else:
        assert row["state"] not in ("running", "interrupted"), row
    if finished:
        return
    again = step_process(db, step, {})
    assert again.returncode == 0, (again.stdout, again.stderr)
    if claimed:
        assert f"note: {key}: interrupted" in again.stderr, again.stderr
    verify = cutover("audit", "verify", str(db))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def no_acl_twice(store: Store) -> None:
    """Per run, each binding recorded once; of the class's live bindings on a cluster,
    none the console added twice."""
    for run in store.producers.runs(CLASS):
        rows = store.producers.acls(run_id=run.id)
        keys = [(a.cluster, a.purpose, tuple(sorted(a.binding().items()))) for a in rows]
        assert len(keys) == len(set(keys)), f"an ACL recorded twice in run #{run.id}: {rows}"
    live = [a for a in store.producers.acls(cls=CLASS, live_only=True) if not a.preexisting]
    keys = [(a.cluster, tuple(sorted(a.binding().items()))) for a in live]
    twice = [k for k, n in Counter(keys).items() if n > 1]
    assert not twice, f"the console added a live ACL twice: {twice}"


def exactly_once(world: World) -> list:
    """Both clusters read back: every acknowledged record of every cycle once, none twice
    (the target once the copy caught up with the source). Returns the source's records."""
    scene = world.scene
    deadline = time.monotonic() + 120
    while True:
        source = read_all(scene.source, scene.orders)
        target = read_all(scene.target, scene.orders)
        found = {}
        for side, records in (("source", source), ("target", target)):
            seen = Counter(r.seq for r in records if r.seq is not None)
            twice = [s for s, n in seen.items() if n > 1]
            assert not twice, f"records twice on the {side}: {twice[:5]}"
            found[side] = set(seen)
        lost = world.acked - found["source"]
        assert not lost, f"{len(lost)} acknowledged record(s) not on the source"
        behind = (world.acked | found["source"]) - found["target"]
        if not behind:
            return source
        assert time.monotonic() < deadline, f"{len(behind)} record(s) never reached the target"
        time.sleep(1)


def one_cycle(world: World, k: int | None, j: int | None, counts: Path | None = None) -> None:
    scene = world.scene
    db = scene.db
    assert db is not None
    if scene.workload is None:
        scene.start_workload(rate=100)
    wait_for(lambda: mirror_caught_up(scene, [scene.orders]), 120, "the copy of the workload")

    run_killed_then_again(world, MOVE, k, counts and counts / "move")
    store = Store.open(db, readonly=True)
    try:
        move = store.producers.latest_run(CLASS, "move")
        assert move is not None and move.state == "done", move
        points = {
            (p.topic, p.partition): (p.source_offset, p.target_offset)
            for p in store.producers.points(run_id=move.id)
        }
        no_acl_twice(store)
        # Everything the class's runs bound was added by the console (the scene grants
        # nothing on the target): none may read as there before it.
        assert not [a for a in store.producers.acls(cls=CLASS) if a.preexisting]
        assert switch.told(store, CLASS)["cluster"] == "target"
    finally:
        store.close()

    wait_for(
        lambda: all(read_count_after(scene.target, tp, pt[1]) >= 3 for tp, pt in points.items()),
        60,
        "target-only writes",
    )
    read_to = {tp: pt[1] + 2 for tp, pt in points.items()}
    commit_on(scene.target, world.group, read_to)

    run_killed_then_again(world, ROLLBACK, j, counts and counts / "rollback")
    store = Store.open(db, readonly=True)
    try:
        assert store.producers.latest_run(CLASS, "move").state == "undone"
        assert store.producers.latest_run(CLASS, "rollback").state == "done"
        no_acl_twice(store)
        fences = store.producers.acls(cls=CLASS, purpose="fence", live_only=True)
        assert not [a for a in fences if not a.preexisting], fences
        assert switch.told(store, CLASS)["cluster"] == "source"
    finally:
        store.close()

    ledger = scene.stop_workload()
    scene.workload = None
    world.acked |= set(ledger["topics"][scene.orders]["acked"])
    source = exactly_once(world)
    # The group resumes on the source at the reverse copy of the first record it had
    # not read on the target.
    by_target = {
        (r.partition, r.reverse_of[1]): r.offset for r in source if r.reverse_of is not None
    }
    back = committed_on(scene.source, world.group, list(points))
    for tp, offset in read_to.items():
        assert back[tp] == by_target[(tp[1], offset)], f"group not exact on {tp}"
    # As it began: nothing denies the class on the source.
    deny = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{scene.user}", None,
        AclOperation.WRITE, AclPermissionType.DENY,
    )  # fmt: skip
    assert not admin(scene.source).describe_acls(deny).result(30)


def test_the_reference_cycle_writes_the_entries_the_drill_expects(world, tmp_path):
    one_cycle(world, None, None, tmp_path)
    for name, want in (("move", MOVE_ENTRIES), ("rollback", ROLLBACK_ENTRIES)):
        found = [int(n) for n in (tmp_path / name).read_text().split()]
        assert found == list(range(1, want + 1)), (
            f"{name} now commits after entries {found}; update the counts"
        )


@pytest.mark.parametrize(
    "cycle",
    cycles(),
    ids=[f"move-{move_boundary(c)}-rollback-{rollback_boundary(c)}" for c in cycles()],
)
def test_kill_9_move_then_rollback_each_at_one_boundary(world, cycle):
    one_cycle(world, move_boundary(cycle), rollback_boundary(cycle))
