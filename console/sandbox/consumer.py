"""A demo consumer application for a plan group, and the check of what it processed.

``cutover demo-consumer RUN.db --group billing --side source --sink billing.sink`` runs
the group's consumers the way an application would: as the group's own (non-super)
principal, subscribed to the group's topics, reading ``read_committed``, "processing"
each record by appending a line to a local sink file (topic, partition, offset, key,
and the sequence number the workload carries in its ``seq`` header), and committing
after processing. ``--side target`` runs the same application against the target, which
is what the cutover walk-through does after the group was moved.

``cutover demo-sink RUN.db --group billing --sink billing.sink`` then reads the group's
topics on the source and checks the sink against them: every record's sequence number
once, none read twice, none missing between the first and the last one processed per
partition; what follows the last one is "not read yet", not missing.

Stopping it (SIGTERM, SIGINT or Ctrl-C) finishes the batch in hand, commits and leaves
the group, so its members are gone at once. Tooling for the demo, not product.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from console.errors import CutoverError
from console.kafka import client as kafka
from console.kafka.provenance import HEADER
from console.plan import GroupSpec, Plan
from console.sandbox.state import SANDBOX_PASSWORDS

SEQ_HEADER = "seq"


class DemoConsumerError(CutoverError):
    """The demo consumer could not run; the message says what to do."""


def _group(plan: Plan, group_id: str) -> GroupSpec:
    for group in plan.groups:
        if group.id == group_id:
            return group
    names = ", ".join(g.id for g in plan.groups) or "none"
    raise DemoConsumerError(f"the plan has no group '{group_id}' (its groups: {names})")


def principal_password(plan: Plan, group: GroupSpec, password_env: str | None) -> str:
    """The principal's password: from the variable named, else the sandbox's own."""
    if password_env and os.environ.get(password_env):
        return os.environ[password_env]
    user = (group.principal or "").partition(":")[2]
    if group.principal_password and group.principal_password.env:
        value = os.environ.get(group.principal_password.env)
        if value:
            return value
    if user in SANDBOX_PASSWORDS:
        return SANDBOX_PASSWORDS[user]
    raise DemoConsumerError(
        f"no password for {group.principal}: export it and pass --password-env VAR"
    )


def seq_of(headers) -> str | None:
    for name, value in headers or []:
        if name == SEQ_HEADER and value is not None:
            return value.decode(errors="replace")
    return None


def sink_line(side: str, msg) -> str:
    key = msg.key().decode(errors="replace") if msg.key() is not None else ""
    seq = seq_of(msg.headers()) or ""
    return f"{side}\t{msg.topic()}\t{msg.partition()}\t{msg.offset()}\t{key}\t{seq}\n"


def consumer_config(plan: Plan, group: GroupSpec, side: str, password: str) -> dict:
    if not group.principal:
        raise DemoConsumerError(
            f"group '{group.id}' names no principal in the plan; add principal = \"User:...\""
        )
    spec = getattr(plan.clusters, side)
    spec = spec.model_copy(update={"sasl_username": group.principal.partition(":")[2]})
    conf = kafka.client_config(spec, password, client_id=f"demo-consumer-{group.id}")
    conf.update(
        {
            "group.id": group.id,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": group.auto_offset_reset,
            "enable.partition.eof": False,
        }
    )
    return conf


def run(
    plan: Plan,
    group_id: str,
    side: str,
    sink: Path,
    stop: threading.Event,
    *,
    password_env: str | None = None,
    idle_exit_s: float | None = None,
    max_records: int | None = None,
    say=print,
) -> int:
    """Consume until stopped (or idle/limit); returns the records processed."""
    group = _group(plan, group_id)
    conf = consumer_config(plan, group, side, principal_password(plan, group, password_env))
    consumer = Consumer(conf)
    processed = 0
    last_record = time.monotonic()
    try:
        consumer.subscribe(group.topics)
        say(f"demo consumer: group {group.id} on the {side} as {group.principal}, sink {sink}")
        with sink.open("a", encoding="utf-8") as out:
            while not stop.is_set():
                if max_records is not None and processed >= max_records:
                    break
                budget = 100 if max_records is None else min(100, max_records - processed)
                msgs = consumer.consume(budget, 0.5)
                good = []
                for msg in msgs:
                    err = msg.error()
                    if err is None:
                        good.append(msg)
                    elif err.code() in (
                        KafkaError.GROUP_AUTHORIZATION_FAILED,
                        KafkaError.TOPIC_AUTHORIZATION_FAILED,
                    ):
                        raise DemoConsumerError(
                            f"the {side} refused {group.principal} ({err.name()}): fenced, or "
                            "missing its ACLs"
                        )
                if not good:
                    if idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                        break
                    continue
                last_record = time.monotonic()
                # Processing: the sink line is on disk before the offset is committed, so a
                # crash can only re-process, never lose.
                out.writelines(sink_line(side, m) for m in good)
                out.flush()
                os.fsync(out.fileno())
                processed += len(good)
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as exc:
                    raise DemoConsumerError(
                        f"committing on the {side} failed ({kafka.error_name(exc)}); the group "
                        "may be fenced there"
                    ) from None
        say(f"demo consumer: processed {processed} record(s); committed; leaving the group")
    finally:
        consumer.close()
    return processed


def main(
    plan: Plan,
    group_id: str,
    side: str,
    sink: Path,
    *,
    password_env: str | None,
    idle_exit_s: float | None,
    max_records: int | None,
) -> int:
    """``cutover demo-consumer``: stops cleanly on SIGTERM, SIGINT or SIGHUP."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    run(
        plan,
        group_id,
        side,
        sink,
        stop,
        password_env=password_env,
        idle_exit_s=idle_exit_s,
        max_records=max_records,
    )
    return 0


