"""Reading both clusters for a comparison: topic state, windows, partition streams.

Read-only. Consumers are assigned partitions directly (no group join, no commits),
read with ``read_committed`` so transaction markers and aborted records never reach
the aligner, and stop at the window's end offset; :class:`SideStream` reads many
partition ranges through one consumer at once. Fetch buffers are capped, so a
partition stream holds a few megabytes whatever the window's size. Every call has a
timeout; a partition that stops answering raises :class:`ClusterError` in words.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec

from console.compare.records import fingerprint
from console.compare.tally import Pending
from console.errors import Cancelled
from console.kafka import provenance
from console.kafka.client import (
    ClusterError,
    admin_client,
    client_config,
    connect_error,
    error_name,
)
from console.plan import ClusterSpec

# Per-consumer fetch limits. They bound memory per partition stream (librdkafka keeps
# up to about queued.max.messages.kbytes of fetched records per partition) while
# still fetching enough per round trip to keep up with the brokers.
_FETCH = {
    "fetch.max.bytes": 4 * 1024 * 1024,
    "max.partition.fetch.bytes": 1 * 1024 * 1024,
    "queued.max.messages.kbytes": 4 * 1024,
    "queued.min.messages": 20_000,
    "fetch.wait.max.ms": 100,
    # librdkafka waits this long before fetching again for a partition whose queue is
    # full (default 1 s): long enough to starve a stream consumed as fast as it comes.
    "fetch.queue.backoff.ms": 20,
}
# Reading one record per partition: small fetches, so every partition answers at once.
_PEEK = {
    "fetch.max.bytes": 8 * 1024 * 1024,
    "max.partition.fetch.bytes": 64 * 1024,
    "queued.min.messages": 1,
    "fetch.wait.max.ms": 10,
    "fetch.queue.backoff.ms": 10,
}
BATCH = 5_000
_ERROR = Message.error


def _consume(consumer: Consumer, n: int, wait: float) -> list:
    """Up to ``n`` records, waiting at most ``wait`` s for the first one and no longer.

    ``consume(n, timeout)`` alone returns only when ``n`` records came or the timeout
    ran out, so every read smaller than a batch (a small partition, the end of any
    partition) cost the whole timeout: measured, 0.5 s per partition and side.
    """
    msgs = consumer.consume(n, 0)
    if msgs or wait <= 0:
        return msgs
    msgs = consumer.consume(1, wait)
    if msgs and n > 1:
        msgs.extend(consumer.consume(n - 1, 0))
    return msgs


@dataclass(frozen=True)
class PartitionState:
    """One partition's offsets on one side."""

    partition: int
    log_start: int
    end: int
    """Read-committed end (the last stable offset): where a window ending "now" stops."""


@dataclass(frozen=True)
class TopicState:
    """One topic on one side: whether it exists, its id and its partitions."""

    name: str
    exists: bool
    topic_id: str | None
    partitions: dict[int, PartitionState]
    denied: str = ""


