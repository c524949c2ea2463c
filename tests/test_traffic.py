"""What the lag sampler records for the cost scope, on the real clusters: log sizes and
end offsets of the plan's topics on both sides, committed offsets of the plan's groups,
and the bytes per second computed from them against what was actually written."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from console.cli.main import main
from console.plan import parse_plan
from console.sandbox import ADMIN_USER, SANDBOX_PASSWORDS
from console.sandbox.plans import sandbox_plan_text
from console.shadow.lag import sample_traffic, write_round
from console.store import Store
from console.traffic.load import load
from console.traffic.rates import compute
from tests.helpers import CountedProducer

PASSWORD = SANDBOX_PASSWORDS[ADMIN_USER]
VALUE = 500  # bytes per record value

TOPOLOGY = """
[topology.source]
region = "r1"
zones = ["a", "b"]
vpc = "old"
account = "1"
[topology.replication]
region = "r1"
zones = ["a"]
vpc = "new"
account = "1"
[topology.target]
region = "r1"
zones = ["a", "b"]
vpc = "new"
account = "1"
[topology.prices]
cross_zone_per_gb = 0.01
cross_region_per_gb = 0.02
cross_vpc_per_gb = 0.01
"""


def _write(bootstrap: str, topic: str, count: int) -> None:
    producer = CountedProducer(bootstrap, **{"linger.ms": 5})
    for i in range(count):
        producer.produce(topic, b"x" * VALUE, key=str(i).encode(), partition=i % 2)
    assert producer.flush_all(30) == count


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    consumer.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
    )
    consumer.close()


@pytest.fixture
def setup(tmp_path, source, target, monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    topic = f"traffic-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-readers"
    for cluster in (source, target):
        admin = AdminClient({"bootstrap.servers": cluster.plaintext_bootstrap})
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(15)
    text = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        {topic: False},
        name="traffic-test",
        extra=f"""
[[groups]]
id = "{group}"
owner = "test"
topics = ["{topic}"]
offset_strategy = "translate"
"""
        + TOPOLOGY
        + f"""
[[topology.consumers]]
groups = ["{group}"]
region = "r1"
zones = ["b"]
vpc = "new"
account = "1"
""",
    )
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    return db, topic, group


def test_sampler_records_bytes_and_positions_that_match_what_was_written(
    setup, source, target, capsys
):
    db, topic, group = setup
    store = Store.open(db)
    plan = store.plan
    passwords = {"source": PASSWORD, "target": PASSWORD}
    clock = iter(["2026-11-25T12:00:00.000Z", "2026-11-25T12:00:10.000Z"])

    def sample(mirrored: int) -> None:
        ts = next(clock)
        rows = [(topic, p, None, mirrored, None, None) for p in (0, 1)]
        number = write_round(store, ts, rows)
        sample_traffic(store, plan, passwords, number, ts)

    _commit(source.plaintext_bootstrap, group, topic, {0: 0, 1: 0})
    sample(0)
    _write(source.plaintext_bootstrap, topic, 400)
    _write(target.plaintext_bootstrap, topic, 200)
    _commit(source.plaintext_bootstrap, group, topic, {0: 100, 1: 100})
    sample(150)  # the copy moved 150 records on each source partition
    sizes = store.traffic.recent_sizes(10)
    groups = store.traffic.recent_groups(10)
    rates = compute(sizes, store.samples.recent(10), groups)
    store.close()
    assert {(r[2], r[4]) for r in sizes} == {(s, p) for s in ("source", "target") for p in (0, 1)}
    ends = {(r[0], r[2], r[4]): r[6] for r in sizes}
    assert ends[(2, "source", 0)] == 200 and ends[(2, "target", 1)] == 100
    assert {(r[2], r[3], r[5], r[6]) for r in groups if r[0] == 2} == {
        ("source", group, 0, 100),
        ("source", group, 1, 100),
    }
    # Bytes per record: the 500-byte value, its key and the record and batch framing.
    per_record = rates.bytes_per_offset[("source", topic, 0)]
    assert VALUE < per_record < VALUE + 120
    appended = rates.appended[("source", topic)] * 10  # bytes over the 10 s span
    assert 400 * VALUE < appended < 400 * (VALUE + 120)
    assert rates.appended[("target", topic)] * 10 == pytest.approx(appended / 2, rel=0.1)
    assert rates.copy_read[topic] == pytest.approx(2 * 150 * per_record / 10, rel=0.1)
    assert rates.consumed[("source", group, topic)] == pytest.approx(
        2 * 100 * per_record / 10, rel=0.1
    )
    # The CLI prices them; the group reads the target in this topology (default).
    assert main(["traffic", str(db)]) == 0
    out = capsys.readouterr().out
    assert "| copy: src -> repl |" in out
    assert f"| {group} reads tgt |" in out
    store = Store.open(db, readonly=True)
    view = load(store)
    store.close()
    assert view.cost_per_day is not None and view.cost_per_day > 0
