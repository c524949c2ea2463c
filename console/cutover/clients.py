"""Kafka clients for the consumer cutover: one admin client and one record reader per
cluster, kept for the life of a step (or a sampler process), and the reads they do.

The reader never joins or commits a group: it is assigned partitions at offsets and
reads with ``read_committed`` (what a consumer group reads), reporting the end of a
partition as an event, so "no record at or after this offset" is an answer, not a
timeout. Its fetches do not wait for data (``fetch.wait.max.ms`` low), because most of
its reads end at a partition's end.

Every call takes a deadline; errors become :class:`~console.kafka.client.ClusterError`
messages that name the cluster and what to check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from console.cutover.refine import Rec
from console.kafka import client as kafka
from console.kafka import rights
from console.kafka.client import ClusterError
from console.kafka.provenance import SHADOW_CLIENT_PREFIX
from console.plan import ClusterSpec
from console.shadow.mirror import positions_topic
from console.shadow.mirror.positions import read_positions_kept
from console.shadow.mm2.tail import Mm2Tail

TP = tuple[str, int]


@dataclass(frozen=True)
class Window:
    """Records of one partition read from an offset: ``done`` when the partition's end
    (read_committed) was reached, so nothing more follows them now."""

    records: list[Rec]
    done: bool


def at_once(*calls: Callable[[], Any], meanwhile: Callable[[], Any] | None = None) -> list[Any]:
    """Run independent reads at the same time, one thread each; their results in order.
    An exception of any is raised once all have ended.

    Each call must use clients no other call uses: one call per side, each with that
    side's own clients. Two requests on one client from two threads at once crashed the
    process (confluent-kafka 2.16: two ``list_offsets`` on one admin client, a
    segmentation fault). Only Kafka reads go here: the run database stays on the calling
    thread, where ``meanwhile`` (reads of the run database, say) runs while the calls
    do; its result comes last."""
    if len(calls) == 1 and meanwhile is None:
        return [calls[0]()]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="cutover-read") as pool:
        futures = [pool.submit(call) for call in calls]
        extra = [meanwhile()] if meanwhile is not None else []
        return [future.result() for future in futures] + extra


def drain(consumer: Consumer, wait: float = 0.1) -> list:
    """What the consumer holds now (up to 500 messages and events); when it holds nothing,
    the first to arrive within ``wait`` seconds.

    ``consume(n, timeout)`` returns only once it has ``n`` messages or the timeout has
    passed: asked for more than had arrived, each call waited out its timeout, and
    reading a group's alignment windows took 0.18 s per read (bench/offsets.py, MM2
    path). Taking what is there, and otherwise waiting for the first message only,
    returns as soon as anything arrives."""
    batch = consumer.consume(500, 0)
    return batch if batch else consumer.consume(1, wait)


def _drop(consumer: Consumer, finished: list[TP]) -> None:
    """Stop fetching partitions a read is done with, by taking them out of the assignment.

    Not ``pause``: a paused partition stayed paused across ``unassign``/``assign``, and
    the ``resume`` the next read then needed reached the fetcher only about 1.0 s later
    (librdkafka 2.16 debug log, bench/offsets.py MM2 path): reads of a partition set
    stalled for a second now and then. Messages of a dropped partition still queued are
    ignored by the reads."""
    consumer.incremental_unassign([TopicPartition(t, p) for t, p in finished])


class Side:
    """One cluster as the cutover reads and changes it."""

    def __init__(self, name: str, spec: ClusterSpec, password: str | None) -> None:
        self.name = name
        self.spec = spec
        self.password = password
        self._admin: AdminClient | None = None
        self._trap: kafka.ErrorTrap | None = None
        self._reader: Consumer | None = None
        self._lock = threading.Lock()
        self._known_topics: set[str] = set()
        """Topics the reader has metadata for (see :meth:`_know`)."""
        self._facts: rights.ClusterFacts | None = None
        """ACL bindings and broker settings, read once per step run (see :meth:`facts`)."""

    def new_step(self) -> None:
        """A new step run begins on these clients: what was kept for the last one (the
        ACLs and broker settings) is read again when next needed."""
        self._facts = None

    def facts(self, deadline: float) -> rights.ClusterFacts:
        """The cluster's ACL bindings and authorizer settings, read once per step run with
        this side's admin client.

        Safe to keep for the run: a step run is one operator decision, taken on the
        evidence read at its start, and lasts seconds. Reading the ACLs again later in the
        same run would not make it safer (a change a moment after any read is just as
        possible), and nothing the run itself changes is judged from them: the fence it
        adds is checked by listing that binding and by asking the broker as the principal,
        both read fresh. The next run (the next group, or the same one again) reads them
        anew (:meth:`new_step`)."""
        if self._facts is None:
            self._facts = rights.cluster_facts(
                self.name, self.spec, self.admin, self._trap, deadline
            )
        return self._facts

    # -- clients -------------------------------------------------------------------------

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin, self._trap = kafka.admin_client(
                self.spec, self.password, client_id=f"{SHADOW_CLIENT_PREFIX}cutover-admin"
            )
        return self._admin

    @property
    def admin_and_trap(self) -> tuple[AdminClient, kafka.ErrorTrap | None]:
        """The open admin client and the trap its errors reach (a wrong password shows
        there)."""
        admin = self.admin
        return admin, self._trap

    def _reader_client(self) -> Consumer:
        if self._reader is None:
            conf = kafka.assigned_reader_config(
                self.spec, self.password, client_id=f"{SHADOW_CLIENT_PREFIX}cutover-reader"
            )
            conf["max.partition.fetch.bytes"] = 262_144
            self._reader = Consumer(conf)
        return self._reader

    def mirror_positions(self, plan, keys: set[TP], timeout: float) -> dict[TP, int]:
        """The built-in mirror's stored positions (this side being the target), read with
        this side's open clients: moving group after group logs in once, not per group."""
        with self._lock:
            reader = self._reader_client()
            self._know(reader, [positions_topic(plan.name)], time.monotonic() + timeout)
            return read_positions_kept(
                plan, self.password, keys, (self.admin, reader), timeout=timeout
            )

    def renew_admin(self) -> None:
        """Drop the admin client; the next request opens a new one. A group request on an
        admin client kept open across a broker restart timed out for good (describe and
        offsets of a group, seen on the sandbox with confluent-kafka 2.16), and reading the
        metadata again did not cure it: a new client answered at once."""
        self._admin = None
        self._trap = None

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self._known_topics.clear()
        self._admin = None
        self._facts = None

    def _know(self, consumer: Consumer, topics: Iterable[str], deadline: float) -> None:
        """Ask for the metadata of topics the reader has not read yet, before assigning
        them. Assigned without it, a partition waits for the client's own metadata
        refresh before its first fetch: measured here at 0.9 s per new topic against
        15 ms for asking first (most of what a group's move used to spend reading)."""
        for topic in sorted(set(topics) - self._known_topics):
            try:
                consumer.list_topics(topic, timeout=kafka.remaining(deadline, cap=5.0))
            except KafkaException:
                continue  # the read itself reports what is wrong; its deadline bounds it
            self._known_topics.add(topic)

    def fail(self, what: str, exc: BaseException) -> ClusterError:
        """A failed request, in words: authentication, unreachable, or the error's name."""
        if self._trap is not None and self._trap.auth_failure() is not None:
            return ClusterError(
                f"{self.name}: authentication failed for '{self.spec.sasl_username}'; check "
                "its password"
            )
        return ClusterError(
            f"{self.name}: {what} failed ({kafka.error_name(exc)}); check the cluster is "
            "reachable and the console's user may describe and read it"
        )

    # -- offsets -------------------------------------------------------------------------

    def offsets(self, tps: Iterable[TP], spec_fn, *, committed: bool, deadline: float) -> dict:
        """``list_offsets`` for many partitions at once (one request per broker)."""
        return self.offsets_at_once([(tps, spec_fn, committed)], deadline)[0]

    def offsets_at_once(
        self, requests: list[tuple[Iterable[TP], Any, bool]], deadline: float
    ) -> list[dict[TP, tuple[int, int]]]:
        """Several ``list_offsets`` requests (``requests``: (partitions, spec function,
        read_committed)) sent together on this side's admin client from the calling
        thread, then awaited (:meth:`console.kafka.client.Admin.list_offsets_many`): one
        round trip for all, e.g. the ends and the log starts of the same partitions.
        Per request, partition -> (offset, timestamp)."""
        asked = []
        for tps, spec_fn, committed in requests:
            request = {TopicPartition(t, p): spec_fn() for t, p in tps}
            kwargs: dict[str, Any] = {"request_timeout": kafka.remaining(deadline)}
            if committed:
                kwargs["isolation_level"] = IsolationLevel.READ_COMMITTED
            asked.append((request, kwargs))
        return [
            {tp: (info.offset, info.timestamp) for tp, info in found.items()}
            for found in self._list_offsets(asked, "listing offsets", deadline)
        ]

    def _list_offsets(self, asked: list[tuple[dict, dict]], what: str, deadline: float):
        """The answers of ``list_offsets`` requests sent at once (empty ones are not
        sent): per request, partition -> the answer's info."""
        wanted = [(request, kwargs) for request, kwargs in asked if request]
        try:
            sent = iter(self.admin.list_offsets_many(wanted) if wanted else [])
            out = []
            for request, _kwargs in asked:
                futures = next(sent) if request else {}
                out.append(
                    {
                        (tp.topic, tp.partition): future.result(
                            timeout=kafka.remaining(deadline) + 1
                        )
                        for tp, future in futures.items()
                    }
                )
            return out
        except (KafkaException, TimeoutError) as exc:
            raise self.fail(what, exc) from None

    def ends(self, tps: Iterable[TP], deadline: float) -> dict[TP, int]:
        """The end offset a read_committed consumer reaches (the last stable offset)."""
        found = self.offsets(tps, OffsetSpec.latest, committed=True, deadline=deadline)
        return {tp: offset for tp, (offset, _ts) in found.items()}

    def starts(self, tps: Iterable[TP], deadline: float) -> dict[TP, int]:
        found = self.offsets(tps, OffsetSpec.earliest, committed=False, deadline=deadline)
        return {tp: offset for tp, (offset, _ts) in found.items()}

    def ends_and_starts(
        self, ends: Iterable[TP], starts: Iterable[TP], deadline: float
    ) -> tuple[dict[TP, int], dict[TP, int]]:
        """:meth:`ends` and :meth:`starts` in one round trip (:meth:`offsets_at_once`)."""
        found_ends, found_starts = self.offsets_at_once(
            [(ends, OffsetSpec.latest, True), (starts, OffsetSpec.earliest, False)], deadline
        )
        return (
            {tp: offset for tp, (offset, _ts) in found_ends.items()},
            {tp: offset for tp, (offset, _ts) in found_starts.items()},
        )

    def for_time(self, tps: Iterable[TP], ms: int, deadline: float) -> dict[TP, int]:
        """The first offset whose timestamp is at or after ``ms``; past the newest record
        Kafka answers -1, which means the end: the end offset is returned then."""
        return self.for_times(dict.fromkeys(tps, ms), deadline)

    def for_times(self, times: dict[TP, int], deadline: float) -> dict[TP, int]:
        """:meth:`for_time` with a time of its own per partition, in one request."""
        return self.for_times_at_once([times], deadline)[0]

    def for_times_at_once(
        self, lookups: list[dict[TP, int]], deadline: float
    ) -> list[dict[TP, int]]:
        """Several :meth:`for_times` lookups (a partition may be in more than one, with
        another time) sent together, then awaited: one round trip for all; the ends of
        any partition past its newest record in one more."""
        asked = [
            (
                {
                    TopicPartition(t, p): OffsetSpec.for_timestamp(ms)
                    for (t, p), ms in times.items()
                },
                {
                    "request_timeout": kafka.remaining(deadline),
                    "isolation_level": IsolationLevel.READ_COMMITTED,
                },
            )
            for times in lookups
        ]
        found = [
            {tp: info.offset for tp, info in answers.items()}
            for answers in self._list_offsets(asked, "looking offsets up by time", deadline)
        ]
        past = sorted({tp for one in found for tp, offset in one.items() if offset < 0})
        if past:
            end = self.ends(past, deadline)
            for one in found:
                one.update({tp: end.get(tp, offset) for tp, offset in one.items() if offset < 0})
        return found

    # -- records -------------------------------------------------------------------------

    def first_records(self, starts: dict[TP, int], deadline: float) -> dict[TP, Rec | None]:
        """Per partition, the first committed record at or after its start offset, or
        None when the partition ends (read_committed) before any."""
        if not starts:
            return {}
        with self._lock:
            consumer = self._reader_client()
            self._know(consumer, (t for t, _p in starts), deadline)
            assigned = [TopicPartition(t, p, o) for (t, p), o in starts.items()]
            consumer.assign(assigned)
            pending = dict(starts)
            found: dict[TP, Rec | None] = {}
            try:
                while pending:
                    if time.monotonic() > deadline:
                        raise ClusterError(
                            f"{self.name}: reading {len(pending)} partition(s) did not finish "
                            f"in time (first: {next(iter(pending))}); check the cluster"
                        )
                    # As many as partitions wait: the call returns once each could have
                    # answered, instead of waiting out its timeout for a full batch.
                    for msg in drain(consumer):
                        tp = (msg.topic(), msg.partition())
                        start = pending.get(tp)
                        if start is None:
                            continue
                        err = msg.error()
                        if err is None:
                            if msg.offset() >= start:
                                found[tp] = Rec.of(msg)
                                del pending[tp]
                        elif err.code() == KafkaError._PARTITION_EOF:
                            if msg.offset() >= start:
                                found[tp] = None
                                del pending[tp]
                        else:
                            self._read_error(tp, start, err)
            finally:
                consumer.unassign()
            return found

    def windows(self, wanted: dict[TP, tuple[int, int]], deadline: float) -> dict[TP, Window]:
        """Per partition, up to ``count`` committed records from ``start`` on
        (``wanted``: partition -> (start, count)), all partitions in one assignment: a
        partition leaves the assignment once it has its records or has reached its end."""
        if not wanted:
            return {}
        with self._lock:
            consumer = self._reader_client()
            self._know(consumer, (t for t, _p in wanted), deadline)
            assigned = [TopicPartition(t, p, start) for (t, p), (start, _n) in wanted.items()]
            consumer.assign(assigned)
            out: dict[TP, list[Rec]] = {tp: [] for tp in wanted}
            done: dict[TP, bool] = {tp: False for tp, (_s, count) in wanted.items() if count <= 0}
            try:
                while len(done) < len(wanted):
                    if time.monotonic() > deadline:
                        tp = next(tp for tp in wanted if tp not in done)
                        raise ClusterError(
                            f"{self.name}: reading {tp[0]}[{tp[1]}] from {wanted[tp][0]} did "
                            "not finish in time; check the cluster"
                        )
                    finished = []
                    for msg in drain(consumer):
                        tp = (msg.topic(), msg.partition())
                        if tp not in wanted or tp in done:
                            continue
                        start, count = wanted[tp]
                        err = msg.error()
                        if err is None:
                            if msg.offset() >= start:
                                out[tp].append(Rec.of(msg))
                                if len(out[tp]) >= count:
                                    done[tp] = False
                                    finished.append(tp)
                        elif err.code() == KafkaError._PARTITION_EOF:
                            if msg.offset() >= start:
                                done[tp] = True
                                finished.append(tp)
                        else:
                            self._read_error(tp, start, err)
                    if finished:
                        _drop(consumer, finished)
            finally:
                consumer.unassign()
            return {tp: Window(out[tp], done[tp]) for tp in wanted}

    def count_records(self, tp: TP, start: int, end: int, cap: int, deadline: float) -> int | None:
        """Committed records with offsets in ``[start, end)``; None when more than ``cap``
        would have to be read to tell."""
        return self.count_many({tp: (start, end)}, cap, deadline)[tp]

    def count_many(
        self, ranges: dict[TP, tuple[int, int]], cap: int, deadline: float
    ) -> dict[TP, int | None]:
        """Per partition, committed records with offsets in ``[start, end)`` (``ranges``:
        partition -> (start, end)), all in one assignment; None for a partition when more
        than ``cap`` would have to be read to tell, or the deadline passed first."""
        out: dict[TP, int | None] = {tp: 0 for tp, (start, end) in ranges.items() if end <= start}
        todo = {tp: r for tp, r in ranges.items() if tp not in out}
        if not todo:
            return out
        with self._lock:
            consumer = self._reader_client()
            self._know(consumer, (t for t, _p in todo), deadline)
            assigned = [TopicPartition(t, p, start) for (t, p), (start, _e) in todo.items()]
            consumer.assign(assigned)
            seen = dict.fromkeys(todo, 0)
            try:
                while len(out) < len(ranges):
                    if time.monotonic() > deadline:
                        out.update({tp: None for tp in todo if tp not in out})
                        break
                    finished = []
                    for msg in drain(consumer):
                        tp = (msg.topic(), msg.partition())
                        if tp not in todo or tp in out:
                            continue
                        start, end = todo[tp]
                        err = msg.error()
                        if err is None:
                            if msg.offset() >= end:
                                out[tp] = seen[tp]
                            elif msg.offset() >= start:
                                seen[tp] += 1
                                if seen[tp] > cap:
                                    out[tp] = None
                        elif err.code() == KafkaError._PARTITION_EOF:
                            if msg.offset() >= start:
                                out[tp] = seen[tp]
                        else:
                            self._read_error(tp, start, err)
                        if tp in out:
                            finished.append(tp)
                    if finished:
                        _drop(consumer, finished)
            finally:
                consumer.unassign()
            return out

    def _read_error(self, tp: TP, start: int, err: KafkaError) -> None:
        if err.code() in (KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET):
            raise ClusterError(
                f"{self.name}: offset {start} of {tp[0]}[{tp[1]}] is outside the log "
                "(deleted by retention, or beyond its end)"
            )
        if "AUTHORIZATION" in err.name():
            raise ClusterError(
                f"{self.name}: not allowed to read {tp[0]}; grant the console's user READ on it"
            )
        # Anything else is transient (leader moves, fetch errors): the deadline bounds it.


class Sides:
    """Both clusters of a plan, opened lazily and closed together."""

    def __init__(self, plan, passwords: dict[str, str | None]) -> None:
        self.source = Side("source", plan.clusters.source, passwords.get("source"))
        self.target = Side("target", plan.clusters.target, passwords.get("target"))
        self._passwords = dict(passwords)
        self._mm2_tail: Mm2Tail | None = None

    def mm2_tail(self, plan) -> Mm2Tail:
        """MirrorMaker 2's internal topics, read incrementally with clients of their own for
        as long as these Sides are open (see :mod:`console.shadow.mm2.tail`)."""
        if self._mm2_tail is None:
            self._mm2_tail = Mm2Tail(plan, self._passwords)
        return self._mm2_tail

    def __enter__(self) -> Sides:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def new_step(self) -> None:
        """A new step run begins (see :meth:`Side.new_step`)."""
        self.source.new_step()
        self.target.new_step()

    def close(self) -> None:
        self.source.close()
        self.target.close()
        if self._mm2_tail is not None:
            self._mm2_tail.close()
            self._mm2_tail = None
