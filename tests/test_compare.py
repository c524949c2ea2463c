"""The comparison engine against the real sandbox clusters (Kafka 3.9.1 source, 4.1.1 target).

Each test writes a topic to the source, makes a target copy with one anomaly planted
(or none), compares, and expects the named check to turn its documented verdict and
no other check to turn RED. Copies are made the ways migrations make them: with the
built-in mirror's provenance header, as a plain consume-and-produce copy (MirrorMaker
2 and links: same order, other offsets), and as two independent producer sessions
(dual write). No mock anywhere: the records go through real brokers.
"""

from __future__ import annotations

import http.server
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, replace

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from console import runbook as steps
from console.cli.main import main
from console.compare import history
from console.compare.align import AlignSettings
from console.compare.engine import compare
from console.compare.history import load_results, load_view
from console.compare.model import Bound, CompareRequest
from console.compare.view import build_view
from console.errors import Cancelled, ExitCode
from console.kafka import provenance
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store
from tests.helpers import demo_plan_text

TIMEOUT = 30


# -- records and topics ----------------------------------------------------------------------


@dataclass(frozen=True)
class R:
    """A record as written or read: enough to write it again anywhere."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    ts: int = 0
    offset: int = -1


def create_topic(bootstrap: str, name: str, partitions: int = 3, config=None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics(
        [NewTopic(name, partitions, 1, config=config or {})], request_timeout=TIMEOUT
    ).values():
        fut.result(TIMEOUT)


def delete_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.delete_topics([name], request_timeout=TIMEOUT).values():
        fut.result(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while name in admin.list_topics(timeout=TIMEOUT).topics:
        assert time.monotonic() < deadline, f"{name} was not deleted"
        time.sleep(0.2)


def write(bootstrap: str, topic: str, records: list[R], *, tx: bool = False) -> None:
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    producer = Producer(conf)
    for r in records:
        producer.produce(
            topic,
            key=r.key,
            value=r.value,
            headers=list(r.headers) or None,
            partition=r.partition,
            timestamp=r.ts,
        )
    assert producer.flush(TIMEOUT) == 0


def read_all(bootstrap: str, topic: str, *, committed: bool = True) -> list[R]:
    """Every record of a topic, partition by partition, in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test-compare-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
        }
    )
    parts = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=TIMEOUT)
    partitions = sorted(parts.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out: list[R] = []
    ended: set[int] = set()
    deadline = time.monotonic() + TIMEOUT
    while len(ended) < len(partitions) and time.monotonic() < deadline:
        for m in consumer.consume(1000, 0.5):
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    ended.add(m.partition())
                continue
            out.append(
                R(
                    m.partition(),
                    m.key(),
                    m.value(),
                    tuple(m.headers() or ()),
                    m.timestamp()[1],
                    m.offset(),
                )
            )
    consumer.close()
    assert len(ended) == len(partitions), "could not read the topic to its end"
    return sorted(out, key=lambda r: (r.partition, r.offset))


def seed(
    source: str, topic: str, *, partitions: int = 3, per_partition: int = 120, tx: bool = False
) -> list[R]:
    """A production-shaped topic: keys repeat, two headers, some tombstones and null keys."""
    create_topic(source, topic, partitions)
    base = int(time.time() * 1000) - 60_000
    records = []
    for p in range(partitions):
        for i in range(per_partition):
            key = None if i % 41 == 40 else f"cust-{p}-{i % 9}".encode()
            value = None if i % 29 == 28 and key is not None else f'{{"n":{i},"p":{p}}}'.encode()
            headers = (("source-app", b"checkout"), ("trace-id", f"t{p}-{i}".encode()))
            records.append(R(p, key, value, headers, base + i * 10))
    write(source, topic, records)
    return read_all(source, topic)


def mirror(
    target: str, topic: str, records: list[R], *, partitions: int = 3, prov=True, config=None
):
    """Write records to the target as a copy; with ``prov``, the built-in mirror's header."""
    create_topic(target, topic, partitions, config)
    copies = []
    for r in records:
        headers = r.headers
        if prov and r.offset >= 0:
            headers = (*headers, (provenance.HEADER, provenance.encode(r.partition, r.offset)))
        copies.append(replace(r, headers=headers))
    write(target, topic, copies)


def plan_for(source, target, topic, *, extra_cluster: str = "", thresholds: str = ""):
    return parse_plan(
        f"""
[plan]
name = "compare-test"
[people]
owners = ["ops"]
approvers = ["lead"]
[clusters.source]
bootstrap_servers = "{source}"
{extra_cluster}
[clusters.target]
bootstrap_servers = "{target}"
{extra_cluster.replace("SRC", "TGT")}
[[topics]]
name = "{topic}"
owner = "team"
external_side_effects = false
[thresholds]
max_missing_records = 0
{thresholds}
"""
    )


def run(source, target, topic, request=None, **kwargs):
    plan = kwargs.pop("plan", None) or plan_for(source, target, topic)
    return compare(plan, {}, request or CompareRequest(topics=(topic,)), **kwargs)


def verdicts(report) -> dict[str, str]:
    """Check name → the topic's folded verdict."""
    return {row.check: row.verdict for row in build_view(None, report.results).rows}


def assert_only(report, check: str | None, verdict: str = "RED") -> dict[str, str]:
    """The named check has the verdict; nothing else is RED, nothing required NO DATA."""
    found = verdicts(report)
    if check is not None:
        assert found[check] == verdict, (check, found, _reasons(report, check))
    others = {c: v for c, v in found.items() if c != check}
    assert "RED" not in others.values(), (others, _reds(report))
    allowed_gaps = {"schema_registry"}
    assert all(v != "NO_DATA" or c in allowed_gaps for c, v in others.items()), others
    return found


def _reasons(report, check):
    return [
        (r.partition, r.reason, [e.line() for e in r.examples])
        for r in report.results
        if r.check == check
    ]


def _reds(report):
    return [(r.partition, r.check, r.reason) for r in report.results if r.verdict.value == "RED"]


def examples(report, check: str):
    return [e for r in report.results if r.check == check for e in r.examples]


def new_topic(prefix: str) -> str:
    return f"cmp-{prefix}-{uuid.uuid4().hex[:8]}"


def plain(records: list[R]) -> list[R]:
    """A copy that does not know source offsets (no provenance header)."""
    return [replace(r, offset=-1) for r in records]


# -- clean copies ------------------------------------------------------------------------------


class TestCleanCopies:
    """Whatever made the copy, a faithful one is OK on every check."""

    def test_builtin_mirror_copy_is_all_ok(self, source, target):
        """Provenance headers name each source record; none of them is a difference."""
        topic = new_topic("clean")
        records = seed(source.plaintext_bootstrap, topic)
        mirror(target.plaintext_bootstrap, topic, records)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        found = assert_only(report, None)
        assert set(found.values()) <= {"OK", "NO_DATA"}
        assert found["schema_registry"] == "NO_DATA"  # no registry here: never shown as OK
        counts = next(r for r in report.results if r.check == "counts" and r.partition == 0)
        assert counts.counts["source"] == counts.counts["target"] == counts.counts["matched"] == 120
        nulls = next(r for r in report.results if r.check == "nulls" and r.partition == 0)
        assert nulls.counts["tombstones"] > 0 and nulls.counts["null_keys"] > 0
        assert report.records == 360 and not report.red and not report.missing_evidence

    def test_plain_copy_of_a_transactional_topic(self, source, target):
        """MirrorMaker-2 style: same order, other offsets (the source's transaction
        markers and aborted records take offsets the copy does not have)."""
        topic = new_topic("txplain")
        create_topic(source.plaintext_bootstrap, topic, 2)
        tx = Producer({"bootstrap.servers": source.plaintext_bootstrap, "transactional.id": topic})
        tx.init_transactions(TIMEOUT)
        for batch in range(12):
            tx.begin_transaction()
            for i in range(10):
                n = batch * 10 + i
                tx.produce(topic, key=f"k{n % 7}".encode(), value=f"v{n}".encode(), partition=n % 2)
            if batch % 4 == 3:
                # On the log, then aborted: unsent records would be purged (no offsets
                # taken), and an abort racing the records' partition registration was
                # refused as INVALID_TXN_STATE, fatal, under load (ci27).
                tx.flush(TIMEOUT)
                tx.abort_transaction(TIMEOUT)
            else:
                tx.commit_transaction(TIMEOUT)
        committed = read_all(source.plaintext_bootstrap, topic)
        assert committed[-1].offset > len([r for r in committed if r.partition == 1])
        mirror(target.plaintext_bootstrap, topic, plain(committed), partitions=2, prov=False)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        found = assert_only(report, "aborted", "OK")
        assert found["missing"] == found["extra"] == found["order"] == "OK"
        aborted = next(r for r in report.results if r.check == "aborted" and r.partition == 0)
        assert "transaction markers" in aborted.reason

    def test_transactional_copy_is_ok(self, source, target):
        """Markers on the target side too (a copy written in transactions) are ignored."""
        topic = new_topic("txcopy")
        records = seed(source.plaintext_bootstrap, topic, partitions=1)
        create_topic(target.plaintext_bootstrap, topic, 1)
        tx = Producer({"bootstrap.servers": target.plaintext_bootstrap, "transactional.id": topic})
        tx.init_transactions(TIMEOUT)
        for start in range(0, len(records), 25):
            tx.begin_transaction()
            for r in records[start : start + 25]:
                tx.produce(
                    topic,
                    key=r.key,
                    value=r.value,
                    headers=list(r.headers),
                    partition=0,
                    timestamp=r.ts,
                )
            tx.commit_transaction(TIMEOUT)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, None)

    def test_dual_write_sessions_align_by_content(self, source, target):
        """Two producer sessions write the same records at slightly different times: no
        provenance, other timestamps; within the tolerated skew it is all OK."""
        topic = new_topic("dual")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=80)
        create_topic(target.plaintext_bootstrap, topic, 2)
        write(
            target.plaintext_bootstrap,
            topic,
            [replace(r, ts=r.ts + 3 + (r.offset % 5), offset=-1) for r in records],
        )
        report = run(
            source.plaintext_bootstrap,
            target.plaintext_bootstrap,
            topic,
            settings=AlignSettings(timestamp_skew_ms=50),
        )
        assert_only(report, "timestamps", "OK")
        times = next(r for r in report.results if r.check == "timestamps" and r.partition == 0)
        assert "within" in times.reason and times.counts["max_skew_ms"] >= 3


