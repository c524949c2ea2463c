"""Comparing many topics in one call, against the real sandbox clusters.

One call over many small topics reads their partitions together (one consumer per
side, many partitions assigned at once) and looks up times and offsets for every
topic in one round trip. None of that may change what is found: each topic's results
in a call over many topics must be exactly the results of comparing it alone. And the
stream that multiplexes the partitions must hand each range's records over once, in
order, and stop at the range's end, however it pauses and resumes partitions.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from console.compare.engine import compare
from console.compare.model import Bound, CompareRequest
from console.compare.reader import SideStream
from console.kafka.client import ClusterError
from console.plan import parse_plan
from tests.test_compare import (
    TIMEOUT,
    R,
    create_topic,
    mirror,
    new_topic,
    plain,
    read_all,
    seed,
    write,
)


def plan_for(source: str, target: str, topics: list[str]):
    entries = "".join(
        f'[[topics]]\nname = "{t}"\nowner = "team"\nexternal_side_effects = false\n' for t in topics
    )
    return parse_plan(
        f"""
[plan]
name = "compare-many-test"
[people]
owners = ["ops"]
approvers = ["lead"]
[clusters.source]
bootstrap_servers = "{source}"
[clusters.target]
bootstrap_servers = "{target}"
{entries}
[thresholds]
max_missing_records = 0
"""
    )


def results_by_topic(report) -> dict[str, list[tuple]]:
    """Everything a result says, per topic, in the order it was judged."""
    out: dict[str, list[tuple]] = {}
    for r in report.results:
        out.setdefault(r.topic, []).append(
            (
                r.partition,
                r.check,
                r.verdict.value,
                r.reason,
                r.counts,
                [e.line() for e in r.examples],
            )
        )
    return out


def delete_records(bootstrap: str, topic: str, partition: int, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, partition, before)])
    for fut in futures.values():
        fut.result(TIMEOUT)


def copy_in_transactions(target: str, topic: str, records: list[R], partitions: int) -> None:
    """A copy written in transactions, so every partition ends on a commit marker."""
    create_topic(target, topic, partitions)
    tx = Producer({"bootstrap.servers": target, "transactional.id": topic})
    tx.init_transactions(TIMEOUT)
    for start in range(0, len(records), 20):
        tx.begin_transaction()
        for r in records[start : start + 20]:
            tx.produce(
                topic,
                key=r.key,
                value=r.value,
                headers=list(r.headers),
                partition=r.partition,
                timestamp=r.ts,
            )
        tx.commit_transaction(TIMEOUT)


@pytest.fixture(scope="module")
def many(source, target):
    """Twelve small topics: most copied faithfully (by the mirror's header, plainly, in
    transactions), some with one planted difference, one never copied, one whose source
    retention already ran, one with a partition empty on both sides."""
    src, tgt = source.plaintext_bootstrap, target.plaintext_bootstrap
    topics: list[str] = []
    middle = None
    for i in range(12):
        topic = new_topic(f"many{i}")
        topics.append(topic)
        records = seed(src, topic, partitions=3, per_partition=30)
        if middle is None:
            # Inside the first topic's records, before every later topic's.
            middle = next(r.ts for r in records if (r.partition, r.offset) == (0, 5))
        if i == 3:  # one record missing
            records = [r for r in records if (r.partition, r.offset) != (1, 12)]
        if i == 5:  # one value changed
            records = [
                replace(r, value=b'{"changed":1}') if (r.partition, r.offset) == (2, 7) else r
                for r in records
            ]
        if i == 6:  # one record copied twice
            records = records + [r for r in records if (r.partition, r.offset) == (0, 20)]
        if i == 8:
            continue  # never copied: the target topic does not exist
        if i == 9:  # source retention ran after the copy
            mirror(tgt, topic, records)
            delete_records(src, topic, 0, 10)
            continue
        if i == 10:
            copy_in_transactions(tgt, topic, plain(records), 3)
            continue
        mirror(tgt, topic, plain(records) if i % 2 else records)
    # A topic with a partition that is empty on both sides.
    topic = new_topic("many-idle")
    topics.append(topic)
    create_topic(src, topic, 2)
    write(src, topic, [R(0, f"k{n}".encode(), f"v{n}".encode()) for n in range(25)])
    mirror(tgt, topic, read_all(src, topic), partitions=2)
    return src, tgt, topics, middle


class TestManyTopicsAtOnce:
    """A call over many topics says exactly what a call per topic says."""

    @pytest.mark.parametrize("executor", ["thread", "process"])
    def test_whole_log(self, many, executor):
        """The whole retained log, in threads and in worker processes."""
        src, tgt, topics, _middle = many
        self._same_as_alone(src, tgt, topics, CompareRequest(executor=executor, workers=2))

    def test_worker_processes_say_what_threads_say(self, many):
        """Fingerprints taken in worker processes are matched in the parent (the second
        read that tells a duplicate from an extra record) and across workers."""
        src, tgt, topics, _middle = many
        plan = plan_for(src, tgt, topics)
        threads = compare(plan, {}, CompareRequest(executor="thread", workers=2))
        processes = compare(plan, {}, CompareRequest(executor="process", workers=2))
        assert results_by_topic(processes) == results_by_topic(threads)
        dup = [r for r in processes.results if r.topic == topics[6] and r.check == "duplicates"]
        assert {r.verdict.value for r in dup} == {"OK", "RED"}
        assert [(e.source_offset, e.target_offset) for r in dup for e in r.examples] == [(20, 30)]

    def test_window_by_time(self, many):
        """A window by time: offsets by time for every topic at once, on both sides."""
        src, tgt, topics, middle = many
        self._same_as_alone(src, tgt, topics, CompareRequest(start=Bound("time", middle)))

    def test_window_by_offsets(self, many):
        """A window by source offsets: timestamps at both ends for every topic at once."""
        src, tgt, topics, _middle = many
        request = CompareRequest(start=Bound("offset", 5), end=Bound("offset", 22))
        self._same_as_alone(src, tgt, topics, request)

    def _same_as_alone(self, src, tgt, topics, request):
        plan = plan_for(src, tgt, topics)
        together = results_by_topic(compare(plan, {}, request))
        for topic in topics:
            alone = compare(plan, {}, replace(request, topics=(topic,)))
            assert together[topic] == results_by_topic(alone)[topic], topic
        # The planted differences are found (so the sameness above is not of nothing).
        red = {t: {row[1] for row in rows if row[2] == "RED"} for t, rows in together.items()}
        assert "missing" in red[topics[3]] and "values" in red[topics[5]]
        assert red[topics[0]] == set()


# -- the stream that reads many partitions through one consumer -----------------------------


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "test-compare-many",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )


def _drain(stream: SideStream, keys: list, *, take_every: int = 1) -> dict:
    """Poll until every range ended; take each key's records only every n-th poll (so
    partitions fill up and get paused). Returns the offsets taken per key."""
    got: dict = {k: [] for k in keys}
    ended: set = set()
    deadline = time.monotonic() + TIMEOUT
    polls = 0
    while len(ended) < len(keys):
        assert time.monotonic() < deadline, f"ranges never ended: {set(keys) - ended}"
        stream.poll(0.05, threading.Event(), set(keys) - ended)
        polls += 1
        if polls % take_every:
            continue
        for key in keys:
            if key not in ended and stream.ready(key):
                msgs, done = stream.take(key)
                got[key].extend(m.offset() for m in msgs)
                if done:
                    ended.add(key)
    return got


class TestSideStream:
    """Many partition ranges through one consumer."""

    def test_each_range_once_in_order_up_to_its_end(self, source):
        """Ranges in several topics, some starting and ending mid-partition, one empty:
        each gets exactly its offsets, in order, and nothing past its end."""
        bs = source.plaintext_bootstrap
        topics = [new_topic("stream") for _ in range(3)]
        for t in topics:
            seed(bs, t, partitions=3, per_partition=40)
        ranges = {(topics[0], 0): (0, 40), (topics[0], 1): (5, 17), (topics[1], 2): (39, 40)}
        ranges.update({(topics[2], p): (10, 30) for p in range(3)})
        ranges[(topics[1], 0)] = (12, 12)
        consumer = _consumer(bs)
        try:
            stream = SideStream(consumer, "source", 10.0)
            for (t, p), (lo, hi) in ranges.items():
                stream.open(t, p, lo, hi)
            got = _drain(stream, list(ranges))
        finally:
            consumer.close()
        assert got == {key: list(range(lo, hi)) for key, (lo, hi) in ranges.items()}

    def test_a_paused_partition_goes_on_where_it_stopped(self, source):
        """Records left waiting pause their partition; after it resumes nothing is lost or
        handed over twice."""
        bs = source.plaintext_bootstrap
        topic = new_topic("pause")
        seed(bs, topic, partitions=2, per_partition=600)
        consumer = _consumer(bs)
        try:
            stream = SideStream(consumer, "source", 10.0, batch=50, hold=20)
            keys = [(topic, 0), (topic, 1)]
            for t, p in keys:
                stream.open(t, p, 0, 600)
            got = _drain(stream, keys, take_every=4)
        finally:
            consumer.close()
        assert got == {key: list(range(600)) for key in keys}

    def test_a_range_ending_on_a_transaction_marker_ends(self, source, target):
        """A copy written in transactions ends on a commit marker, which is never handed
        over: the range still ends, with every record before it."""
        topic = new_topic("txend")
        records = seed(source.plaintext_bootstrap, topic, partitions=1, per_partition=45)
        copy_in_transactions(target.plaintext_bootstrap, topic, plain(records), 1)
        consumer = _consumer(target.plaintext_bootstrap)
        try:
            _lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
            stream = SideStream(consumer, "target", 10.0)
            stream.open(topic, 0, 0, hi)
            got = _drain(stream, [(topic, 0)])
        finally:
            consumer.close()
        assert hi > 45 and len(got[(topic, 0)]) == 45
        assert got[(topic, 0)] == sorted(got[(topic, 0)])

    def test_a_partition_that_never_answers_is_named(self, source):
        """A range whose partition never answers (here: its topic does not exist) is
        named in a one-line error once the side has been quiet for the time allowed."""
        topic = new_topic("silent")
        consumer = _consumer(source.plaintext_bootstrap)
        try:
            stream = SideStream(consumer, "source", 1.0)  # quiet for 10 s at most
            stream.open(topic, 0, 0, 10)
            deadline = time.monotonic() + TIMEOUT
            with pytest.raises(ClusterError, match=rf"no records from {topic}\[0\] for 10 s"):
                while time.monotonic() < deadline:
                    stream.poll(0.2, threading.Event(), {(topic, 0): None})
        finally:
            consumer.close()


class _Unconnected:
    """Stands in for the consumer where only a batch's sorting is looked at: the batches
    below are made by hand (real ``Message`` objects), so nothing is fetched."""

    def unassign(self) -> None:
        pass

    def pause(self, _partitions) -> None:
        pass

    def resume(self, _partitions) -> None:
        pass


def _msgs(topic: str, partition: int, offsets) -> list[Message]:
    return [Message(topic=topic, partition=partition, offset=o) for o in offsets]


def _eof(topic: str, partition: int, offset: int) -> Message:
    return Message(
        topic=topic, partition=partition, offset=offset, error=KafkaError(KafkaError._PARTITION_EOF)
    )


class TestBatchSorting:
    """One consumed batch sorted into the open ranges (pure logic, no broker)."""

    def test_an_end_in_the_same_batch_as_the_records_keeps_them(self):
        """librdkafka queues a partition's end right after its last records; both often
        come in one batch. The records before the end are kept, the range ends."""
        stream = SideStream(_Unconnected(), "source", 10.0)
        stream.open("t", 0, 5, 40)
        stream.open("t", 1, 0, 3)
        batch = _msgs("t", 0, range(5, 30)) + [_eof("t", 0, 30)] + _msgs("t", 1, range(3))
        assert stream.receive(batch) == {("t", 0), ("t", 1)}
        msgs, ended = stream.take(("t", 0))
        assert [m.offset() for m in msgs] == list(range(5, 30)) and ended
        msgs, ended = stream.take(("t", 1))
        assert [m.offset() for m in msgs] == [0, 1, 2] and ended

    def test_records_past_the_end_twice_or_of_a_closed_range_are_dropped(self):
        stream = SideStream(_Unconnected(), "target", 10.0)
        stream.open("t", 0, 0, 10)
        stream.open("u", 0, 0, 10)
        stream.receive(_msgs("t", 0, range(4)))
        stream.close(("u", 0))
        stream.receive(_msgs("t", 0, range(2, 12)) + _msgs("u", 0, range(3)))
        msgs, ended = stream.take(("t", 0))
        assert [m.offset() for m in msgs] == list(range(10)) and ended
