"""Moving consumer groups on the real sandbox clusters (Kafka 3.9.1 -> 4.1.1), built-in mirror.

Every test writes topics of its own (``app.*``, which the sandbox's ordinary user ``app``
may read) and runs a group as that user with the demo's consumer application, writing a
sink of what it processed. After the move the same application runs against the target,
and the sink is checked record by record against the source: nothing read twice,
nothing missing. The refusals and the crash test check what the step says and that it
changed nothing it should not have.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from console.cli.main import main
from console.cutover import reverse
from console.plan import parse_plan
from console.plan.steps import StepState
from console.sandbox import SANDBOX_PASSWORDS
from console.sandbox import consumer as demo
from console.sandbox.plans import sandbox_plan_text
from console.shadow import mirror
from console.store import Store
from console.store.audit import current_actor

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "CUTOVER_TEST_CUTOVER_PASSWORD"
ADMIN_PASSWORD = SANDBOX_PASSWORDS["admin"]
DEADLINE_S = 120.0


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
    return monkeypatch


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(cluster, name: str, partitions: int, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.plaintext_bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)


def group_toml(group: str, topics: list[str], **fields) -> str:
    lines = [
        "[[groups]]",
        f'id = "{group}"',
        'owner = "test"',
        f"topics = {json.dumps(topics)}",
        'principal = "User:app"',
        'auto_offset_reset = "earliest"',
    ]
    fields.setdefault("offset_strategy", '"translate"')
    lines += [f"{k} = {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def make_db(tmp_path: Path, source, target, topics: list[str], groups: str, extra="") -> Path:
    text = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        dict.fromkeys(topics, True),
        name=unique("cut"),
        password_env=(PASSWORD_ENV, PASSWORD_ENV),
        # The plan's approver works from this test's login: a move's gate needs one.
        logins=(current_actor()[0],),
        extra=groups + extra,
    )
    db = tmp_path / f"{unique('run')}.db"
    Store.create(db, text, parse_plan(text)).close()
    return db


def ready_to_compare(db: Path) -> None:
    """What the comparison requires: the inventory, run for real, and the copy. These
    tests run the mirror's process body in a thread of their own, so the shadow path's
    start step is recorded as passed rather than run."""
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
    store = Store.open(db)
    try:
        store.set_step("shadow-start", StepState.PASSED, "the test makes the copy itself")
    finally:
        store.close()


def compare_step(db: Path) -> int:
    ready_to_compare(db)
    return main(["step", str(db), "compare", "--confirm", "compare"])


def whole_topic_compared(db: Path) -> None:
    """For a topic stamped long ago, compared over its whole length by ``cutover compare
    --from 0``: the comparison step's own window (the recent minutes) holds none of it, so
    the GREEN whole-topic window stands for the step; what it requires is run first."""
    ready_to_compare(db)
    store = Store.open(db)
    try:
        store.set_step("compare", StepState.PASSED, "whole-topic window compared GREEN")
    finally:
        store.close()


def waive_the_review(db: Path, capsys) -> None:
    """These tests move groups, they do not hold the readiness review: every scorecard
    area that would shut the move's gate (no drill, no rollback drill, no governance diff
    here) is waived by the plan's approver from their own login, saying why, as an
    operator would have to."""
    capsys.readouterr()
    assert main(["scorecard", str(db), "--json"]) in (0, 1, 3)
    areas = json.loads(capsys.readouterr().out)["areas"]
    for area in areas:
        if area["blocks_cutover"]:
            args = ["waive", str(db), area["area"], "--confirm", area["area"]]
            args += ["--reason", "a consumer cutover test, not a readiness review"]
            args += ["--expires", time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))]
            assert main(args) == 0, capsys.readouterr()
    capsys.readouterr()


def plan_of(db: Path):
    store = Store.open(db, readonly=True)
    try:
        return store.plan
    finally:
        store.close()


class MirrorThread:
    """The mirror's process body in a thread of the test."""

    def __init__(self, db: Path):
        self.stop = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._body, args=(db,), daemon=True)
        self.thread.start()

    def _body(self, db: Path) -> None:
        self.code = mirror.run(db, self.stop, progress=lambda _line: None)

    def finish(self) -> int | None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the mirror did not stop"
        return self.code