# -- anomalies, one check each -------------------------------------------------------------------


class TestAnomalies:
    """Each anomaly turns its own check, and nothing else RED."""

    def _copy_with(self, source, target, name, change, *, prov=True, partitions=3, **kw):
        topic = new_topic(name)
        records = seed(source.plaintext_bootstrap, topic, partitions=partitions, **kw)
        copy = change(list(records if prov else plain(records)))
        mirror(target.plaintext_bootstrap, topic, copy, partitions=partitions, prov=prov)
        return topic, records, run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)

    @pytest.mark.parametrize("prov", [True, False], ids=["provenance", "plain"])
    def test_missing_records(self, source, target, prov):
        def change(copy):
            gone = {(1, 30), (1, 31), (1, 77)}
            return [r for r in copy if (r.partition, _n(r)) not in gone]

        topic, records, report = self._copy_with(source, target, "missing", change, prov=prov)
        assert_only(report, "missing")
        found = examples(report, "missing")
        assert [(e.source_partition, e.source_offset) for e in found] == [(1, 30), (1, 31), (1, 77)]
        assert found[0].key == "cust-1-3" and found[0].target_offset is None
        row = next(r for r in report.results if r.check == "missing" and r.partition == 1)
        assert row.counts["missing"] == 3 and "3 source records are not on the target" in row.reason

    @pytest.mark.parametrize("prov", [True, False], ids=["provenance", "plain"])
    def test_duplicates(self, source, target, prov):
        def change(copy):
            out = []
            for r in copy:
                out.append(r)
                if (r.partition, _n(r)) == (0, 10):
                    out.append(r)  # a producer retry
            tail = [r for r in copy if r.partition == 2 and 50 <= _n(r) < 53]
            return out + tail  # a mirror restart re-copying three records

        topic, records, report = self._copy_with(source, target, "dups", change, prov=prov)
        assert_only(report, "duplicates")
        dup = next(r for r in report.results if r.check == "duplicates" and r.partition == 0)
        assert dup.counts["duplicates"] == 1
        assert dup.examples[0].source_offset == 10 and dup.examples[0].target_offset == 11
        assert (
            sum(r.counts.get("duplicates", 0) for r in report.results if r.check == "duplicates")
            == 4
        )

    def test_extra_records(self, source, target):
        def change(copy):
            out = []
            for r in copy:
                out.append(r)
                if (r.partition, _n(r)) in {(0, 5), (2, 90)}:
                    out.append(R(r.partition, b"intruder", b"never on the source", (), r.ts))
            return out

        topic, records, report = self._copy_with(source, target, "extra", change)
        assert_only(report, "extra")
        found = examples(report, "extra")
        assert {(e.target_partition, e.target_offset, e.key) for e in found} == {
            (0, 6, "intruder"),
            (2, 91, "intruder"),
        }

    def test_order_within_partition(self, source, target):
        """Two records of different keys swapped: partition order broken, key order not."""

        def change(copy):
            i = next(x for x, r in enumerate(copy) if (r.partition, _n(r)) == (1, 20))
            copy[i], copy[i + 1] = copy[i + 1], copy[i]
            return copy

        topic, records, report = self._copy_with(source, target, "order", change, prov=False)
        assert_only(report, "order")
        row = next(r for r in report.results if r.check == "order" and r.partition == 1)
        assert row.counts == {"reordered": 1, "key_order_breaks": 0}

    def test_order_within_key(self, source, target):
        """A record moved after a later record of its own key: per-key order broken."""

        def change(copy):
            i = next(x for x, r in enumerate(copy) if (r.partition, _n(r)) == (0, 12))
            moved = copy.pop(i)  # key cust-0-3; the next cust-0-3 is at 21
            j = next(x for x, r in enumerate(copy) if (r.partition, _n(r)) == (0, 25))
            copy.insert(j, moved)
            return copy

        topic, records, report = self._copy_with(source, target, "keyorder", change)
        assert_only(report, "order")
        row = next(r for r in report.results if r.check == "order" and r.partition == 0)
        assert row.counts["key_order_breaks"] == 1
        assert row.reason.startswith("per-key order broken")
        assert "key order broken" in row.examples[0].detail

    def test_placement_by_partitioner(self, source, target):
        """One key's records land in another partition (a different partitioner)."""

        def change(copy):
            return [replace(r, partition=2) if r.key == b"cust-0-4" else r for r in copy]

        topic, records, report = self._copy_with(source, target, "place", change, prov=False)
        assert_only(report, "placement")
        found = examples(report, "placement")
        assert found and all(e.source_partition == 0 and e.target_partition == 2 for e in found)
        assert all(e.key == "cust-0-4" for e in found)

    def test_placement_by_partition_count(self, source, target):
        """The target topic has more partitions: the topic-wide placement check says so."""
        topic = new_topic("pcount")
        records = seed(source.plaintext_bootstrap, topic, partitions=3, per_partition=40)
        copy = [
            replace(r, partition=(hash(r.key) % 4) if r.key else r.partition)
            for r in plain(records)
        ]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=4, prov=False)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "placement")
        topic_row = next(
            r for r in report.results if r.check == "placement" and r.partition is None
        )
        assert (
            topic_row.verdict.value == "RED" and "3 partitions on the source, 4" in topic_row.reason
        )

    def test_values(self, source, target):
        def change(copy):
            return [
                replace(r, value=b'{"n":999}') if (r.partition, _n(r)) in {(2, 7), (2, 8)} else r
                for r in copy
            ]

        topic, records, report = self._copy_with(source, target, "values", change)
        assert_only(report, "values")
        found = examples(report, "values")
        assert [(e.source_offset, e.target_offset) for e in found] == [(7, 7), (8, 8)]
        assert "value differs" in found[0].detail

    def test_one_changed_value_on_repetitive_data_is_one_value_mismatch(self, source, target):
        """Two keys, two values and tombstones, over and over, timestamps in bursts, copied
        without provenance (as MirrorMaker 2 copies): one changed value is one value
        mismatch at its offsets, not a missing record, an extra one and a skew."""
        topic = new_topic("repetitive")
        create_topic(source.plaintext_bootstrap, topic, 1)
        rng = random.Random(11)
        base = int(time.time() * 1000) - 60_000
        states = [b'{"state":"open"}', b'{"state":"closed"}']
        rows = [
            R(
                0,
                rng.choice([b"acct-1", b"acct-2"]),
                rng.choice([*states, None]),
                (("source-app", b"ledger"),),
                base + (i // 4) * 10,  # four records to a millisecond
            )
            for i in range(160)
        ]
        write(source.plaintext_bootstrap, topic, rows)
        records = read_all(source.plaintext_bootstrap, topic)
        changed = next(i for i in range(60, 160) if records[i].value == states[0])
        copy = plain([replace(r, value=states[1]) if r.offset == changed else r for r in records])
        mirror(target.plaintext_bootstrap, topic, copy, partitions=1, prov=False)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "values")
        (row,) = [r for r in report.results if r.check == "values" and r.partition == 0]
        assert row.counts["values"] == 1
        (example,) = row.examples
        assert (example.source_offset, example.target_offset) == (changed, changed)
        assert "value differs from byte 10" in example.detail

    def test_headers(self, source, target):
        def change(copy):
            out = []
            for r in copy:
                n = (r.partition, _n(r))
                if n == (0, 3):  # order of headers
                    r = replace(r, headers=(r.headers[1], r.headers[0], *r.headers[2:]))
                elif n == (0, 4):  # a value
                    r = replace(r, headers=(("source-app", b"other"), *r.headers[1:]))
                elif n == (0, 5):  # one dropped
                    r = replace(r, headers=r.headers[1:])
                out.append(r)
            return out

        topic, records, report = self._copy_with(source, target, "headers", change)
        assert_only(report, "headers")
        row = next(r for r in report.results if r.check == "headers" and r.partition == 0)
        assert row.counts["headers"] == 3
        details = [e.detail for e in row.examples]
        assert "header #1 is 'source-app' on source, 'trace-id' on target" in details[0]
        assert "header 'source-app' value differs" in details[1]

    def test_timestamps(self, source, target):
        def change(copy):
            return [
                replace(r, ts=r.ts + 1000) if (r.partition, _n(r)) == (1, 60) else r for r in copy
            ]

        topic, records, report = self._copy_with(source, target, "ts", change)
        assert_only(report, "timestamps")
        (example,) = examples(report, "timestamps")
        assert (example.source_partition, example.source_offset) == (1, 60)

    def test_timestamp_type(self, source, target):
        """A target topic stamping LogAppendTime changes every record's timestamp type."""
        topic = new_topic("tstype")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=30)
        mirror(
            target.plaintext_bootstrap,
            topic,
            records,
            partitions=1,
            config={"message.timestamp.type": "LogAppendTime"},
        )
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "timestamps")
        assert "timestamp type CreateTime on source, LogAppendTime on target" in (
            examples(report, "timestamps")[0].detail
        )

    def test_null_keys_and_tombstones(self, source, target):
        def change(copy):
            out = []
            for r in copy:
                if r.partition == 0 and r.value is None and _n(r) == 28:
                    r = replace(r, value=b"")  # a tombstone turned into an empty value
                if r.partition == 1 and r.key is None and _n(r) == 40:
                    r = replace(r, key=b"")  # a null key turned into an empty one
                out.append(r)
            return out

        topic, records, report = self._copy_with(source, target, "nulls", change)
        assert_only(report, "nulls")
        details = sorted(e.detail for e in examples(report, "nulls"))
        assert details == [
            "key is null on the source only",
            "tombstone (null value) on the source only; the target has 0 B",
        ]

    def test_aborted_records_on_the_target(self, source, target):
        """A copy that read uncommitted carries records of aborted source transactions."""
        topic = new_topic("aborted")
        create_topic(source.plaintext_bootstrap, topic, 1)
        tx = Producer({"bootstrap.servers": source.plaintext_bootstrap, "transactional.id": topic})
        tx.init_transactions(TIMEOUT)
        for batch in range(6):
            tx.begin_transaction()
            for i in range(10):
                tx.produce(topic, key=f"k{i}".encode(), value=f"b{batch}-{i}".encode(), partition=0)
            if batch == 2:
                tx.flush(TIMEOUT)  # written, then aborted (unsent records would be purged)
                tx.abort_transaction(TIMEOUT)
            else:
                tx.commit_transaction(TIMEOUT)
        everything = read_all(source.plaintext_bootstrap, topic, committed=False)
        assert len(everything) == 60
        mirror(target.plaintext_bootstrap, topic, plain(everything), partitions=1, prov=False)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "aborted")
        row = next(r for r in report.results if r.check == "aborted" and r.partition == 0)
        assert row.counts["aborted"] == 10
        assert row.examples[0].detail == "record of an aborted source transaction"
        assert row.examples[0].target_offset == 20

    @pytest.mark.parametrize("prov", [True, False], ids=["provenance", "plain"])
    def test_records_deleted_from_the_target_only_are_missing(self, source, target, prov):
        """delete-records on the target removed records the source still holds: they are
        missing (RED), whatever removed them; the truncation row names the cause."""
        topic = new_topic("trunc-tgt")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=100)
        copy = records if prov else plain(records)
        mirror(target.plaintext_bootstrap, topic, copy, partitions=2, prov=prov)
        _delete_records(target.plaintext_bootstrap, topic, 0, 40)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "missing")
        missing = next(r for r in report.results if r.check == "missing" and r.partition == 0)
        assert missing.counts["missing"] == missing.counts["removed_from_target"] == 40
        assert "target log starts at offset 40" in missing.reason
        assert [e.source_offset for e in missing.examples] == [0, 1, 2, 3, 4]
        row = next(r for r in report.results if r.check == "truncation" and r.partition == 0)
        assert row.verdict.value == "WARN" and row.counts["truncated_target"] == 40
        assert "counted as missing" in row.reason

    def test_records_both_sides_lost_are_benign_truncation(self, source, target):
        """Retention ran on both sides over the same records: nothing is missing."""
        topic = new_topic("trunc-both")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=100)
        mirror(target.plaintext_bootstrap, topic, plain(records), partitions=2, prov=False)
        _delete_records(source.plaintext_bootstrap, topic, 0, 40)
        _delete_records(target.plaintext_bootstrap, topic, 0, 40)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, None)
        counts = next(r for r in report.results if r.check == "counts" and r.partition == 0)
        assert counts.counts["source"] == counts.counts["matched"] == 60

    def test_retention_truncation_on_source(self, source, target):
        topic = new_topic("trunc-src")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=100)
        mirror(target.plaintext_bootstrap, topic, records, partitions=2)
        _delete_records(source.plaintext_bootstrap, topic, 1, 30)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "truncation", "WARN")
        row = next(r for r in report.results if r.check == "truncation" and r.partition == 1)
        assert row.counts["truncated_source"] == 30
        assert "source log starts at offset 30" in row.reason

    def test_target_topic_recreated_between_windows(self, source, target, tmp_path):
        """Window 1 records the topic ids; the target topic is then re-created with only
        the later records: window 2 names the re-creation, not missing records."""
        topic = new_topic("recreate")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=60)
        mirror(target.plaintext_bootstrap, topic, records, partitions=1)
        store = _store(
            tmp_path, plan_for(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        )
        first = compare(store.plan, {}, CompareRequest(), store=store)
        assert not first.red
        delete_topic(target.plaintext_bootstrap, topic)
        _recreate(target.plaintext_bootstrap, topic, records[25:])
        second = compare(store.plan, {}, CompareRequest(), store=store)
        found = verdicts(second)
        assert found["truncation"] == found["missing"] == "RED", found
        assert {c for c, v in found.items() if v == "RED"} == {"truncation", "missing"}
        topic_row = next(
            r for r in second.results if r.check == "truncation" and r.partition is None
        )
        assert "re-created since window #" in topic_row.reason
        part = next(r for r in second.results if r.check == "truncation" and r.partition == 0)
        assert part.counts["truncated_target"] == 25
        # The source still holds those 25 records: missing, not excused by the re-creation.
        missing = next(r for r in second.results if r.check == "missing" and r.partition == 0)
        assert missing.counts["missing"] == 25
        store.close()


# -- schema ids and registries -------------------------------------------------------------------


def _wire(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


class TestSchemaIds:
    """Confluent wire format: the schema id in each value, and the schemas behind ids."""

    def _seed_wire(self, source, topic, ids=(1, 2)):
        create_topic(source.plaintext_bootstrap, topic, 1)
        write(
            source.plaintext_bootstrap,
            topic,
            [
                R(0, f"k{i % 5}".encode(), _wire(ids[i % len(ids)], f"p{i}".encode()))
                for i in range(40)
            ],
        )
        return read_all(source.plaintext_bootstrap, topic)

    def test_one_id_mapped_two_ways_is_red(self, source, target):
        topic = new_topic("sid-split")
        records = self._seed_wire(source, topic)
        copy = [replace(r, value=_wire(7, r.value[5:])) if r.offset == 4 else r for r in records]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=1)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "schema_ids")
        row = next(r for r in report.results if r.check == "schema_ids" and r.partition is None)
        assert "do not map one to one" in row.reason
        # Each example names a record on both sides, to fetch with any Kafka CLI.
        assert [(e.where(), e.detail) for e in row.examples] == [
            ("src p0@0 tgt p0@0", "source id 1 is 1 here; also 7 elsewhere"),
            ("src p0@4 tgt p0@4", "source id 1 is 7 here; also 1 elsewhere"),
        ]

    def test_consistent_renumbering_warns_without_registry(self, source, target):
        topic = new_topic("sid-renum")
        records = self._seed_wire(source, topic)
        copy = [replace(r, value=_wire(100 + r.value[4], r.value[5:])) for r in records]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=1)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "schema_ids", "WARN")
        assert verdicts(report)["schema_registry"] == "NO_DATA"
        assert verdicts(report)["values"] == "OK"  # only the id differs, not the payload

    def test_header_on_one_side_only_is_red(self, source, target):
        topic = new_topic("sid-frame")
        records = self._seed_wire(source, topic)
        copy = [replace(r, value=r.value[5:]) if r.offset == 9 else r for r in records]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=1)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert_only(report, "schema_ids")
        (example,) = examples(report, "schema_ids")
        assert example.source_offset == 9 and "on the source only" in example.detail

    def test_registries_prove_the_same_schema_behind_renumbered_ids(self, source, target):
        topic = new_topic("sid-reg")
        records = self._seed_wire(source, topic)
        copy = [replace(r, value=_wire(100 + r.value[4], r.value[5:])) for r in records]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=1)
        order = '{"type":"record","name":"Order","fields":[{"name":"n","type":"int"}]}'
        customer = '{"type":"record","name":"Customer","fields":[{"name":"id","type":"string"}]}'
        with (
            _registry({1: order, 2: customer}) as src_url,
            _registry({101: order, 102: customer}) as tgt_url,
        ):
            plan = _plan_with_registries(source, target, topic, src_url, tgt_url)
            report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic, plan=plan)
        found = assert_only(report, "schema_ids", "WARN")
        assert found["schema_registry"] == "OK"
        with (
            _registry({1: order, 2: customer}) as src_url,
            _registry({101: order, 102: order}) as tgt_url,
        ):
            plan = _plan_with_registries(source, target, topic, src_url, tgt_url)
            report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic, plan=plan)
        assert verdicts(report)["schema_registry"] == "RED"
        row = next(r for r in report.results if r.check == "schema_registry")
        assert row.examples[0].detail == "source id 2 and target id 102 name different schemas"
        assert row.examples[0].where() == "src p0@1 tgt p0@1"  # the first record of id 2
        renumbered = next(r for r in report.results if r.check == "schema_ids")
        assert [e.where() for e in renumbered.examples] == [
            "src p0@0 tgt p0@0",
            "src p0@1 tgt p0@1",
        ]


