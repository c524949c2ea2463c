"""Fault drill: ``kill -9`` of the headless ``cutover step`` at every audit boundary.

For every runnable step, on the real sandbox: a reference run counts the audit entries
the step's own process commits (``CUTOVER_DRILL_COUNT_FILE``); then, for each N after
which it commits, the step runs with ``CUTOVER_DRILL_KILL_AFTER_ENTRY=N`` and SIGKILLs
itself right after its Nth entry is on disk. After each kill the run database is
reopened: nothing committed is lost (every entry up to the Nth is there), the chain and
what it binds verify, status shows the step PENDING/as it was, or INTERRUPTED (never
RUNNING by a dead process), and running the step again works and converges (one mirror,
one sampler, never two).

A step whose every case runs a long step (the rollback drill) has a ``stride``: ``make
test`` kills it after every stride-th boundary, the first and the last;
``make drill-full`` (``CUTOVER_DRILL_FULL=1``) after each one.

The expected boundary counts are written down per step; the reference run fails the
test if a step starts writing a different number of entries, so the drill never
silently stops covering a boundary. A step that appears in the registry without an
entry here fails :func:`test_every_runnable_step_is_drilled`.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from console import processes
from console.cli.main import main
from console.cutover.producers.drill import rehearsal_base
from console.plan.steps import StepState
from console.runbook.registry import RUNNERS
from console.sandbox.plans import sandbox_plan_text
from console.store import Store
from console.store.audit import current_actor
from console.store.faults import COUNT_FILE_ENV, KILL_AFTER_ENV
from tests import test_drill_kill_producers as cycled
from tests.helpers import ROOT, wait_for
from tests.producer_scene import ADMIN_ENV, ADMIN_PW, WRITER_PW, Scene, read_all
from tests.producer_scene import step as decide_and_run
from tests.test_lag_trends import Load
from tests.test_ops_drill import plan_text as ops_plan_text
from tests.test_producers import prepare as prepare_producers

PASSWORD = "admin-sandbox-pw"
WITNESS_PASSWORD = "drill-witness-pw"
SHADOW_PASSWORD = "drill-shadow-pw"


@dataclass(frozen=True)
class Drill:
    """One runnable step: its confirmation word, the entries its process writes in a run,
    and what it needs first (``"fresh"``: a new import; ``"template"``: a copy of a run
    whose witness exists and whose copy reached the target; ``"copying"``: that, with the
    mirror and sampler running)."""

    confirm: str
    entries: int
    start: str = "template"
    targeted: bool = False
    together: tuple[int, ...] = ()
    """Entries committed with the entry after them (one ``append_many``): no boundary
    follows them, so there is no case that kills after one."""
    """Runs on one group: each case gets a group of its own, which is also its confirm
    word (a move fences its group on the source, so no two cases share one)."""
    argv: tuple[str, ...] = ()
    """The command that runs the step when it is not ``cutover step`` (a scorecard
    decision is recorded by ``cutover owner``); ``<day>`` is a date three days ahead."""
    key: str = ""
    """The step instance the command runs, when it is not the step itself."""
    stride: int = 1
    """``make test`` kills after every ``stride``-th boundary (the first and the last
    always); ``make drill-full`` (``CUTOVER_DRILL_FULL=1``) after every one."""


DRILLS: dict[str, Drill] = {
    # gate.confirmed, step.started, evidence.added, step.finished
    "inventory": Drill("inventory", 4, "fresh"),
    # gate, started, create topic (intent, result), grant (intent, result), audit.witness,
    # evidence, finished
    "witness": Drill("witness", 9, "fresh"),
    # gate, audit.witness, started, mirror start (intent, result), sampler start (intent,
    # result), offsets sampler start (intent, result: the plan has groups), evidence,
    # finished
    "shadow-start": Drill("start-mirror", 11),
    # gate, audit.witness, started, mirror, sampler and offsets sampler stop (intent,
    # result each), finished
    "shadow-stop": Drill("stop-mirror", 10, "copying"),
    # gate, audit.witness, started, evidence, finished (samples come from the sampler)
    "shadow-lag": Drill("shadow-lag", 5, "copying"),
    # gate, audit.witness, started, compare.recorded (the window's rows), compare.window
    # (its summary), evidence, finished
    "compare": Drill("compare", 7),
    # gate, audit.witness, started, evidence, finished
    "governance": Drill("governance", 5),
    # gate, audit.witness, started, ACL create (intent, result), evidence of what was
    # applied, the diff read again, finished
    "governance-apply": Drill("apply-governance", 8, "governance-decided"),
    # gate, audit.witness, started, consumer start (intent, result), evidence, finished
    "safe-consumers": Drill("safe-consumers", 7),
    # gate, audit.witness, started, consumer stop (intent, result), finished
    "safe-consumers-stop": Drill("stop-safe-consumers", 6, "consuming"),
    # gate, audit.witness, started, finished (nothing the console created to remove)
    "safe-identities-remove": Drill("remove-shadow-identities", 4),
    # gate, audit.witness, started; the offset plan (its evidence, offsets.stored,
    # offsets.planned: one commit); offsets.apply intents (the 2 partitions', committed
    # together), results with offsets.stored (applied) (together); offsets.verify intent,
    # then its result with offsets.stored (verified) (together); the fence (fence.recorded
    # adding with the fence.add intent (together), fence.recorded active, fence.add
    # result); evidence of the move; finished
    "move-group": Drill(
        "<group>", 20, "movable", targeted=True, together=(4, 5, 7, 9, 10, 13, 15)
    ),
    # gate, audit.witness, started, scorecard.owner (the mark and its entry together),
    # finished
    "scorecard": Drill(
        "rollback", 5,
        argv=("owner", "run.db", "rollback", "--owner", "drill", "--retest", "<day>",
              "--confirm", "rollback"),
        key="scorecard:rollback",
    ),
    # On a copy of a run whose class moved (start "moved"): gate, started, evidence,
    # finished (it reads the target, changes nothing)
    "rollback-window": Drill("rollback-window", 4, "moved"),
    # gate, started, rollback-window.recorded (closed), rollback_window.closed, evidence,
    # finished
    "rollback-window-close": Drill("close-rollback-window", 6, "moved"),
    # On a fresh import of its own plan (tests/test_ops_drill.py's, imported), the copy
    # running under a steady load and its lag in bounds: gate, started, the restart
    # (intent, result), evidence, finished
    "ops-drill": Drill("ops-drill", 6, "restartable"),
    # On a copy of the template: gate, audit.witness, started, then per sub-step (setup,
    # source-writes, fence, switch, fence-target, copy-back, group-back, unfence, verify,
    # cleanup) its intent, its result and the run's binding entry for each, with every
    # ACL it adds or removes (intent, binding, result), the reverse copy (intent, result),
    # the run done, evidence, finished: 92 commits, each its own. A case takes one drill
    # (4-8 s), so make test kills after every 7th (14 cases); make drill-full after each.
    "rollback-drill": Drill("rollback-drill", 92, stride=7),
}  # fmt: skip


FULL = os.environ.get("CUTOVER_DRILL_FULL") == "1"
"""``make drill-full``: every boundary of every step, the strided ones too."""


def boundaries(drill: Drill) -> list[int]:
    """Entry counts after which the step's process has committed (where it can die)."""
    return [n for n in range(1, drill.entries + 1) if n not in drill.together]


