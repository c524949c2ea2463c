"""The reverse copy: records that exist only on the target, written back to the source
exactly once, and where a group's target position lands on the source afterwards.

Target-only records are the class's own writes on the target after the cutover point
(records without the mirror's provenance header). The reverse copy writes each one to the
same partition of the source with ``provenance.REVERSE_HEADER`` naming the target
partition and offset it copies, so

* the forward copy, when it resumes, passes over it (it is a copy of a target record);
* the copy keeps its position **on the source itself**: the reverse headers after the
  fence point say exactly which target offsets are there already;
* it is exactly once across ``kill -9``: it writes in transactions under one
  transactional id per rollback run; ``init_transactions`` aborts whatever a killed run
  left open, and what was committed is read back from the source before anything more
  is written.

Only a gated rollback (or the drill, on its rehearsal topics) writes to the source.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer

from console.cutover.producers.cluster import TP, Cluster, Record, StillOpen, until_settled
from console.kafka import client as kafka
from console.kafka import provenance
from console.kafka.provenance import SHADOW_CLIENT_PREFIX

BATCH = 500
"""Records per reverse-copy transaction."""


@dataclass(frozen=True)
class TargetOnly:
    """Per partition, the class's own records on the target after the cutover point."""

    records: dict[TP, list[Record]]

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.records.values())

    def counts(self) -> dict[str, int]:
        return {f"{t}:{p}": len(v) for (t, p), v in sorted(self.records.items())}

    def examples(self, n: int = 3) -> list[str]:
        out = []
        for recs in self.records.values():
            out += [r.example() for r in recs[:n]]
        return out[:n]


def target_only(
    target: Cluster, starts: dict[TP, int], ends: dict[TP, int], deadline: float
) -> TargetOnly:
    """The committed records in ``[starts, ends)`` on the target that are not copies."""
    found = target.records({tp: (starts[tp], ends[tp]) for tp in starts}, deadline, committed=True)
    out: dict[TP, list[Record]] = {tp: [] for tp in starts}
    for record in found:
        if provenance.find(list(record.headers)) is None:
            out[(record.topic, record.partition)].append(record)
    return TargetOnly(out)


def copied_back(
    source: Cluster, fence_point: dict[TP, int], deadline: float
) -> dict[TP, list[tuple[int, int]]]:
    """Per partition, the reverse copies on the source after the fence point:
    ``(source offset, target offset it copies)`` in source order (read_committed)."""
    tps = list(fence_point)
    # A commit returns before its markers reach the partitions: read to the end once no
    # transaction is open, or a copy-back just committed reads as nothing copied.
    ends = wait_end(source, tps, deadline)
    found = source.records(
        {tp: (fence_point[tp], ends[tp]) for tp in tps}, deadline, committed=True
    )
    out: dict[TP, list[tuple[int, int]]] = {tp: [] for tp in tps}
    for record in found:
        rev = provenance.reverse_of(list(record.headers))
        if rev is not None:
            out[(record.topic, record.partition)].append((record.offset, rev[1]))
    return out


