"""The built-in exactly-once mirror against the real sandbox clusters (Kafka 3.9.1 -> 4.1.1).

Every test copies topics of its own and then checks the target record by record: each
committed source record is on the target exactly once, in the same partition and order,
with the same key, value, headers and timestamp, tagged with its provenance header (read
with read_committed); nothing else is there; and the offset map maps every one of them
to the target offset where it really sits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from console import processes
from console.kafka import provenance
from console.plan import parse_plan
from console.sandbox import SANDBOX_PASSWORDS, workload
from console.sandbox.cluster import Sandbox
from console.sandbox.plans import sandbox_plan_text
from console.sandbox.restart import restart_broker
from console.shadow import mirror
from console.shadow.mirror import offset_map
from console.store import Store
from tests.helpers import CountedProducer

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "CUTOVER_TEST_MIRROR_PASSWORD"
DEADLINE_S = 120.0


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch):
    """The sandbox admin password where the test plans look for it (this process and its
    children only)."""
    monkeypatch.setenv(PASSWORD_ENV, SANDBOX_PASSWORDS["admin"])
    return monkeypatch


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def plan_text(source, target, topics: dict[str, bool], name: str | None = None) -> str:
    """A plan over the sandbox's SASL listeners; ``topics`` maps name -> create_on_target."""
    return sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        topics,
        name=name or unique("mirror-test"),
        password_env=(PASSWORD_ENV, PASSWORD_ENV),
    )


def run_db(tmp_path: Path, source, target, topics: dict[str, bool]) -> Path:
    text = plan_text(source, target, topics)
    path = tmp_path / f"{unique('run')}.db"
    Store.create(path, text, parse_plan(text)).close()
    return path


def create_topic(cluster, name: str, partitions: int, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.plaintext_bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)


def producer(cluster, **extra) -> CountedProducer:
    """Idempotent: every test here counts the source's records, so none may land twice."""
    return CountedProducer(cluster.plaintext_bootstrap, **{"linger.ms": 5, **extra})


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int