def drilled(drill: Drill, full: bool = FULL) -> list[int]:
    """The boundaries this run kills after: all of them, or (a strided step in ``make
    test``) every ``stride``-th from the first, and the last."""
    found = boundaries(drill)
    if full or drill.stride == 1:
        return found
    return sorted({*found[:: drill.stride], found[-1]})


CASES = [(step, n) for step, drill in DRILLS.items() for n in drilled(drill)]

GROUPS = len(boundaries(DRILLS["move-group"])) + 1
"""Groups the world commits positions for, one per move-group case and its reference (a
fixed 18 ran out when the move gained entries: the last case found no group)."""


_MOVES, _ROLLBACKS = cycled.covered(full=False)

NOT_YET_DRILLED = {
    "move-producers": "drilled cyclically on one world in tests/test_drill_kill_producers.py "
    f"(a class that moved and rolled back before; a cycle takes 1-2 min): make test kills "
    f"the move after its entries {_MOVES} of {cycled.MOVE_ENTRIES}, make drill-full after "
    "each. A class's first move writes entries no later move does (it opens the rollback "
    "window and creates the target's ALLOWs): not killed at each of those, which needs a "
    "fresh moved world per case; test_producers' TestKill kills a first move every 3, 5 "
    "and 7 sub-step entries",
    "rollback": "drilled cyclically with move-producers (see there): make test kills the "
    f"rollback after its entries {_ROLLBACKS} of {cycled.ROLLBACK_ENTRIES}, make drill-full "
    "after each",
}
"""Runnable steps ``make test`` does not kill after every audit boundary here: what
remains and why (issue 9 §5 wants every runnable step drilled). A step in neither table
fails the test below."""


