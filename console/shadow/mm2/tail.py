"""MirrorMaker 2's internal topics read incrementally: its offset syncs, its checkpoints and
its source connector's committed position (the copy position), in one assignment per
cluster, remembering how far each partition was read so that the next read fetches only
what is new.

The copy position is read from the Kafka Connect workers' offsets topic
(``offset.storage.topic`` of the worker config, ``shadow.connect_offsets_topic`` in the
plan) instead of ``GET /connectors/<name>/offsets``: that endpoint makes the worker read
the same topic to its end and took 3.3 s per call under load. Records there are keyed
``["<connector>", {"cluster": ..., "topic": ..., "partition": ...}]`` (JSON) with
``{"offset": n}`` as value, the offset of the last record the connector copied; the last
record per key wins and a null value (a tombstone: offsets reset) removes the key.

Why what this reads is never newer than what is copied:

* at exactly-once (KIP-618) the source task writes its offsets in the same transaction as
  the records, and this read is ``read_committed``: a position it sees is committed
  together with the records up to it;
* at at-least-once the worker writes offsets only after the producer has acknowledged
  the records they cover, so the topic trails the data;
* a connector with an offsets topic of its own writes the worker's topic after its own
  transaction committed, so that copy trails it too;
* a read that has not reached the topic's end yet (or the lag between two reads) only
  makes the position older.

Every direction of staleness therefore overstates what is still to copy, never the
reverse: a record not yet copied never looks copied.

Engine code: no Textual, explicit deadlines, its own clients (never shared with another
thread).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from console.kafka import client as kafka
from console.kafka.provenance import SHADOW_CLIENT_PREFIX
from console.plan import ClusterSpec, Plan
from console.shadow.mm2.config import (
    CHECKPOINTS_TOPIC,
    OFFSET_SYNCS_TOPICS,
    Mm2Error,
    connector_names,
)
from console.shadow.mm2.syncs import SyncRead, decode_syncs

TP = tuple[str, int]
BEGINNING = -2


def drain(consumer: Consumer, wait: float) -> list:
    """What the consumer holds now, or the first message to arrive within ``wait``
    (``consume(n, t)`` waits for all ``n`` or the whole timeout)."""
    batch = consumer.consume(500, 0)
    return batch if batch else consumer.consume(1, wait)


class _Reset(Exception):
    """A remembered offset lies outside a partition's log (the topic was recreated)."""

    def __init__(self, topic: str):
        self.topic = topic


