"""MirrorMaker 2's offset map: its offset syncs and checkpoints, and how coarse they are.

MirrorMaker 2's offset map is coarse. Its source tasks write an *offset sync*
(upstream offset, downstream offset) only every ``offset.lag.max`` records, when the
upstream skips (transaction markers, compaction) and at offset commits; its checkpoint
connector translates a group's committed source offset with the nearest sync at or
before it, plus one. A group failed over on a checkpoint therefore re-reads up to the
gap between two syncs. :func:`collect_offset_syncs` decodes the offset-syncs and
checkpoints topics (MirrorMaker's own binary formats) into the run database, and
:func:`coarseness` says how coarse the map is per partition.
"""

from __future__ import annotations

import statistics
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from console.kafka import client as kafka
from console.plan import ClusterSpec, Plan
from console.shadow.external import partition_ends
from console.shadow.mm2.config import CHECKPOINTS_TOPIC, OFFSET_SYNCS_TOPICS, Mm2Error
from console.store import Store

# -- MirrorMaker's binary formats --------------------------------------------------------------
#
# OffsetSync and Checkpoint records are written with Kafka's protocol `Struct` encoding:
# INT16/INT32/INT64 big-endian, STRING = INT16 length + UTF-8 bytes.
#   offset-sync key   (topic STRING, partition INT32)
#   offset-sync value (upstreamOffset INT64, offset INT64)
#   checkpoint key    (group STRING, topic STRING, partition INT32)
#   checkpoint value  (version INT16 = 0, upstreamOffset INT64, offset INT64, metadata STRING)


class DecodeError(ValueError):
    """A record that is not in MirrorMaker's format."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DecodeError("record is shorter than its schema")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.take(">h")
        if length < 0 or self.pos + length > len(self.data):
            raise DecodeError("bad string length")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("string is not UTF-8") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError("trailing bytes after the schema")


@dataclass(frozen=True)
class OffsetSync:
    """Upstream (source) offset ``upstream`` was written at downstream (target) ``downstream``."""

    topic: str
    partition: int
    upstream: int
    downstream: int


@dataclass(frozen=True)
class Checkpoint:
    """Group ``group`` committed ``upstream`` on the source; MirrorMaker translated it to
    ``downstream`` on the target."""

    group: str
    topic: str
    partition: int
    upstream: int
    downstream: int
    metadata: str


def decode_offset_sync(key: bytes, value: bytes) -> OffsetSync:
    k = _Reader(key)
    topic, partition = k.string(), k.take(">i")
    k.end()
    v = _Reader(value)
    upstream, downstream = v.take(">q"), v.take(">q")
    v.end()
    return OffsetSync(topic, partition, upstream, downstream)


def decode_checkpoint(key: bytes, value: bytes) -> Checkpoint:
    k = _Reader(key)
    group, topic, partition = k.string(), k.string(), k.take(">i")
    k.end()
    v = _Reader(value)
    version = v.take(">h")
    if version != 0:
        raise DecodeError(f"checkpoint value version {version} is not known (only 0)")
    upstream, downstream, metadata = v.take(">q"), v.take(">q"), v.string()
    v.end()
    return Checkpoint(group, topic, partition, upstream, downstream, metadata)


# -- reading and storing the offset map ---------------------------------------------------------


@dataclass(frozen=True)
class SyncRead:
    """What one pass over MirrorMaker's internal topics found (plan topics/groups only)."""

    syncs: list[OffsetSync] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    """Internal topics not there yet (MirrorMaker creates them once it runs)."""
    malformed: int = 0
    """Records that did not decode (skipped)."""
    offset_syncs_location: str = ""