# -- checking the sink ----------------------------------------------------------------------


@dataclass(frozen=True)
class SinkCheck:
    """What the sink holds against the source topics."""

    processed: int
    twice: list[str]
    """Sequence numbers processed more than once."""
    missing: list[str]
    """Source records (topic:partition@offset seq) never processed, between the first and
    the last one processed in their partition."""
    not_read: int
    """Source records after the last one processed in their partition."""
    by_side: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.twice and not self.missing

    def summary(self) -> str:
        sides = ", ".join(f"{n} on the {s}" for s, n in sorted(self.by_side.items()))
        return (
            f"{self.processed} record(s) processed ({sides}): {len(self.twice)} read twice, "
            f"{len(self.missing)} missing, {self.not_read} not read yet"
        )


def read_sink(sink: Path) -> list[tuple[str, str, int, int, str, str]]:
    rows = []
    for line in sink.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 6:
            side, topic, partition, offset, key, seq = parts
            rows.append((side, topic, int(partition), int(offset), key, seq))
    return rows


def check_sink(
    plan: Plan, group_id: str, sink: Path, *, password: str | None, timeout: float = 60
) -> SinkCheck:
    """Compare the sink with the group's topics on the source, by sequence number."""
    group = _group(plan, group_id)
    rows = read_sink(sink)
    counts = Counter(seq for *_rest, seq in rows if seq)
    twice = sorted(seq for seq, n in counts.items() if n > 1)
    seen = set(counts)
    by_side = Counter(row[0] for row in rows)
    conf = kafka.client_config(plan.clusters.source, password, client_id="demo-sink-check")
    conf.update(
        {
            "group.id": "demo-sink-check",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    reader = Consumer(conf)
    missing: list[str] = []
    not_read = 0
    try:
        meta = reader.list_topics(timeout=10)
        tps = [
            TopicPartition(t, p, -2)
            for t in group.topics
            if t in meta.topics
            for p in sorted(meta.topics[t].partitions)
        ]
        reader.assign(tps)
        pending = {(tp.topic, tp.partition) for tp in tps}
        per_partition: dict[tuple[str, int], list[tuple[int, str | None]]] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in reader.consume(1000, 0.5):
                key = (msg.topic(), msg.partition())
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(key)
                    continue
                headers = [h for h in (msg.headers() or []) if h[0] != HEADER]
                per_partition.setdefault(key, []).append((msg.offset(), seq_of(headers)))
        if pending:
            raise DemoConsumerError("reading the source for the check did not finish in time")
    finally:
        reader.close()
    for (topic, partition), records in sorted(per_partition.items()):
        read = [i for i, (_o, seq) in enumerate(records) if seq in seen]
        if not read:
            continue
        # Before the first record processed: the group's history before the demo ran.
        first, last = read[0], read[-1]
        for offset, seq in records[first : last + 1]:
            if seq not in seen:
                missing.append(f"{topic}:{partition}@{offset} seq {seq}")
        not_read += len(records) - (last + 1)
    return SinkCheck(len(rows), twice, missing, not_read, dict(by_side))
