"""The built-in exactly-once mirror: copies the plan's topics from source to target.

Every committed source record is copied to the same topic and partition on the target
with its key, value, headers and timestamp, plus one provenance header
(``console.kafka.provenance.HEADER`` = ``"<partition>:<offset>"``) naming where it came from.

How "exactly once" is kept across two clusters:

* The source is read with ``isolation.level=read_committed``, so aborted records and
  transaction markers never reach the target.
* The target is written by one transactional producer (``transactional.id`` =
  :func:`mirror_id`, client ids starting with ``provenance.SHADOW_CLIENT_PREFIX``).
  The mirror's source position is stored **on the target, in the same transaction**
  as the records: a compacted one-partition topic :func:`positions_topic` gets one
  record per source partition (``"<topic>:<partition>"`` -> next source offset) with
  every transaction. Records and positions therefore commit or vanish together.
* Why not ``send_offsets_to_transaction`` into the target's ``__consumer_offsets``?
  It works across clusters (measured, 3.9.1 -> 4.1.1: the source consumer's group
  metadata is accepted by the target for a group nobody joins, once the topic exists
  there), but with librdkafka 2.16 the call can hang past its timeout when the
  target's group coordinator restarts (confluentinc/librdkafka#5456 and #5511, both
  open); our broker-restart test hung in it every time. Positions written as records
  take the ordinary produce path, which rides through restarts.
* On start the new producer's ``init_transactions`` fences any earlier instance and
  completes or aborts its open transaction; only then are the positions read back
  (read_committed) and the source consumer assigned there (``assign()``, never
  ``subscribe()``). A partition with no position starts at the source's earliest
  offset, never "latest".
* An abortable error aborts the transaction and rewinds the consumer to the last
  committed positions; a fatal one ends the process with a one-line message. So a
  ``kill -9`` at any moment, or a broker restart on either side, loses nothing and
  copies nothing twice.

Timestamps: CreateTime is preserved. For a source topic with
``message.timestamp.type=LogAppendTime`` the source's append time is sent as the
record timestamp; a target topic the mirror creates copies the timestamp type, so the
target broker stamps its own append time (as it will after cutover) and the two sides
differ by the mirror's lag. Compare such topics' timestamps with that tolerance.

Target topics that are missing are created (same partition count, the configs that
change behaviour, see :data:`COPIED_CONFIGS`) only when the plan's
``create_on_target`` allows it; otherwise the mirror refuses to start and names every
missing topic. Kafka topics carry no tags, so each creation is written to the audit
log, before and after, with the client id that made it.

The exact offset map (:mod:`console.shadow.mirror.offset_map`) is fed from the producer's delivery
reports: only the first and last record of each partition's slice of a consumed
batch carry a callback (per-record callbacks cost a third of the throughput); the
records in between are contiguous exactly when ``last - first + 1`` equals their
count, and otherwise (another producer wrote into the same partition meanwhile) the
slice is read back from the target by provenance header. Runs are written after the
Kafka commit, one SQLite transaction per mirror transaction; on start, records that
were committed to Kafka but whose runs never reached SQLite (a crash in between) are
recovered by reading the target partition's tail.

Producer cutover (:mod:`console.cutover.producers`): once every producer of a topic
moved to the target, the run database holds a **stop point** per partition (the source
end at the fence). The mirror copies nothing at or beyond it: it rewinds the partition
to the stop point and pauses it, so its stored position is exactly the fence point. It
re-reads the stop points every ``stops_every_s``; when a rollback lifts them it resumes
those partitions. Records a rollback's reverse copy wrote to the source carry
``provenance.REVERSE_HEADER``: they are copies of target records, so the mirror passes
over them (counted as ``skipped``) and never copies them back.

This is an engine module: no Textual. ``run`` is the body of the ``cutover mirror``
background process (see :mod:`console.shadow.mirror.process`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import NewTopic, OffsetSpec

from console import redact
from console.errors import Progress
from console.kafka import provenance
from console.kafka.client import ClusterError, ErrorTrap, answer, client_config, error_name
from console.plan import Plan
from console.shadow.mirror import offset_map
from console.shadow.mirror.positions import (
    POSITIONS_CONFIG,
    committed_reader,
    position_key,
    positions_topic,
    read_positions,
    read_range,
)
from console.shadow.mirror.topics import (
    HEADROOM_BYTES,
    STEP,
    MirrorError,
    TopicCheck,
    admin_for,
    ensure_target_topics,
    mirror_id,
    wait_for_leaders,
)
from console.store import Store, StoreError


class _Wedged(Exception):
    """A transactional call that kept timing out until its time to give up."""


class _Abortable(Exception):
    """The current transaction must be aborted and the consumer rewound."""


@dataclass(frozen=True)
class MirrorSettings:
    """Tuning. Defaults measured on the sandbox (see bench/README.md)."""

    txn_interval_s: float = 0.25
    """Commit a transaction at least this often while records flow (seconds)."""
    txn_max_records: int = 100_000
    """...or once it holds this many records."""
    batch_records: int = 10_000
    """Records asked of the consumer per call."""
    poll_timeout_s: float = 0.1
    """How long one consume call waits when the source is idle (seconds)."""
    op_timeout_s: float = 30.0
    """Timeout of each Kafka call (seconds)."""
    commit_deadline_s: float = 120.0
    """How long retriable commit/abort errors (a broker restarting) are retried (seconds)."""
    renew_after_s: float = 30.0
    """An abort still timing out after this long is given up and the target producer
    replaced (seconds): after a target broker restart librdkafka's producer was seen
    never to finish it (ci38: four 30 s timeouts in a row while the broker answered)."""
    heartbeat_s: float = 2.0
    """How often the process reports in the run database (seconds)."""
    transaction_timeout_ms: int = 60_000
    """The target aborts a transaction left open this long (a dead mirror)."""
    stops_every_s: float = 0.5
    """How often the producer cutover's stop points are read again (seconds)."""