def _read_topic(
    spec: ClusterSpec, password: str | None, cluster: str, topic: str, deadline: float
) -> list[tuple[bytes, bytes]] | None:
    """Every (key, value) of a topic from the beginning to its current end; None if absent."""
    conf = kafka.client_config(spec, password, client_id="cutover-mm2-syncs")
    conf.update(
        {
            # Never commits: assign() only. librdkafka still insists on a group id.
            "group.id": "cutover-mm2-syncs-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # Checkpoints come from the worker's transactional producer when exactly-once
            # is on; aborted ones must not count.
            "isolation.level": "read_committed",
        }
    )
    trap = kafka.ErrorTrap()
    conf["error_cb"] = trap
    consumer = Consumer(conf)
    try:
        try:
            meta = consumer.list_topics(
                topic, timeout=kafka.remaining(deadline, spec.request_timeout_s)
            )
        except KafkaException as exc:
            raise Mm2Error(str(kafka.connect_error(cluster, spec, consumer, trap, exc))) from None
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            if (
                tmeta is not None
                and tmeta.error is not None
                and kafka.is_denied(KafkaException(tmeta.error))
            ):
                raise Mm2Error(
                    f"{cluster}: not allowed to read {topic}; grant the console's user "
                    "READ and DESCRIBE on it"
                )
            return None
        parts = [TopicPartition(topic, p, -2) for p in sorted(tmeta.partitions)]  # -2 = beginning
        consumer.assign(parts)
        pending = {p.partition for p in parts}
        out: list[tuple[bytes, bytes]] = []
        while pending:
            if time.monotonic() > deadline:
                raise Mm2Error(
                    f"{cluster}: reading {topic} did not reach its end in time; "
                    "try again with a longer timeout"
                )
            for msg in consumer.consume(500, timeout=min(1.0, kafka.remaining(deadline))):
                err = msg.error()
                if err is None:
                    if msg.key() is not None and msg.value() is not None:  # skip tombstones
                        out.append((msg.key(), msg.value()))
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                elif err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise Mm2Error(
                        f"{cluster}: not allowed to read {topic}; grant the console's user "
                        "READ and DESCRIBE on it"
                    )
        return out
    finally:
        consumer.close()


def read_offset_syncs(
    plan: Plan,
    passwords: Mapping[str, str | None],
    *,
    location: Literal["source", "target"] | None = None,
    timeout: float = 30.0,
) -> SyncRead:
    """Decode MirrorMaker's offset-syncs and checkpoints for the plan's topics and groups.

    ``location`` is where the offset-syncs topic lives; None looks on the target first
    (this console's default) and then on the source (MirrorMaker's default).
    """
    deadline = time.monotonic() + timeout
    missing: list[str] = []
    raw_syncs = None
    found_at = ""
    tried = [location] if location else ["target", "source"]
    for where in tried:
        spec = getattr(plan.clusters, where)
        sync_topic = OFFSET_SYNCS_TOPICS[where]
        raw_syncs = _read_topic(spec, passwords.get(where), where, sync_topic, deadline)
        if raw_syncs is not None:
            found_at = where
            break
    if raw_syncs is None:
        missing.append(" or ".join(f"{OFFSET_SYNCS_TOPICS[w]} on the {w}" for w in tried))
    raw_cps = _read_topic(
        plan.clusters.target, passwords.get("target"), "target", CHECKPOINTS_TOPIC, deadline
    )
    if raw_cps is None:
        missing.append(f"{CHECKPOINTS_TOPIC} on the target")
    syncs, checkpoints, malformed = decode_syncs(plan, raw_syncs or [], raw_cps or [])
    return SyncRead(syncs, checkpoints, missing, malformed, found_at)


def decode_syncs(
    plan: Plan, raw_syncs: Iterable[tuple], raw_cps: Iterable[tuple]
) -> tuple[list[OffsetSync], list[Checkpoint], int]:
    """The offset syncs of the plan's topics and the checkpoints of its groups, decoded
    from (key, value) records; tombstones are skipped, and records that do not decode are
    counted (the third value), never guessed at."""
    topics = {t.name for t in plan.topics}
    groups = {g.id for g in plan.groups}
    malformed = 0
    syncs: list[OffsetSync] = []
    for key, value in raw_syncs:
        if key is None or value is None:
            continue
        try:
            sync = decode_offset_sync(key, value)
        except DecodeError:
            malformed += 1
            continue
        if sync.topic in topics:
            syncs.append(sync)
    checkpoints: list[Checkpoint] = []
    for key, value in raw_cps:
        if key is None or value is None:
            continue
        try:
            cp = decode_checkpoint(key, value)
        except DecodeError:
            malformed += 1
            continue
        if cp.topic in topics and cp.group in groups:
            checkpoints.append(cp)
    return syncs, checkpoints, malformed