class Side:
    """One cluster as the comparison reads it."""

    def __init__(self, name: str, spec: ClusterSpec, password: str | None) -> None:
        self.name = name
        self.spec = spec
        self.password = password
        self.timeout = spec.request_timeout_s
        self._admin = None
        self._trap = None

    def admin(self):
        if self._admin is None:
            self._admin, self._trap = admin_client(
                self.spec,
                self.password,
                client_id=f"{provenance.SHADOW_CLIENT_PREFIX}compare-{self.name}",
            )
            try:
                self._admin.list_topics(timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - librdkafka raises several kinds here
                raise connect_error(self.name, self.spec, self._admin, self._trap, exc) from None
        return self._admin

    def consumer(self, *, committed: bool = True, peek: bool = False) -> Consumer:
        """A consumer for streaming a window, or (``peek``) for reading single records."""
        conf = client_config(
            self.spec,
            self.password,
            client_id=f"{provenance.SHADOW_CLIENT_PREFIX}compare-{self.name}",
        )
        conf.update(_PEEK if peek else _FETCH)
        conf.update(
            {
                # Never joined or committed: assign() only. Named so nobody mistakes it.
                "group.id": f"{provenance.SHADOW_CLIENT_PREFIX}compare",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed" if committed else "read_uncommitted",
            }
        )
        return Consumer(conf)

    def topic_states(self, topics: list[str]) -> dict[str, TopicState]:
        """Ids, partitions and offsets of some topics; absent topics are marked as such."""
        admin = self.admin()
        out: dict[str, TopicState] = {}
        futures = admin.describe_topics(TopicCollection(topics), request_timeout=self.timeout)
        described = {}
        for topic, fut in futures.items():
            try:
                described[topic] = fut.result(timeout=self.timeout + 1)
            except Exception as exc:  # noqa: BLE001
                name = error_name(exc)
                if "AUTHORIZATION" in name:
                    out[topic] = TopicState(topic, False, None, {}, denied=name)
                elif "UNKNOWN_TOPIC" in name:
                    out[topic] = TopicState(topic, False, None, {})
                else:
                    raise ClusterError(
                        f"{self.name}: cannot describe topic '{topic}' ({name}); "
                        "check the cluster is healthy and try again"
                    ) from None
        wanted = [TopicPartition(t, p.id) for t, d in described.items() for p in d.partitions]
        earliest, latest = self._offsets(wanted, OffsetSpec.earliest(), OffsetSpec.latest())
        for topic, desc in described.items():
            parts = {
                p.id: PartitionState(
                    p.id, earliest.get((topic, p.id), 0), latest.get((topic, p.id), 0)
                )
                for p in desc.partitions
            }
            out[topic] = TopicState(topic, True, str(desc.topic_id), parts)
        return out

    def _offsets(self, wanted: list[TopicPartition], *specs) -> list[dict[tuple[str, int], int]]:
        """Offsets of every partition, per spec; the requests for all specs are in flight
        together (one round trip, not one per spec)."""
        if not wanted:
            return [{} for _ in specs]
        requests = [
            self.admin().list_offsets(
                {tp: spec for tp in wanted},
                isolation_level=IsolationLevel.READ_COMMITTED,
                request_timeout=self.timeout,
            )
            for spec in specs
        ]
        found = []
        for futures in requests:
            out = {}
            for tp, fut in futures.items():
                try:
                    out[(tp.topic, tp.partition)] = fut.result(timeout=self.timeout + 1).offset
                except Exception as exc:  # noqa: BLE001
                    raise ClusterError(
                        f"{self.name}: cannot read the offsets of {tp.topic}[{tp.partition}] "
                        f"({error_name(exc)}); check the principal may DESCRIBE the topic"
                    ) from None
            found.append(out)
        return found

    def offsets_for_times(
        self, times: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int | None]:
        """First offset at or after a time, per (topic, partition); None past the end.
        Every topic in one call: one consumer and one round trip per broker.

        A partition answered with an error (a leader moving, a topic still being
        created) is asked once more with a new consumer, then refused: an error read
        as "past the end" would turn a window into an empty one."""
        if not times:
            return {}
        out: dict[tuple[str, int], int | None] = {}
        pending = dict(times)
        for attempt in range(2):
            failed = {}
            for tp in self._offsets_for_times_once(pending):
                key = (tp.topic, tp.partition)
                if tp.error is not None:
                    failed[key] = tp.error
                else:
                    out[key] = tp.offset if tp.offset >= 0 else None
            if not failed:
                return out
            pending = {key: times[key] for key in failed}
            if attempt == 0:
                time.sleep(0.5)
        (topic, p), error = next(iter(failed.items()))
        raise ClusterError(
            f"{self.name}: cannot look up offsets by time for {topic}[{p}]"
            f"{f' and {len(failed) - 1} more' if len(failed) > 1 else ''} "
            f"({error.name() if hasattr(error, 'name') else error}); check it exists and "
            "has a leader, then try again"
        )

    def _offsets_for_times_once(self, times: dict[tuple[str, int], int]) -> list[TopicPartition]:
        consumer = self.consumer()
        try:
            return consumer.offsets_for_times(
                [TopicPartition(t, p, ms) for (t, p), ms in times.items()], timeout=self.timeout
            )
        except KafkaException as exc:
            topics = sorted({t for t, _p in times})
            raise ClusterError(
                f"{self.name}: cannot look up offsets by time for "
                f"{', '.join(repr(t) for t in topics[:3])}{' ...' if len(topics) > 3 else ''} "
                f"({error_name(exc)})"
            ) from None
        finally:
            consumer.close()

    def timestamps_at(
        self, offsets: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int | None]:
        """The timestamp of the first committed record at or after each (topic, partition)
        offset (None when there is none), all of them in one assignment so it costs one
        round trip whatever the number of topics."""
        return {
            key: m.timestamp()[1] if m is not None else None
            for key, m in self.first_records_at(offsets).items()
        }

    def reverse_origins_at(
        self, offsets: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], tuple[int, int] | None]:
        """For each (topic, partition) offset, the target record (partition, offset) that the
        first committed record at or after it is a rollback's reverse copy of; None when
        that record is not a reverse copy or there is none. One round trip for all."""
        return {
            key: provenance.reverse_of(m.headers()) if m is not None else None
            for key, m in self.first_records_at(offsets).items()
        }

    def first_records_at(self, offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], Any]:
        """The first committed record at or after each (topic, partition) offset (None when
        there is none: the end), all of them in one assignment."""
        out: dict[tuple[str, int], Any] = {}
        if not offsets:
            return out
        consumer = self.consumer(peek=True)
        limit = max(self.timeout * 3, 10.0)
        deadline = time.monotonic() + limit
        try:
            consumer.assign([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
            while len(out) < len(offsets):
                if time.monotonic() > deadline:
                    missing = sorted(set(offsets) - set(out))
                    names = ", ".join(f"{t}[{p}]" for t, p in missing[:5])
                    raise ClusterError(
                        f"{self.name}: no answer reading {names}"
                        f"{' ...' if len(missing) > 5 else ''} within {limit:g} s; check the "
                        "cluster and try again"
                    )
                for m in _consume(consumer, 1000, 0.5):
                    key = (m.topic(), m.partition())
                    if key in out:
                        continue
                    err = m.error()
                    if err is None:
                        out[key] = m
                    elif err.code() == KafkaError._PARTITION_EOF:
                        out[key] = None
                    else:
                        where = f"{key[0]}[{key[1]}]" if key[0] else "the topics"
                        raise ClusterError(
                            f"{self.name}: reading {where} failed ({err.name()}); check the "
                            "principal may READ the topic"
                        )
                    # Answered: stop fetching it, so the others' records come through.
                    consumer.pause([TopicPartition(*key)])
        finally:
            consumer.close()
        return out


class PartitionReader:
    """One partition of one side, from ``lo`` up to (not including) ``hi``, in batches."""

    def __init__(
        self,
        consumer: Consumer,
        side: str,
        topic: str,
        partition: int,
        lo: int,
        hi: int,
        timeout: float,
        batch: int = BATCH,
    ) -> None:
        self.consumer = consumer
        self.side = side
        self.topic = topic
        self.partition = partition
        self.lo = lo
        self.hi = hi
        self.timeout = timeout
        self.batch = batch
        self.ended = hi <= lo
        self.first_offset: int | None = None
        if not self.ended:
            consumer.assign([TopicPartition(topic, partition, lo)])

    def next_batch(self, cancel: threading.Event | None) -> tuple[list, bool]:
        """The next records (possibly none) and whether the window's end was reached."""
        if self.ended:
            return [], True
        deadline = time.monotonic() + max(self.timeout * 3, 10.0)
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"cancelled while reading {self.side} {self.topic}")
            msgs = _consume(self.consumer, self.batch, 0.5)
            if not msgs:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"{self.side}: no records from {self.topic}[{self.partition}] for "
                        f"{max(self.timeout * 3, 10.0):g} s although the window reaches offset "
                        f"{self.hi}; check the cluster is healthy, then compare again"
                    )
                continue
            first = msgs[0]
            if first.error() is None and (
                first.partition() != self.partition or first.topic() != self.topic
            ):
                # A consumer reused across partitions: drop anything from the previous one.
                msgs = [
                    m for m in msgs if m.partition() == self.partition and m.topic() == self.topic
                ]
                if not msgs:
                    continue
            good = msgs
            # map over the unbound method runs in C: no Python frame per record.
            if any(map(_ERROR, msgs)):
                good = []
                for m in msgs:
                    err = m.error()
                    if err is None:
                        good.append(m)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        if m.partition() == self.partition and m.topic() == self.topic:
                            self.ended = True
                    else:
                        self._raise(err)
            if good and good[-1].offset() >= self.hi - 1:
                if good[-1].offset() >= self.hi:
                    good = [m for m in good if m.offset() < self.hi]
                self.ended = True
            if good and self.first_offset is None:
                self.first_offset = good[0].offset()
            if good or self.ended:
                if self.ended:
                    self.consumer.unassign()
                return good, self.ended

    def _raise(self, err: KafkaError) -> None:
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION):
            raise TopicVanished(self.side, self.topic)
        if err.code() == KafkaError._AUTO_OFFSET_RESET:
            return  # retention removed records under us; the offsets show the jump
        raise ClusterError(
            f"{self.side}: reading {self.topic}[{self.partition}] failed ({err.name()}: "
            f"{err.str()}); check the principal may READ the topic and compare again"
        )