def end_offsets(cluster, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": cluster.plaintext_bootstrap, "group.id": "probe"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def wait_copied(db: Path, source, topics: list[str]) -> None:
    """Until the mirror's positions reach every source partition's end."""
    plan = plan_of(db)
    passwords = {"source": ADMIN_PASSWORD, "target": ADMIN_PASSWORD}
    deadline = time.monotonic() + DEADLINE_S
    while True:
        ends = {(t, p): e for t in topics for p, e in end_offsets(source, t).items()}
        try:
            positions = mirror.mirror_positions(plan, passwords)
        except Exception:  # noqa: BLE001 - the positions topic may still be created
            positions = {}
        if all(positions.get(k, 0) >= e for k, e in ends.items()):
            return
        assert time.monotonic() < deadline, "the mirror did not catch up"
        time.sleep(0.2)


@contextmanager
def mirrored(db: Path, source, topics: list[str]):
    runner = MirrorThread(db)
    try:
        wait_copied(db, source, topics)
        yield runner
    finally:
        assert runner.finish() == 0


def step(db: Path, step_id: str, target: str | None = None, capsys=None) -> tuple[int, dict]:
    if step_id == "compare":
        ready_to_compare(db)
    if step_id == "move-group" and capsys is not None:
        waive_the_review(db, capsys)
    args = ["step", str(db), step_id, "--confirm", target or step_id, "--json"]
    if target:
        args += ["--group", target]
    code = main(args)
    out = capsys.readouterr().out if capsys is not None else ""
    return code, (json.loads(out) if out.strip().startswith("{") else {"raw": out})


def committed(cluster, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": cluster.plaintext_bootstrap})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(
        30
    )
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == topic}


_NOT_READY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError._WAIT_COORD,
}


def commit(cluster, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for a group without joining it (the super-user listener)."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                    asynchronous=False,
                )
                return
            except KafkaException as exc:
                if exc.args[0].code() not in _NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # the coordinator is loading its partition
    finally:
        consumer.close()


def record_offsets(cluster, topic: str) -> dict[int, list[int]]:
    """Offsets holding committed records, per partition (read_committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "group.id": unique("reader"),
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, -2) for p in meta.partitions])
        pending = set(meta.partitions)
        out: dict[int, list[int]] = {p: [] for p in meta.partitions}
        deadline = time.monotonic() + 60
        while pending:
            assert time.monotonic() < deadline
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    out[msg.partition()].append(msg.offset())
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
        return out
    finally:
        consumer.close()


def write_transactions(cluster, topic: str, partitions: int, batches: int, size: int) -> int:
    """Transactions with ``seq`` headers, every third aborted after reaching the log."""
    tx = Producer(
        {"bootstrap.servers": cluster.plaintext_bootstrap, "transactional.id": unique("tx")}
    )
    tx.init_transactions(30)
    seq = 0
    for batch in range(batches):
        tx.begin_transaction()
        for _ in range(size):
            tx.produce(
                topic,
                f"value-{seq}".encode(),
                f"key-{seq % 11}".encode(),
                seq % partitions,
                headers=[("seq", f"{topic}-{seq}".encode())],
            )
            seq += 1
        tx.flush(30)  # on the log before the abort, as in production
        (tx.abort_transaction if batch % 3 == 2 else tx.commit_transaction)(30)
    return seq


def write_compacted(cluster, topic: str, partitions: int, rounds: int, keys: int) -> None:
    """Upserts of a few keys in rounds (segments roll between them), with tombstones."""
    producer = Producer(
        {"bootstrap.servers": cluster.plaintext_bootstrap, "enable.idempotence": True}
    )
    seq = 0
    for round_ in range(rounds):
        for i in range(keys * partitions):
            value = None if (round_ == rounds - 1 and i % 5 == 0) else f"v{round_}-{i}".encode()
            # Most keys repeat (compaction drops their older records); every third is new,
            # so what survives has gaps inside the log, not only at its start.
            key = f"cust-{i % keys}" if i % 3 else f"once-{round_}-{i}"
            producer.produce(
                topic,
                value,
                key.encode(),
                i % partitions,
                headers=[("seq", f"{topic}-{seq}".encode())],
            )
            seq += 1
        producer.flush(30)
        time.sleep(0.3)  # past segment.ms, so the next round starts a new segment
    # One more record per partition rolls the last round's segment so it can be cleaned.
    for p in range(partitions):
        producer.produce(
            topic, b"last", b"roll", p, headers=[("seq", f"{topic}-roll-{p}".encode())]
        )
    producer.flush(30)


def wait_compacted(cluster, topic: str) -> None:
    """Until the source's cleaner removed records (offsets with gaps)."""
    deadline = time.monotonic() + 90
    while True:
        found = record_offsets(cluster, topic)
        # Every partition starts at offset 0: a record missing below the last is a gap.
        if any(offs and len(offs) < offs[-1] - offs[0] + 1 for offs in found.values()):
            return
        assert time.monotonic() < deadline, "the source's log cleaner did not compact in time"
        time.sleep(1)  # the cleaner runs every 15 s by default


