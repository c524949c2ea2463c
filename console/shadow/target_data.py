"""What the target already holds in the plan's topics, before a copy starts into them.

A copy started into target topics that already hold records (an earlier copy by another
run, a test, a previous attempt with another path) puts every record there twice, and
the comparison then fails by construction. The Start shadow copy gate shows, per
topic, how much the target holds and stays shut unless the plan says the target may
hold earlier data (``[shadow] target_may_hold_earlier_data``).

The figure is the offset span (end minus start offset, per partition, summed): what the
target holds at most, since transaction markers take offsets too. Zero means empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console.kafka.client import admin_client, connect_error
from console.plan import Plan


@dataclass(frozen=True)
class HeldTopic:
    """A plan topic that exists on the target, and what it holds."""

    name: str
    partitions: int
    records: int
    """Offset span over its partitions (records at most); 0 when empty."""


def held_on_target(
    plan: Plan, passwords: dict[str, str | None], *, timeout: float = 10.0
) -> list[HeldTopic]:
    """The plan's topics that exist on the target, in plan order, with what they hold."""
    spec = plan.clusters.target
    admin, trap = admin_client(spec, passwords.get("target"), client_id="cutover-gate")
    try:
        metadata = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise connect_error("target", spec, admin, trap, exc) from None
    partitions = {
        t.name: [TopicPartition(t.name, p) for p in sorted(metadata[t.name].partitions)]
        for t in plan.topics
        if t.name in metadata and metadata[t.name].error is None
    }
    every = [tp for tps in partitions.values() for tp in tps]
    if not every:
        return []
    ends = _offsets(admin, every, OffsetSpec.latest(), timeout)
    starts = _offsets(admin, every, OffsetSpec.earliest(), timeout)
    return [
        HeldTopic(
            name,
            len(tps),
            sum(
                max(0, ends[(tp.topic, tp.partition)] - starts[(tp.topic, tp.partition)])
                for tp in tps
            ),
        )
        for name, tps in partitions.items()
    ]


def _offsets(admin, tps: list[TopicPartition], spec: OffsetSpec, timeout: float) -> dict:
    futures = admin.list_offsets({tp: spec for tp in tps}, request_timeout=timeout)
    return {
        (tp.topic, tp.partition): fut.result(timeout=timeout + 1).offset
        for tp, fut in futures.items()
    }