def copy_back(
    source: Cluster,
    only: TargetOnly,
    fence_point: dict[TP, int],
    transactional_id: str,
    *,
    deadline: float,
    log: Callable[..., Any],
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Write every target-only record not yet on the source (see the module docstring)."""
    producer = _producer(source, transactional_id)
    try:
        # Ends a transaction a killed run left open (aborted): only committed copies count.
        producer.init_transactions(kafka.remaining(deadline))
        before = copied_back(source, fence_point, deadline)
        done = {tp: {t for _s, t in pairs} for tp, pairs in before.items()}
        todo = [
            r
            for tp, recs in sorted(only.records.items())
            for r in recs
            if r.offset not in done.get(tp, set())
        ]
        already = sum(len(v) for v in done.values())
        intent = log(
            "producers.reverse.copy",
            params={"to_copy": len(todo), "copied_before": already, "txn_id": transactional_id},
        )
        for i in range(0, len(todo), BATCH):
            chunk = todo[i : i + BATCH]
            producer.begin_transaction()
            for r in chunk:
                mark = (provenance.REVERSE_HEADER, provenance.encode(r.partition, r.offset))
                headers = [*r.headers, mark]
                while True:
                    try:
                        producer.produce(
                            r.topic,
                            r.value,
                            r.key,
                            r.partition,
                            timestamp=r.timestamp if r.timestamp > 0 else 0,
                            headers=headers,
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.commit_transaction(kafka.remaining(deadline))
            progress(f"copied back {min(i + BATCH, len(todo)):,} of {len(todo):,}")
        log("producers.reverse.copy", ref=intent.seq, outcome=f"{len(todo)} record(s) copied back")
    except KafkaException as exc:
        raise source.fail("the reverse copy", exc) from None
    finally:
        producer.flush(5)
    return {"copied_now": len(todo), "copied_before": already, "target_only": only.count}


def _producer(source: Cluster, transactional_id: str) -> Producer:
    conf = kafka.client_config(
        source.spec, source.password, client_id=f"{SHADOW_CLIENT_PREFIX}producers-reverse"
    )
    conf.update(
        {
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    return Producer(conf)


def export(path: Path, only: TargetOnly) -> dict[str, Any]:
    """``list``: the target-only records as JSON lines for their owners to reconcile (keys
    and values as text where they decode, else hex); written again whole when resumed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for recs in only.records.values():
            for r in recs:
                out.write(
                    json.dumps(
                        {
                            "topic": r.topic,
                            "partition": r.partition,
                            "offset": r.offset,
                            "timestamp": r.timestamp,
                            "key": _text(r.key),
                            "value": _text(r.value),
                            "headers": {k: _text(v) for k, v in r.headers},
                        },
                        sort_keys=True,
                    )
                    + "\n"
                )
    tmp.replace(path)
    return {"exported": only.count, "file": str(path)}


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + raw.hex()


def source_position(
    target_offset: int,
    point: tuple[int, int],
    copies: list[tuple[int, int]],
    source_end: int,
    *,
    copied: bool,
) -> tuple[int, str]:
    """Where a group that stands at ``target_offset`` (at or after the cutover point
    ``(source end at the fence, target offset)``) resumes on the source: at the reverse
    copy of the first target-only record it has not read, or (``list``, or it read them
    all) right after the last one. Exact: read from the source's reverse headers."""
    src_end, tgt_start = point
    if target_offset <= tgt_start:
        return src_end, "at the cutover point"
    if not copied:
        return src_end, (
            f"read {target_offset - tgt_start} offset(s) of target-only records that were "
            "listed, not copied back: resumes at the fence point"
        )
    nxt = next((s for s, t in copies if t >= target_offset), None)
    if nxt is not None:
        return nxt, f"at the reverse copy of target offset {target_offset} or the next one"
    return source_end, "read every target-only record: after the last reverse copy"


def wait_end(cluster: Cluster, tps: list[TP], deadline: float) -> dict[TP, int]:
    """End offsets (read_committed) once no transaction is open on the partitions.

    A transaction still open at the deadline is an error, never a shorter read: what
    lies past its first record cannot be read committed, so the reverse copies there
    would be missed, copied a second time, and a group put past records it never read.
    """
    try:
        until_settled(cluster, tps, deadline)
    except StillOpen as still:
        (topic, partition), (stable, high) = sorted(still.still.items())[0]
        raise kafka.ClusterError(
            f"{cluster.name}: a transaction is still open on {len(still.still)} partition(s) "
            f"({topic}[{partition}] stable up to {stable:,}, written up to {high:,}): what "
            "follows cannot be read committed yet. Wait for it to end (the producer's "
            "transaction.timeout.ms aborts it) or find its producer "
            "(kafka-transactions.sh --describe), then run the step again"
        ) from None
    return cluster.ends(tps, deadline, committed=True)