def _plan_with_registries(source, target, topic, src_url, tgt_url):
    text = plan_for(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
    data = text.model_dump()
    data["clusters"]["source"]["schema_registry_url"] = src_url
    data["clusters"]["target"]["schema_registry_url"] = tgt_url
    return type(text).model_validate(data)


class _registry:
    """A tiny Schema Registry: GET /schemas/ids/<id> from a dict, on a loopback port."""

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas

    def __enter__(self) -> str:
        schemas = self.schemas

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                _, _, tail = self.path.rpartition("/schemas/ids/")
                schema = schemas.get(int(tail)) if tail.isdigit() else None
                body = json.dumps(
                    {"schema": schema} if schema else {"error_code": 40403, "message": "nope"}
                ).encode()
                self.send_response(200 if schema else 404)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- windows, NO DATA, live ------------------------------------------------------------------------


class TestWindows:
    """Which records a window holds, and what happens when one side has none."""

    def test_empty_target_is_no_data(self, source, target):
        topic = new_topic("nodata")
        seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=20)
        create_topic(target.plaintext_bootstrap, topic, 2)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        found = verdicts(report)
        assert found["counts"] == found["missing"] == "NO_DATA"
        assert "OK" not in {v for c, v in found.items() if c not in ("placement", "schema_ids")}
        assert report.missing_evidence and not report.red
        counts = next(r for r in report.results if r.check == "counts" and r.partition == 0)
        assert "the target has no records in this window" in counts.reason

    def test_topic_absent_on_target_is_no_data(self, source, target):
        topic = new_topic("absent")
        seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=5)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        assert set(verdicts(report).values()) == {"NO_DATA"}
        assert "does not exist on the target" in report.results[0].reason

    def test_offset_window_leaves_out_records_outside_it(self, source, target):
        """--from/--to offsets: the target range is found by time and padded; copies of
        records outside the source range are left out, not called extra."""
        topic = new_topic("window")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=100)
        mirror(target.plaintext_bootstrap, topic, plain(records), partitions=2, prov=False)
        request = CompareRequest((topic,), Bound("offset", 20), Bound("offset", 60))
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic, request)
        assert_only(report, None)
        counts = next(r for r in report.results if r.check == "counts" and r.partition == 0)
        assert counts.counts["source"] == counts.counts["matched"] == 40
        assert counts.counts["outside_window"] > 0

    def test_time_window(self, source, target):
        topic = new_topic("twindow")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=100)
        mirror(target.plaintext_bootstrap, topic, records, partitions=1)
        start, end = records[10].ts, records[50].ts
        request = CompareRequest((topic,), Bound("time", start), Bound("time", end))
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic, request)
        assert_only(report, None)
        counts = next(r for r in report.results if r.check == "counts")
        assert counts.counts["source"] == counts.counts["matched"] == 40

    def test_window_starting_inside_a_rollbacks_reverse_copies_finds_their_originals(
        self, source, target
    ):
        """After a rollback the source holds reverse copies: copies of records the moved
        producers wrote on the target, with those records' timestamps, written in
        transactions whose markers carry the rollback's time. A window by time lands on
        a marker inside them, so it starts earlier in the copies than its time says; the
        target range, found by time, started after their originals, and each copy in
        between read as missing (seen in a producer move made soon after a rollback)."""
        topic = new_topic("reverse")
        src, tgt = source.plaintext_bootstrap, target.plaintext_bootstrap
        create_topic(src, topic, 1)
        t1 = int(time.time() * 1000) - 100_000
        originals = [
            R(0, f"k{j % 7}".encode(), f"order-{j}".encode(), (("seq", b"%d" % j),), t1 + j * 1000)
            for j in range(40)
        ]
        mirror(tgt, topic, plain(originals), partitions=1, prov=False)
        on_target = read_all(tgt, topic)
        back = Producer({"bootstrap.servers": src, "transactional.id": f"rev-{topic}"})
        back.init_transactions(TIMEOUT)
        for batch in (on_target[:20], on_target[20:]):
            back.begin_transaction()
            for r in batch:
                mark = (provenance.REVERSE_HEADER, provenance.encode(r.partition, r.offset))
                back.produce(topic, r.value, r.key, 0, timestamp=r.ts, headers=[*r.headers, mark])
            back.commit_transaction(TIMEOUT)
        # 35.5 s into the originals: past every record of the first transaction, whose
        # marker (stamped now) is where the source window starts, 15.5 s before the
        # first record it holds; the target range by time (padded 5 s) starts at the 31st.
        request = CompareRequest((topic,), Bound("time", t1 + 35_500))
        report = run(src, tgt, topic, request)
        assert_only(report, None)
        counts = next(r for r in report.results if r.check == "counts")
        assert counts.counts["source"] == counts.counts["matched"] == 20

    def test_live_windows_compare_only_what_is_new(self, source, target, tmp_path):
        """Live: each window starts where the last stopped; records the copy has not
        reached yet are lag (WARN), compared again next time, never missing."""
        topic = new_topic("live")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=50)
        mirror(target.plaintext_bootstrap, topic, records[:40], partitions=1)
        store = _store(
            tmp_path, plan_for(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        )
        first = compare(store.plan, {}, CompareRequest(live=True), store=store)
        assert_only(first, "counts", "WARN")
        lag = next(r for r in first.results if r.check == "counts")
        assert lag.counts["not_copied"] == 10 and "not on the target yet" in lag.reason
        write(target.plaintext_bootstrap, topic, [_with_prov(r) for r in records[40:]])
        second = compare(store.plan, {}, CompareRequest(live=True), store=store)
        assert_only(second, None)
        counts = next(r for r in second.results if r.check == "counts")
        assert counts.counts["source"] == 10  # only what was new (the lagging tail)
        live = [e for e in store.audit_latest(20) if e.action == "compare.live"]
        assert [e.params["windows"] for e in live] == [[1, 1]]  # the chain's start, at once
        history.flush_live_audit(store)  # as the console does when live comparison stops
        live = [e for e in store.audit_latest(20) if e.action == "compare.live"]
        assert [e.params["windows"] for e in live] == [[1, 1], [2, 2]]
        view = load_view(store)
        assert view.window.label.startswith("live since window #")
        row = next(r for r in view.rows if r.check == "counts")
        assert (row.source, row.target, row.verdict) == (60, 50, "OK")
        assert row.count == 50
        store.close()

    def test_cancel_stops_and_records_the_window_as_cancelled(self, source, target, tmp_path):
        topic = new_topic("cancel")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=50)
        mirror(target.plaintext_bootstrap, topic, records, partitions=2)
        store = _store(
            tmp_path, plan_for(source.plaintext_bootstrap, target.plaintext_bootstrap, topic)
        )
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(Cancelled):
            compare(store.plan, {}, CompareRequest(), store=store, cancel=cancel)
        with store.lock:
            status = store.conn.execute("SELECT status FROM compare_windows").fetchone()[0]
        assert status == "cancelled"
        store.close()

    def test_worker_processes_give_the_same_answer(self, source, target):
        """Big windows run in worker processes; forced here on a small one."""
        topic = new_topic("procs")
        records = seed(source.plaintext_bootstrap, topic, partitions=3, per_partition=60)
        copy = [r for r in records if (r.partition, _n(r)) != (2, 33)]
        mirror(target.plaintext_bootstrap, topic, copy, partitions=3)
        request = CompareRequest((topic,), executor="process", workers=2)
        report = run(source.plaintext_bootstrap, target.plaintext_bootstrap, topic, request)
        assert_only(report, "missing")
        assert [(e.source_partition, e.source_offset) for e in examples(report, "missing")] == [
            (2, 33)
        ]


