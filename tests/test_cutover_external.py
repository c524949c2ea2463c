"""Moving a group over an external shadow path (a link the console only observes), on the
sandbox clusters (Kafka 3.9.1 -> 4.1.1).

The external copy here is a dual writer: the same records (key, value, headers, time)
written to the target in transactions of its own, some of them aborted before the
copies are written, so the copies sit at other offsets than their originals (commit
markers and aborted records in between) and carry no provenance header. The console can
only find the group's position by time and by aligning the records around it: the
move must land exactly on the copy of the first record the group has not read, and the
group's application, started on the target, goes on with nothing read twice and nothing
missing (checked from its sink by sequence number).
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from console.cli.main import main
from console.sandbox import consumer as demo
from tests.test_cutover import (
    ADMIN_PASSWORD,
    BASE_MS,
    KEEP_OLD,
    PASSWORD_ENV,
    committed,
    consume,
    create_topic,
    group_toml,
    make_db,
    plan_of,
    process_until,
    record_offsets,
    step,
    unique,
    whole_topic_compared,
    write_plain,
)

COUNT = 60
PARTITIONS = 2


@pytest.fixture
def env(monkeypatch):
    """The plan's password reference, filled with the sandbox's admin password."""
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
    return monkeypatch


def dual_write(cluster, topic: str) -> None:
    """The copies on the target: record i (partition i % 2, stamped BASE + i s) in
    transactions of three per partition; before every second one an aborted transaction
    of stray records, so the target's offsets drift away from the source's."""
    tx = Producer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "transactional.id": f"dual-{uuid.uuid4().hex[:8]}",
        }
    )
    tx.init_transactions(30)
    for batch, first in enumerate(range(0, COUNT, 3 * PARTITIONS)):
        if batch % 2 == 1:
            tx.begin_transaction()
            for p in range(PARTITIONS):
                tx.produce(topic, b"stray", b"stray", p, timestamp=BASE_MS + first * 1000)
            tx.flush(30)  # on the log before the abort
            tx.abort_transaction(30)
        tx.begin_transaction()
        for i in range(first, min(COUNT, first + 3 * PARTITIONS)):
            tx.produce(
                topic,
                f"value-{i}".encode(),
                f"key-{i}".encode(),
                i % PARTITIONS,
                headers=[("seq", f"{topic}-{i}".encode())],
                timestamp=BASE_MS + i * 1000,
            )
        tx.commit_transaction(30)


def copy_offset(cluster, topic: str, partition: int, seq: str) -> int:
    """The target offset of the copy carrying ``seq``."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "group.id": unique("reader"),
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, -2)])
        while True:
            msg = consumer.poll(10)
            assert msg is not None, f"no copy of {seq} on the target"
            if msg.error() is not None:
                assert msg.error().code() != KafkaError._PARTITION_EOF, f"no copy of {seq}"
                continue
            if dict(msg.headers() or []).get("seq", b"").decode() == seq:
                return msg.offset()
    finally:
        consumer.close()


def test_external_move_refines_by_records_to_the_exact_copy(tmp_path, source, target, env, capsys):
    topic, group = unique("app.ext"), unique("app.extg")
    create_topic(source, topic, PARTITIONS, KEEP_OLD)
    create_topic(target, topic, PARTITIONS, KEEP_OLD)
    write_plain(source, topic, COUNT, PARTITIONS, ts=lambda i: BASE_MS + i * 1000)
    dual_write(target, topic)
    db = make_db(
        tmp_path,
        source,
        target,
        [topic],
        group_toml(group, [topic]),
        '[shadow]\npath = "external"\n',
    )
    # Partition 0 holds the even records (offset k = record 2k), partition 1 the odd ones.
    stopped = {(topic, 0): 7, (topic, 1): 12}
    sink = tmp_path / "ext.sink"
    process_until(db, source, group, stopped, sink)
    # The copies are not where the originals are: a translation by offset would be wrong.
    expected = {
        0: copy_offset(target, topic, 0, f"{topic}-14"),
        1: copy_offset(target, topic, 1, f"{topic}-25"),
    }
    assert expected != {0: 7, 1: 12}
    assert record_offsets(target, topic)[0] != record_offsets(source, topic)[0]

    assert main(["compare", str(db), "--from", "0"]) == 0  # stamped in 2023: whole topic
    whole_topic_compared(db)
    capsys.readouterr()
    code, outcome = step(db, "move-group", group, capsys)
    assert code == 0, outcome
    by_part = {p["partition"]: p for p in outcome["evidence"]["positions"]}
    for p in (0, 1):
        assert by_part[p]["method"] == "refined", by_part[p]
        assert by_part[p]["exact"] and by_part[p]["replay"] == 0 and by_part[p]["skip"] == 0
        # The reverse map of the applied offset is the source position (rollback's way back).
        assert by_part[p]["reverse_source"] == stopped[(topic, p)]
    assert committed(target, group, topic) == expected

    consume(db, group, "target", sink)
    found = demo.check_sink(plan_of(db), group, sink, password=ADMIN_PASSWORD)
    assert found.twice == [] and found.missing == [], found.summary()
    assert found.not_read == 0 and found.processed == COUNT, found.summary()
    assert set(found.by_side) == {"source", "target"}
