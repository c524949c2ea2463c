"""MirrorMaker 2 on a real Kafka Connect worker, against the real sandbox clusters.

One module-scoped deployment (exactly-once, passwords through the worker's
EnvVarConfigProvider) is shared by the Kafka tests, which run in file order: mirror,
offset map, CLI, removal. The first and last tests need no Kafka.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from console import redact
from console.cli.main import main
from console.plan import Plan, parse_plan
from console.sandbox import ADMIN_USER, SANDBOX_PASSWORDS
from console.sandbox.connect import ConnectWorker
from console.sandbox.plans import sandbox_plan_text
from console.shadow import external, mm2
from console.store import Store
from tests.connect_fixture import CONNECT_ENV

PASSWORD = SANDBOX_PASSWORDS[ADMIN_USER]
PASSWORDS = {"source": PASSWORD, "target": PASSWORD}
PARTITIONS, PER_PARTITION = 3, 1000
# What the group committed on the source, per partition: mid-stream, at the end, nothing read.
COMMITTED = {0: 537, 1: PER_PARTITION, 2: 0}
SETTINGS = mm2.Mm2Settings.sandbox(secrets="env-provider")


def plan_text(source: str, target: str, topic: str, group: str, connect_url: str) -> str:
    return sandbox_plan_text(
        source,
        target,
        {topic: True},
        name="mm2-test",
        extra=f"""[[groups]]