# How long one wait for records lasts when nothing has arrived on either side (s). A
# wait returns as soon as one record arrives; this only bounds how late the other
# side is looked at again.
WAIT = 0.02
_PARTITION = Message.partition
_TOPIC = Message.topic


class SideStream:
    """Many partition ranges of one side read through one consumer, all at once.

    Reading partitions one after another paid a fixed price for each, whatever its
    size: ``consume(n, timeout)`` returns only when ``n`` records came or the timeout
    ran out, so a partition smaller than a batch cost the whole timeout; then a new
    assignment waited for the fetch in flight, and a partition ending on a transaction
    marker waited for the broker's long poll to learn its end. With every open range
    assigned together those waits overlap, and a wait ends at the first record.

    Ranges are opened with :meth:`open` and read with :meth:`take` once :meth:`ready`
    (records buffered or the range's end reached); :meth:`poll` reads what has arrived.
    A range is unassigned as soon as its end offset is reached, so nothing past the
    window is fetched. A partition with more than :attr:`hold` records waiting is paused
    until they are taken, so memory stays bounded however far one side runs ahead. A
    pause drops what librdkafka had fetched ahead for the partition (it is fetched again
    on resume), so :attr:`hold` is several batches: a partition whose records are taken
    as they come is never paused.
    """

    def __init__(
        self,
        consumer: Consumer,
        side: str,
        timeout: float,
        *,
        batch: int = BATCH,
        hold: int = 4 * BATCH,
    ) -> None:
        self.consumer = consumer
        self.side = side
        self.timeout = timeout
        self.batch = batch
        self.hold = hold
        self._open: dict[tuple[str, int], list[int]] = {}  # key -> [next offset, hi]
        self._buf: dict[tuple[str, int], list] = {}
        self._ended: set[tuple[str, int]] = set()
        self._vanished: set[tuple[str, int]] = set()
        self._paused: set[tuple[str, int]] = set()
        self._assign: list[TopicPartition] = []
        self._unassign: list[TopicPartition] = []
        self._quiet_since: float | None = None
        self._polled = time.monotonic()
        # A consumer reused from an earlier stream starts with nothing assigned.
        consumer.unassign()

    def open(self, topic: str, partition: int, lo: int, hi: int) -> None:
        key = (topic, partition)
        self._buf[key] = []
        if hi <= lo:
            self._ended.add(key)
            return
        self._open[key] = [lo, hi]
        self._assign.append(TopicPartition(topic, partition, lo))

    def ready(self, key: tuple[str, int]) -> bool:
        return bool(self._buf[key]) or key in self._ended

    def take(self, key: tuple[str, int]) -> tuple[list, bool]:
        """The records read so far (possibly none) and whether the range's end was reached.
        Raises :class:`TopicVanished` when the partition's topic disappeared."""
        if key in self._vanished:
            raise TopicVanished(self.side, key[0])
        msgs = self._buf[key]
        self._buf[key] = []
        if key in self._paused:
            self._paused.discard(key)
            self.consumer.resume([TopicPartition(*key)])
        return msgs, key in self._ended

    def close(self, key: tuple[str, int]) -> None:
        """Forget a range (finished, or given up because its topic vanished)."""
        if self._open.pop(key, None) is not None:
            self._unassign.append(TopicPartition(*key))
        self._paused.discard(key)
        self._buf.pop(key, None)
        self._ended.discard(key)
        self._vanished.discard(key)

    def poll(self, wait: float, cancel: threading.Event | None, waiting) -> set:
        """Read what has arrived, waiting up to ``wait`` s for a first record when nothing
        has; returns the keys that got records or reached their end. ``waiting`` names
        the ranges someone waits for: when none of this side's ranges has answered for
        ``max(3 x timeout, 10 s)``, the first of them is named in a :class:`ClusterError`."""
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled while reading the {self.side}")
        self.sync()
        msgs = _consume(self.consumer, self.batch, wait if self._open else 0)
        now = time.monotonic()
        if not msgs:
            limit = max(self.timeout * 3, 10.0)
            # Quiet means quiet while waited for: a side nobody asked for a while is
            # given the full time again.
            if self._quiet_since is None or now - self._polled > 1.0:
                self._quiet_since = now
            self._polled = now
            if waiting and now - self._quiet_since > limit:
                topic, partition = next(iter(waiting))
                hi = self._open.get((topic, partition), [0, "its end"])[1]
                raise ClusterError(
                    f"{self.side}: no records from {topic}[{partition}] for {limit:g} s "
                    f"although the window reaches offset {hi}; check the cluster is healthy, "
                    "then compare again"
                )
            return set()
        self._quiet_since = None
        self._polled = now
        return self.receive(msgs)

    def receive(self, msgs: list) -> set:
        """Sort one consumed batch (records and partition events) into the open ranges;
        returns the keys that got records or reached their end."""
        arrived: set = set()
        ends: list = []
        if any(map(_ERROR, msgs)):
            msgs = self._errors(msgs, ends)
        if msgs:
            self._dispatch(msgs, arrived)
        # A partition's end comes after its records, often in the same batch: applied
        # only once those records are in.
        for key, vanished in ends:
            if key in self._open:
                if vanished:
                    self._vanished.add(key)
                self._end(key)
                arrived.add(key)
        return arrived

    def _dispatch(self, msgs: list, arrived: set) -> None:
        first, last = msgs[0], msgs[-1]
        key = (first.topic(), first.partition())
        if len(self._open) == 1 and key in self._open and key == (last.topic(), last.partition()):
            # One range open (the usual case for a big window): no sorting per record.
            self._add(key, msgs, arrived)
            return
        keys = list(zip(map(_TOPIC, msgs), map(_PARTITION, msgs), strict=True))
        start = 0
        for i in range(1, len(msgs)):
            if keys[i] != keys[start]:
                self._add(keys[start], msgs[start:i], arrived)
                start = i
        self._add(keys[start], msgs[start:] if start else msgs, arrived)

    def _add(self, key, msgs: list, arrived: set) -> None:
        state = self._open.get(key)
        if state is None:
            return  # a range already finished or given up: leftovers from its last fetch
        nxt, hi = state
        if msgs[0].offset() < nxt:
            # Delivered again (a paused partition may be fetched again from where the
            # application stopped): keep each record once.
            msgs = [m for m in msgs if m.offset() >= nxt]
            if not msgs:
                return
        last = msgs[-1].offset()
        if last >= hi - 1:
            if last >= hi:
                msgs = [m for m in msgs if m.offset() < hi]
            self._end(key)
        if msgs:
            state[0] = msgs[-1].offset() + 1
            buf = self._buf[key]
            if buf:
                buf.extend(msgs)
            else:
                self._buf[key] = buf = msgs
            if len(buf) > self.hold and key in self._open and key not in self._paused:
                self._paused.add(key)
                self.consumer.pause([TopicPartition(*key)])
        arrived.add(key)

    def _end(self, key) -> None:
        self._ended.add(key)
        del self._open[key]
        self._paused.discard(key)
        self._unassign.append(TopicPartition(*key))

    def _errors(self, msgs: list, ends: list) -> list:
        """The records of a batch; partition ends go to ``ends`` as (key, vanished)."""
        good = []
        for m in msgs:
            err = m.error()
            if err is None:
                good.append(m)
                continue
            key = (m.topic(), m.partition())
            code = err.code()
            if code == KafkaError._PARTITION_EOF:
                ends.append((key, False))
            elif code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION):
                ends.append((key, True))
            elif code == KafkaError._AUTO_OFFSET_RESET:
                continue  # retention removed records under us; the offsets show the jump
            elif key in self._buf or not m.topic():
                where = f"{key[0]}[{key[1]}]" if m.topic() else "the topics"
                raise ClusterError(
                    f"{self.side}: reading {where} failed ({err.name()}: {err.str()}); check "
                    "the principal may READ the topic and compare again"
                )
        return good

    def sync(self) -> None:
        """Make the queued assignment changes, together: one call each, not one per range.
        (Assigned first: a range opened and given up before it was ever assigned is in
        both lists.)"""
        if self._assign:
            self.consumer.incremental_assign(self._assign)
            self._assign = []
        if self._unassign:
            self.consumer.incremental_unassign(self._unassign)
            self._unassign = []

    def release(self) -> None:
        """Unassign everything, so the consumer can serve another stream."""
        self._assign, self._unassign = [], []
        self.consumer.unassign()