def consume(db: Path, group: str, side: str, sink: Path, *, records=None, idle=4.0) -> int:
    plan = plan_of(db)
    return demo.run(
        plan,
        group,
        side,
        sink,
        threading.Event(),
        idle_exit_s=idle,
        max_records=records,
        say=lambda _m: None,
    )


def gap_positions(offsets: list[int]) -> list[int]:
    """Offsets inside gaps of a partition's records (markers, aborted or compacted-away
    records): positions where the next record is further on."""
    found = [o for a, b in zip([-1, *offsets], offsets, strict=False) for o in range(a + 2, b)]
    return found


def process_until(
    db: Path, source, group: str, positions: dict[tuple[str, int], int], sink: Path
) -> int:
    """The group's application processed every record before ``positions`` on the source
    (its sink says so) and committed there: the state a stopped consumer leaves. Written
    directly, so the committed offsets land exactly where the test wants them (inside a
    marker, an aborted transaction, a compaction gap, at the end)."""
    plan = plan_of(db)
    spec = plan.clusters.source
    reader = Consumer(
        {
            "bootstrap.servers": spec.bootstrap_servers,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "admin",
            "sasl.password": ADMIN_PASSWORD,
            "group.id": unique("reader"),
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        reader.assign([TopicPartition(t, p, -2) for (t, p) in positions])
        pending = set(positions)
        lines = []
        deadline = time.monotonic() + 60
        while pending:
            assert time.monotonic() < deadline
            for msg in reader.consume(500, 0.5):
                key = (msg.topic(), msg.partition())
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(key)
                    continue
                if msg.offset() < positions[key]:
                    lines.append(demo.sink_line("source", msg))
    finally:
        reader.close()
    with sink.open("a", encoding="utf-8") as out:
        out.writelines(lines)
    commit(source, group, positions)
    return len(lines)


# -- the built-in path, end to end ---------------------------------------------------------------


def test_builtin_move_with_transactions_aborts_and_compaction_replays_and_skips_nothing(
    tmp_path, source, target, env, capsys
):
    """A group that read part of a transactional topic (with aborted transactions) and of
    a compacted topic (with compaction gaps), stopped at positions inside markers and
    gaps, moves to the target; its application goes on there: the sink holds every
    record exactly once."""
    txn, compacted = unique("app.txn"), unique("app.cmp")
    group = unique("app.billing")
    create_topic(source, txn, 3)
    create_topic(
        source,
        compacted,
        2,
        {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"},
    )
    write_transactions(source, txn, 3, batches=12, size=10)
    write_compacted(source, compacted, 2, rounds=4, keys=6)
    wait_compacted(source, compacted)
    db = make_db(tmp_path, source, target, [txn, compacted], group_toml(group, [txn, compacted]))
    sink = tmp_path / "billing.sink"
    txn_records, cmp_records = record_offsets(source, txn), record_offsets(source, compacted)
    txn_ends = end_offsets(source, txn)
    # Where the group stopped: inside an aborted transaction's gap, at a record, at the
    # end (past the last transaction's marker), inside a compaction gap; and one
    # partition it never committed on.
    positions = {
        (txn, 0): gap_positions(txn_records[0])[len(gap_positions(txn_records[0])) // 2],
        (txn, 1): txn_records[1][len(txn_records[1]) // 2],
        (txn, 2): txn_ends[2],
        (compacted, 0): gap_positions(cmp_records[0])[-1],
    }
    process_until(db, source, group, positions, sink)
    total = sum(len(v) for found in (txn_records, cmp_records) for v in found.values())

    with mirrored(db, source, [txn, compacted]):
        code, outcome = step(db, "compare", capsys=capsys)
        assert code == 0, outcome
        code, outcome = step(db, "move-group", group, capsys)
    assert code == 0, outcome
    moved = outcome["evidence"]["positions"]
    written = [p for p in moved if p["target_offset"] is not None]
    assert len(written) == len(positions)
    assert all(p["exact"] and p["replay"] == 0 and p["skip"] == 0 for p in written), written
    never = [p for p in moved if p["source_committed"] is None]
    assert [(p["topic"], p["partition"], p["method"]) for p in never] == [(compacted, 1, "none")]

    consume(db, group, "target", sink)
    found = demo.check_sink(plan_of(db), group, sink, password=ADMIN_PASSWORD)
    assert found.twice == [] and found.missing == [], found.summary()
    assert found.not_read == 0 and found.processed == total, found.summary()
    assert set(found.by_side) == {"source", "target"}

    # The group is fenced on the source: its principal may no longer read it there.
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    fences = admin.describe_acls(
        AclBindingFilter(
            ResourceType.GROUP,
            group,
            ResourcePatternType.LITERAL,
            "User:app",
            "*",
            AclOperation.READ,
            AclPermissionType.DENY,
        )
    ).result(30)
    assert len(fences) == 1
    with pytest.raises(demo.DemoConsumerError, match="refused"):
        consume(db, group, "source", tmp_path / "after.sink", idle=3)

    # The reverse map gives back, for the offsets now committed on the target, the
    # source offsets the group would resume at: the end of each source partition.
    store = Store.open(db)
    try:
        on_target = committed(target, group, txn)
        back = reverse.source_offsets(store, group, {(txn, p): o for p, o in on_target.items()})
        ends = end_offsets(source, txn)
        for (_t, p), point in back.items():
            assert point.exact, point
            assert record_offsets(source, txn)[p][-1] < point.source_offset <= ends[p]
    finally:
        store.close()


# -- refusals -------------------------------------------------------------------------------------


def write_plain(cluster, topic: str, count: int, partitions: int, *, start: int = 0, ts=None):
    producer = Producer(
        {"bootstrap.servers": cluster.plaintext_bootstrap, "enable.idempotence": True}
    )
    for i in range(start, start + count):
        producer.produce(
            topic,
            f"value-{i}".encode(),
            f"key-{i}".encode(),
            i % partitions,
            headers=[("seq", f"{topic}-{i}".encode())],
            timestamp=(ts(i) if ts else 0),
        )
    assert producer.flush(30) == 0


@pytest.fixture
def moved_topic(tmp_path, source, target, env):
    """A topic copied by the mirror (still running), a group stopped half-way, and a
    fresh comparison: everything a move needs. Yields (db, topic, group, mirror)."""
    topic, group = unique("app.orders"), unique("app.g")
    create_topic(source, topic, 2)
    write_plain(source, topic, 40, 2)
    db = make_db(tmp_path, source, target, [topic], group_toml(group, [topic]))
    process_until(db, source, group, {(topic, 0): 10, (topic, 1): 12}, tmp_path / "sink")
    runner = MirrorThread(db)
    try:
        wait_copied(db, source, [topic])
        assert compare_step(db) == 0
        yield db, topic, group, runner
    finally:
        runner.finish()


def refused(db: Path, group: str, capsys) -> tuple[dict, dict[str, dict]]:
    """Run the step, expect it to fail; its evidence and its checks by name."""
    capsys.readouterr()
    code, outcome = step(db, "move-group", group, capsys)
    assert code == 1, outcome
    checks = {c["name"]: c for c in outcome["evidence"].get("checks", [])}
    return outcome, checks


@contextmanager
def member(cluster_spec_bootstrap: str, group: str, topic: str, **extra):
    """A live member of ``group`` as the ordinary user, polling until the block ends."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster_spec_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "app",
            "sasl.password": SANDBOX_PASSWORDS["app"],
            "group.id": group,
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.subscribe([topic])
    stop = threading.Event()
    joined = threading.Event()

    def poll():
        while not stop.is_set():
            consumer.poll(0.2)
            if consumer.assignment():
                joined.set()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        assert joined.wait(30), "the member did not join"
        yield consumer
    finally:
        stop.set()
        thread.join(10)
        consumer.close()


def test_refuses_a_group_still_active_on_the_source(moved_topic, source, target, capsys):
    db, topic, group, _ = moved_topic
    with member(source.sasl_bootstrap, group, topic):
        outcome, checks = refused(db, group, capsys)
    assert "no members on the source" in outcome["reason"]
    assert checks["no members on the source"]["verdict"] == "RED"
    assert "1 member" in " ".join(checks["no members on the source"]["evidence"])
    assert committed(target, group, topic) == {}  # nothing was written


def test_a_static_member_lingers_and_the_gate_says_so(moved_topic, source, target, capsys):
    """A static member (group.instance.id) stays in the group after its consumer closed,
    until its session times out: still active, and the refusal says why."""
    db, topic, group, _ = moved_topic
    with member(
        source.sasl_bootstrap,
        group,
        topic,
        **{"group.instance.id": "pod-1", "session.timeout.ms": 45000},
    ):
        pass
    outcome, checks = refused(db, group, capsys)
    evidence = " ".join(checks["no members on the source"]["evidence"])
    assert "static member(s) pod-1" in evidence and "session times out" in evidence


def test_refuses_a_group_active_on_the_target(moved_topic, target, capsys):
    db, topic, group, _ = moved_topic
    with member(target.sasl_bootstrap, group, topic):
        outcome, checks = refused(db, group, capsys)
    assert checks["no members on the target"]["verdict"] == "RED"
    assert "no members on the target" in outcome["reason"]


def test_refuses_a_position_the_copy_has_not_reached(moved_topic, source, target, capsys):
    """The mirror stopped; the group read on: its position is beyond the copy and is
    not translated; the refusal says how many offsets and records are still to copy."""
    db, topic, group, runner = moved_topic
    assert runner.finish() == 0
    write_plain(source, topic, 20, 2, start=40)
    ends = end_offsets(source, topic)
    commit(source, group, {(topic, 0): ends[0], (topic, 1): ends[1]})
    outcome, checks = refused(db, group, capsys)
    check = checks["every position copied"]
    assert check["verdict"] == "RED" and "beyond what the copy has copied" in check["summary"]
    positions = {p["partition"]: p for p in outcome["evidence"]["positions"]}
    for p in (0, 1):
        assert positions[p]["target_offset"] is None
        assert positions[p]["not_copied"] == 10 and positions[p]["not_copied_records"] == 10
    assert committed(target, group, topic) == {}


def test_refuses_on_a_red_comparison(moved_topic, target, capsys):
    """A record on the target the source never had: the comparison turns RED and the
    move's gate stays shut on it (the comparison has not passed, and the scorecard's
    correctness area is RED); nothing is committed on the target."""
    db, topic, group, _ = moved_topic
    producer = Producer({"bootstrap.servers": target.plaintext_bootstrap})
    producer.produce(topic, b"not from the source", b"stray", 1)
    producer.flush(30)
    capsys.readouterr()
    assert main(["step", str(db), "compare", "--confirm", "compare"]) == 1
    capsys.readouterr()
    code = main(["step", str(db), "move-group", "--group", group, "--confirm", group])
    out = capsys.readouterr()
    assert code == 2
    assert "blocked by: compare" in out.out + out.err
    capsys.readouterr()
    assert main(["scorecard", str(db), "--json"]) == 1
    areas = {a["area"]: a for a in json.loads(capsys.readouterr().out)["areas"]}
    assert areas["correctness"]["colour"] == "RED"
    assert committed(target, group, topic) == {}


# -- a crash at any point converges ----------------------------------------------------------


@pytest.mark.parametrize("point", ["after-plan", "after-apply", "after-verify"])
def test_kill_9_at_any_point_then_the_rerun_converges(moved_topic, source, target, point, capsys):
    """The step is killed with SIGKILL at a point of the move; running it again finishes
    the move with the offsets stored before the crash, writes none twice, fences once."""
    db, topic, group, _ = moved_topic
    waive_the_review(db, capsys)
    env = {**os.environ, "CUTOVER_TEST_PAUSE_AT": point}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "step",
            str(db),
            "move-group",
            "--group",
            group,
            "--confirm",
            group,
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for line in proc.stderr:
            if f"paused at {point}" in line:
                break
            assert time.monotonic() < deadline, "the step never reached the pause point"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store.open(db, readonly=True)
    stored = store.cutover.latest_plan(group)
    store.close()
    expected_state = {"after-plan": "planned", "after-apply": "applied", "after-verify": "verified"}
    assert stored is not None and stored.state == expected_state[point]
    planned = {r["partition"]: r["target_offset"] for r in stored.rows}
    on_target = committed(target, group, topic)
    assert on_target == ({} if point == "after-plan" else planned)

    capsys.readouterr()
    code, outcome = step(db, "move-group", group, capsys)
    assert code == 0, outcome
    assert committed(target, group, topic) == planned
    store = Store.open(db, readonly=True)
    try:
        entries = [e for e in store.audit_since(0) if e.step == f"move-group:{group}"]
        assert store.cutover.latest_plan(group).state == "verified"
        assert len(store.cutover.fences(group)) == 1
    finally:
        store.close()
    actions = [e.action for e in entries]
    assert "step.interrupted" in actions and actions.count("offsets.planned") == 1
    writes = [e for e in entries if e.action == "offsets.apply" and e.params.get("to") is not None]
    assert len(writes) == len(planned), "an offset was written twice"
    if point == "after-apply":
        assert any(
            e.action == "offsets.apply" and "not written again" in (e.outcome or "")
            for e in entries
        )
    if point != "after-plan":
        assert "offsets.resumed" in actions
    assert actions.count("fence.add") == 2  # intent and result, once


# -- the plan's other strategies -------------------------------------------------------------

BASE_MS = 1_700_000_000_000
# Records stamped in 2023 are past the brokers' default seven-day retention: the
# retention check (every five minutes) would delete them between the write and the copy,
# and the comparison would rightly find nothing. Topics that hold them keep them.
KEEP_OLD = {"retention.ms": "-1"}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def read_seqs(db: Path, group: str, side: str, tmp_path: Path) -> dict[int, list[int]]:
    sink = tmp_path / unique("strategy.sink")
    consume(db, group, side, sink)
    out: dict[int, list[int]] = {}
    for _side, _topic, partition, _offset, _key, seq in demo.read_sink(sink):
        out.setdefault(partition, []).append(int(seq.rsplit("-", 1)[1]))
    return out


def test_reset_to_timestamp_starts_at_the_targets_offset_for_that_time(
    tmp_path, source, target, env, capsys
):
    """Records stamped a second apart; the plan resets to 25.5 s in: each partition
    starts at its first record from then on, whatever the source group had read."""
    topic, group = unique("app.ts"), unique("app.reset")
    create_topic(source, topic, 2, KEEP_OLD)
    write_plain(source, topic, 60, 2, ts=lambda i: BASE_MS + i * 1000)
    when = BASE_MS + 25_500
    groups = group_toml(
        group, [topic], offset_strategy='"reset-to-timestamp"', reset_timestamp=iso(when)
    )
    db = make_db(tmp_path, source, target, [topic], groups)
    process_until(db, source, group, {(topic, 0): 4, (topic, 1): 25}, tmp_path / "src.sink")
    with mirrored(db, source, [topic]):
        # Stamped in 2023: compare the whole topic, not the last minutes.
        assert main(["compare", str(db), "--from", "0"]) == 0
        whole_topic_compared(db)
        capsys.readouterr()
        code, outcome = step(db, "move-group", group, capsys)
    assert code == 0, outcome
    seqs = read_seqs(db, group, "target", tmp_path)
    # Records i stamped BASE + i s; partition i % 2. The first at or after 25.5 s: 26, 27.
    assert seqs[0] == list(range(26, 60, 2)) and seqs[1] == list(range(27, 60, 2))
    # Against where the group stood (partition 0 at record 8, partition 1 at record 51):
    # partition 0 skips records 8..24 (9), partition 1 re-reads 27..49 (12), as the gate said.
    by_part = {p["partition"]: p for p in outcome["evidence"]["positions"]}
    assert by_part[0]["method"] == "timestamp"
    assert (by_part[0]["replay"], by_part[0]["skip"]) == (0, 9)
    assert (by_part[1]["replay"], by_part[1]["skip"]) == (12, 0)


def test_restart_from_known_point_and_the_partitions_it_does_not_name(
    tmp_path, source, target, env, capsys
):
    topic, group = unique("app.kp"), unique("app.known")
    create_topic(source, topic, 2)
    write_plain(source, topic, 40, 2)
    groups = group_toml(
        group,
        [topic],
        offset_strategy='"restart-from-known-point"',
        known_point="{ " + f'"{topic}:0" = 5' + " }",
    )
    db = make_db(tmp_path, source, target, [topic], groups)
    process_until(db, source, group, {(topic, 0): 3, (topic, 1): 7}, tmp_path / "src.sink")
    with mirrored(db, source, [topic]):
        assert compare_step(db) == 0
        capsys.readouterr()
        code, outcome = step(db, "move-group", group, capsys)
    assert code == 0, outcome
    assert committed(target, group, topic) == {0: 5}
    by_part = {p["partition"]: p for p in outcome["evidence"]["positions"]}
    assert by_part[1]["target_offset"] is None and "auto.offset.reset" in by_part[1]["reason"]
    seqs = read_seqs(db, group, "target", tmp_path)
    # Partition 0 holds the even records: target offset 5 is the copy of record 10.
    assert seqs[0] == list(range(10, 40, 2))
    assert seqs[1] == list(range(1, 40, 2))  # nothing committed there: earliest