def read_all(cluster, topic: str, timeout: float = 60.0) -> list[Record]:
    """Every committed record of a topic (read_committed), partition by partition, in order."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "group.id": unique("reader"),
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p, 0) for p in sorted(meta.partitions)]
        ends = {
            tp.partition: consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            for tp in tps
        }
        consumer.assign([TopicPartition(topic, p, -2) for p in ends])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while True:
            for msg in consumer.consume(1000, 0.5):
                assert msg.error() is None, msg.error()
                out.append(
                    Record(
                        msg.partition(),
                        msg.offset(),
                        msg.key(),
                        msg.value(),
                        tuple(msg.headers() or ()),
                        msg.timestamp()[1],
                    )
                )
            positions = consumer.position([TopicPartition(topic, p) for p in ends])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                break
            assert time.monotonic() < deadline, f"reading {topic} did not reach its end"
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def source_ends(source, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": source.plaintext_bootstrap, "group.id": "probe"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def wait_caught_up(db: Path, source, topics: list[str], timeout: float = DEADLINE_S) -> None:
    """Poll until the mirror's positions on the target reach every source partition's end."""
    store = Store.open(db, readonly=True)
    plan = store.plan
    store.close()
    password = SANDBOX_PASSWORDS["admin"]
    deadline = time.monotonic() + timeout
    while True:
        ends = {(t, p): end for t in topics for p, end in source_ends(source, t).items()}
        try:
            positions = mirror.mirror_positions(plan, {"source": password, "target": password})
        except Exception:  # noqa: BLE001 - a broker may still be restarting; poll again
            positions = {}
        behind = {k: e - positions.get(k, 0) for k, e in ends.items() if positions.get(k, 0) < e}
        if not behind:
            return
        assert time.monotonic() < deadline, f"mirror still behind: {behind}"
        time.sleep(0.2)


def assert_exact_copy(
    source,
    target,
    topic: str,
    db: Path,
    *,
    log_append_time: bool = False,
    compacted: bool = False,
) -> list[Record]:
    """Record by record: each committed source record on the target once, unchanged,
    in order, and the offset map pointing at it. Returns the source records.

    ``log_append_time``: the target stamps its own append time, so the copy's timestamp
    is only required not to precede the source's. ``compacted``: the source's log
    cleaner may have removed records after they were copied, so the target may hold
    copies of source offsets that are gone now (but never one twice, never one from
    beyond the source's end)."""
    src = read_all(source, topic)
    dst = read_all(target, topic)
    by_origin: dict[tuple[int, int], Record] = {}
    for rec in dst:
        origin = provenance.find(list(rec.headers))
        assert origin is not None, f"{topic}[{rec.partition}]@{rec.offset} has no provenance"
        assert origin[0] == rec.partition, f"{topic}: {origin} landed in partition {rec.partition}"
        assert origin not in by_origin, f"{topic}: source {origin} copied twice"
        by_origin[origin] = rec
    missing = [(r.partition, r.offset) for r in src if (r.partition, r.offset) not in by_origin]
    assert not missing, f"{topic}: {len(missing)} source records missing, first {missing[:5]}"
    if compacted:
        ends: dict[int, int] = {}
        for r in src:
            ends[r.partition] = max(ends.get(r.partition, -1), r.offset)
        beyond = [o for o in by_origin if o[1] > ends.get(o[0], -1)]
        assert not beyond, f"{topic}: copies of offsets past the source's end: {beyond[:5]}"
    else:
        assert len(dst) == len(src), f"{topic}: target has {len(dst) - len(src)} extra records"
    store = Store.open(db, readonly=True)
    try:
        last_target: dict[int, int] = {}
        for rec in src:
            copy = by_origin[(rec.partition, rec.offset)]
            assert copy.key == rec.key and copy.value == rec.value, (rec.partition, rec.offset)
            assert copy.headers[:-1] == rec.headers, (rec.partition, rec.offset)
            assert copy.headers[-1][0] == provenance.HEADER
            if log_append_time:
                assert copy.timestamp >= rec.timestamp, (rec.partition, rec.offset)
            else:
                assert copy.timestamp == rec.timestamp, (rec.partition, rec.offset)
            assert copy.offset > last_target.get(rec.partition, -1), "order changed"
            last_target[rec.partition] = copy.offset
            found = offset_map.translate(store, topic, rec.partition, rec.offset)
            assert found.exact and found.target_offset == copy.offset, (rec, found)
        assert offset_map.mapped_count(store, topic) == len(dst)
    finally:
        store.close()
    return src


class MirrorThread:
    """The mirror's process body in a thread of the test (so SIGTERM-free stopping)."""

    def __init__(self, db: Path, settings: mirror.MirrorSettings | None = None):
        self.stop = threading.Event()
        self.lines: list[str] = []
        self.code: int | None = None
        self.settings = settings
        self.thread = threading.Thread(target=self._body, args=(db,), daemon=True)
        self.thread.start()

    def _body(self, db: Path) -> None:
        def progress(line: str) -> None:
            self.lines.append(line)
            print(f"{time.strftime('%H:%M:%S')} mirror: {line}", flush=True)

        self.code = mirror.run(db, self.stop, progress=progress, settings=self.settings)

    def finish(self, timeout: float = 60.0) -> int | None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the mirror did not stop"
        return self.code


class LoadThread:
    """The workload in a thread of the test, writing until the test stops it. A workload
    that failed or ended makes ``writing`` fail at once, rather than leaving a test to
    wait out its deadline for records that will never come."""

    def __init__(self, bootstrap: str, spec: workload.WorkloadSpec):
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._body, args=(bootstrap, spec), daemon=True)
        self.thread.start()

    def _body(self, bootstrap: str, spec: workload.WorkloadSpec) -> None:
        try:
            workload.run(bootstrap, spec, self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc

    def writing(self) -> bool:
        assert self.error is None, f"the workload failed: {self.error}"
        assert self.thread.is_alive(), "the workload ended before the test stopped it"
        return True

    def finish(self, timeout: float = 60.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the workload did not stop"
        assert self.error is None, f"the workload failed: {self.error}"


def spawn_mirror(db: Path, log: Path) -> subprocess.Popen:
    """``cutover mirror RUN.db`` as its own process, as the shadow-start step runs it."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "console.cli", "mirror", str(db)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


_NEW_PARTITION_ERRORS = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def wait_for(predicate, what: str, timeout: float = DEADLINE_S, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except KafkaException as exc:
            # A partition created a moment ago answers NOT_LEADER until its leader is
            # elected: the condition is not true yet, and the deadline still bounds it.
            if exc.args[0].code() not in _NEW_PARTITION_ERRORS:
                raise
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def mapped(db: Path, topics: list[str]) -> int:
    store = Store.open(db, readonly=True)
    try:
        return sum(offset_map.mapped_count(store, t) for t in topics)
    finally:
        store.close()


def audit(db: Path) -> list:
    store = Store.open(db, readonly=True)
    try:
        return store.audit_since(0)
    finally:
        store.close()


# -- tests -----------------------------------------------------------------------------------


def test_copies_transactions_tombstones_headers_nulls_and_large_records(
    tmp_path, source, target, env
):
    """Committed and aborted transactions, a compacted topic with tombstones, headers,
    null keys and values, records at max.message.bytes and a LogAppendTime topic: all
    copied exactly, and each created target topic is logged before it is created."""
    txn, compacted, large, appended = (unique(n) for n in ("txn", "compact", "large", "append"))
    create_topic(source, txn, 3)
    create_topic(
        source,
        compacted,
        2,
        {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"},
    )
    create_topic(source, large, 2, {"max.message.bytes": "100000"})
    create_topic(source, appended, 1, {"message.timestamp.type": "LogAppendTime"})

    tx = producer(source, **{"transactional.id": unique("tx")})
    tx.init_transactions(30)
    for batch in range(6):
        tx.begin_transaction()
        for i in range(20):
            tx.produce(txn, f"v{batch}-{i}".encode(), f"k{i}".encode(), i % 3)
        tx.flush(30)  # the records reach the log before the abort, as in production
        (tx.abort_transaction if batch in (1, 4) else tx.commit_transaction)(30)
    plain = producer(source)
    for i in range(30):
        plain.produce(
            txn,
            None if i % 5 == 0 else f"plain-{i}".encode(),
            None if i % 3 == 0 else f"k{i}".encode(),
            i % 3,
            headers=[("h1", b"x"), ("empty", b""), ("dup", b"1"), ("dup", b"2")],
            timestamp=1_700_000_000_000 + i,
        )
    for round_ in range(3):
        for i in range(40):
            value = None if (i % 7 == 0 and round_ == 2) else f"c{round_}-{i}".encode()
            plain.produce(compacted, value, f"cust-{i % 10}".encode(), i % 2)
        plain.flush(30)
    big = producer(source, **{"message.max.bytes": 200_000})
    failures = []
    for i in range(6):
        # 99,800 bytes of value: with its key and batch overhead right at the source
        # topic's max.message.bytes of 100,000 (one record per batch: flush each).
        big.produce(
            large,
            os.urandom(99_800),
            f"big{i}".encode(),
            i % 2,
            on_delivery=lambda err, _m: failures.append(err) if err else None,
        )
        big.flush(30)
    assert not failures, failures
    plain.produce(appended, b"stamped by the broker", b"k")
    assert plain.flush_all(30) == 30 + 3 * 40 + 1
    assert big.flush_all(30) == 6

    db = run_db(tmp_path, source, target, {t: True for t in (txn, compacted, large, appended)})
    runner = MirrorThread(db)
    wait_caught_up(db, source, [txn, compacted, large, appended])
    assert runner.finish() == 0, runner.lines

    copied = assert_exact_copy(source, target, txn, db)
    assert len(copied) == 4 * 20 + 30  # the two aborted transactions are not there
    assert any(r.key is None for r in copied) and any(r.value is None for r in copied)
    assert ("dup", b"2") in next(r.headers for r in copied if r.headers)
    tombstones = [
        r
        for r in assert_exact_copy(source, target, compacted, db, compacted=True)
        if r.value is None
    ]
    assert tombstones, "the compacted topic's tombstones must be copied"
    assert len(assert_exact_copy(source, target, large, db)) == 6
    assert len(assert_exact_copy(source, target, appended, db, log_append_time=True)) == 1

    # Runs break at the source's transaction markers and aborted records.
    store = Store.open(db, readonly=True)
    assert len(offset_map.runs_for(store, txn, 0)) > 1
    store.close()

    # Target topics were created with the source's layout and the configs that matter.
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    configs = {
        res.name: {k: e.value for k, e in fut.result(30).items()}
        for res, fut in admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, t) for t in (compacted, large, appended)]
        ).items()
    }
    assert configs[compacted]["cleanup.policy"] == "compact"
    assert int(configs[large]["max.message.bytes"]) == 100_000 + mirror.HEADROOM_BYTES
    assert configs[appended]["message.timestamp.type"] == "LogAppendTime"
    meta = admin.list_topics(timeout=10).topics
    assert len(meta[txn].partitions) == 3 and len(meta[compacted].partitions) == 2

    entries = audit(db)
    actions = [(e.action, e.outcome, e.ref) for e in entries]
    intents = [e for e in entries if e.action == "mirror.create_topic" and e.ref is None]
    store = Store.open(db, readonly=True)
    positions = mirror.positions_topic(store.plan.name)
    store.close()
    assert sorted(e.params["topic"] for e in intents) == sorted(
        [txn, compacted, large, appended, positions]
    )
    for intent in intents:
        result = next(e for e in entries if e.ref == intent.seq)
        assert result.seq > intent.seq and result.outcome == "created", actions
        assert intent.params["created_by"].startswith(provenance.SHADOW_CLIENT_PREFIX)
    copy_intent = next(e for e in entries if e.action == "mirror.copy" and e.ref is None)
    assert copy_intent.seq > max(e.seq for e in intents)
    assert copy_intent.params["transactional_id"].startswith("cutover-shadow-mirror-")
    stopped = next(e for e in entries if e.action == "mirror.copy" and e.ref == copy_intent.seq)
    assert stopped.outcome.startswith("stopped")


def test_missing_target_topic_without_permission_fails_naming_each(tmp_path, source, target, env):
    """Topics missing on the target with create_on_target = false: the mirror refuses to
    start, names every one, and creates nothing."""
    first, second, allowed = unique("nocreate"), unique("nocreate"), unique("mayc")
    for name in (first, second, allowed):
        create_topic(source, name, 2)
    db = run_db(tmp_path, source, target, {first: False, second: False, allowed: True})
    lines: list[str] = []
    assert mirror.run(db, threading.Event(), progress=lines.append) == 1

    store = Store.open(db, readonly=True)
    info = processes.get(store, "mirror")
    store.close()
    assert info is not None and info.state == "failed"
    assert first in info.detail and second in info.detail and "create_on_target" in info.detail
    assert "\n" not in info.detail
    existing = AdminClient({"bootstrap.servers": target.plaintext_bootstrap}).list_topics(
        timeout=10
    )
    assert not {first, second, allowed} & set(existing.topics)
    assert not [e for e in audit(db) if e.action.startswith("mirror.")]


def test_kill_9_mid_stream_loses_and_duplicates_nothing(tmp_path, source, target, env):
    """A live workload (committed and aborted transactions, tombstones) while the mirror
    process is killed with SIGKILL three times and restarted: the target ends up with
    every committed record exactly once. Then a crash between the Kafka commit and the
    offset-map write is simulated: the next start rebuilds the missing runs."""
    topics = {role: unique(f"k9-{role}") for role in ("orders", "payments", "customers")}
    # The workload writes until the last kill is behind us, not for a fixed time: on a
    # loaded machine each mirror start takes seconds, and a 20 s workload had ended before
    # the third incarnation started, which then had nothing to copy ("progress 2" never
    # came). Its duration only bounds a test that dies before stopping it.
    spec = workload.WorkloadSpec(rate=600, duration_s=10 * DEADLINE_S, topics=topics, group=None)
    workload.ensure_topics(source.plaintext_bootstrap, spec)
    db = run_db(tmp_path, source, target, {t: True for t in topics.values()})
    log = tmp_path / "mirror.log"
    load = LoadThread(source.plaintext_bootstrap, spec)
    names = list(topics.values())
    proc = spawn_mirror(db, log)
    try:
        for round_ in range(4):
            before = mapped(db, names)
            # Kill only once this incarnation has committed something of its own, while
            # the workload is still writing (so the kill lands mid-stream). The deadline
            # covers a process start on a loaded machine; 200 records take under a second.
            wait_for(
                lambda b=before: load.writing() and mapped(db, names) > b + 200,
                f"progress {round_}",
            )
            if round_ == 3:
                break  # the last incarnation copies live records too, and is not killed
            time.sleep(0.05 * round_)  # jitter: each kill lands at a different point
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = spawn_mirror(db, log)
        load.finish()
        wait_caught_up(db, source, names)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-2000:]
    finally:
        load.stop.set()
        if proc.poll() is None:
            proc.kill()
    for topic in names:
        assert_exact_copy(source, target, topic, db)
    secret = SANDBOX_PASSWORDS["admin"].encode()
    for path in (log, db, db.with_name(db.name + "-wal")):
        assert not path.exists() or secret not in path.read_bytes(), path

    # Crash between the Kafka commit and the SQLite write: drop the newest runs.
    victim = topics["orders"]
    store = Store.open(db)
    with store.lock:
        store.conn.execute(
            "DELETE FROM offset_runs WHERE topic = ? AND partition = 0 AND src_start >= "
            "(SELECT MAX(src_start) FROM offset_runs WHERE topic = ? AND partition = 0) - 50",
            (victim, victim),
        )
    store.close()
    runner = MirrorThread(db)
    wait_for(
        lambda: any(e.action == "mirror.offset_map_recovered" for e in audit(db)),
        "offset map recovery",
    )
    assert runner.finish() == 0
    assert_exact_copy(source, target, victim, db)


def test_broker_restarts_of_either_cluster_during_mirroring(tmp_path, sandbox, source, target, env):
    """The target broker restarts, then the source broker is killed and restarted, while
    the mirror copies a live workload: it rides through both and the copy is exact."""
    topics = {role: unique(f"rs-{role}") for role in ("orders", "payments", "customers")}
    spec = workload.WorkloadSpec(
        rate=400, duration_s=None, max_records=6000, topics=topics, group=None
    )
    workload.ensure_topics(source.plaintext_bootstrap, spec)
    db = run_db(tmp_path, source, target, {t: True for t in topics.values()})
    names = list(topics.values())
    runner = MirrorThread(db)
    load = threading.Thread(target=workload.run, args=(source.plaintext_bootstrap, spec))
    load.start()
    try:
        wait_for(lambda: mapped(db, names) > 500, "first copies")
        restart_broker(sandbox.root, "target")
        wait_for(lambda: mapped(db, names) > 2000, "copies after the target restart")
        restart_broker(sandbox.root, "source", hard=True)
        load.join()
        wait_caught_up(db, source, names)
        assert runner.thread.is_alive(), runner.lines[-5:]
    finally:
        code = runner.finish()
    assert code == 0, runner.lines[-10:]
    for topic in names:
        assert_exact_copy(source, target, topic, db)


def test_an_abort_that_never_finishes_renews_the_producer_and_the_copy_stays_exact(
    tmp_path, sandbox, source, target, env
):
    """The target stops answering mid-transaction (its JVM held with SIGSTOP): records
    time out, the transaction must be aborted, and the abort cannot finish. Seen in CI
    after a target broker restart (ci38): librdkafka's producer timed out on the abort
    for good while the broker answered others, and the mirror sat there until the drill
    gave up. After ``renew_after_s`` the producer is replaced, its successor fences it,
    and copying resumes from the positions the target holds: nothing lost, nothing twice.
    Timeouts are shortened so that happens within seconds."""
    topic = unique("renew")
    create_topic(source, topic, 2)
    db = run_db(tmp_path, source, target, {topic: True})
    broker = Sandbox(sandbox.root).load().clusters["target"].pid  # as of any restart
    settings = mirror.MirrorSettings(
        op_timeout_s=3.0, renew_after_s=3.0, commit_deadline_s=90.0, transaction_timeout_ms=4000
    )
    writer = producer(source)
    written = 0

    def write(n: int) -> None:
        nonlocal written
        for _ in range(n):
            writer.produce(topic, f"r{written}".encode(), f"k{written % 7}".encode(), written % 2)
            written += 1
        assert writer.flush_all(30) == written

    runner = MirrorThread(db, settings)
    held = False
    try:
        write(400)
        wait_for(lambda: mapped(db, [topic]) >= 400, "first copies")
        os.kill(broker, signal.SIGSTOP)
        held = True
        write(300)  # copied into a transaction the target never answers
        deadline = time.monotonic() + 60
        while not any("renewing the target producer" in line for line in runner.lines):
            assert time.monotonic() < deadline, runner.lines[-10:]
            assert runner.thread.is_alive(), runner.lines[-10:]
            time.sleep(0.2)
        os.kill(broker, signal.SIGCONT)
        held = False
        write(300)
        wait_caught_up(db, source, [topic])
        assert runner.thread.is_alive(), runner.lines[-10:]
    finally:
        if held:
            os.kill(broker, signal.SIGCONT)
        code = runner.finish()
    assert code == 0, runner.lines[-10:]
    assert_exact_copy(source, target, topic, db)
    renewing = [e for e in audit(db) if e.action == "mirror.copy" and e.outcome]
    assert any(e.outcome.startswith("renewing: aborting did not finish") for e in renewing), [
        e.outcome for e in renewing
    ]
    assert "producer renewed" in runner.lines[-1], runner.lines[-3:]


def test_records_deleted_before_they_were_copied_are_reported_not_skipped_silently(
    tmp_path, source, target, env
):
    """Retention removes records between two mirror runs: the next run says which source
    offsets it never saw (audit entry) and copies everything still there exactly."""
    topic = unique("gap")
    create_topic(source, topic, 1)
    plain = producer(source)
    for i in range(50):
        plain.produce(topic, f"early-{i}".encode(), b"k", 0)
    assert plain.flush_all(30) == 50
    db = run_db(tmp_path, source, target, {topic: True})
    runner = MirrorThread(db)
    wait_caught_up(db, source, [topic])
    assert runner.finish() == 0
    for i in range(50):
        plain.produce(topic, f"late-{i}".encode(), b"k", 0)
    assert plain.flush_all(30) == 100
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, 80)], request_timeout=30).values():
        future.result(30)

    runner = MirrorThread(db)
    wait_caught_up(db, source, [topic])
    assert runner.finish() == 0
    gap = next(e for e in audit(db) if e.action == "mirror.source_gap")
    assert (gap.params["from"], gap.params["to"]) == (50, 80)
    assert "50..79 were deleted before they were copied" in gap.outcome
    copies = read_all(target, topic)
    origins = [provenance.find(list(r.headers))[1] for r in copies]
    assert origins == list(range(50)) + list(range(80, 100))


def test_workload_writes_committed_and_aborted_transactions_and_tombstones(source):
    """The demo's workload is bounded and production-shaped: aborted payments really are
    in the log (read_uncommitted sees more than read_committed), tombstones are there,
    and the consumer group commits."""
    topics = {role: unique(f"wl-{role}") for role in ("orders", "payments", "customers")}
    group = unique("wl-billing")
    spec = workload.WorkloadSpec(
        rate=2000, duration_s=None, max_records=700, topics=topics, group=group
    )
    result = workload.run(source.plaintext_bootstrap, spec)
    assert result.written >= 700 and result.payments_aborted > 0 and result.tombstones > 0
    committed = read_all(source, topics["payments"])
    assert len(committed) == result.payments_committed
    assert sum(source_ends(source, topics["payments"]).values()) > len(committed)
    customers = read_all(source, topics["customers"])
    assert sum(1 for r in customers if r.value is None) == result.tombstones
    assert any(dict(r.headers).get("trace-id") for r in read_all(source, topics["orders"]))
    offsets = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    listed = offsets.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    assert any(tp.offset > 0 for tp in listed[group].result(30).topic_partitions)


def _workload_command(bootstrap: str, prefix: str) -> subprocess.Popen:
    """``cutover workload`` as the console starts it: a process of its own, 100 records/s
    for up to two minutes, no consumer group."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "workload",
            "--bootstrap",
            bootstrap,
            "--prefix",
            prefix,
            "--rate",
            "100",
            "--duration",
            "120",
            "--no-group",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_writes(source, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    orders = f"{prefix}orders"
    wait_for(
        lambda: (
            orders in admin.list_topics(timeout=10).topics
            and sum(source_ends(source, orders).values()) > 0
        ),
        "the workload to write",
        timeout=60,
        interval=0.2,
    )


def _stopped(proc: subprocess.Popen, within_s: float) -> tuple[str, str]:
    """SIGTERM, then its output once it exits; if it does not within ``within_s``, the
    failure shows where each of its threads was (its stacks, asked for with SIGUSR1)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=within_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail(f"the workload was still running {within_s:.0f} s after SIGTERM:\n{err}")


def test_workload_command_stops_on_sigterm(source):
    """``cutover workload`` runs until its limit or SIGTERM, then says what it wrote."""
    prefix = unique("wt") + "."
    proc = _workload_command(source.plaintext_bootstrap, prefix)
    try:
        _wait_for_writes(source, prefix)
        out, err = _stopped(proc, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("workload: ") and "orders" in out
    assert "not confirmed" not in out


def test_workload_stops_within_its_grace_when_the_cluster_stops_answering(sandbox, source):
    """A stop while the broker answers nothing (its JVM held with SIGSTOP) still ends the
    workload within its grace, exit 0, saying how many records the cluster never
    confirmed, instead of waiting out each Kafka call's own timeout in turn."""
    prefix = unique("wg") + "."
    broker = Sandbox(sandbox.root).load().clusters["source"].pid  # as of any restart
    proc = _workload_command(source.plaintext_bootstrap, prefix)
    held = False
    try:
        _wait_for_writes(source, prefix)
        os.kill(broker, signal.SIGSTOP)
        held = True
        time.sleep(1)  # records and a transaction are now waiting for an answer
        started = time.monotonic()
        out, err = _stopped(proc, workload.STOP_GRACE_S + 15)
        took = time.monotonic() - started
    finally:
        if held:
            os.kill(broker, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert took >= 1, "nothing waited for the cluster's answer: the broker was not held"
    assert out.startswith("workload: ")
    found = re.search(
        rf"; (\d+) record\(s\) not confirmed by the cluster within {workload.STOP_GRACE_S:.0f} s",
        out,
    )
    assert found and int(found.group(1)) > 0, out

    def answers() -> bool:
        try:
            return sum(source_ends(source, f"{prefix}orders").values()) > 0
        except KafkaException:
            return False

    # Let go, the broker answers again (the sandbox is the session's).
    wait_for(answers, "the source broker to answer after SIGCONT", timeout=60, interval=0.5)