class TopicVanished(Exception):
    """A topic was deleted while it was being read (often: deleted and re-created)."""

    def __init__(self, side: str, topic: str) -> None:
        super().__init__(side, topic)  # plain args, so it survives a trip between processes
        self.side = side
        self.topic = topic

    def __str__(self) -> str:
        return f"{self.side}: topic '{self.topic}' disappeared while it was being compared"


def classify_extras(
    side: Side,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    candidates: list[Pending],
    *,
    with_aborted: bool,
    cancel: threading.Event | None,
) -> dict[int, tuple[str, int | None, int | None]]:
    """Second read of the source: which unmatched target records are duplicates (a copy
    of a committed source record) or aborted (a record of an aborted transaction).

    Reads the source partitions in ``ranges`` once with read_uncommitted and, when the
    first read saw offset gaps, once more with read_committed alongside, so any record
    seen only uncommitted is known to be aborted. Only records whose key is among the
    candidates' keys are fingerprinted. On repetitive data many source records share a
    key and value: the one named is the one whose timestamp and headers the target
    record carries too, in its own partition, else the first.
    """
    by_fp: dict[int, list[Pending]] = {}
    keys = set()
    for e in candidates:
        by_fp.setdefault(e.fp, []).append(e)
        keys.add(e.key)
    out: dict[int, tuple[str, int | None, int | None]] = {}
    fit: dict[int, tuple[bool, bool, bool]] = {}
    uncommitted = side.consumer(committed=not with_aborted)
    committed = side.consumer(committed=True) if with_aborted else None
    try:
        for p, (lo, hi) in sorted(ranges.items()):
            if hi <= lo:
                continue
            raw = PartitionReader(uncommitted, side.name, topic, p, lo, hi, side.timeout)
            good = (
                PartitionReader(committed, side.name, topic, p, lo, hi, side.timeout)
                if committed is not None
                else None
            )
            committed_at = _CommittedCursor(good, cancel) if good is not None else None
            while True:
                batch, ended = raw.next_batch(cancel)
                for m in batch:
                    k = m.key()
                    if k not in keys:
                        continue
                    found = by_fp.get(fingerprint(k, m.value()))
                    if not found:
                        continue
                    o = m.offset()
                    kind = "duplicate" if committed_at is None or committed_at.has(o) else "aborted"
                    ts, headers = m.timestamp(), m.headers()
                    hh = hash(tuple(headers)) if headers else 0
                    for e in found:
                        score = (ts == e.ts or ts[0] != e.ts[0], hh == e.hh, p == e.partition)
                        if id(e) not in fit or score > fit[id(e)]:
                            fit[id(e)] = score
                            out[id(e)] = (kind, p, o)
                if ended:
                    break
    finally:
        uncommitted.close()
        if committed is not None:
            committed.close()
    return out


class _CommittedCursor:
    """Walks the read_committed stream alongside the raw one: absent there = aborted."""

    def __init__(self, reader: PartitionReader, cancel: threading.Event | None) -> None:
        self.reader = reader
        self.cancel = cancel
        self.buf: list = []
        self.i = 0

    def has(self, offset: int) -> bool:
        while True:
            while self.i < len(self.buf) and self.buf[self.i].offset() < offset:
                self.i += 1
            if self.i < len(self.buf):
                return self.buf[self.i].offset() == offset
            if self.reader.ended:
                return False
            self.buf, self.i = self.reader.next_batch(self.cancel)[0], 0