id = "{group}"
owner = "billing-team"
topics = ["{topic}"]
offset_strategy = "translate"
[shadow]
path = "mirrormaker2"
connect_url = "{connect_url}"
mm2_exactly_once = true
""",
    )


@dataclass
class Mirrored:
    plan: Plan
    db: Path
    topic: str
    group: str
    states: list[mm2.ConnectorState]
    connect: ConnectWorker
    target_bootstrap: str
    target_offsets: dict[int, dict[int, int]]
    """partition -> source offset -> target offset, filled by the first test."""


def _fill_source(bootstrap: str, topic: str, group: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
    # Idempotent, so that a retried batch lands neither after the batch behind it nor twice.
    # Just after create_topics the broker may still answer "not leader" for a partition; a
    # plain producer then wrote e.g. records 683-999 before 0-682 at the source, MirrorMaker
    # copied that order faithfully, and the mirroring test blamed MirrorMaker.
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    misplaced: list[str] = []

    def landed(err, msg) -> None:
        # The tests below rely on it: record n of every partition sits at source offset n.
        if err is not None or msg.offset() != int(msg.value().decode().split(":")[1]):
            misplaced.append(f"{msg.value().decode()} at offset {msg.offset()} ({err})")

    for n in range(PER_PARTITION):
        for p in range(PARTITIONS):
            producer.produce(
                topic,
                key=f"k{n}".encode(),
                value=f"{p}:{n}".encode(),
                partition=p,
                on_delivery=landed,
            )
    assert producer.flush(30) == 0
    assert not misplaced, f"the source fill is out of place: {misplaced[:5]}"
    _commit_group(bootstrap, topic, group)


# A fresh cluster creates __consumer_offsets on its first commit, and until the group's
# coordinator has loaded its partition the commit is refused with one of these.
_COORDINATOR_NOT_READY = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._WAIT_COORD,
    }
)


def _commit_group(bootstrap: str, topic: str, group: str) -> None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(
                    offsets=[TopicPartition(topic, p, off) for p, off in COMMITTED.items()],
                    asynchronous=False,
                )
                return
            except KafkaException as exc:
                code = exc.args[0].code()
                if code not in _COORDINATOR_NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # poll interval while the coordinator loads
    finally:
        consumer.close()


def _read_to_end(consumer: Consumer, topic: str, seen: dict[int, list[str]]) -> bool:
    """Every partition holds all records and the consumer stands at its end, so a record
    written twice cannot hide beyond the last one expected."""
    if any(len(records) < PER_PARTITION for records in seen.values()):
        return False
    for tp in consumer.position([TopicPartition(topic, p) for p in seen]):
        _low, high = consumer.get_watermark_offsets(tp, timeout=10)
        if tp.offset < high:
            return False
    return True


def _runs(values: list[str]) -> str:
    """Record numbers as they arrived, as runs: '1000 records: 683..999, 0..682'."""
    numbers = [int(v.split(":")[1]) for v in values]
    runs: list[str] = []
    start = 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            runs.append(f"{numbers[start]}..{numbers[i - 1]}")
            start = i
    return f"{len(numbers)} records: {', '.join(runs)}"


@pytest.fixture(scope="module")
def mirrored(source, target, connect, tmp_path_factory) -> Iterator[Mirrored]:  # noqa: F811
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"mm2t.orders.{suffix}", f"mm2t-billing-{suffix}"
    _fill_source(source.plaintext_bootstrap, topic, group)
    text = plan_text(source.sasl_bootstrap, target.sasl_bootstrap, topic, group, connect.rest_url)
    plan = parse_plan(text)
    db = tmp_path_factory.mktemp("mm2") / "run.db"
    Store.create(db, text, plan).close()
    states = mm2.deploy(plan, PASSWORDS, timeout=120, settings=SETTINGS)
    try:
        yield Mirrored(plan, db, topic, group, states, connect, target.plaintext_bootstrap, {})
    finally:
        mm2.remove(plan, timeout=60)


def test_unreachable_connect_says_what_to_do(tmp_path, capsys):
    """A Connect URL nobody answers on gives one line naming the URL and the fix."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: connection refused
    url = f"http://127.0.0.1:{port}"
    text = plan_text("127.0.0.1:1", "127.0.0.1:2", "orders", "billing", url)
    plan = parse_plan(text)
    with pytest.raises(mm2.Mm2Error) as err:
        mm2.status(plan, timeout=2)
    message = str(err.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message and "shadow.connect_url" in message
    db = tmp_path / "run.db"
    Store.create(db, text, plan).close()
    assert main(["mm2", "status", str(db), "--timeout", "2"]) == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("cutover: no Kafka Connect REST API")


def test_mirrors_records_under_the_same_name_and_runs(mirrored):
    """Deployed connectors and tasks run, and every record arrives exactly once, in source
    order, under its name."""
    assert [s.role for s in mirrored.states] == ["source", "checkpoint"]
    assert all(s.running for s in mirrored.states), [s.summary() for s in mirrored.states]
    consumer = Consumer(
        {
            "bootstrap.servers": mirrored.target_bootstrap,
            "group.id": "mm2t-verify",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(mirrored.topic, p, 0) for p in range(PARTITIONS)])
    seen: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    offsets = mirrored.target_offsets
    deadline = time.monotonic() + 90
    while not _read_to_end(consumer, mirrored.topic, seen):
        assert time.monotonic() < deadline, {p: len(v) for p, v in seen.items()}
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error() is None:
                seen[msg.partition()].append(msg.value().decode())
                n = int(msg.value().decode().split(":")[1])
                offsets.setdefault(msg.partition(), {})[n] = msg.offset()
    consumer.close()
    for p in range(PARTITIONS):
        # Exactly once and in source order: the fill made record n source offset n.
        expected = [f"{p}:{n}" for n in range(PER_PARTITION)]
        assert seen[p] == expected, f"partition {p} on the target holds {_runs(seen[p])}"
    assert all(s.running for s in mm2.status(mirrored.plan, timeout=10))
    # The external path's estimate, taken here where the copy is known to be complete.
    progress = external.estimate_external_progress(mirrored.plan, PASSWORDS, timeout=20)
    assert [(e.partition, e.records_behind, e.estimate) for e in progress] == [
        (p, 0, True) for p in range(PARTITIONS)
    ]
    assert all(e.seconds_behind == 0 and "ESTIMATE" in e.describe() for e in progress)
    # The env provider kept the password out of Connect's stored config (and its log).
    name = mm2.connector_names(mirrored.plan)["source"]
    with urllib.request.urlopen(
        f"{mirrored.connect.rest_url}/connectors/{name}/config", timeout=10
    ) as resp:
        stored = resp.read().decode()
    assert PASSWORD not in stored and "${env:CUTOVER_DEMO_SOURCE_PASSWORD}" in stored
    assert PASSWORD not in mirrored.connect.log_path.read_text(errors="replace")


def test_offset_syncs_and_checkpoints_are_stored_and_consistent(mirrored):
    """The group's checkpoint matches its source commit, within the coarseness reported."""
    assert mirrored.target_offsets, "runs after the mirroring test"
    store = Store.open(mirrored.db)
    try:
        deadline = time.monotonic() + 60
        while True:
            read = mm2.read_offset_syncs(mirrored.plan, PASSWORDS, timeout=30)
            mm2.store_offset_syncs(store, read)
            cps = {(c.partition, c.upstream) for c in read.checkpoints}
            if (0, COMMITTED[0]) in cps and read.syncs:
                break
            assert time.monotonic() < deadline, f"no checkpoint for partition 0 yet: {read}"
            time.sleep(1)
        assert read.offset_syncs_location == "target" and read.malformed == 0
        assert mm2.store_offset_syncs(store, read) == 0  # stored once only
        with store.lock:
            kinds = dict(
                store.conn.execute(
                    "SELECT kind, COUNT(*) FROM offset_syncs WHERE topic = ? GROUP BY kind",
                    (mirrored.topic,),
                ).fetchall()
            )
        assert kinds["offset-sync"] >= PARTITIONS and kinds["checkpoint"] >= 1
        c = mm2.coarseness(store, mirrored.topic, 0, source_end=PER_PARTITION)
    finally:
        store.close()
    assert c.syncs >= 2 and c.first_upstream == 0 and c.conflicts == 0
    assert c.max_reread == c.max_gap - 1
    [g] = [g for g in c.groups if g.group_id == mirrored.group]
    assert g.upstream == COMMITTED[0]
    exact = mirrored.target_offsets[0][COMMITTED[0]]
    # Never skips: resumes at or before the record the group would read next ...
    assert g.downstream <= exact
    # ... and re-reads no more than the coarseness says.
    reread = sum(1 for off in mirrored.target_offsets[0].values() if g.downstream <= off < exact)
    assert g.max_reread is not None and reread <= g.max_reread, (reread, g, c.describe())
    assert f"{mirrored.group} at {COMMITTED[0]} resumes at" in c.describe()


def test_cli_config_status_and_syncs(mirrored, monkeypatch, capsys):
    """The headless commands: masked configs, connector states, the offset map."""
    for name, value in CONNECT_ENV.items():
        monkeypatch.setenv(name, value)
    db = str(mirrored.db)
    assert main(["mm2", "config", db, "--replication-factor", "1"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and "source.cluster.sasl.jaas.config=***" in out
    assert "replication.policy.class=" + mm2.IDENTITY_POLICY in out
    assert "exactly.once.support=required" in out and "replication.factor=1" in out
    assert main(["mm2", "status", db, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] and len(status["connectors"]) == 2
    assert main(["mm2", "syncs", db]) == 0
    out = capsys.readouterr().out
    assert f"{mirrored.topic}[0]: " in out and "a group re-reads at most" in out
    assert PASSWORD not in out


def test_remove_deletes_the_connectors(mirrored):
    """Removal deletes both connectors; a second removal finds nothing to do."""
    removed = mm2.remove(mirrored.plan, timeout=60)
    assert sorted(removed) == sorted(s.name for s in mirrored.states)
    assert {s.state for s in mm2.status(mirrored.plan, timeout=10)} == {"ABSENT"}
    assert mm2.remove(mirrored.plan, timeout=30) == []


def test_decoders_and_config_rendering():
    """MirrorMaker's binary records decode; configs are explicit and render masked."""

    def s(text: str) -> bytes:
        return struct.pack(">h", len(text)) + text.encode()

    sync = mm2.decode_offset_sync(s("orders") + struct.pack(">i", 3), struct.pack(">qq", 404, 405))
    assert sync == mm2.OffsetSync("orders", 3, 404, 405)
    cp = mm2.decode_checkpoint(
        s("billing") + s("orders") + struct.pack(">i", 3),
        struct.pack(">hqq", 0, 537, 405) + s(""),
    )
    assert cp == mm2.Checkpoint("billing", "orders", 3, 537, 405, "")
    with pytest.raises(mm2.DecodeError):
        mm2.decode_offset_sync(s("orders"), struct.pack(">qq", 1, 2))
    with pytest.raises(mm2.DecodeError):
        mm2.decode_checkpoint(s("g") + s("t") + struct.pack(">i", 0), struct.pack(">hqq", 1, 1, 1))

    plan = parse_plan(plan_text("127.0.0.1:1", "127.0.0.1:2", "orders.v1", "billing", "http://x:1"))
    configs = mm2.connector_configs(plan, {"source": "s3cret-src", "target": "s3cret-tgt"})
    source = configs["cutover-mm2-test-mm2-source"]
    assert source["topics"] == r"orders\.v1"  # a regex list: the dot must be literal
    for key in ("offset.lag.max", "replication.factor", "offset-syncs.topic.location"):
        assert key in source
    checkpoint = configs["cutover-mm2-test-mm2-checkpoint"]
    for key in (
        "emit.checkpoints.interval.seconds",
        "sync.group.offsets.enabled",
        "sync.group.offsets.interval.seconds",
        "refresh.groups.interval.seconds",
    ):
        assert key in checkpoint
    assert 'password="s3cret-src"' in source["source.cluster.sasl.jaas.config"]
    shown = json.dumps(redact.value(configs))
    assert "s3cret" not in shown


def test_coarseness_arithmetic(tmp_path):
    """Spacing, worst-case re-read, uncovered tail, a checkpoint's cost, contradictions."""
    text = plan_text("127.0.0.1:1", "127.0.0.1:2", "orders", "billing", "http://x:1")
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    try:
        read = mm2.SyncRead(
            syncs=[mm2.OffsetSync("orders", 0, u, d) for u, d in ((0, 0), (101, 101), (202, 203))],
            checkpoints=[mm2.Checkpoint("billing", "orders", 0, 150, 102, "")],
        )
        assert mm2.store_offset_syncs(store, read) == 4
        c = mm2.coarseness(store, "orders", 0, source_end=300)
        assert (c.syncs, c.max_gap, c.max_reread, c.uncovered_tail) == (3, 101, 100, 97)
        [g] = c.groups
        assert (g.sync_upstream, g.max_reread) == (101, 48)  # resumes at 102, exact is 150
        assert c.conflicts == 0 and "re-reads up to 48" in c.describe()
        mm2.store_offset_syncs(store, mm2.SyncRead(syncs=[mm2.OffsetSync("orders", 0, 150, 20)]))
        assert mm2.coarseness(store, "orders", 0).conflicts == 1
    finally:
        store.close()


def test_copy_position_from_the_connect_offsets_topic_is_incremental_and_committed_only(
    source, target
):
    """The copy position read from Connect's offsets topic: the last record per key wins, a
    tombstone removes it, other connectors and records that do not decode are ignored, and
    an aborted or still open transaction never makes a position look copied. A second read
    fetches only what is new."""
    suffix = uuid.uuid4().hex[:8]
    offsets_topic, topic = f"connect-offsets-{suffix}", f"orders-{suffix}"
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    admin.create_topics([NewTopic(offsets_topic, 3, 1, config={"cleanup.policy": "compact"})])[
        offsets_topic
    ].result(30)
    text = plan_text(
        source.sasl_bootstrap, target.sasl_bootstrap, topic, f"g-{suffix}", "http://127.0.0.1:9"
    ).replace("mm2_exactly_once = true", f'connect_offsets_topic = "{offsets_topic}"')
    plan = parse_plan(text)
    name = mm2.connector_names(plan)["source"]

    def key(p: int, connector: str = name) -> bytes:
        return json.dumps(
            [connector, {"cluster": "source", "partition": p, "topic": topic}]
        ).encode()

    def at(n: int) -> bytes:
        return json.dumps({"offset": n}).encode()

    producer = Producer({"bootstrap.servers": target.plaintext_bootstrap})
    for k, v in [
        (key(0), at(10)),
        (key(0), at(41)),  # the last record of a key wins
        (key(1), at(5)),
        (key(2), at(7)),
        (key(2), None),  # a tombstone: partition 2's offsets were reset
        (key(3, "another-connector"), at(99)),
        (b"not json", at(1)),
    ]:
        producer.produce(offsets_topic, v, k)
    assert producer.flush(30) == 0
    tail = mm2.Mm2Tail(plan, PASSWORDS)
    try:
        first = tail.read(time.monotonic() + 30)
        assert first.positions == {(topic, 0): 42, (topic, 1): 6}
        assert offsets_topic in first.position_from

        # A transaction that aborted, and one still open: neither counts.
        txn = Producer(
            {"bootstrap.servers": target.plaintext_bootstrap, "transactional.id": f"t-{suffix}"}
        )
        txn.init_transactions(30)
        txn.begin_transaction()
        txn.produce(offsets_topic, at(500), key(0))
        txn.flush(30)  # on the log, then aborted (an unsent record would just be purged)
        txn.abort_transaction(30)
        txn.begin_transaction()
        txn.produce(offsets_topic, at(600), key(1))
        txn.flush(30)
        second = tail.read(time.monotonic() + 30)
        assert second.positions == {(topic, 0): 42, (topic, 1): 6}, second.positions
        txn.commit_transaction(30)
        producer.produce(offsets_topic, at(8), key(2))  # after its tombstone: copied again
        assert producer.flush(30) == 0
        third = tail.read(time.monotonic() + 30)
        assert third.positions == {(topic, 0): 42, (topic, 1): 601, (topic, 2): 9}
        # Incremental: nothing new, nothing read again.
        before = dict(tail.tails["target"].next)
        assert tail.read(time.monotonic() + 30).positions == third.positions
        assert tail.tails["target"].next == before
    finally:
        tail.close()

    # Without the topic in the plan, no position is claimed from it: the caller asks REST.
    bare = mm2.Mm2Tail(
        parse_plan(text.replace(f'connect_offsets_topic = "{offsets_topic}"', "")), PASSWORDS
    )
    try:
        found = bare.read(time.monotonic() + 30)
        assert found.positions is None and "connect_offsets_topic" in found.position_note
    finally:
        bare.close()