# -- the CLI and the runbook step ------------------------------------------------------------------

PASSWORD = "admin-sandbox-pw"


@pytest.fixture
def demo_env(monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    return monkeypatch


def _demo_db(tmp_path, source, target, *topics: str, target_bootstrap=None):
    """The demo plan over SASL (as the console runs), with these topics instead."""
    text = demo_plan_text(source.sasl_bootstrap, target_bootstrap or target.sasl_bootstrap)
    head, _, _ = text.partition("[[topics]]")
    text = head + "".join(
        f'[[topics]]\nname = "{t}"\nowner = "team"\nexternal_side_effects = false\n\n'
        for t in topics
    )
    text += "[thresholds]\ncomparison_window_minutes = 15\n"
    path = tmp_path / "run.db"
    Store.create(path, text, parse_plan(text)).close()
    return path


def _ready_to_compare(store: Store) -> None:
    """What the Comparison step requires: the inventory, run for real, and a copy. These
    tests made the copy themselves (``mirror()`` wrote the target), so the shadow path's
    start step is recorded as passed rather than run."""
    assert steps.decide(store, "inventory", "inventory", via="test").opened
    assert steps.run(store, "inventory").state is StepState.PASSED
    store.set_step("shadow-start", StepState.PASSED, "the test wrote the target copy itself")


class TestCommandAndStep:
    """``cutover compare`` and the Comparison step, over SASL with the plan's passwords."""

    def test_cli_json_exit_codes(self, source, target, tmp_path, demo_env, capsys):
        clean, broken = new_topic("cli"), new_topic("cli-red")
        for topic in (clean, broken):
            records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=30)
            copy = (
                records
                if topic == clean
                else [r for r in records if (r.partition, r.offset) != (0, 7)]
            )
            mirror(target.plaintext_bootstrap, topic, copy, partitions=2)
        db = _demo_db(tmp_path, source, target, clean, broken)
        assert main(["compare", str(db), "--json", "--topic", clean]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["window"]["id"] == 1 and out["window"]["status"] == "done"
        row = out["results"][0]
        assert {"topic", "partition", "check", "verdict", "reason", "examples"} <= set(row)
        assert {r["verdict"] for r in out["results"]} <= {"OK", "NO_DATA"}
        assert any(r["partition"] is None for r in out["results"])
        # A missing record: exit 1, and the record is named well enough to fetch it.
        assert main(["compare", str(db), "--json"]) == 1
        out = json.loads(capsys.readouterr().out)
        red = [r for r in out["results"] if r["verdict"] == "RED"]
        assert {(r["topic"], r["check"]) for r in red} == {(broken, "missing")}
        assert red[0]["examples"][0]["source_offset"] == 7
        assert red[0]["examples"][0]["source_partition"] == 0
        # The human form names verdicts in words.
        assert main(["compare", str(db), "--topic", broken]) == 1
        text = capsys.readouterr().out
        assert "✗ RED" in text and "missing" in text and "src p0@7" in text
        for path in tmp_path.iterdir():
            assert PASSWORD.encode() not in path.read_bytes(), path
        # Who compared which window, the verdicts, and where the results are kept.
        store = Store.open(db, readonly=True)
        audited = [e for e in store.audit_latest(50) if e.action == "compare.window"]
        assert store.audit_verify().ok
        store.close()
        assert [e.params["window"] for e in audited] == [1, 2, 3]
        assert audited[0].params["request"]["topics"] == [clean]
        assert audited[1].outcome == "done: 1 RED, 0 NO DATA; results stored as window #2"
        assert audited[1].params["red"][0].startswith(f"{broken}[0] missing")
        assert all(e.actor for e in audited)

    def test_cli_records_deleted_from_the_target_fail(
        self, source, target, tmp_path, demo_env, capsys
    ):
        topic = new_topic("cli-deleted")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=30)
        mirror(target.plaintext_bootstrap, topic, plain(records), partitions=1, prov=False)
        _delete_records(target.plaintext_bootstrap, topic, 0, 10)
        db = _demo_db(tmp_path, source, target, topic)
        assert main(["compare", str(db), "--json"]) == ExitCode.FAILED
        out = json.loads(capsys.readouterr().out)
        red = {(r["check"], r["partition"]) for r in out["results"] if r["verdict"] == "RED"}
        assert red == {("missing", 0)}

    def test_cli_no_data_is_its_own_failing_exit_code(
        self, source, target, tmp_path, demo_env, capsys
    ):
        """A pipeline must not read missing evidence as a pass: the target topic does not
        exist, every check is NO DATA, and the exit code is 3 (neither 0 nor RED's 1)."""
        topic = new_topic("cli-absent")
        seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=5)
        db = _demo_db(tmp_path, source, target, topic)
        assert main(["compare", str(db), "--json"]) == ExitCode.NO_DATA == 3
        out = json.loads(capsys.readouterr().out)
        assert {r["verdict"] for r in out["results"]} == {"NO_DATA"}
        assert out["summary"]["no_data"] and not out["summary"]["red"]
        assert main(["compare", str(db)]) == 3
        assert "NO DATA" in capsys.readouterr().out

    def test_cli_cannot_run_is_exit_2_in_one_line(self, source, target, tmp_path, demo_env, capsys):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = f"127.0.0.1:{s.getsockname()[1]}"
        topic = new_topic("down")
        seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=3)
        db = _demo_db(tmp_path, source, target, topic, target_bootstrap=closed)
        assert main(["compare", str(db), "--json"]) == 2
        captured = capsys.readouterr()
        assert json.loads(captured.out)["error"].startswith("target: no broker answered")
        (line,) = captured.err.strip().splitlines()
        assert line.startswith("cutover: comparison could not run: target: no broker answered")
        assert main(["compare", str(db), "--from", "yesterday"]) == 2
        assert "neither an offset" in capsys.readouterr().err

    def test_step_passes_on_a_clean_copy_and_records_evidence(
        self, source, target, tmp_path, demo_env
    ):
        topic = new_topic("step")
        records = seed(source.plaintext_bootstrap, topic, partitions=2, per_partition=30)
        mirror(target.plaintext_bootstrap, topic, records, partitions=2)
        db = _demo_db(tmp_path, source, target, topic)
        store = Store.open(db)
        _ready_to_compare(store)
        assert steps.available("compare")
        opened = steps.decide(store, "compare", "compare", via="test").opened
        assert opened
        outcome = steps.run(store, "compare")
        assert outcome.state is StepState.PASSED, outcome.reason
        evidence = store.latest_evidence("compare", "comparison").body
        assert evidence["window_id"] == 1 and evidence["verdicts"]["RED"] == 0
        assert load_results(store, 1)
        assert [e.action for e in store.audit_latest(10)][-6:] == [
            "gate.confirmed",
            "step.started",
            "compare.recorded",  # the window's rows, bound to the chain in their transaction
            "compare.window",
            "evidence.added",  # the step's summary, bound to the chain
            "step.finished",
        ]
        store.close()

    def test_step_fails_when_one_side_has_no_data(self, source, target, tmp_path, demo_env):
        topic = new_topic("stepnodata")
        seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=10)
        create_topic(target.plaintext_bootstrap, topic, 1)
        db = _demo_db(tmp_path, source, target, topic)
        store = Store.open(db)
        _ready_to_compare(store)
        steps.decide(store, "compare", "compare", via="test")
        outcome = steps.run(store, "compare")
        assert outcome.state is StepState.FAILED
        assert outcome.reason.startswith(f"NO DATA {topic}[0] counts: the target has no records")
        store.close()


