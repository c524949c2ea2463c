"""MirrorMaker 2's half of the mirror benchmark: records/s copied by MirrorMaker 2 running
on a real Kafka Connect worker, from the sandbox source (Kafka 3.9.1) to its target (4.1.1).

``measure_mm2`` takes a source topic the caller already filled and times, from the
deploy request until the target holds every record: deploy the source connector (through
:func:`console.mm2.deploy`, preflight included), wait, remove it. That includes the
connector's own start (about a second), as an operator starting the shadow path would
see it. "Holds every record" is judged so that neither mode is flattered:

* exactly-once: the worker commits each task's source offsets in the same transaction as
  the records, so once Connect's committed offsets (``GET /connectors/<name>/offsets``,
  KIP-875) reach every partition's last source offset, all records are committed on the
  target;
* at-least-once: no transaction markers, so the target's end offsets summed equal the
  records written.

A worker of the right mode recorded in ``<sandbox root>/connect-bench`` is reused;
otherwise one is started there and stopped afterwards (its start time is not counted).
The target copy of the topic is deleted first, so each run copies from scratch.

    python bench/mm2_part.py --dir /tmp/sb --records 200000      # fills a topic, both modes
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from console.plan import parse_plan  # noqa: E402
from console.sandbox import (  # noqa: E402
    ADMIN_USER,
    SANDBOX_PASSWORDS,
    Sandbox,
    SandboxError,
    SandboxState,
)
from console.sandbox.connect import ConnectWorker  # noqa: E402
from console.sandbox.plans import sandbox_plan_text  # noqa: E402
from console.shadow import mm2  # noqa: E402

# Measured on 2 shared cores: 4 tasks (3 partitions each) beat 1 and 2 at exactly-once, where
# each task commits its own transactions; at-least-once did not care.
TASKS_MAX = 4
TIMEOUT_S = 600.0


def _plan(state: SandboxState, topic: str, connect_url: str, exactly_once: bool):
    # A fresh plan (so connector) name per run: Connect keeps a removed connector's
    # offsets, and a reused name would resume instead of copying from scratch.
    text = sandbox_plan_text(
        state.source.sasl_bootstrap,
        state.target.sasl_bootstrap,
        {topic: True},
        name=f"bench-{uuid.uuid4().hex[:8]}",
        password_env=("CUTOVER_BENCH_SOURCE_PASSWORD", "CUTOVER_BENCH_TARGET_PASSWORD"),
        owner="bench",
        extra=f"""[shadow]
path = "mirrormaker2"
connect_url = "{connect_url}"
mm2_exactly_once = {str(exactly_once).lower()}
""",
    )
    return parse_plan(text, "<bench plan>")


def _source_ends(state: SandboxState, topic: str) -> dict[int, int]:
    consumer = Consumer(
        {"bootstrap.servers": state.source.plaintext_bootstrap, "group.id": "cutover-bench"}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = sorted(meta.topics[topic].partitions)
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
    finally:
        consumer.close()


def _drop_target_copy(state: SandboxState, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": state.target.plaintext_bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        return
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        if time.monotonic() > deadline:
            raise SandboxError(f"the target kept topic {topic} after deleting it")
        time.sleep(0.2)


def _target_total(consumer: Consumer, topic: str, partitions: list[int]) -> int:
    total = 0
    for p in partitions:
        try:
            total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
        except KafkaException:
            return -1  # topic not created on the target yet
    return total


def _committed_upstream(connect_url: str, name: str) -> dict[int, int]:
    """partition -> last source offset the worker committed (exactly-once: with the data)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{connect_url}/connectors/{name}/offsets", timeout=10) as resp:
        body = json.loads(resp.read())
    return {
        int(e["partition"]["partition"]): int(e["offset"]["offset"])
        for e in body.get("offsets", [])
        if e.get("offset")
    }


