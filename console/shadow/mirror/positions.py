"""Where the mirror stands: its source positions, stored on the target with the records.

Every mirror transaction writes one record per source partition (``"<topic>:<partition>"``
-> next source offset) to the compacted topic :func:`positions_topic` on the target, in
the same transaction as the copied records; so what is committed there is exactly what
was copied. Reading them back is how the mirror resumes and how the lag sampler knows
the mirror's position.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from console.kafka.client import ClusterError, client_config, error_name
from console.plan import Plan
from console.shadow.mirror.topics import MirrorError, admin_with_topics, mirror_id

# -- positions ---------------------------------------------------------------------------------


def positions_topic(plan_name: str) -> str:
    """The compacted target topic holding the mirror's source positions."""
    return f"{mirror_id(plan_name)}.positions"


# Compacted, so it keeps the newest position per partition; segments roll every ten
# minutes so the cleaner can actually drop the old ones.
POSITIONS_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "0",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
}


def position_key(topic: str, partition: int) -> bytes:
    # Topic names never contain ':', so "<topic>:<partition>" is unambiguous.
    return f"{topic}:{partition}".encode()


def _parse_position(key: bytes | None, value: bytes | None) -> tuple[tuple[str, int], int] | None:
    if not key or not value:
        return None
    topic, sep, partition = key.decode(errors="replace").rpartition(":")
    text = value.decode(errors="replace")
    if not sep or not partition.isdigit() or not text.isdigit():
        return None
    return (topic, int(partition)), int(text)


def committed_reader(spec, password: str | None, client_id: str) -> Consumer:
    """A read_committed consumer on a cluster that never joins or commits a group."""
    conf = client_config(spec, password, client_id=client_id)
    conf.update(
        {
            "group.id": client_id,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
    return Consumer(conf)


def read_range(reader: Consumer, tp: TopicPartition, begin: int, end: int, deadline: float):
    """Committed records of one partition in [begin, end), in order."""
    reader.assign([TopicPartition(tp.topic, tp.partition, begin)])
    out = []
    position = begin
    while True:
        # No more than the range can hold: the call returns when they are in, rather than
        # waiting out its timeout for a batch the range cannot fill (markers hold no record).
        for msg in reader.consume(max(1, min(5000, end - position)), 0.2):
            if msg.error() is not None:
                continue  # transient fetch trouble; the deadline bounds it
            if msg.offset() >= end:
                break
            out.append(msg)
        position = reader.position([TopicPartition(tp.topic, tp.partition)])[0].offset
        if position >= end:
            return out
        if time.monotonic() > deadline:
            raise MirrorError(
                f"reading {tp.topic}[{tp.partition}] on the target up to offset {end} stalled at "
                f"{position}; check the target is healthy and retry"
            )


def read_positions_kept(
    plan: Plan,
    password: str | None,
    keys: set[tuple[str, int]],
    clients: tuple[AdminClient, Consumer],
    *,
    timeout: float,
    on_broken=lambda: None,
) -> dict[tuple[str, int], int]:
    """:func:`read_positions` on the target clients a caller keeps open (a wait that polls
    the positions logs in once, not at every poll). A kept connection can break (an idle
    close, a broker restart): then ``on_broken`` drops the kept clients and the read is
    made once more with clients of its own."""
    try:
        return read_positions(plan, {}, keys, timeout=timeout, clients=clients)
    except ClusterError:
        on_broken()
        return read_positions(plan, {"target": password}, keys, timeout=timeout)


def read_positions(
    plan: Plan,
    passwords: dict[str, str | None],
    keys: set[tuple[str, int]] | None = None,
    *,
    timeout: float = 10.0,
    clients: tuple[AdminClient, Consumer] | None = None,
) -> dict[tuple[str, int], int]:
    """The newest committed position per (topic, partition) in the positions topic.

    Every mirror transaction writes the positions of all its partitions, so the newest
    committed transaction holds each of them: this reads backwards from the last
    committed offset in growing windows until every wanted key is found (or the topic's
    start is reached), which keeps it cheap however long the mirror has run.

    ``clients``: a target admin client and a read_committed, assign-only consumer the
    caller keeps open (and closes); without them, both are made for this call. A caller
    that reads positions again and again (moving many groups) saves the logins.
    """
    deadline = time.monotonic() + timeout
    topic = positions_topic(plan.name)
    tp = TopicPartition(topic, 0)
    dst_spec = plan.clusters.target
    password = passwords.get("target")
    if clients is None:
        admin, topics = admin_with_topics(plan, passwords, "target", timeout)
    else:
        admin = clients[0]
        try:
            topics = admin.list_topics(topic, timeout=timeout).topics
        except KafkaException as exc:
            raise ClusterError(
                f"target: describing {topic} failed ({error_name(exc)}); check the target is "
                "healthy"
            ) from None
        topics = {name: meta for name, meta in topics.items() if meta.error is None}
    if topic not in topics:
        return {}  # the mirror never ran for this plan
    try:
        low = admin.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=timeout)[tp]
        end = admin.list_offsets(
            {tp: OffsetSpec.latest()},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=timeout,
        )[tp]
        low_offset, end_offset = low.result(timeout).offset, end.result(timeout).offset
    except (KafkaException, TimeoutError) as exc:
        raise ClusterError(
            f"target: reading the offsets of {topic} failed ({error_name(exc)}); check the "
            "target is healthy and the plan's target user may describe it"
        ) from None
    found: dict[tuple[str, int], int] = {}
    if end_offset <= low_offset:
        return found
    reader = (
        committed_reader(dst_spec, password, f"{mirror_id(plan.name)}-positions")
        if clients is None
        else clients[1]
    )
    try:
        window = 2 * (len(keys) + 1) if keys else 1000
        upper = end_offset
        while upper > low_offset:
            lower = max(low_offset, upper - window)
            newest: dict[tuple[str, int], int] = {}
            for msg in read_range(reader, tp, lower, upper, deadline):
                parsed = _parse_position(msg.key(), msg.value())
                if parsed is not None:
                    newest[parsed[0]] = parsed[1]
            for key, value in newest.items():
                found.setdefault(key, value)  # a later window already had a newer value
            if keys is not None and keys <= found.keys():
                break
            upper = lower
            window *= 4
    finally:
        if clients is None:
            reader.close()
    return found


def mirror_positions(
    plan: Plan, passwords: dict[str, str | None], *, timeout: float = 10.0
) -> dict[tuple[str, int], int]:
    """Next source offset to copy, per partition of the plan's topics, as stored on the target.

    Partitions absent from the result have nothing recorded yet (the mirror has not
    committed since it first saw them). Only committed positions are read, so this
    never waits for the mirror's open transaction.
    """
    names = {t.name for t in plan.topics}
    _, meta = admin_with_topics(plan, passwords, "source", timeout)
    keys = {
        (name, p)
        for name in names
        if name in meta and meta[name].error is None
        for p in meta[name].partitions
    }
    try:
        positions = read_positions(plan, passwords, keys, timeout=timeout)
    except KafkaException as exc:
        raise ClusterError(
            f"target: reading the mirror's positions failed ({error_name(exc)}); check the "
            "target is healthy"
        ) from None
    return {key: value for key, value in positions.items() if key[0] in names}