# -- helpers ---------------------------------------------------------------------------------


def _n(r: R) -> int:
    """The record's number within its partition as seeded (its source offset)."""
    value = r.value
    if value is None:
        return r.offset
    try:
        return json.loads(value)["n"]
    except (ValueError, KeyError):
        return r.offset


def _with_prov(r: R) -> R:
    return replace(
        r, headers=(*r.headers, (provenance.HEADER, provenance.encode(r.partition, r.offset)))
    )


def _delete_records(bootstrap: str, topic: str, partition: int, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records(
        [TopicPartition(topic, partition, before)], request_timeout=TIMEOUT
    )
    for fut in futures.values():
        fut.result(TIMEOUT)


def _recreate(bootstrap: str, topic: str, records: list[R]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            create_topic(bootstrap, topic, 1)
            break
        except Exception:  # noqa: BLE001 - the deletion may still be in progress
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    write(bootstrap, topic, [_with_prov(r) for r in records])


def _store(tmp_path, plan) -> Store:
    toml = _plan_toml(plan)
    path = tmp_path / f"run-{uuid.uuid4().hex[:6]}.db"
    return Store.create(path, toml, parse_plan(toml))


def _plan_toml(plan) -> str:
    src, tgt = plan.clusters.source, plan.clusters.target
    topics = "".join(
        f'[[topics]]\nname = "{t.name}"\nowner = "{t.owner}"\nexternal_side_effects = false\n'
        for t in plan.topics
    )
    return (
        f'[plan]\nname = "{plan.name}"\n[people]\nowners = ["ops"]\napprovers = ["lead"]\n'
        f'[clusters.source]\nbootstrap_servers = "{src.bootstrap_servers}"\n'
        f'[clusters.target]\nbootstrap_servers = "{tgt.bootstrap_servers}"\n{topics}'
    )