@dataclass(frozen=True)
class MirrorStats:
    """What the mirror did in this process."""

    copied: int
    transactions: int
    aborts: int
    runs_recorded: int
    recovered: int
    elapsed_s: float
    skipped: int = 0
    """Reverse copies passed over (records a rollback wrote back to the source)."""


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


# -- the copy --------------------------------------------------------------------------------


class _Slice:
    """One partition's records from one consumed batch, as produced to the target."""

    __slots__ = ("topic", "partition", "sources", "first", "last", "error")

    def __init__(self, topic: str, partition: int):
        self.topic = topic
        self.partition = partition
        self.sources: list[int] = []
        self.first: int | None = None
        self.last: int | None = None
        self.error: KafkaError | None = None

    def on_first(self, err, msg) -> None:
        if err is not None:
            self.error = err
        else:
            self.first = msg.offset()

    def on_last(self, err, msg) -> None:
        if err is not None:
            self.error = err
        else:
            self.last = msg.offset()

    def on_only(self, err, msg) -> None:
        if err is not None:
            self.error = err
        else:
            self.first = self.last = msg.offset()


def _kafka_error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


class Mirror:
    """The copy loop. ``open`` prepares, ``run`` copies until stopped, ``close`` releases.

    Audit entries and offset-map runs go to ``store``; one-line progress messages to
    ``progress``.
    """

    def __init__(
        self,
        plan: Plan,
        passwords: dict[str, str | None],
        store: Store,
        *,
        settings: MirrorSettings | None = None,
        progress: Progress = say,
    ):
        self.plan = plan
        self.passwords = passwords
        self.store = store
        self.settings = settings or MirrorSettings()
        self.progress = progress
        self.id = mirror_id(plan.name)
        self.copied = 0
        self.transactions = 0
        self.aborts = 0
        self.renewals = 0
        self.runs_recorded = 0
        self.recovered = 0
        self.skipped = 0
        self._stops: dict[tuple[str, int], int] = {}
        self._paused: set[tuple[str, int]] = set()
        self._stops_read = 0.0
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self.positions = positions_topic(plan.name)
        self._tps: list[TopicPartition] = []
        self._start: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._slices: list[_Slice] = []
        self._in_txn = False
        self._txn_records = 0
        self._txn_started = 0.0
        self._consecutive_aborts = 0
        self._force_positions = False
        self._last_note: dict[str, float] = {}
        self._source_trap = ErrorTrap()
        self._target_trap = ErrorTrap()
        self._started_at = time.monotonic()
        self.intent_seq: int | None = None
        """Audit sequence of the mirror.copy intent entry, once logged."""

    # -- opening -------------------------------------------------------------------------

    def open(self) -> list[TopicCheck]:
        """Check/create topics, fence older instances, resume, reconcile the offset map."""
        s = self.settings
        plan = self.plan
        checks = ensure_target_topics(
            plan, self.passwords, store=self.store, timeout=s.op_timeout_s, progress=self.progress
        )
        self._ensure_positions_topic()
        for check in checks:
            if check.note:
                self.progress(f"note: {check.name}: {check.note}")
        max_bytes, batch_bytes = self._sizes(checks)
        src_spec, dst_spec = plan.clusters.source, plan.clusters.target
        consumer_conf = client_config(
            src_spec,
            self.passwords.get("source"),
            client_id=f"{self.id}-source",
            trap=self._source_trap,
        )
        consumer_conf.update(
            {
                "group.id": self.id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                # Never jump silently: a position the source no longer has is reported.
                "auto.offset.reset": "error",
                "enable.partition.eof": False,
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": max(8 * 1024 * 1024, max_bytes),
                "queued.max.messages.kbytes": 256 * 1024,
                "fetch.wait.max.ms": 100,
            }
        )
        producer_conf = client_config(
            dst_spec,
            self.passwords.get("target"),
            client_id=f"{self.id}-target",
            trap=self._target_trap,
        )
        producer_conf.update(
            {
                "transactional.id": self.id,
                "transaction.timeout.ms": s.transaction_timeout_ms,
                "message.timeout.ms": s.transaction_timeout_ms,
                # librdkafka refuses a socket timeout above the transaction timeout.
                "socket.timeout.ms": min(60_000, s.transaction_timeout_ms),
                "enable.idempotence": True,
                "acks": "all",
                # Transactions flush on commit, so linger only shapes batches in between.
                "linger.ms": 10,
                "batch.size": batch_bytes,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "compression.type": "none",
                "message.max.bytes": max_bytes,
            }
        )
        tps = []
        for check in checks:
            tps.extend(TopicPartition(check.name, p) for p in range(check.source_partitions or 0))
        self._tps = tps

        self.intent_seq = self.store.log(
            "mirror.copy",
            step=STEP,
            params={
                "topics": [c.name for c in checks],
                "partitions": len(tps),
                "transactional_id": self.id,
                "positions_topic": self.positions,
                "source": src_spec.bootstrap_servers,
                "target": dst_spec.bootstrap_servers,
                "client_ids": [f"{self.id}-source", f"{self.id}-target"],
            },
        ).seq
        self._producer = Producer(producer_conf)
        producer = self._producer
        self._call(
            "initialising transactions on the target",
            lambda: producer.init_transactions(s.op_timeout_s),
        )
        # init_transactions has completed or aborted any transaction an earlier instance
        # left open, so what is committed now is the whole truth.
        wanted = {(tp.topic, tp.partition) for tp in tps}
        try:
            committed = read_positions(plan, self.passwords, wanted, timeout=s.op_timeout_s)
        except (KafkaException, TimeoutError) as exc:
            raise MirrorError(
                f"target: reading the mirror's stored positions failed ({error_name(exc)}); "
                f"check the target user may read {self.positions}"
            ) from None
        self._committed = {k: v for k, v in committed.items() if k in wanted}
        self._reconcile_map()
        self._consumer = Consumer(consumer_conf)
        self._start = self._resume_offsets()
        self._assign()
        self._refresh_stops(force=True)
        resumed = sum(1 for k in self._start if k in self._committed)
        self.progress(
            f"copying {len(checks)} topic(s), {len(tps)} partitions; resumed {resumed} "
            f"partition(s) from positions stored on the target, the rest from the earliest offset"
        )
        return checks

    @staticmethod
    def _sizes(checks: list[TopicCheck]) -> tuple[int, int]:
        """(producer message.max.bytes, producer batch.size) for these topics.

        A topic's max.message.bytes limits a whole record *batch*, and librdkafka does
        not split a batch the broker refuses, so batches stay within the smallest
        target topic's limit; a single record larger than that still travels alone.
        """
        largest = max((c.source_max_bytes or 0 for c in checks), default=0)
        smallest = min((c.target_max_bytes or 1_000_000 for c in checks), default=1_000_000)
        message_max = max(1_048_588, largest) + HEADROOM_BYTES * 2
        batch = max(16_384, min(1_000_000, smallest - HEADROOM_BYTES))
        return message_max, batch

    def _resume_offsets(self) -> dict[tuple[str, int], int]:
        """Where to start each partition: the stored position, or the source's earliest.

        A stored position below the source's earliest offset means retention removed
        records before they were copied; that is recorded in the audit log, not hidden.
        """
        assert self._consumer is not None
        start = {}
        for tp in self._tps:
            key = (tp.topic, tp.partition)
            low, _high = self._watermarks(tp)
            position = self._committed.get(key)
            if position is None:
                start[key] = low  # never copied: from the source's earliest, never "latest"
            elif position < low:
                self._source_gap(tp.topic, tp.partition, position, low)
                start[key] = low
                # Carry on from the earliest offset, and store that with the next commit.
                self._committed[key] = low
                self._force_positions = True
            else:
                start[key] = position
        return start

    def _watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        consumer = self._consumer
        assert consumer is not None
        return self._call(
            f"reading the source's offsets of {tp.topic}[{tp.partition}]",
            lambda: consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition),
                timeout=self.settings.op_timeout_s,
                cached=False,
            ),
        )

    def _source_gap(self, topic: str, partition: int, position: int, low: int) -> None:
        self.store.log(
            "mirror.source_gap",
            step=STEP,
            params={"topic": topic, "partition": partition, "from": position, "to": low},
            outcome=f"source offsets {position}..{low - 1} were deleted before they were "
            "copied; continuing at the source's earliest offset",
        )
        self.progress(
            f"WARNING {topic}[{partition}]: source offsets {position}..{low - 1} were deleted "
            "by retention before the mirror copied them"
        )

    def _assign(self) -> None:
        assert self._consumer is not None
        self._consumer.assign(
            [
                TopicPartition(t, p, self._committed.get((t, p), self._start.get((t, p), -2)))
                for t, p in ((tp.topic, tp.partition) for tp in self._tps)
            ]
        )
        if self._paused:
            # assign() resumes every partition: pause again those held at a stop point.
            self._paused = set()
            self._refresh_stops(force=True)

    # -- producer cutover stop points ----------------------------------------------------------

    def _refresh_stops(self, *, force: bool = False) -> None:
        """Read the stop points again (every ``stops_every_s``): pause partitions that reached
        theirs, resume those whose stop was lifted by a rollback."""
        now = time.monotonic()
        if not force and now - self._stops_read < self.settings.stops_every_s:
            return
        self._stops_read = now
        try:
            stops = self.store.producers.mirror_stops()
        except StoreError as exc:
            raise MirrorError(f"reading the producer cutover's stop points failed: {exc}") from None
        wanted = {(tp.topic, tp.partition) for tp in self._tps}
        stops = {k: v for k, v in stops.items() if k in wanted}
        lifted = [k for k in self._paused if k not in stops]
        self._stops = stops
        consumer = self._consumer
        assert consumer is not None
        if lifted:
            consumer.resume([TopicPartition(t, p) for t, p in lifted])
            self._paused -= set(lifted)
            self.progress(f"resumed {len(lifted)} partition(s): their stop points were lifted")
        if not stops:
            return
        positions = consumer.position([TopicPartition(t, p) for t, p in stops])
        for tp in positions:
            key = (tp.topic, tp.partition)
            known = tp.offset if tp.offset >= 0 else self._committed.get(key)
            if known is not None and known >= stops[key] and key not in self._paused:
                # Beyond it already (copied before the stop point was known): pause where
                # it stands, never rewind, so the cutover sees what was copied past it.
                self._halt(key, stops[key], rewind=known == stops[key])

    def _halt(self, key: tuple[str, int], stop: int, *, rewind: bool = True) -> None:
        """Pause a partition at its stop point (rewinding a fetch that went past it): nothing
        at or beyond the source's fence point is copied, and the stored position is the
        fence point."""
        if key in self._paused:
            return
        consumer = self._consumer
        assert consumer is not None
        tp = TopicPartition(key[0], key[1], stop)
        consumer.pause([tp])
        if rewind:
            consumer.seek(tp)
        self._paused.add(key)
        self.progress(f"{key[0]}[{key[1]}]: stopped at source offset {stop} (producers moved)")

    # -- offset map recovery -----------------------------------------------------------------

    def _reconcile_map(self) -> None:
        """Recover runs for records committed to Kafka but never recorded in SQLite."""
        recovered: dict[str, int] = {}
        for (topic, partition), position in sorted(self._committed.items()):
            last = offset_map.last_run(self.store, topic, partition)
            if last is not None and last.src_end >= position:
                continue
            pairs = self._read_back(
                topic,
                partition,
                start=last.tgt_end if last else None,
                src_from=last.src_end if last else 0,
                src_below=position,
            )
            if not pairs:
                continue
            try:
                runs = offset_map.runs_from_pairs(topic, partition, pairs)
            except ValueError as exc:
                raise MirrorError(
                    f"the target's {topic}[{partition}] holds copies out of order or twice "
                    f"({exc}); the mirror's stored position was reset or another writer copied "
                    "these records; compare the topics before going on"
                ) from None
            self.runs_recorded += offset_map.record_runs(self.store, runs)
            recovered[f"{topic}[{partition}]"] = len(pairs)
            self.recovered += len(pairs)
        if recovered:
            self.store.log(
                "mirror.offset_map_recovered",
                step=STEP,
                params={"records": recovered},
                outcome="runs rebuilt from the target's provenance headers",
            )
            self.progress(f"offset map: recovered {self.recovered} record(s) from the target")

    def _read_back(
        self,
        topic: str,
        partition: int,
        *,
        start: int | None,
        src_from: int,
        src_below: int,
        until: int | None = None,
    ) -> list[tuple[int, int]]:
        """(source, target) offset pairs read from the target's provenance headers.

        Reads committed records only from ``start`` (or the partition's earliest) up to
        ``until`` (or the partition's last committed offset now); keeps pairs whose
        source offset is in ``[src_from, src_below)``.
        """
        s = self.settings
        tp = TopicPartition(topic, partition)
        admin = admin_for(self.plan, self.passwords, "target")
        reader = committed_reader(
            self.plan.clusters.target, self.passwords.get("target"), f"{self.id}-readback"
        )
        try:
            low = admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=s.op_timeout_s)
            low_offset = answer(low[tp], s.op_timeout_s).offset
            if until is None:
                end = admin.list_offsets(
                    {tp: OffsetSpec.latest()},
                    isolation_level=IsolationLevel.READ_COMMITTED,
                    request_timeout=s.op_timeout_s,
                )
                until = answer(end[tp], s.op_timeout_s).offset
            begin = low_offset if start is None else max(start, low_offset)
            if begin >= until:
                return []
            pairs = []
            deadline = time.monotonic() + s.op_timeout_s * 2
            for msg in read_range(reader, tp, begin, until, deadline):
                found = provenance.find(msg.headers())
                if found and found[0] == partition and src_from <= found[1] < src_below:
                    pairs.append((found[1], msg.offset()))
            return pairs
        except KafkaException as exc:
            raise MirrorError(
                f"target: reading back {topic}[{partition}] failed ({error_name(exc)}); "
                "check the target is reachable and retry"
            ) from None
        finally:
            reader.close()

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, on_beat: Callable[[str], None] | None = None) -> None:
        """Copy until ``stop`` is set; the transaction in flight is committed first."""
        s = self.settings
        assert self._consumer is not None and self._producer is not None
        beat_at = time.monotonic()
        beat_copied = self.copied
        while not stop.is_set():
            try:
                self._refresh_stops()
                # self._consumer each time: renewing the producer replaces it too.
                msgs = self._consumer.consume(s.batch_records, s.poll_timeout_s)
                if msgs:
                    self._copy(msgs)
                self._producer.poll(0)
                now = time.monotonic()
                if self._txn_records >= s.txn_max_records or (
                    now - self._txn_started >= s.txn_interval_s
                ):
                    self._commit()
            except _Abortable as exc:
                self._abort(str(exc))
            except KafkaException as exc:
                self._raise_fatal(exc, "copying")
            now = time.monotonic()
            if now - beat_at >= s.heartbeat_s:
                rate = (self.copied - beat_copied) / (now - beat_at)
                detail = self.describe(rate)
                if on_beat:
                    on_beat(detail)
                beat_at, beat_copied = now, self.copied
        # Stopping: finish what is in flight so nothing needs recovery next time. If the
        # target refuses it, abort: the next start copies those records again.
        try:
            self._commit()
        except _Abortable as exc:
            self._abort(str(exc), renew=False)  # the next start's fencing finishes it
        except KafkaException as exc:
            self._raise_fatal(exc, "committing the last transaction")

    def describe(self, rate: float | None = None) -> str:
        """One line for the heartbeat: records copied, rate, transactions."""
        text = f"{self.copied:,} records copied"
        if rate is not None:
            text += f", {rate:,.0f} rec/s"
        text += f", {self.transactions:,} txns"
        if self.skipped:
            text += f", {self.skipped:,} reverse copies passed over"
        if self._paused:
            text += f", {len(self._paused)} partition(s) stopped at a cutover point"
        if self.aborts:
            text += f", {self.aborts} aborted"
        if self.renewals:
            text += f", producer renewed {self.renewals}x"
        return text

    def _copy(self, msgs: list) -> None:
        producer = self._producer
        assert producer is not None
        by_partition: dict[tuple[str, int], list] = {}
        stops = self._stops
        reverse = provenance.REVERSE_HEADER
        for msg in msgs:
            if msg.error() is not None:
                self._consumer_event(msg)
                continue
            key = (msg.topic(), msg.partition())
            if stops:
                stop = stops.get(key)
                if stop is not None and msg.offset() >= stop:
                    self._halt(key, stop)
                    continue
            raw = msg.headers()
            if raw and any(h[0] == reverse for h in raw):
                # A rollback's copy of a target record: the target has the original.
                self.skipped += 1
                continue
            bucket = by_partition.get(key)
            if bucket is None:
                bucket = by_partition[key] = []
            bucket.append(msg)
        if not by_partition:
            return
        if not self._in_txn:
            self._begin()
        produce = producer.produce
        header = provenance.HEADER
        encode = provenance.encode
        for (topic, partition), records in by_partition.items():
            piece = _Slice(topic, partition)
            self._slices.append(piece)
            sources = piece.sources
            last = len(records) - 1
            for i, msg in enumerate(records):
                offset = msg.offset()
                sources.append(offset)
                headers = msg.headers() or []
                headers.append((header, encode(partition, offset)))
                ts_type, ts = msg.timestamp()
                if ts_type == TIMESTAMP_NOT_AVAILABLE:
                    ts = 0  # the target stamps it
                if i == 0:
                    callback = piece.on_only if last == 0 else piece.on_first
                elif i == last:
                    callback = piece.on_last
                else:
                    callback = None
                while True:
                    try:
                        # Positional up to the callback (its C signature also lists 'on_delivery'
                        # after it, so later arguments must be named).
                        produce(
                            topic,
                            msg.value(),
                            msg.key(),
                            partition,
                            callback,
                            timestamp=ts,
                            headers=headers,
                        )
                        break
                    except BufferError:
                        # The local queue is full: let deliveries drain, then retry.
                        producer.poll(0.05)
                    except KafkaException as exc:
                        err = _kafka_error(exc)
                        if err is not None and err.txn_requires_abort():
                            raise _Abortable(err.str()) from None
                        raise
        self._txn_records += len(msgs)

    def _consumer_event(self, msg) -> None:
        err = msg.error()
        code = err.code()
        if code == KafkaError._AUTO_OFFSET_RESET:
            assert self._consumer is not None
            tp = TopicPartition(msg.topic(), msg.partition())
            low, _ = self._watermarks(tp)
            position = msg.offset() if msg.offset() >= 0 else None
            if position is None:
                position = self._committed.get((msg.topic(), msg.partition()), 0)
            self._source_gap(msg.topic(), msg.partition(), position, low)
            self._consumer.seek(TopicPartition(msg.topic(), msg.partition(), low))
            return
        if code in (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError._UNKNOWN_TOPIC,
            KafkaError._UNKNOWN_PARTITION,
        ):
            raise MirrorError(
                f"source: {msg.topic()}[{msg.partition()}] cannot be read ({err.name()}); "
                "check that the topic still exists and the source user may read it"
            )
        if err.fatal():
            raise MirrorError(f"source consumer failed ({err.name()}); restart the mirror")
        if code in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.COORDINATOR_NOT_AVAILABLE):
            # librdkafka looks up the (unused) source group's coordinator because a
            # consumer must have a group id; the mirror never joins or commits there.
            return
        # Anything else (a broker restarting, a connection dropped) librdkafka retries.
        self._note(f"source: {redact.text(err.str())} (retrying)")

    def _note(self, line: str, every_s: float = 10.0) -> None:
        """A progress line, but the same one at most every ``every_s``: an outage would
        otherwise repeat it many times a second."""
        now = time.monotonic()
        if self._last_note.get(line, -every_s) + every_s <= now:
            self._last_note[line] = now
            self.progress(line)

    def _produce_position(self, topic: str, partition: int, position: int) -> None:
        assert self._producer is not None
        while True:
            try:
                self._producer.produce(
                    self.positions, str(position).encode(), position_key(topic, partition), 0
                )
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                err = _kafka_error(exc)
                if err is not None and err.txn_requires_abort():
                    raise _Abortable(err.str()) from None
                raise

    def _ensure_positions_topic(self) -> None:
        """Create the compacted positions topic on the target if missing (audited)."""
        s = self.settings
        admin = admin_for(self.plan, self.passwords, "target")
        if self.positions in admin.list_topics(timeout=s.op_timeout_s).topics:
            return
        intent = self.store.log(
            "mirror.create_topic",
            step=STEP,
            params={
                "topic": self.positions,
                "partitions": 1,
                "replication_factor": "target default",
                "configs": POSITIONS_CONFIG,
                "created_by": f"{self.id}-admin",
                "note": "the mirror's own source positions, written with each transaction",
            },
        )
        future = admin.create_topics(
            [NewTopic(self.positions, 1, config=POSITIONS_CONFIG)], request_timeout=s.op_timeout_s
        )[self.positions]
        try:
            answer(future, s.op_timeout_s)
            outcome = "created"
        except KafkaException as exc:
            name = error_name(exc)
            outcome = "already existed" if name == "TOPIC_ALREADY_EXISTS" else f"failed: {name}"
        self.store.log("mirror.create_topic", step=STEP, ref=intent.seq, outcome=outcome)
        if outcome.startswith("failed"):
            raise MirrorError(
                f"creating the mirror's positions topic {self.positions} on the target {outcome}; "
                "the target user needs CREATE on it, or create it by hand (1 partition, "
                "cleanup.policy=compact)"
            )
        wait_for_leaders(admin, {self.positions: 1}, s.op_timeout_s)

    def _begin(self) -> None:
        assert self._producer is not None
        self._call("beginning a transaction", self._producer.begin_transaction)
        self._in_txn = True
        self._txn_started = time.monotonic()
        self._txn_records = 0

    def _commit(self) -> None:
        """Commit the open transaction with the consumer's positions, then record runs.

        The positions of *all* partitions go into every transaction (a dozen small
        records), so the newest committed transaction alone tells where each stands.
        """
        assert self._consumer is not None and self._producer is not None
        s = self.settings
        current = {}
        for tp in self._consumer.position(self._tps):
            key = (tp.topic, tp.partition)
            # -1001: nothing consumed there since the last (re)assign.
            current[key] = (
                tp.offset if tp.offset >= 0 else self._committed.get(key, self._start[key])
            )
        changed = current != self._committed or self._force_positions
        if not self._in_txn:
            if not changed:
                # Idle: restart the interval clock so an idle mirror does not spin.
                self._txn_started = time.monotonic()
                return
            self._begin()
        for (topic, partition), position in current.items():
            self._produce_position(topic, partition, position)
        self._retrying(
            "committing a transaction on the target",
            lambda: self._producer.commit_transaction(s.op_timeout_s),
        )
        # Committed in Kafka: from here on the records and positions are durable.
        self._in_txn = False
        self._producer.poll(0)  # serve the delivery reports of the slices' ends
        slices, self._slices = self._slices, []
        copied = self._txn_records
        self._txn_records = 0
        self._txn_started = time.monotonic()
        self._committed = current
        self._force_positions = False
        self.transactions += 1
        self.copied += copied
        self._consecutive_aborts = 0
        self._record(slices)

    def _record(self, slices: list[_Slice]) -> None:
        """Turn committed slices into runs and store them (one SQLite transaction)."""
        runs: list[offset_map.Run] = []
        for piece in slices:
            count = len(piece.sources)
            if piece.error is not None or piece.first is None or piece.last is None:
                # Cannot happen after a successful commit; rebuild from the target rather
                # than guess, so the map stays exact.
                runs.extend(self._runs_by_reading(piece, None, None))
            elif piece.last - piece.first + 1 == count:
                runs.extend(
                    offset_map.runs_from_sources(
                        piece.topic, piece.partition, piece.sources, piece.first
                    )
                )
            else:
                # Someone else wrote into this target partition between our records.
                runs.extend(self._runs_by_reading(piece, piece.first, piece.last + 1))
        try:
            self.runs_recorded += offset_map.record_runs(self.store, offset_map.merge(runs))
        except StoreError as exc:
            raise MirrorError(f"recording the offset map failed: {exc}") from None

    def _runs_by_reading(
        self, piece: _Slice, start: int | None, until: int | None
    ) -> list[offset_map.Run]:
        if start is None:
            last = offset_map.last_run(self.store, piece.topic, piece.partition)
            start = last.tgt_end if last else None
        src_from, src_below = piece.sources[0], piece.sources[-1] + 1
        deadline = time.monotonic() + self.settings.op_timeout_s
        while True:
            # Just after a commit the target may not have written its markers yet, so
            # read committed records until every source offset of the slice is seen.
            pairs = self._read_back(
                piece.topic,
                piece.partition,
                start=start,
                src_from=src_from,
                src_below=src_below,
                until=until,
            )
            if len(pairs) >= len(piece.sources) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(pairs) != len(piece.sources):
            raise MirrorError(
                f"the offset map of {piece.topic}[{piece.partition}] could not be confirmed "
                f"(found {len(pairs)} of {len(piece.sources)} copied records on the target); "
                "restart the mirror to rebuild it"
            )
        return offset_map.runs_from_pairs(piece.topic, piece.partition, pairs)

    def _abort(self, reason: str, *, renew: bool = True) -> None:
        """Abort the open transaction and rewind to the last committed positions; an
        abort that does not finish is given up and the producer replaced (``renew``)."""
        assert self._producer is not None
        self.aborts += 1
        self._consecutive_aborts += 1
        self.progress(f"aborting a transaction ({redact.text(reason)}); rewinding")
        try:
            self._retrying(
                "aborting a transaction on the target",
                lambda: self._producer.abort_transaction(self.settings.op_timeout_s),
                abortable_ok=True,
                give_up_after_s=self.settings.renew_after_s if renew else None,
            )
        except _Wedged as exc:
            # Renewing rewinds too: to the positions the target holds.
            self._renew(
                f"aborting did not finish in {self.settings.renew_after_s:g} s "
                f"({redact.text(str(exc))})"
            )
        else:
            self._in_txn = False
            self._slices = []
            self._txn_records = 0
            self._txn_started = time.monotonic()
            self._assign()
        if self._consecutive_aborts >= 5:
            raise MirrorError(
                f"the target rejected the same records {self._consecutive_aborts} times in a "
                f"row ({redact.text(reason)}); "
                + (
                    "a record is larger than the target topic accepts: raise its "
                    "max.message.bytes on the target"
                    if "too large" in reason.lower()
                    else "fix the cause on the target and restart the mirror"
                )
            )

    # -- Kafka call helpers --------------------------------------------------------------------

    def _retrying(
        self,
        what: str,
        call: Callable[[], None],
        *,
        abortable_ok: bool = False,
        give_up_after_s: float | None = None,
    ):
        """Run a transactional call, retrying retriable errors up to the commit deadline;
        with ``give_up_after_s``, raise :class:`_Wedged` once that long has passed."""
        began = time.monotonic()
        deadline = began + self.settings.commit_deadline_s
        while True:
            try:
                return call()
            except KafkaException as exc:
                err = _kafka_error(exc)
                if err is None:
                    raise
                if err.fatal():
                    self._raise_fatal(exc, what)
                if err.txn_requires_abort() and not abortable_ok:
                    raise _Abortable(err.str()) from None
                if (
                    err.retriable()
                    and give_up_after_s is not None
                    and time.monotonic() - began >= give_up_after_s
                ):
                    raise _Wedged(err.str()) from None
                if err.retriable() and time.monotonic() < deadline:
                    self._note(f"{what}: {redact.text(err.str())} (retrying)")
                    continue
                if err.retriable():
                    raise MirrorError(
                        f"{what} kept failing for {self.settings.commit_deadline_s:g} s "
                        f"({err.name()}); check the target cluster and restart the mirror"
                    ) from None
                if abortable_ok:
                    raise MirrorError(f"{what} failed ({err.name()}); restart the mirror") from None
                raise _Abortable(err.str()) from None

    def _call(self, what: str, call: Callable[[], object]):
        """A plain Kafka call (which carries its own timeout); failures become MirrorError."""
        try:
            return call()
        except KafkaException as exc:
            self._raise_fatal(exc, what)

    def _raise_fatal(self, exc: KafkaException, what: str):
        err = _kafka_error(exc)
        name = err.name() if err else type(exc).__name__
        if err is not None and err.code() in (
            KafkaError._FENCED,
            KafkaError.PRODUCER_FENCED,
            KafkaError.INVALID_PRODUCER_EPOCH,
        ):
            raise MirrorError(
                f"another mirror for plan '{self.plan.name}' took over transactional id "
                f"{self.id} ({name}); only one may run: stop the other or keep it"
            ) from None
        if err is not None and "AUTHORIZATION" in name:
            raise MirrorError(
                f"{what} was refused ({name}); the target user needs WRITE on the plan's "
                f"topics, WRITE and DESCRIBE on transactional id {self.id} and READ on group "
                f"{self.id}"
            ) from None
        auth = self._target_trap.auth_failure() or self._source_trap.auth_failure()
        if auth is not None:
            raise MirrorError(
                f"{what} failed: authentication failed; check the plan's credentials "
                "('cutover credentials set ...' or the password.env variable)"
            ) from None
        detail = redact.text(err.str() if err else str(exc))
        raise MirrorError(f"{what} failed ({name}: {detail}); restart the mirror") from None

    def _renew(self, reason: str) -> None:
        """Replace both clients and start over as a restarted mirror would: the new
        producer's ``init_transactions`` fences the old one and finishes its open
        transaction, then the positions, the offset map and the consumer's assignment
        are read again from the target. Tried until the commit deadline."""
        self.renewals += 1
        self.progress(f"renewing the target producer: {reason}")
        if self.intent_seq is not None:
            self.store.log(
                "mirror.copy", step=STEP, ref=self.intent_seq, outcome=f"renewing: {reason}"
            )
        deadline = time.monotonic() + self.settings.commit_deadline_s
        while True:
            if self._producer is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    self._producer.purge()
            self.close()
            self._in_txn = False
            self._slices = []
            self._txn_records = 0
            try:
                self.open()
                break
            except (MirrorError, ClusterError, KafkaException, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise MirrorError(
                        f"replacing the target producer kept failing for "
                        f"{self.settings.commit_deadline_s:g} s ({redact.text(str(exc))}); "
                        "check the target cluster and restart the mirror"
                    ) from None
                self._note(f"renewing the target producer: {redact.text(str(exc))} (retrying)")
                time.sleep(1.0)
        self._txn_started = time.monotonic()

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the clients. An open transaction is left to be aborted by the next start."""
        if self._consumer is not None:
            with contextlib.suppress(KafkaException, RuntimeError):
                self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(0)
            self._producer = None

    def stats(self) -> MirrorStats:
        return MirrorStats(
            self.copied,
            self.transactions,
            self.aborts,
            self.runs_recorded,
            self.recovered,
            time.monotonic() - self._started_at,
            self.skipped,
        )
