"""Throughput of the built-in exactly-once mirror against its ceiling and MirrorMaker 2.

Copies one filled source topic (default 1,000,000 records of 1 KiB over 12 partitions,
keyed, with two headers each) from the sandbox source (Kafka 3.9.1) to its target
(4.1.1), several ways, and prints records/s:

* ``ceiling``: a plain confluent-kafka loop, consume from source and produce to target
  (same partition, key, value, headers, timestamp) with no guarantees at all: no
  transactions, no idempotence, read_uncommitted, ``acks=1``. The same fetch and batch
  tuning as the mirror, so the gap is the price of the guarantees.
* ``mirror``: :class:`console.mirror.Mirror` at exactly-once (read_committed,
  transactions, positions stored on the target, provenance header, offset map written
  to SQLite), timed from ``open()`` (topic creation and ``init_transactions``
  included, as an operator starting the shadow path sees it) until the transaction
  holding the last record has committed. The steady-state rate (from the first
  commit on) is printed as well.
* ``mm2_eos`` / ``mm2_default``: MirrorMaker 2 on a Kafka Connect worker, measured by
  ``bench/mm2_part.py``'s ``measure_mm2`` when that file exists (another part of the
  project writes it); otherwise ``n/a``.

Both clusters are reached through their SASL_PLAINTEXT (SCRAM-SHA-512) listeners, as
the console and MirrorMaker 2 reach them. The target copy is deleted between runs.
With ``--repeat K`` each way runs K times and medians are quoted. The last line is:

    mirror_rps=<n> mm2_eos_rps=<n> mm2_default_rps=<n> ceiling_rps=<n> \
mirror/mm2_eos=<ratio> mirror/ceiling=<ratio>

    python bench/mirror.py [--records N] [--repeat K] [--sandbox-dir DIR] [--no-mm2]

Starts the sandbox itself (and stops it afterwards) when none is up in the directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from console.plan import parse_plan  # noqa: E402
from console.sandbox import (  # noqa: E402
    ADMIN_USER,
    SANDBOX_PASSWORDS,
    Sandbox,
    SandboxState,
    admin_config,
    default_sandbox_dir,
)
from console.sandbox.plans import sandbox_plan_text  # noqa: E402
from console.shadow import mirror  # noqa: E402
from console.shadow.mirror import offset_map
from console.store import Store  # noqa: E402

PASSWORD_ENV = "CUTOVER_BENCH_MIRROR_PASSWORD"
TIMEOUT_S = 900.0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fill(state: SandboxState, topic: str, records: int, partitions: int, size: int) -> None:
    """Create and fill the source topic: keyed records with headers, round-robin partitions."""
    conf = admin_config(state.source, "plaintext")
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=30)[topic].result(30)
    producer = Producer(
        {
            **conf,
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    payload = os.urandom(size)
    for i in range(records):
        headers = [("trace-id", b"t%08d" % i), ("source-app", b"bench")]
        while True:
            try:
                producer.produce(
                    topic,
                    payload,
                    b"customer-%d" % (i % 5000),
                    i % partitions,
                    headers=headers,
                )
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(300) != 0:
        raise RuntimeError("the source did not take every benchmark record")


def drop_target(state: SandboxState, topic: str) -> None:
    """Delete the target copy and wait until it is gone, so every run starts empty."""
    admin = AdminClient(admin_config(state.target, "plaintext"))
    if topic not in admin.list_topics(timeout=10).topics:
        return
    admin.delete_topics([topic], operation_timeout=60)[topic].result(timeout=60)
    deadline = time.monotonic() + 60
    while topic in admin.list_topics(timeout=10).topics:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the target kept {topic} after deleting it")
        time.sleep(0.2)


def ceiling(state: SandboxState, topic: str, records: int, partitions: int) -> float:
    """Records/s of the plain loop with no guarantees."""
    admin = AdminClient(admin_config(state.target, "sasl"))
    admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=30)[topic].result(30)
    consumer = Consumer(
        {
            **admin_config(state.source, "sasl"),
            "group.id": f"bench-ceiling-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
            "fetch.wait.max.ms": 100,
        }
    )
    producer = Producer(
        {
            **admin_config(state.target, "sasl"),
            "enable.idempotence": False,
            "acks": 1,
            "linger.ms": 10,
            "batch.size": 1_000_000,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "compression.type": "none",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    produce = producer.produce
    copied = 0
    started = time.monotonic()
    deadline = started + TIMEOUT_S
    while copied < records:
        for msg in consumer.consume(10_000, 0.1):
            if msg.error() is not None:
                continue
            while True:
                try:
                    produce(
                        topic,
                        msg.value(),
                        msg.key(),
                        msg.partition(),
                        timestamp=msg.timestamp()[1],
                        headers=msg.headers(),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            copied += 1
        producer.poll(0)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ceiling loop copied {copied} of {records} in time")
    if producer.flush(120) != 0:
        raise RuntimeError("the ceiling loop's producer did not deliver everything")
    elapsed = time.monotonic() - started
    consumer.close()
    return records / elapsed


def _plan_text(state: SandboxState, topic: str) -> str:
    return sandbox_plan_text(
        state.source.sasl_bootstrap,
        state.target.sasl_bootstrap,
        {topic: True},
        name=f"bench-{uuid.uuid4().hex[:8]}",
        password_env=(PASSWORD_ENV, PASSWORD_ENV),
        owner="bench",
    )


def builtin(state: SandboxState, topic: str, records: int, workdir: Path) -> tuple[float, float]:
    """(records/s from open(), steady records/s from the first commit) of the mirror."""
    text = _plan_text(state, topic)
    plan = parse_plan(text, "<bench plan>")
    db = workdir / f"{plan.name}.db"
    store = Store.create(db, text, plan)
    password = SANDBOX_PASSWORDS[ADMIN_USER]
    engine = mirror.Mirror(
        plan, {"source": password, "target": password}, store, progress=lambda _m: None
    )
    stop = threading.Event()
    failure: list[BaseException] = []

    def body() -> None:
        try:
            engine.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)
            stop.set()

    started = time.monotonic()
    engine.open()
    worker = threading.Thread(target=body, name="bench-mirror", daemon=True)
    worker.start()
    first_commit = first_count = None
    deadline = started + TIMEOUT_S
    try:
        while engine.copied < records:
            if failure:
                raise RuntimeError(f"the mirror failed: {failure[0]}")
            if first_commit is None and engine.copied:
                first_commit, first_count = time.monotonic(), engine.copied
            if time.monotonic() > deadline:
                raise RuntimeError(f"the mirror copied {engine.copied} of {records} in time")
            time.sleep(0.01)
        finished = time.monotonic()
    finally:
        stop.set()
        worker.join(timeout=120)
        engine.close()
    mapped = offset_map.mapped_count(store, topic)
    store.close()
    if mapped != records:
        raise RuntimeError(f"the offset map covers {mapped} records, not {records}")
    steady = (
        (records - first_count) / (finished - first_commit)
        if first_commit is not None and finished > first_commit and first_count < records
        else records / (finished - started)
    )
    return records / (finished - started), steady


def _mm2_hook():
    """``measure_mm2`` from bench/mm2_part.py, if that part of the benchmark exists."""
    if not (Path(__file__).resolve().parent / "mm2_part.py").exists():
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from mm2_part import measure_mm2  # type: ignore[import-not-found]
    except ImportError as exc:
        _say(f"bench/mm2_part.py could not be imported ({exc}); MirrorMaker 2 not measured")
        return None
    return measure_mm2


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--size", type=int, default=1024, help="value size in bytes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per way (medians quoted)")
    parser.add_argument("--sandbox-dir", help="use the sandbox running there")
    parser.add_argument("--no-mm2", action="store_true", help="skip MirrorMaker 2")
    parser.add_argument("--keep", action="store_true", help="keep the filled source topic")
    args = parser.parse_args(argv)

    sandbox = Sandbox(Path(args.sandbox_dir) if args.sandbox_dir else default_sandbox_dir())
    state = sandbox.status()
    started_here = state is None or not state.is_up
    if started_here:
        _say(f"starting the sandbox in {sandbox.root}")
        state = sandbox.up()
    os.environ[PASSWORD_ENV] = SANDBOX_PASSWORDS[ADMIN_USER]  # this process only
    topic = f"bench.mirror.{uuid.uuid4().hex[:8]}"
    results: dict[str, list[float | None]] = {
        "ceiling": [],
        "mirror": [],
        "mirror_steady": [],
        "mm2_eos": [],
        "mm2_default": [],
    }
    measure_mm2 = None if args.no_mm2 else _mm2_hook()
    try:
        t0 = time.monotonic()
        fill(state, topic, args.records, args.partitions, args.size)
        _say(
            f"filled {topic}: {args.records:,} x {args.size} B over {args.partitions} "
            f"partitions in {time.monotonic() - t0:.1f} s"
        )
        with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
            for run in range(1, args.repeat + 1):
                drop_target(state, topic)
                rps = ceiling(state, topic, args.records, args.partitions)
                results["ceiling"].append(rps)
                _say(f"run {run}: ceiling      {rps:,.0f} records/s")
                drop_target(state, topic)
                rps, steady = builtin(state, topic, args.records, Path(tmp))
                results["mirror"].append(rps)
                results["mirror_steady"].append(steady)
                _say(f"run {run}: mirror (EOS) {rps:,.0f} records/s ({steady:,.0f} steady)")
                drop_target(state, topic)
                if measure_mm2 is not None:
                    for exactly_once, key in ((True, "mm2_eos"), (False, "mm2_default")):
                        rps = measure_mm2(state, topic, args.records, exactly_once)
                        results[key].append(rps)
                        _say(f"run {run}: {key:12} {_fmt(rps)} records/s")
                        drop_target(state, topic)
    finally:
        if not args.keep:
            admin = AdminClient(admin_config(state.source, "plaintext"))
            admin.delete_topics([topic], operation_timeout=60)[topic].result(timeout=60)
        if started_here:
            sandbox.down()
    med = {k: _median(v) for k, v in results.items()}
    if args.repeat > 1:
        _say(f"medians over {args.repeat} runs; all runs: {results}")
    print(
        f"mirror_rps={_fmt(med['mirror'])} mm2_eos_rps={_fmt(med['mm2_eos'])} "
        f"mm2_default_rps={_fmt(med['mm2_default'])} ceiling_rps={_fmt(med['ceiling'])} "
        f"mirror/mm2_eos={_ratio(med['mirror'], med['mm2_eos'])} "
        f"mirror/ceiling={_ratio(med['mirror'], med['ceiling'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