def test_every_runnable_step_is_drilled():
    assert not set(DRILLS) & set(NOT_YET_DRILLED)
    assert sorted(RUNNERS) == sorted([*DRILLS, *NOT_YET_DRILLED]), (
        "a runnable step has no kill drill: add it to DRILLS with the entries it writes"
    )


def acl(kind: ResourceType, name: str, principal: str, op: AclOperation) -> AclBinding:
    return AclBinding(
        kind, name, ResourcePatternType.LITERAL, principal, "*", op, AclPermissionType.ALLOW
    )


@pytest.fixture(scope="module")
def world(source, target, tmp_path_factory):
    """Topics with records on the source, a witness principal on the target, and a plan
    that uses them (the built-in mirror, a witness, fast sampling)."""
    tag = uuid.uuid4().hex[:6]
    topic, witness, principal = f"app.drill.orders-{tag}", f"drill.audit-{tag}", f"drill-{tag}"
    shadow_user, governed = f"drill-shadow-{tag}", f"drill-gov-{tag}"
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    # Governance: an ACL the source has and the target lacks, for the apply step to copy.
    for future in admin.create_acls(
        [acl(ResourceType.TOPIC, topic, f"User:{governed}", AclOperation.READ)]
    ).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": source.plaintext_bootstrap})
    for i in range(300):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    producer.flush(30)
    # Groups stopped half-way through the topic, one per move-group case.
    groups = [f"app.drill-{tag}-{i}" for i in range(GROUPS)]
    for group in groups:
        offsets = [TopicPartition(topic, 0, 50), TopicPartition(topic, 1, 60)]
        request = [ConsumerGroupTopicPartitions(group, offsets)]
        admin.alter_consumer_group_offsets(request)[group].result(30)
    target_admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    for user, password in ((principal, WITNESS_PASSWORD), (shadow_user, SHADOW_PASSWORD)):
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        for future in target_admin.alter_user_scram_credentials([upsert]).values():
            future.result(30)
    # The shadow consumer's minimal rights on the target: read the topic and its group.
    for future in target_admin.create_acls(
        [
            acl(ResourceType.TOPIC, topic, f"User:{shadow_user}", AclOperation.READ),
            acl(
                ResourceType.GROUP, f"shadow.drill-{tag}", f"User:{shadow_user}", AclOperation.READ
            ),
        ]
    ).values():
        future.result(30)
    plan = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        {topic: True},
        name="drill",
        # The plan's approver works from this test's login: a move's gate needs one.
        logins=(current_actor()[0],),
        extra=(
            "[thresholds]\nlag_trend_window_samples = 3\ncomparison_window_minutes = 60\n"
            "[shadow]\nsample_interval_s = 0.5\n"
            f'[audit]\nwitness_topic = "{witness}"\nwitness_principal = "{principal}"\n'
            'witness_password = { env = "CUTOVER_DRILL_WITNESS_PASSWORD" }\n'
            f'[governance]\nprincipals = ["User:{governed}"]\n'
            f'[[shadow_consumers]]\nname = "drill"\nprincipal = "{shadow_user}"\n'
            'password = { env = "CUTOVER_DRILL_SHADOW_PASSWORD" }\n'
            f'topics = ["{topic}"]\ngroup_id = "shadow.drill-{tag}"\nsink = "null"\n'
            + "".join(
                f'[[groups]]\nid = "{g}"\nowner = "drill"\ntopics = ["{topic}"]\n'
                'principal = "User:app"\nauto_offset_reset = "earliest"\n'
                'offset_strategy = "translate"\n'
                for g in groups
            )
        ),
    )
    root = tmp_path_factory.mktemp("drill")
    (root / "plan.toml").write_text(plan)
    (root / "groups.json").write_text(json.dumps(groups))
    governed_acl = {"bootstrap": target.plaintext_bootstrap, "topic": topic, "principal": governed}
    clusters = {"source": source.plaintext_bootstrap, "target": target.plaintext_bootstrap}
    (root / "clusters.json").write_text(json.dumps(clusters))
    (root / "governed.json").write_text(json.dumps(governed_acl))
    return root


