"""What the cost scope measures on a cluster: bytes held per partition, consumer positions.

Offsets count records, not bytes, so the bytes come from the brokers' own log sizes:
DescribeLogDirs (spoken by :mod:`console.kafka.wire`) on each broker that leads a plan
partition, the leader's replica taken, read together with the partition's end offset.
A log's growth between two readings is the bytes appended to it: the record batches as
producers (or the copy) sent them, compressed, with their batch headers; that is what
produce, fetch and replication requests carry, less the requests' own framing and TLS.
Retention deleting a segment makes the size fall; such a step is not counted (it
undercounts the appends of that step, and says so where it is used).

Consumer positions are the committed offsets of the plan's groups; with a partition's
bytes per offset they give the bytes a group reads.
"""

from __future__ import annotations

from collections import defaultdict

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console.kafka import wire
from console.kafka.client import admin_client
from console.plan import ClusterSpec


def log_sizes(
    spec: ClusterSpec,
    password: str | None,
    topics: list[str],
    *,
    timeout: float,
) -> list[tuple[str, int, int, int | None]]:
    """``(topic, partition, log_bytes, end_offset)`` for every partition of ``topics`` on
    this cluster, the size read from the partition's leader. Raises WireError when the
    brokers refuse DescribeLogDirs (it needs DESCRIBE on the cluster)."""
    admin, _ = admin_client(spec, password, client_id="cutover-traffic")
    metadata = admin.list_topics(timeout=timeout)
    leaders: dict[tuple[str, int], int] = {}
    for name in topics:
        meta = metadata.topics.get(name)
        if meta is None or meta.error is not None:
            continue
        for pid, part in meta.partitions.items():
            if part.leader >= 0:
                leaders[(name, pid)] = part.leader
    if not leaders:
        return []
    ends: dict[tuple[str, int], int] = {}
    futures = admin.list_offsets(
        {TopicPartition(t, p): OffsetSpec.latest() for t, p in leaders}, request_timeout=timeout
    )
    for tp, fut in futures.items():
        try:
            ends[(tp.topic, tp.partition)] = fut.result(timeout=timeout + 1).offset
        except Exception:  # noqa: BLE001 - an end we cannot read stays unknown
            continue
    by_broker: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for (name, pid), broker in leaders.items():
        by_broker[broker][name].append(pid)
    sizes: dict[tuple[str, int], int] = {}
    for broker, wanted in sorted(by_broker.items()):
        node = metadata.brokers[broker]
        with wire.connect(spec, password, host=node.host, port=node.port, timeout=timeout) as conn:
            for found in wire.describe_log_dirs(conn, broker, dict(wanted)):
                key = (found.topic, found.partition)
                if not found.future and leaders.get(key) == broker:
                    sizes[key] = found.size_bytes
    return [(t, p, size, ends.get((t, p))) for (t, p), size in sorted(sizes.items())]


def committed(
    spec: ClusterSpec,
    password: str | None,
    groups: list[str],
    *,
    timeout: float,
) -> list[tuple[str, str, int, int]]:
    """``(group, topic, partition, committed)`` of each group that has committed here."""
    admin, _ = admin_client(spec, password, client_id="cutover-traffic")
    out = []
    for group in groups:
        fut = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )[group]
        try:
            answer = fut.result(timeout=timeout + 1)
        except Exception:  # noqa: BLE001 - a group absent on this side has no position here
            continue
        out.extend(
            (group, tp.topic, tp.partition, tp.offset)
            for tp in answer.topic_partitions
            if tp.error is None and tp.offset >= 0
        )
    return out