class TopicTail:
    """Topics of one cluster, read from where the last read stopped to their current end
    (``read_committed``), all partitions of all topics in one assignment."""

    def __init__(self, cluster: str, spec: ClusterSpec, password: str | None) -> None:
        self.cluster = cluster
        self.spec = spec
        self.password = password
        self.next: dict[TP, int] = {}
        """Per partition, the offset the next read starts at."""
        self._consumer: Consumer | None = None
        self._trap = kafka.ErrorTrap()

    def _client(self) -> Consumer:
        if self._consumer is None:
            # Aborted records (checkpoints and offsets of an aborted transaction) must
            # not count, and nothing uncommitted may look copied: read committed.
            conf = kafka.assigned_reader_config(
                self.spec, self.password, client_id=f"{SHADOW_CLIENT_PREFIX}cutover-mm2-tail"
            )
            conf["error_cb"] = self._trap
            self._consumer = Consumer(conf)
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def forget(self, topic: str) -> None:
        self.next = {tp: o for tp, o in self.next.items() if tp[0] != topic}

    def partitions(self, topics: list[str], deadline: float) -> dict[str, list[int] | None]:
        """Partitions of each topic (None: the topic is not there); refused topics raise."""
        consumer = self._client()
        out: dict[str, list[int] | None] = {}
        for topic in topics:
            try:
                meta = consumer.list_topics(topic, timeout=kafka.remaining(deadline, cap=10.0))
            except KafkaException as exc:
                raise Mm2Error(
                    str(kafka.connect_error(self.cluster, self.spec, consumer, self._trap, exc))
                ) from None
            tmeta = meta.topics.get(topic)
            if tmeta is not None and tmeta.error is not None:
                if kafka.is_denied(KafkaException(tmeta.error)):
                    raise Mm2Error(
                        f"{self.cluster}: not allowed to read {topic}; grant the console's "
                        "user READ and DESCRIBE on it"
                    )
                out[topic] = None
            elif tmeta is None or not tmeta.partitions:
                out[topic] = None
            else:
                out[topic] = sorted(tmeta.partitions)
        return out

    def read(
        self, layout: Mapping[str, list[int]], deadline: float
    ) -> dict[str, list[tuple[bytes | None, bytes | None]]]:
        """(key, value) records of each topic not read before, in offset order per
        partition, up to each partition's current end. Raises :class:`_Reset` when a
        remembered offset is outside its partition's log."""
        wanted = {(t, p): self.next.get((t, p), BEGINNING) for t, ps in layout.items() for p in ps}
        # Remembered only once the whole read succeeded: a read cut short is read again.
        nxt = dict(self.next)
        out: dict[str, list[tuple[bytes | None, bytes | None]]] = {t: [] for t in layout}
        if not wanted:
            return out
        consumer = self._client()
        assigned = [TopicPartition(t, p, o) for (t, p), o in wanted.items()]
        consumer.assign(assigned)
        pending = set(wanted)
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise Mm2Error(
                        f"{self.cluster}: reading {next(iter(pending))[0]} did not reach its end "
                        "in time; try again with a longer timeout"
                    )
                for msg in drain(consumer, 0.2):
                    tp = (msg.topic(), msg.partition())
                    if tp not in wanted:
                        continue
                    err = msg.error()
                    if err is None:
                        if tp in pending and msg.offset() >= nxt.get(tp, 0):
                            out[tp[0]].append((msg.key(), msg.value()))
                            nxt[tp] = msg.offset() + 1
                    elif err.code() == KafkaError._PARTITION_EOF:
                        # The end (the last stable offset): markers and aborted records
                        # before it are behind us too.
                        nxt[tp] = max(nxt.get(tp, 0), msg.offset())
                        pending.discard(tp)
                    elif err.code() in (
                        KafkaError.OFFSET_OUT_OF_RANGE,
                        KafkaError._AUTO_OFFSET_RESET,
                    ):
                        raise _Reset(tp[0])
                    elif "AUTHORIZATION" in err.name():
                        raise Mm2Error(
                            f"{self.cluster}: not allowed to read {tp[0]}; grant the console's "
                            "user READ and DESCRIBE on it"
                        )
                    # Anything else is transient (leader moves): the deadline bounds it.
        finally:
            consumer.unassign()
        self.next = nxt
        return out


@dataclass
class TailRead:
    """What one incremental read found: only the syncs and checkpoints not seen before
    (plan topics and groups), and the whole copy position as it stands now."""

    syncs: SyncRead
    positions: dict[TP, int] | None
    """Next source offset to copy per partition; None when the offsets topic could not
    be read (see ``position_note``)."""
    position_from: str = ""
    """Where the position comes from, in words, for the gate."""
    position_note: str = ""
    """Why the offsets topic was not used, when it was not."""