def undo_governance_fix(world: Path) -> None:
    """Remove from the target the ACL the apply step copies, so each governance-apply
    case finds the difference again: the cases share the clusters, and an earlier case
    (killed, then run again to converge) has applied it."""
    wanted = json.loads((world / "governed.json").read_text())
    admin = AdminClient({"bootstrap.servers": wanted["bootstrap"]})
    pattern = AclBindingFilter(
        ResourceType.TOPIC,
        wanted["topic"],
        ResourcePatternType.LITERAL,
        f"User:{wanted['principal']}",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in admin.delete_acls([pattern]).values():
        future.result(30)


ENV = {
    "CUTOVER_DEMO_SOURCE_PASSWORD": PASSWORD,
    "CUTOVER_DEMO_TARGET_PASSWORD": PASSWORD,
    "CUTOVER_DRILL_WITNESS_PASSWORD": WITNESS_PASSWORD,
    "CUTOVER_DRILL_SHADOW_PASSWORD": SHADOW_PASSWORD,
    # The producer world of tests/test_producers.py (see ``moved``).
    ADMIN_ENV: ADMIN_PW,
    "PRODUCERS_TEST_WRITER_PASSWORD": WRITER_PW,
}


@pytest.fixture(scope="module", autouse=True)
def passwords():
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def cutover(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """A command in this process (as fast as a call): only the killed run needs a process
    of its own. ``run.db`` in ``args`` means the run database in ``cwd``."""
    argv = [str(cwd / a) if a in ("run.db", "../plan.toml") else a for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def step_args(cwd: Path, step: str) -> list[str]:
    """``step run.db STEP --confirm WORD``, with ``--group G`` for the group a targeted
    case was given (see :func:`prepared`); or the drill's own command."""
    if DRILLS[step].argv:
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        return [day if a == "<day>" else a for a in DRILLS[step].argv]
    if not DRILLS[step].targeted:
        return ["step", "run.db", step, "--confirm", DRILLS[step].confirm]
    group = (cwd / "group").read_text()
    return ["step", "run.db", step, "--group", group, "--confirm", group]


def step_key(cwd: Path, step: str) -> str:
    if DRILLS[step].key:
        return DRILLS[step].key
    return f"{step}:{(cwd / 'group').read_text()}" if DRILLS[step].targeted else step


def killed_run(cwd: Path, step: str, n: int) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT), KILL_AFTER_ENV: str(n)}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *step_args(cwd, step)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def run_step(cwd: Path, step: str) -> subprocess.CompletedProcess:
    return cutover(cwd, *step_args(cwd, step))


def explain(cwd: Path, done: subprocess.CompletedProcess, lines: int = 40) -> str:
    """Everything a failed run leaves to diagnose it: its whole output, and the last lines
    of each background process's log (the mirror, the lag sampler) with its process row."""
    out = [f"exit {done.returncode}", "--- stdout", done.stdout, "--- stderr", done.stderr]
    logs = cwd / "run.db.logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out += [f"--- {log.name} (last {len(tail)} lines)", *tail]
    with contextlib.suppress(Exception):  # a database too broken to read says so above
        store = Store.open(cwd / "run.db", readonly=True)
        try:
            out += ["--- processes", *(repr(p) for p in store.processes.all())]
        finally:
            store.close()
    return "\n".join(out)


def entries(db: Path) -> list:
    store = Store.open(db, readonly=True)
    try:
        return store.audit_since(0)
    finally:
        store.close()


def status(cwd: Path) -> dict:
    done = cutover(cwd, "status", "run.db", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def stop_background(db: Path) -> None:
    store = Store.open(db)
    try:
        for info in store.processes.all():
            if info.ours and info.alive:
                processes.stop(store, info.name, timeout=20)
    finally:
        store.close()


@pytest.fixture(scope="module")
def template(world) -> Path:
    """A run whose witness exists and whose mirror copied the topic, then stopped."""
    cwd = world / "template"
    cwd.mkdir()
    done = cutover(cwd, "plan", "import", str(world / "plan.toml"), "--db", "run.db")
    assert done.returncode == 0, done.stderr
    try:
        for step in ("inventory", "witness", "shadow-start"):
            done = run_step(cwd, step)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
        wait_for_samples(cwd)
        done = run_step(cwd, "shadow-stop")
        assert done.returncode == 0, done.stderr
    finally:
        stop_background(cwd / "run.db")
    return cwd / "run.db"


_GROUP_TURN = itertools.count()


def prepared(world: Path, template: Path, step: str, name: str, request=None) -> Path:
    """A run database in a directory of its own, ready for the step."""
    cwd = world / name
    cwd.mkdir()
    start = DRILLS[step].start
    if start == "moved":
        shutil.copyfile(request.getfixturevalue("moved"), cwd / "run.db")
        return cwd
    if start == "restartable":
        done = cutover(cwd, "plan", "import", str(request.getfixturevalue("ops_world")),
                       "--db", "run.db")  # fmt: skip
        assert done.returncode == 0, done.stderr
        for step_id, word in (("inventory", "inventory"), ("shadow-start", "start-mirror")):
            done = cutover(cwd, "step", "run.db", step_id, "--confirm", word)
            assert done.returncode == 0, (step_id, done.stdout, done.stderr)
        # The drill requires the lag in bounds over a full trend window first.
        wait_for(
            lambda: (
                cutover(cwd, "step", "run.db", "shadow-lag", "--confirm", "shadow-lag").returncode
                == 0
            ),
            120,
            "the shadow lag in bounds",
        )
        return cwd
    if start == "fresh":
        done = cutover(cwd, "plan", "import", str(world / "plan.toml"), "--db", "run.db")
        assert done.returncode == 0, done.stderr
        return cwd
    shutil.copyfile(template, cwd / "run.db")
    if start == "copying":
        done = run_step(cwd, "shadow-start")
        assert done.returncode == 0, (done.stdout, done.stderr)
        wait_for_samples(cwd)
    elif start == "consuming":
        done = run_step(cwd, "safe-consumers")
        assert done.returncode == 0, (done.stdout, done.stderr)
    elif start == "movable":
        # A comparison of this copy's own (the move wants a fresh one) and a group no
        # other case has moved or fenced.
        done = run_step(cwd, "compare")
        assert done.returncode == 0, (done.stdout, done.stderr)
        waive_the_review(cwd)
        groups = json.loads((world / "groups.json").read_text())
        (cwd / "group").write_text(groups[next(_GROUP_TURN)])
    elif start == "governance-decided":
        undo_governance_fix(world)
        done = run_step(cwd, "governance")
        assert done.returncode == 0, (done.stdout, done.stderr)
        listing = json.loads(cutover(cwd, "governance", "run.db", "--json").stdout)
        item = next(i for i in listing["items"] if i.get("fix"))
        done = cutover(cwd, "governance", "run.db", "--decide", item["key"], "--as", "apply")
        assert done.returncode == 0, (done.stdout, done.stderr)
    return cwd


def waive_the_review(cwd: Path) -> None:
    """The drill kills moves, it does not hold the readiness review: every scorecard area
    that would shut the move's gate gets an owner (when red) and a waiver by the plan's
    approver, whose login is this test's, as an operator would have to record them."""
    card = json.loads(cutover(cwd, "scorecard", "run.db", "--json").stdout)
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    for area in card["areas"]:
        if not area["blocks_cutover"]:
            continue
        name = area["area"]
        if area["colour"] == "RED":
            done = cutover(cwd, "owner", "run.db", name, "--owner", "drill", "--retest", day,
                           "--confirm", name)  # fmt: skip
            assert done.returncode == 0, (done.stdout, done.stderr)
        done = cutover(cwd, "waive", "run.db", name, "--reason", "a kill drill, not a review",
                       "--expires", day, "--confirm", name)  # fmt: skip
        assert done.returncode == 0, (done.stdout, done.stderr)


def wait_for_samples(cwd: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lag = cutover(cwd, "lag", "run.db", "--json")
        parts = json.loads(lag.stdout).get("partitions") if lag.stdout.strip() else None
        if parts and all(p["verdict"] == "OK" for p in parts):
            return
        time.sleep(0.5)
    raise AssertionError(f"lag never judged OK: {lag.stdout} {lag.stderr}")


@pytest.fixture(scope="module")
def moved(source, target, tmp_path_factory) -> Path:
    """A run of the producer world tests/test_producers.py builds (its plan, topics,
    principals and workload; imported, not copied) in which class ``checkout`` moved to
    the target with live traffic and wrote there for a while (so the rollback window has
    target-only records), then its workload and background processes stopped."""
    scene = Scene(source, target, tmp_path_factory.mktemp("moved"))
    store = scene.build(with_payments=False)
    try:
        prepare_producers(scene, store)
        outcome = decide_and_run(store, "move-producers:checkout", "checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        store.close()
        # The moved class writes on the target (records that are not copies): the window
        # the rollback cases hold must have target-only records in it.
        wait_for(
            lambda: (
                sum(
                    r.copied_from is None and r.reverse_of is None
                    for r in read_all(scene.target, scene.orders)
                )
                >= 20
            ),
            120,
            "target-only writes of the moved class",
        )
    finally:
        scene.close()
    assert scene.db is not None
    return scene.db


@pytest.fixture(scope="module")
def ops_world(sandbox, source, target, tmp_path_factory):
    """The operations drill's plan (tests/test_ops_drill.py's, imported) on a topic of its
    own, written to at a steady rate while the module's cases run."""
    topic = f"drill.ops-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    path = tmp_path_factory.mktemp("ops") / "plan.toml"
    # Each case starts a copy of its own into the same topic: what the earlier ones
    # copied is meant to be there.
    text = ops_plan_text(source, target, topic, str(sandbox.root))
    path.write_text(text.replace("[shadow]\n", "[shadow]\ntarget_may_hold_earlier_data = true\n"))
    with Load(source.plaintext_bootstrap, topic, 100):
        yield path


def converged(cwd: Path, step: str) -> None:
    """What a step's runs left, read back after the kill and the run again: every
    decision recorded once per finished run (none lost, none twice)."""
    store = Store.open(cwd / "run.db", readonly=True)
    try:
        key = step_key(cwd, step)
        finished = [e for e in store.audit_by_action("step.finished") if e.step == key]
        if step == "scorecard":
            # Recorded once: by the killed run (when it got that far) or by the run again,
            # never by both.
            marks = [m for m in store.scorecard.marks() if m.area == "rollback"]
            assert len(marks) == 1, marks
        if step in ("rollback-window", "rollback-window-close"):
            kept = store.audit_by_action("rollback-window.recorded")
            window = store.producers.window()
            assert window is not None and window.id == 1
            want = "closed" if step == "rollback-window-close" else "open"
            assert window.state == want, window
            # Opened once by the move; closed once, however many runs reached the close.
            assert [e.outcome for e in kept] == ["open", "closed"][: 1 + (want == "closed")]
            # A measurement per finished run (none lost); the killed run's own is kept when
            # it got that far (a reading taken then, not a copy).
            evidence = [e for e in store.audit_by_action("evidence.added") if e.step == key]
            assert len(finished) <= len(evidence) <= len(finished) + 1, (evidence, finished)
        if step == "rollback-drill":
            rehearsed(cwd, store)
        if step == "ops-drill":
            # Each restart made has its result recorded; the copy rode through them all.
            restarts = store.audit_by_action("drill.restart")
            intents = {e.seq for e in restarts if e.outcome is None}
            results = [e for e in restarts if e.outcome is not None]
            assert results, restarts  # the run that passed made a restart and recorded it
            assert {e.ref for e in results} <= intents
            assert len(intents) - len(results) <= 1, "more than the killed run's restart open"
            mirror = store.processes.get("mirror")
            assert mirror is not None and mirror.alive, mirror
    finally:
        store.close()


REHEARSAL_RECORDS = 20
"""Target-only records a rollback drill writes (10 on each of 2 partitions)."""


def rehearsed(cwd: Path, store: Store) -> None:
    """What the rollback drill's runs left, killed and run again: the last run done; per
    run each ACL added once and removed, none taken for one that was there before; the
    reverse copy never wrote more records than there were to copy; and, read from both
    clusters, no rehearsal topic, user or ACL left behind."""
    runs = store.producers.runs("drill", "drill")
    assert runs and runs[-1].state == "done", runs
    assert store.producers.substeps(runs[-1].id)["verify"].state == "done"
    evidence = store.latest_evidence("rollback-drill", "rollback-drill")
    assert evidence is not None and evidence.body["passed"], evidence
    for run in runs:
        rows = store.producers.acls(run_id=run.id)
        assert not [a for a in rows if a.preexisting], f"taken for there before: {rows}"
        added = [(a.cluster, tuple(sorted(a.binding().items()))) for a in rows]
        assert len(added) == len(set(added)), f"an ACL recorded twice: {rows}"
        assert all(a.state == "removed" for a in rows), rows
    # The reverse copy, per transactional id (one per run): its results add up to no more
    # than the target-only records, and the finished run's last intent saw them all.
    found = store.audit_by_action("producers.reverse.copy")
    intents = {e.seq: e for e in found if "txn_id" in e.params}
    copied: dict[str, int] = {}
    for entry in found:
        if entry.ref in intents:
            txn = intents[entry.ref].params["txn_id"]
            copied[txn] = copied.get(txn, 0) + int(entry.outcome.split()[0])
    assert all(n <= REHEARSAL_RECORDS for n in copied.values()), copied
    last = [e for e in intents.values() if e.params["txn_id"].endswith(f"-{runs[-1].id}")][-1]
    assert last.params["to_copy"] + last.params["copied_before"] == REHEARSAL_RECORDS, last
    # Independently, on both clusters: nothing of any run's rehearsal is left.
    clusters = json.loads((cwd.parent / "clusters.json").read_text())
    for side, bootstrap in clusters.items():
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = admin.list_topics(timeout=30).topics
        users = admin.describe_user_scram_credentials().result(30)
        for run in runs:
            base = rehearsal_base(store, run.id)
            assert f"{base}.orders" not in topics, f"{base}.orders left on the {side}"
            assert base not in users, f"user {base} left on the {side}"
            pattern = AclBindingFilter(
                ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{base}", None,
                AclOperation.ANY, AclPermissionType.ANY,
            )  # fmt: skip
            left = admin.describe_acls(pattern).result(30)
            assert not left, f"ACLs of {base} left on the {side}: {left}"


@pytest.mark.parametrize("step", list(DRILLS))
def test_the_reference_run_writes_the_entries_the_drill_expects(world, template, step, request):
    cwd = prepared(world, template, step, f"ref-{step}", request)
    count_file = cwd / "count"
    try:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT), COUNT_FILE_ENV: str(count_file)}
        done = subprocess.run(
            [sys.executable, "-m", "console.cli", *step_args(cwd, step)],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout, done.stderr)
        found = [int(line) for line in count_file.read_text().split()]
        assert found == boundaries(DRILLS[step]), (
            f"{step} now commits after entries {found}; update DRILLS"
        )
    finally:
        stop_background(cwd / "run.db")


@pytest.mark.parametrize(("step", "n"), CASES, ids=[f"{s}-after-entry-{n}" for s, n in CASES])
def test_kill_9_after_each_entry_then_reopen_verify_and_rerun(world, template, step, n, request):
    cwd = prepared(world, template, step, f"kill-{step}-{n}", request)
    db = cwd / "run.db"
    try:
        before = entries(db)
        killed = killed_run(cwd, step, n)
        assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
        after = entries(db)
        # Nothing committed was lost: what was there, then the step's first N entries.
        assert [e.hash for e in after[: len(before)]] == [e.hash for e in before]
        # Background processes the step started write entries of their own (the mirror and
        # lag sampler, a safe consumer recording its run) interleaved with the step's; they
        # are not the killed process's entries.
        background = ("lag.", "mirror.", "safe-consumer.run")
        own = [e for e in after[len(before) :] if not e.action.startswith(background)]
        assert len(own) == n, [e.action for e in own]
        assert own[0].action == "gate.confirmed"
        claimed = any(e.action == "step.started" for e in own)
        finished = own[-1].action == "step.finished"

        # Reopened read-only: the chain and its bindings verify; the state is consistent.
        verify = cutover(cwd, "audit", "verify", "run.db")
        assert verify.returncode == 0, verify.stderr
        key = step_key(cwd, step)
        row = next(s for s in status(cwd)["steps"] if s["key"] == key)
        if finished:
            assert row["state"] == "passed", row
        elif claimed:
            assert row["state"] == "interrupted", row
            assert "is gone; run the step again" in row["reason"]
        else:
            assert row["state"] not in ("running", "interrupted"), row

        # The step runs again, and converges.
        again = run_step(cwd, step)
        if finished and step == "governance-apply":
            # A finished apply left nothing decided 'apply': its gate says so and stays shut.
            assert again.returncode == 2, (again.stdout, again.stderr)
            assert "no governance item is decided 'apply'" in again.stderr
        elif finished and step == "rollback-window-close":
            # The window is closed and the close passed: nothing to close, its gate says so.
            assert again.returncode == 2, (again.stdout, again.stderr)
            assert "the rollback window was closed at" in again.stderr
        else:
            assert again.returncode == 0, explain(cwd, again)
        if claimed and not finished:
            assert f"note: {key}: interrupted" in again.stderr
        verify = cutover(cwd, "audit", "verify", "run.db")
        assert verify.returncode == 0, verify.stderr
        final = {s["key"]: s for s in status(cwd)["steps"]}
        assert final[key]["state"] == "passed", final[key]
        store = Store.open(db, readonly=True)
        procs = {p.name: p for p in store.processes.all()}
        store.close()
        if step == "shadow-start":
            assert procs["mirror"].alive and procs["sampler"].alive
            mirrors = [p for p in _processes_running("mirror", db)]
            assert len(mirrors) == 1, mirrors  # re-attached, never a second copy
        if step == "shadow-stop":
            assert not procs["mirror"].alive and not procs["sampler"].alive
        converged(cwd, step)
    finally:
        stop_background(db)


def _processes_running(kind: str, db: Path) -> list[int]:
    """Pids of live ``cutover <kind> <db>`` processes (ours, by command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if kind in words and any(w.endswith(str(db)) for w in words):
            found.append(int(entry.name))
    return found