def store_offset_syncs(store: Store, read: SyncRead) -> int:
    """Add what was read to ``offset_syncs``; returns how many rows were new.

    The offset-syncs topic is compacted (one record per partition survives), so the
    history only exists in what we stored from earlier passes: rows are never deleted,
    and a row already stored is not stored twice.
    """
    now = store.clock()
    rows = [
        (s.topic, s.partition, s.upstream, s.downstream, "offset-sync", None) for s in read.syncs
    ]
    rows += [
        (c.topic, c.partition, c.upstream, c.downstream, "checkpoint", c.group)
        for c in read.checkpoints
    ]
    return store.offsets.add_syncs(rows, now)


def collect_offset_syncs(
    store: Store,
    plan: Plan,
    passwords: Mapping[str, str | None],
    *,
    location: Literal["source", "target"] | None = None,
    timeout: float = 30.0,
) -> int:
    """Read MirrorMaker's offset-syncs and checkpoints and store them; returns new rows."""
    return store_offset_syncs(
        store, read_offset_syncs(plan, passwords, location=location, timeout=timeout)
    )


# -- how coarse the map is ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupTranslation:
    """A group's newest checkpoint on one partition and what it costs on failover."""

    group_id: str
    upstream: int
    """The offset the group committed on the source."""
    downstream: int
    """Where MirrorMaker says it should resume on the target."""
    sync_upstream: int | None
    """Source offset of the stored offset sync MirrorMaker used, when we saw it."""
    max_reread: int | None
    """Records the group would read twice at most (0: exact); None when the sync
    MirrorMaker used is not among the stored ones."""


@dataclass(frozen=True)
class Coarseness:
    """How coarse MirrorMaker 2's offset map is for one topic-partition."""

    topic: str
    partition: int
    syncs: int
    first_upstream: int | None
    last_upstream: int | None
    median_gap: float | None
    max_gap: int | None
    max_reread: int | None
    """Worst case inside the covered range: a group positioned just before a sync
    resumes one past the previous sync and re-reads up to the gap (records)."""
    source_end: int | None = None
    uncovered_tail: int | None = None
    """Records after the newest sync (needs ``source_end``): a group there re-reads up to
    this many, until MirrorMaker writes its next sync."""
    groups: tuple[GroupTranslation, ...] = ()
    conflicts: int = 0
    """Stored syncs that contradict each other (a source offset at two target offsets, or
    target offsets going backwards): MirrorMaker copied the partition again from scratch,
    e.g. after the target topic was recreated. Spacing then mixes two copies."""

    def describe(self) -> str:
        """What the map means for a failed-over group, in plain words (one line)."""
        where = f"{self.topic}[{self.partition}]"
        if not self.syncs:
            return (
                f"{where}: no offset syncs stored; groups on it cannot be translated yet "
                "(run 'cutover mm2 syncs' once MirrorMaker 2 runs)"
            )
        text = (
            f"{where}: {self.syncs} offset sync(s) stored for source offsets "
            f"{self.first_upstream}..{self.last_upstream}"
        )
        if self.max_gap is not None:
            text += (
                f" (spacing median {self.median_gap:g}, max {self.max_gap}); translated from "
                f"these, a group re-reads at most {self.max_reread} record(s)"
            )
        else:
            text += "; a single sync: only a group exactly there translates exactly"
        if self.uncovered_tail:
            text += (
                f"; the {self.uncovered_tail} record(s) after the newest sync are not covered "
                f"(a group there re-reads up to {self.uncovered_tail})"
            )
        if self.conflicts:
            text += (
                f"; WARN {self.conflicts} sync(s) contradict others (the partition was copied "
                "again from scratch): translate only from the newest copy"
            )
        if self.groups:
            # MirrorMaker's checkpoint task keeps only a few syncs far behind the newest
            # one, so its own translation can be coarser than the stored map.
            parts = []
            for g in self.groups:
                if g.max_reread is None:
                    parts.append(
                        f"{g.group_id} at {g.upstream} resumes at {g.downstream}, re-read "
                        "unknown (via a sync this run database never saw)"
                    )
                elif g.max_reread == 0:
                    parts.append(f"{g.group_id} at {g.upstream} resumes exactly at {g.downstream}")
                else:
                    parts.append(
                        f"{g.group_id} at {g.upstream} resumes at {g.downstream} and re-reads "
                        f"up to {g.max_reread}"
                    )
            text += "; MirrorMaker's checkpoints: " + ", ".join(parts)
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["describe"] = self.describe()
        return data


