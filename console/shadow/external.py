"""The external shadow path: a copy the console does not run, only observes.

For ``shadow.path = "external"`` (a vendor link or an application's dual write),
:func:`estimate_external_progress` compares end offsets and newest timestamps on both
sides; its result is an estimate and says so everywhere. Nothing here is MirrorMaker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console.kafka import client as kafka
from console.kafka.client import ClusterError
from console.plan import ClusterSpec, Plan

# -- external path: progress estimated from both ends --------------------------------------------


@dataclass(frozen=True)
class ExternalProgress:
    """ESTIMATE of how far an external copy (vendor link, dual write) trails the source on
    one partition. Offsets need not correspond across clusters, so ``records_behind``
    compares record counts (end minus start offset); ``seconds_behind`` compares the
    newest record timestamps. Both are estimates and are labelled so everywhere."""

    topic: str
    partition: int
    source_records: int
    target_records: int | None
    records_behind: int | None
    source_newest_ms: int | None
    target_newest_ms: int | None
    seconds_behind: float | None
    note: str = ""
    estimate: bool = True

    def describe(self) -> str:
        where = f"{self.topic}[{self.partition}]"
        if self.target_records is None:
            return f"{where}: ESTIMATE — not on the target ({self.note})"
        secs = "n/a" if self.seconds_behind is None else f"{self.seconds_behind:.1f} s"
        text = f"{where}: ESTIMATE {self.records_behind} record(s), {secs} behind"
        return f"{text} ({self.note})" if self.note else text


def partition_ends(
    name: str,
    spec: ClusterSpec,
    password: str | None,
    topics: list[str],
    deadline: float,
    *,
    with_timestamps: bool = True,
) -> dict[tuple[str, int], tuple[int, int, int | None]]:
    """(topic, partition) -> (earliest, latest, newest timestamp ms or None)."""
    admin, trap = kafka.admin_client(spec, password, client_id="cutover-mm2-external")
    try:
        meta = admin.list_topics(timeout=kafka.remaining(deadline, spec.request_timeout_s))
    except KafkaException as exc:
        raise kafka.connect_error(name, spec, admin, trap, exc) from None
    tps = [
        TopicPartition(t, p)
        for t in topics
        if t in meta.topics and meta.topics[t].error is None
        for p in meta.topics[t].partitions
    ]
    if not tps:
        return {}
    result: dict[tuple[str, int], list] = {(tp.topic, tp.partition): [0, 0, None] for tp in tps}
    lookups = [(0, OffsetSpec.earliest), (1, OffsetSpec.latest)]
    if with_timestamps:
        lookups.append((2, OffsetSpec.max_timestamp))
    for slot, spec_fn in lookups:
        request = {tp: spec_fn() for tp in tps}
        futures = admin.list_offsets(
            request, request_timeout=kafka.remaining(deadline, spec.request_timeout_s)
        )
        for tp, future in futures.items():
            try:
                info = future.result()
            except KafkaException as exc:
                raise ClusterError(
                    f"{name}: listing offsets of {tp.topic}[{tp.partition}] failed "
                    f"({kafka.error_name(exc)}); check the console user's DESCRIBE rights"
                ) from None
            key = (tp.topic, tp.partition)
            if slot < 2:
                result[key][slot] = info.offset
            elif info.offset >= 0 and info.timestamp >= 0:
                result[key][2] = info.timestamp
    return {k: (v[0], v[1], v[2]) for k, v in result.items()}


def estimate_external_progress(
    plan: Plan, passwords: Mapping[str, str | None], *, timeout: float = 20.0
) -> list[ExternalProgress]:
    """ESTIMATE per partition of how far the target trails the source, for a copy the
    console does not run. Counts come from end offsets, times from the newest record
    timestamp (Kafka's max-timestamp lookup) on each side."""
    deadline = time.monotonic() + timeout
    topics = [t.name for t in plan.topics]
    src = partition_ends("source", plan.clusters.source, passwords.get("source"), topics, deadline)
    tgt = partition_ends("target", plan.clusters.target, passwords.get("target"), topics, deadline)
    out = []
    for (topic, part), (s_lo, s_hi, s_ts) in sorted(src.items()):
        s_count = s_hi - s_lo
        if (topic, part) not in tgt:
            out.append(
                ExternalProgress(
                    topic,
                    part,
                    s_count,
                    None,
                    None,
                    s_ts,
                    None,
                    None,
                    "topic or partition missing there",
                )
            )
            continue
        t_lo, t_hi, t_ts = tgt[(topic, part)]
        t_count = t_hi - t_lo
        notes = []
        if s_lo != t_lo:
            notes.append("retention or start offsets differ, counts are rougher")
        behind = s_count - t_count
        if behind < 0:
            # Offsets, not records, are counted: transaction markers written by a
            # transactional copier (or duplicates, or older data) inflate the target side.
            notes.append(f"target holds {-behind} more offsets than the source")
            behind = 0
        if s_ts is not None and t_ts is not None:
            seconds = max(0.0, (s_ts - t_ts) / 1000)
        else:
            seconds = None
            notes.append("no timestamps on one side")
        out.append(
            ExternalProgress(
                topic,
                part,
                s_count,
                t_count,
                behind,
                s_ts,
                t_ts,
                seconds,
                "; ".join(notes),
            )
        )
    return out