@dataclass
class Mm2Tail:
    """MirrorMaker 2's internal topics of one plan, read incrementally for the life of
    this object (a step run, or a process moving group after group)."""

    plan: Plan
    passwords: Mapping[str, str | None]
    tails: dict[str, TopicTail] = field(default_factory=dict)
    sync_location: str | None = None
    """Where the offset-syncs topic was found (target first, then source)."""
    _offsets: dict[bytes, tuple[TP, int]] = field(default_factory=dict)
    """The Connect offsets topic's records of the source connector, last per key, decoded
    as they arrive (:func:`decode_position`): decoding every key on every read cost tens
    of milliseconds per group move once the topic held a few thousand keys (other
    connectors' too). A key whose last record is not the connector's or does not
    decode is not here, as :func:`copy_positions` leaves it out."""

    def _tail(self, cluster: str) -> TopicTail:
        if cluster not in self.tails:
            spec = getattr(self.plan.clusters, cluster)
            self.tails[cluster] = TopicTail(cluster, spec, self.passwords.get(cluster))
        return self.tails[cluster]

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()

    def read(self, deadline: float) -> TailRead:
        """New syncs and checkpoints, and the copy position now (see the module
        docstring). The target's topics (offset syncs, checkpoints, Connect's offsets)
        are read in one assignment; the source only when the offset syncs live there."""
        target = self._tail("target")
        offsets_topic = self.plan.shadow.connect_offsets_topic
        topics = [OFFSET_SYNCS_TOPICS["target"], CHECKPOINTS_TOPIC]
        if offsets_topic:
            topics.append(offsets_topic)
        note = ""
        try:
            layout = target.partitions(topics, deadline)
        except Mm2Error as exc:
            if not offsets_topic:
                raise
            # Perhaps only the offsets topic is refused: the rest without it.
            note = f"Connect's offsets topic {offsets_topic} could not be read ({exc})"
            topics.remove(offsets_topic)
            layout = target.partitions(topics, deadline)
        if offsets_topic and offsets_topic in layout and layout[offsets_topic] is None:
            note = f"Connect's offsets topic {offsets_topic} is not on the target"
        missing: list[str] = []
        sync_topic = OFFSET_SYNCS_TOPICS["target"]
        raw = self._read(target, {t: ps for t, ps in layout.items() if ps}, deadline)
        sync_raw = raw.get(sync_topic) if layout.get(sync_topic) else None
        location = "target" if layout.get(sync_topic) else None
        if location is None and self.sync_location == "target":
            missing.append(f"{sync_topic} on the target (it was there before)")
        elif location is None:
            source = self._tail("source")
            src_topic = OFFSET_SYNCS_TOPICS["source"]
            src_layout = source.partitions([src_topic], deadline)
            if src_layout.get(src_topic):
                sync_raw = self._read(source, {src_topic: src_layout[src_topic]}, deadline)[
                    src_topic
                ]
                location = "source"
            else:
                missing.append(
                    f"{OFFSET_SYNCS_TOPICS['target']} on the target or "
                    f"{OFFSET_SYNCS_TOPICS['source']} on the source"
                )
        if location:
            self.sync_location = location
        if not layout.get(CHECKPOINTS_TOPIC):
            missing.append(f"{CHECKPOINTS_TOPIC} on the target")
        read = _decode(self.plan, sync_raw or [], raw.get(CHECKPOINTS_TOPIC, []))
        read = SyncRead(
            read.syncs, read.checkpoints, missing, read.malformed, self.sync_location or ""
        )
        if not offsets_topic:
            return TailRead(
                read, None, position_note="shadow.connect_offsets_topic is not set in the plan"
            )
        if note or not layout.get(offsets_topic):
            return TailRead(read, None, position_note=note)
        connector = connector_names(self.plan)["source"]
        for key, value in raw.get(offsets_topic, []):
            if key is None:
                continue
            # A tombstone (the offsets were reset), another connector's record or one that
            # does not decode: the key holds no position of this connector now.
            found = None if value is None else decode_position(key, value, connector)
            if found is None:
                self._offsets.pop(key, None)
            else:
                self._offsets[key] = found
        return TailRead(
            read,
            {tp: at for tp, at in self._offsets.values()},
            position_from=f"Connect's offsets topic {offsets_topic} (read_committed)",
        )

    def _read(self, tail: TopicTail, layout, deadline: float):
        try:
            return tail.read(layout, deadline)
        except _Reset as reset:
            # The topic was recreated: what was read of it is void; read it from the start.
            tail.forget(reset.topic)
            if reset.topic == self.plan.shadow.connect_offsets_topic:
                self._offsets.clear()
            try:
                return tail.read(layout, deadline)
            except _Reset as again:
                raise Mm2Error(
                    f"{tail.cluster}: {again.topic} keeps changing under the reader; try again"
                ) from None


def _decode(plan: Plan, raw_syncs, raw_cps) -> SyncRead:
    syncs, checkpoints, malformed = decode_syncs(plan, raw_syncs, raw_cps)
    return SyncRead(syncs, checkpoints, [], malformed)


def copy_positions(records: Mapping[bytes, bytes], connector: str) -> dict[TP, int]:
    """Next source offset to copy per partition, from the Connect offsets topic's last
    record per key (``records``: key -> value, tombstones already removed), for the
    connector named ``connector``. Records that do not decode are left out (their
    partition then counts as not copied yet, the safe side)."""
    out: dict[TP, int] = {}
    for key, value in records.items():
        found = decode_position(key, value, connector)
        if found is not None:
            out[found[0]] = found[1]
    return out


def decode_position(key: bytes, value: bytes, connector: str) -> tuple[TP, int] | None:
    """One record of the Connect offsets topic: the partition and its next source offset
    to copy, when the record is the connector ``connector``'s and decodes; else None."""
    try:
        name, where = json.loads(key)
        offset = json.loads(value)
    except (ValueError, TypeError):
        return None
    if name != connector or not isinstance(where, dict) or not isinstance(offset, dict):
        return None
    topic, partition, at = where.get("topic"), where.get("partition"), offset.get("offset")
    if not isinstance(topic, str) or not isinstance(partition, int):
        return None
    if not isinstance(at, int) or isinstance(at, bool):
        return None
    return (topic, partition), at + 1