def measure_mm2(
    sandbox_state: SandboxState, topic: str, records: int, exactly_once: bool
) -> float | None:
    """Records/s of MirrorMaker 2 copying the filled source ``topic`` (``records`` long) to
    the target, or None when it could not be measured (the reason goes to stderr)."""
    root = sandbox_state.root / "connect-bench"
    worker = ConnectWorker.load(root)
    owned = None
    try:
        if worker is None or worker.exactly_once != exactly_once:
            owned = worker = ConnectWorker.start(sandbox_state, root, exactly_once=exactly_once)
        ends = _source_ends(sandbox_state, topic)
        if sum(ends.values()) < records:
            raise SandboxError(
                f"source topic {topic} holds {sum(ends.values())} records, not {records}"
            )
        _drop_target_copy(sandbox_state, topic)
        plan = _plan(sandbox_state, topic, worker.rest_url, exactly_once)
        name = mm2.connector_names(plan)["source"]
        password = SANDBOX_PASSWORDS[ADMIN_USER]
        settings = mm2.Mm2Settings.sandbox(tasks_max=TASKS_MAX)
        watcher = Consumer(
            {"bootstrap.servers": sandbox_state.target.plaintext_bootstrap, "group.id": "bench"}
        )
        started = time.monotonic()
        deadline = started + TIMEOUT_S
        try:
            mm2.deploy(
                plan, {"source": password, "target": password}, timeout=120, settings=settings
            )
            while True:
                if exactly_once:
                    done = _committed_upstream(worker.rest_url, name)
                    finished = all(done.get(p, -1) >= end - 1 for p, end in ends.items() if end)
                else:
                    finished = _target_total(watcher, topic, list(ends)) >= sum(ends.values())
                if finished:
                    break
                if time.monotonic() > deadline:
                    raise SandboxError(f"MirrorMaker 2 did not copy {records} records in time")
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        finally:
            watcher.close()
            mm2.remove(plan, timeout=60)
        return records / elapsed
    except (mm2.Mm2Error, SandboxError, KafkaException, OSError) as exc:
        text = exc.one_line() if isinstance(exc, SandboxError) else str(exc)
        print(f"mm2 bench: not measured: {text}", file=sys.stderr)
        return None
    finally:
        if owned is not None:
            owned.stop()


def fill(state: SandboxState, topic: str, records: int, partitions: int = 12) -> None:
    """A source topic of ``records`` 1 KiB records over ``partitions`` partitions."""
    from confluent_kafka import Producer

    admin = AdminClient({"bootstrap.servers": state.source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
    # Idempotent with acks=all: the figures divide by ``records``, so a retried batch must
    # neither land twice nor go missing (a plain producer can do both while the new
    # topic's partitions elect their leaders). Every record is counted as acknowledged.
    producer = Producer(
        {
            "bootstrap.servers": state.source.plaintext_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 200_000,
        }
    )
    acknowledged = 0

    def landed(err, _msg) -> None:
        nonlocal acknowledged
        acknowledged += err is None

    payload = b"x" * 1024
    for i in range(records):
        while True:
            try:
                producer.produce(
                    topic,
                    value=payload,
                    key=str(i).encode(),
                    partition=i % partitions,
                    on_delivery=landed,
                )
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0 or acknowledged != records:
        raise SandboxError(
            f"the source took {acknowledged} of {records} benchmark records; run it again"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="a running sandbox (cutover sandbox up)")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1, help="runs per mode")
    args = parser.parse_args(argv)
    state = Sandbox(Path(args.dir)).status()
    if state is None or not state.is_up:
        print(f"no running sandbox in {args.dir}; run `cutover sandbox up --dir {args.dir}`")
        return 1
    topic = f"bench.mm2.{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    fill(state, topic, args.records)
    print(f"filled {topic}: {args.records} x 1 KiB in {time.monotonic() - started:.1f} s")
    for exactly_once in (True, False):
        for _ in range(args.runs):
            rps = measure_mm2(state, topic, args.records, exactly_once)
            mode = "exactly-once" if exactly_once else "at-least-once"
            shown = "n/a" if rps is None else f"{rps:,.0f} records/s"
            print(f"MirrorMaker 2 {mode}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