def coarseness(
    store: Store, topic: str, partition: int, *, source_end: int | None = None
) -> Coarseness:
    """How coarse the stored offset-sync map is for ``topic``/``partition``.

    MirrorMaker translates a source offset with the newest sync at or before it: exactly
    when the offset *is* a sync, else to one past that sync's target offset. So a group
    between two syncs re-reads at most ``gap - 1`` records, where ``gap`` is their distance
    in source offsets (fewer where the source skips offsets for transaction markers).
    """
    sync_rows = store.offsets.syncs(topic, partition, "offset-sync")
    cp_rows = store.offsets.group_syncs(topic, partition, "checkpoint")
    ups = sorted({r[0] for r in sync_rows})
    gaps = [b - a for a, b in zip(ups, ups[1:], strict=False)]
    latest: dict[str, tuple[int, int]] = {}
    for group, src, tgt in cp_rows:
        latest[group] = (src, tgt)  # rows are in arrival order: the last one wins
    groups = tuple(
        _translation(group, src, tgt, sync_rows) for group, (src, tgt) in sorted(latest.items())
    )
    conflicts = sum(
        1
        for (u1, d1), (u2, d2) in zip(sync_rows, sync_rows[1:], strict=False)
        if (u1 == u2 and d1 != d2) or (u2 > u1 and d2 < d1)
    )
    tail = None
    if source_end is not None and ups:
        tail = max(0, source_end - ups[-1] - 1)
    return Coarseness(
        topic=topic,
        partition=partition,
        syncs=len(ups),
        first_upstream=ups[0] if ups else None,
        last_upstream=ups[-1] if ups else None,
        median_gap=statistics.median(gaps) if gaps else None,
        max_gap=max(gaps) if gaps else None,
        max_reread=max(gaps) - 1 if gaps else None,
        source_end=source_end,
        uncovered_tail=tail,
        groups=groups,
        conflicts=conflicts,
    )


def _translation(
    group: str, upstream: int, downstream: int, sync_rows: list[tuple[int, int]]
) -> GroupTranslation:
    # The sync MirrorMaker used is the one that reproduces the checkpoint: the same
    # offsets (exact), or the newest one at or before `upstream` whose target offset + 1
    # is `downstream`. Its in-memory store is sparser than ours for old offsets, so it may
    # have used an older sync than the newest one we stored.
    for src, tgt in reversed(sync_rows):
        if src > upstream:
            continue
        if src == upstream and tgt == downstream:
            return GroupTranslation(group, upstream, downstream, src, 0)
        if tgt + 1 == downstream:
            return GroupTranslation(group, upstream, downstream, src, max(0, upstream - src - 1))
    return GroupTranslation(group, upstream, downstream, None, None)


def partitions_with_syncs(store: Store, topic: str) -> list[int]:
    """Partitions of ``topic`` that have any stored sync or checkpoint."""
    return store.offsets.partitions_with_syncs(topic)


def source_end_offsets(
    plan: Plan, passwords: Mapping[str, str | None], *, timeout: float = 20.0
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset on the source, for the plan's topics."""
    deadline = time.monotonic() + timeout
    ends = partition_ends(
        "source",
        plan.clusters.source,
        passwords.get("source"),
        [t.name for t in plan.topics],
        deadline,
        with_timestamps=False,
    )
    return {key: latest for key, (_earliest, latest, _ts) in ends.items()}
