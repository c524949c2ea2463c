"""Benchmark of the comparison engine against the rate of only reading both sides.

    python bench/compare.py [--records N] [--partitions P] [--workers W] [--rounds R] [--dir DIR]
    python bench/compare.py --topics T [--records N] [--partitions P] [--rounds R] [--dir DIR]

Uses the sandbox in ``--dir`` (default ``$CUTOVER_SANDBOX_DIR`` or the usual place) and
starts one there if none is up (``console.sandbox.Sandbox``); it is left running.
Fills a source topic with N production-shaped records (key, ~150 B JSON value, two
headers) and a target copy carrying the built-in mirror's provenance header, once
(reused while the counts match). Then, each in a fresh process so peak memory is its
own:

* **ceiling**: read both sides completely with confluent-kafka, the same consumer
  settings and the same parallelism as the comparison, touching nothing: the best of
  thread and process parallelism;
* **compare**: ``console.compare.engine.compare`` over the whole window;
* **memory**: peak RSS (the process and its worker processes, sampled every 20 ms) of
  the comparison over a small window (1/8 of the records) and the whole one, both in
  worker processes (what the engine picks for big windows) so they compare like for
  like.

The machine is usually shared (both brokers run on it too), so ceiling and comparison
runs are interleaved for ``--rounds`` rounds and the best rate of each is kept; peak
memory is the worst seen. Ends with one line: ``compare_rps=<n> ceiling_rps=<n>
compare/ceiling=<ratio> peak_rss_mb_small=<n> peak_rss_mb_large=<n>`` (on one line).

With ``--topics T``: T small topics of ``--partitions`` (default 4) partitions and
``--records`` records each (default 500), the target copies written in transactions
like the built-in mirror's (so every partition ends on a commit marker). One
``compare`` over all of them against a ceiling that reads the same records with one
consumer per side assigned every partition at once (so it pays nothing per topic or
partition); ``--rounds`` interleaved rounds, medians of each. Ends with
``many_topics_rps=<n> many_topics/ceiling=<ratio>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

from console.kafka import provenance  # noqa: E402
from console.plan import parse_plan  # noqa: E402


def plan_for(source: str, target: str, topics: str | list[str]):
    names = [topics] if isinstance(topics, str) else topics
    entries = "".join(
        f'[[topics]]\nname = "{t}"\nowner = "bench"\nexternal_side_effects = false\n' for t in names
    )
    return parse_plan(
        f"""
[plan]
name = "bench-compare"
[people]
owners = ["bench"]
approvers = ["bench"]
[clusters.source]
bootstrap_servers = "{source}"
[clusters.target]
bootstrap_servers = "{target}"
{entries}"""
    )


# -- data ----------------------------------------------------------------------------------


def count(bootstrap: str, topic: str) -> int | None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(topic, timeout=30).topics.get(topic)
    if meta is None or meta.error is not None:
        return None
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "log_level": 0})
    total = 0
    for p in meta.partitions:
        lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        total += hi - lo
    consumer.close()
    return total


def create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        fut.result(60)


def fill_source(bootstrap: str, topic: str, records: int, partitions: int) -> None:
    rng = random.Random(7)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "queue.buffering.max.messages": 500_000,
            "log_level": 0,
        }
    )
    started = time.time()
    for i in range(records):
        customer = rng.randrange(50_000)
        note = rng.randbytes(24).hex()
        value = (
            b'{"order":%d,"customer":"c-%05d","amount_cents":%d,"currency":"EUR",'
            b'"note":"%s"}' % (i, customer, rng.randrange(1, 10**6), note.encode())
        )
        while True:
            try:
                producer.produce(
                    topic,
                    key=b"customer-%05d" % customer,
                    value=value,
                    headers=[("source-app", b"checkout"), ("trace-id", b"%016x" % i)],
                    partition=customer % partitions,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 20_000 == 0:
            producer.poll(0)
    producer.flush(120)
    print(f"  source filled: {records:,} records in {time.time() - started:.1f} s", flush=True)


def copy_to_target(source: str, target: str, topic: str, partitions: int) -> None:
    """A copy like the built-in mirror's: same partition, timestamp, key, value, headers,
    plus the provenance header."""
    consumer = Consumer(
        {
            "bootstrap.servers": source,
            "group.id": "bench",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "log_level": 0,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    producer = Producer(
        {
            "bootstrap.servers": target,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "queue.buffering.max.messages": 500_000,
            "log_level": 0,
        }
    )
    started, copied, eof = time.time(), 0, 0
    while eof < partitions:
        for m in consumer.consume(10_000, 1.0):
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof += 1
                continue
            headers = (m.headers() or []) + [
                (provenance.HEADER, provenance.encode(m.partition(), m.offset()))
            ]
            while True:
                try:
                    producer.produce(
                        topic,
                        key=m.key(),
                        value=m.value(),
                        headers=headers,
                        partition=m.partition(),
                        timestamp=m.timestamp()[1],
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            copied += 1
        producer.poll(0)
    producer.flush(120)
    consumer.close()
    print(f"  target copy: {copied:,} records in {time.time() - started:.1f} s", flush=True)


def ensure_data(source: str, target: str, topic: str, records: int, partitions: int) -> None:
    have_src, have_tgt = count(source, topic), count(target, topic)
    if have_src == records and have_tgt == records:
        print(f"  reusing {topic}: {records:,} records on both sides", flush=True)
        return
    if have_src is None:
        create(source, topic, partitions)
        fill_source(source, topic, records, partitions)
    elif have_src != records:
        sys.exit(
            f"bench: {topic} on the source has {have_src:,} records; use --dir of a fresh sandbox"
        )
    if have_tgt is None:
        create(target, topic, partitions)
        copy_to_target(source, target, topic, partitions)
    elif have_tgt != records:
        sys.exit(f"bench: {topic} on the target has {have_tgt:,} records; use a fresh sandbox")


# -- measurements (each in its own process) --------------------------------------------------


class PeakRss:
    """Peak resident memory of this process plus its children, sampled."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss(os.getpid()))

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _tree_rss(os.getpid()))


def _tree_rss(pid: int) -> int:
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def measure_compare(
    source: str, target: str, topic: str, end: int | None, workers: int, executor: str = "auto"
) -> dict:
    from console.compare.engine import compare
    from console.compare.model import Bound, CompareRequest

    plan = plan_for(source, target, topic)
    request = CompareRequest(
        end=Bound("offset", end) if end is not None else None,
        workers=workers,
        executor=executor,
    )
    with PeakRss() as rss:
        started = time.perf_counter()
        report = compare(plan, {}, request)
        elapsed = time.perf_counter() - started
    bad = [
        f"{r.topic}[{r.partition}] {r.check}"
        for r in report.results
        if r.verdict.value in ("RED", "WARN")
    ]
    return {
        "records": report.records,
        "elapsed": elapsed,
        "rps": report.records / elapsed,
        "peak_rss_mb": rss.peak / 2**20,
        "not_ok": bad,
    }


def _read_partition(bootstrap: str, topic: str, partitions: list[int], out: list) -> None:
    from console.compare.reader import _FETCH, _consume

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{provenance.SHADOW_CLIENT_PREFIX}compare",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "log_level": 0,
            **_FETCH,
        }
    )
    n = 0
    for p in partitions:
        consumer.assign([TopicPartition(topic, p, 0)])
        while True:
            # Read the way the comparison reads: consume(5000, 1.0) alone waited out the
            # whole second at each partition's end, a second per partition and side.
            msgs = _consume(consumer, 5_000, 1.0)
            if msgs and msgs[-1].error() is not None:
                n += len(msgs) - 1
                break
            n += len(msgs)
    consumer.close()
    out.append(n)


def _read_worker(args):
    bootstrap, topic, parts = args
    out: list = []
    _read_partition(bootstrap, topic, parts, out)
    return out[0]


def measure_ceiling(source: str, target: str, topic: str, workers: int, mode: str) -> dict:
    """Read both sides completely, the way the comparison does: each worker reads one
    partition of both sides at a time."""
    admin = AdminClient({"bootstrap.servers": source})
    parts = sorted(admin.list_topics(topic, timeout=30).topics[topic].partitions)
    shares = [parts[i::workers] for i in range(workers)]
    with PeakRss() as rss:
        started = time.perf_counter()
        if mode == "threads":
            out: list = []
            threads = [
                threading.Thread(target=_read_partition, args=(bs, topic, share, out))
                for share in shares
                for bs in (source, target)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            total = sum(out)
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers * 2) as pool:
                total = sum(
                    pool.map(
                        _read_worker,
                        [(bs, topic, share) for share in shares for bs in (source, target)],
                    )
                )
        elapsed = time.perf_counter() - started
    return {
        "records": total // 2,
        "elapsed": elapsed,
        "rps": (total // 2) / elapsed,
        "peak_rss_mb": rss.peak / 2**20,
    }


# -- many small topics (--topics) ------------------------------------------------------------


def many_names(records: int, partitions: int, topics: int) -> list[str]:
    return [f"bench-many-{records}-{partitions}-{i:04d}" for i in range(topics)]


def many_counts(bootstrap: str, topics: list[str]) -> dict[str, int | None]:
    """Records per topic (None when absent), every partition in one ListOffsets call."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    meta = admin.list_topics(timeout=30).topics
    wanted = [
        TopicPartition(t, p)
        for t in topics
        if t in meta and meta[t].error is None
        for p in meta[t].partitions
    ]
    out: dict[str, int | None] = {t: None for t in topics}
    if not wanted:
        return out
    ends = {}
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        futures = admin.list_offsets({tp: spec for tp in wanted}, request_timeout=60)
        for tp, fut in futures.items():
            ends.setdefault((tp.topic, tp.partition), []).append(fut.result(70).offset)
    for (t, _p), (lo, hi) in ends.items():
        out[t] = (out[t] or 0) + hi - lo
    return out


def many_fill(source: str, target: str, topics: list[str], records: int, partitions: int):
    """Source topics of production-shaped records, and target copies made the way the
    built-in mirror makes them: in transactions (so every partition ends on a commit
    marker), same partition, key, value, headers and timestamp, plus provenance."""
    for bootstrap in (source, target):
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        have = admin.list_topics(timeout=30).topics
        new = [NewTopic(t, partitions, 1) for t in topics if t not in have]
        for i in range(0, len(new), 50):
            for fut in admin.create_topics(new[i : i + 50], request_timeout=120).values():
                fut.result(130)
    rng = random.Random(11)
    producer = Producer(
        {
            "bootstrap.servers": source,
            "linger.ms": 20,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "log_level": 0,
        }
    )
    started = time.time()
    n = 0
    for topic in topics:
        for i in range(records):
            customer = rng.randrange(50_000)
            value = (
                b'{"order":%d,"customer":"c-%05d","amount_cents":%d,"currency":"EUR",'
                b'"note":"%s"}'
                % (i, customer, rng.randrange(1, 10**6), rng.randbytes(24).hex().encode())
            )
            while True:
                try:
                    producer.produce(
                        topic,
                        key=b"customer-%05d" % customer,
                        value=value,
                        headers=[("source-app", b"checkout"), ("trace-id", b"%016x" % n)],
                        partition=customer % partitions,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            n += 1
        producer.poll(0)
    producer.flush(120)
    print(f"  source filled: {n:,} records in {time.time() - started:.1f} s", flush=True)

    consumer = Consumer(
        {
            "bootstrap.servers": source,
            "group.id": "bench",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "log_level": 0,
        }
    )
    consumer.assign([TopicPartition(t, p, 0) for t in topics for p in range(partitions)])
    copier = Producer(
        {
            "bootstrap.servers": target,
            "linger.ms": 20,
            "compression.type": "lz4",
            "transactional.id": f"bench-many-{records}-{partitions}-{len(topics)}",
            "log_level": 0,
        }
    )
    copier.init_transactions(60)
    started, copied, eof = time.time(), 0, 0
    while eof < len(topics) * partitions:
        msgs = consumer.consume(10_000, 1.0)
        copier.begin_transaction()
        for m in msgs:
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof += 1
                continue
            headers = (m.headers() or []) + [
                (provenance.HEADER, provenance.encode(m.partition(), m.offset()))
            ]
            while True:
                try:
                    copier.produce(
                        m.topic(),
                        key=m.key(),
                        value=m.value(),
                        headers=headers,
                        partition=m.partition(),
                        timestamp=m.timestamp()[1],
                    )
                    break
                except BufferError:
                    copier.poll(0.05)
            copied += 1
        copier.commit_transaction(60)
    consumer.close()
    print(f"  target copy: {copied:,} records in {time.time() - started:.1f} s", flush=True)


def many_ensure(source: str, target: str, topics: list[str], records: int, partitions: int):
    have_src, have_tgt = many_counts(source, topics), many_counts(target, topics)
    # The target's offsets count its transaction markers too.
    wrong = [
        t
        for t in topics
        if (have_src[t] is not None or have_tgt[t] is not None)
        and (have_src[t] != records or (have_tgt[t] or 0) < records)
    ]
    if wrong:
        sys.exit(
            f"bench: {wrong[0]} holds other counts than {records:,} records per side; "
            "use --dir of a fresh sandbox"
        )
    absent = [t for t in topics if have_src[t] is None]
    if not absent:
        print(f"  reusing {len(topics)} topics of {records:,} records on both sides", flush=True)
        return
    many_fill(source, target, absent, records, partitions)


def measure_many_compare(source: str, target: str, topics: list[str], workers) -> dict:
    from console.compare.engine import compare
    from console.compare.model import CompareRequest

    plan = plan_for(source, target, topics)
    started = time.perf_counter()
    report = compare(plan, {}, CompareRequest(workers=workers))
    elapsed = time.perf_counter() - started
    bad = [
        f"{r.topic}[{r.partition}] {r.check}: {r.reason}"
        for r in report.results
        if r.verdict.value in ("RED", "WARN")
    ]
    return {
        "records": report.records,
        "elapsed": elapsed,
        "rps": report.records / elapsed,
        "not_ok": bad,
    }


def _read_all(bootstrap: str, topics: list[str], out: list) -> None:
    """One consumer assigned every partition of every topic at once, read to the end."""
    from console.compare.reader import _FETCH

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{provenance.SHADOW_CLIENT_PREFIX}compare",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "log_level": 0,
            **_FETCH,
        }
    )
    meta = consumer.list_topics(timeout=30).topics
    parts = [
        TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in sorted(meta[t].partitions)
    ]
    consumer.assign(parts)
    n, ended = 0, set()
    while len(ended) < len(parts):
        # A short wait: consume() returns only when the batch is full or the time is up,
        # and the last call should not add idle time to the ceiling.
        for m in consumer.consume(5_000, 0.1):
            err = m.error()
            if err is None:
                n += 1
            elif err.code() == KafkaError._PARTITION_EOF:
                ended.add((m.topic(), m.partition()))
            else:
                raise RuntimeError(err.str())
    consumer.close()
    out.append(n)


def measure_many_ceiling(source: str, target: str, topics: list[str]) -> dict:
    """Both sides read completely, one consumer per side (in threads) assigned all the
    partitions at once: what reading costs without any per-topic or per-partition step."""
    out: list = []
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_read_all, args=(bs, topics, out)) for bs in (source, target)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if len(out) != 2:
        sys.exit("bench: a ceiling reader failed")
    if out[0] != out[1]:
        sys.exit(f"bench: the ceiling read {out[0]:,} source but {out[1]:,} target records")
    return {
        "records": out[0],
        "target_records": out[1],
        "elapsed": elapsed,
        "rps": out[0] / elapsed,
    }


def run_many(args, source: str, target: str) -> int:
    records = args.records if args.records is not None else 500
    partitions = args.partitions if args.partitions is not None else 4
    topics = many_names(records, partitions, args.topics)
    print(
        f"data: {args.topics} topics x {partitions} partitions, {records:,} records each "
        f"({args.topics * records:,} records per side)",
        flush=True,
    )
    many_ensure(source, target, topics, records, partitions)
    common = ["--source", source, "--target", target, "--topics", str(args.topics)]
    common += ["--records", str(records), "--partitions", str(partitions)]
    if args.workers:
        common += ["--workers", str(args.workers)]
    ceilings, compares = [], []
    for round_no in range(1, args.rounds + 1):
        ceiling = _child(["--measure", "many-ceiling", *common])
        if ceiling["records"] != records * args.topics:
            sys.exit(f"bench: the ceiling read {ceiling['records']:,} records per side")
        ceilings.append(ceiling["rps"])
        print(
            f"round {round_no} ceiling (one consumer per side, all partitions): "
            f"{ceiling['records']:,} records per side in {ceiling['elapsed']:.2f} s = "
            f"{ceiling['rps']:,.0f} rec/s",
            flush=True,
        )
        result = _child(["--measure", "many-compare", *common])
        compares.append(result["rps"])
        print(
            f"round {round_no} compare ({args.topics} topics): {result['records']:,} records in "
            f"{result['elapsed']:.2f} s = {result['rps']:,.0f} rec/s "
            f"({result['rps'] / ceiling['rps']:.2f} of this round's ceiling)",
            flush=True,
        )
        if result["not_ok"]:
            print(f"  unexpected findings: {result['not_ok'][:5]}", flush=True)
    rate, ceiling = statistics.median(compares), statistics.median(ceilings)
    print(
        f"medians of {args.rounds}: compare {rate:,.0f} rec/s, ceiling {ceiling:,.0f} rec/s; "
        f"machine: {os.cpu_count()} cores (shared with both brokers"
        f"{' and other work' if os.getloadavg()[0] > 1 else ''}), load {os.getloadavg()[0]:.1f}"
    )
    print(f"many_topics_rps={rate:.0f} many_topics/ceiling={rate / ceiling:.2f}")
    return 0


def _child(argv: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"bench: measurement {argv[:2]} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, help="records (default 2,000,000; with --topics: per topic, 500)"
    )
    parser.add_argument(
        "--partitions", type=int, help="partitions (default 8; with --topics: per topic, 4)"
    )
    parser.add_argument(
        "--topics", type=int, help="compare this many small topics in one call (e.g. 200)"
    )
    parser.add_argument(
        "--workers", type=int, help="partitions at once (default: the engine's, one per core)"
    )
    parser.add_argument("--dir", help="sandbox directory (started there if none is up)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved repetitions (best rate is kept)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--end", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--executor", default="process", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        if args.measure.startswith("many-"):
            names = many_names(args.records, args.partitions, args.topics)
            if args.measure == "many-compare":
                result = measure_many_compare(args.source, args.target, names, args.workers)
            else:
                result = measure_many_ceiling(args.source, args.target, names)
        elif args.measure == "compare":
            result = measure_compare(
                args.source, args.target, args.topic, args.end, args.workers, args.executor
            )
        else:
            result = measure_ceiling(
                args.source, args.target, args.topic, args.workers, args.measure
            )
        print(json.dumps(result))
        return 0

    from console.sandbox import Sandbox, default_sandbox_dir

    sandbox = Sandbox(Path(args.dir) if args.dir else default_sandbox_dir())
    state = sandbox.status()
    if state is None or not state.is_up:
        print(f"starting the sandbox in {sandbox.root}", flush=True)
        state = sandbox.up()
    source = state.clusters["source"].plaintext_bootstrap
    target = state.clusters["target"].plaintext_bootstrap
    if args.topics:
        return run_many(args, source, target)
    args.records = args.records if args.records is not None else 2_000_000
    args.partitions = args.partitions if args.partitions is not None else 8
    topic = f"bench-compare-{args.records}-{args.partitions}"
    print(f"data: {topic} ({args.records:,} records, {args.partitions} partitions)", flush=True)
    ensure_data(source, target, topic, args.records, args.partitions)
    common = ["--source", source, "--target", target, "--topic", topic]
    workers = args.workers or max(2, os.cpu_count() or 2)
    common += ["--workers", str(workers)]

    # The machine is shared (brokers, other work): rates are taken best-of-rounds, with
    # ceiling and comparison runs interleaved so both see the same weather; memory is
    # taken worst-of-rounds.
    ceilings, compares, peaks = [], [], []
    for round_no in range(1, args.rounds + 1):
        for mode in ("threads", "processes"):
            result = _child(["--measure", mode, *common])
            ceilings.append(result["rps"])
            print(
                f"round {round_no} ceiling ({mode}): {result['records']:,} records per side in "
                f"{result['elapsed']:.2f} s = {result['rps']:,.0f} rec/s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB",
                flush=True,
            )
        large = _child(["--measure", "compare", *common])
        compares.append(large["rps"])
        peaks.append(large["peak_rss_mb"])
        print(
            f"round {round_no} compare (whole window): {large['records']:,} records in "
            f"{large['elapsed']:.2f} s = {large['rps']:,.0f} rec/s, "
            f"peak RSS {large['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        if large["not_ok"]:
            print(f"  unexpected findings: {large['not_ok'][:5]}", flush=True)
    ceiling, best = max(ceilings), max(compares)
    small_end = max(1, args.records // args.partitions // 8)
    small_peaks = []
    for _ in range(args.rounds):
        small = _child(["--measure", "compare", *common, "--end", str(small_end)])
        small_peaks.append(small["peak_rss_mb"])
    print(
        f"compare (small window, offsets 0..{small_end} per partition): "
        f"{small['records']:,} records, peak RSS {max(small_peaks):.0f} MB "
        f"(whole window: {args.records:,} records, {max(peaks):.0f} MB)",
        flush=True,
    )
    print(
        f"machine: {os.cpu_count()} cores (shared with both brokers"
        f"{' and other work' if os.getloadavg()[0] > 1 else ''}), load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"compare_rps={best:.0f} ceiling_rps={ceiling:.0f} "
        f"compare/ceiling={best / ceiling:.2f} "
        f"peak_rss_mb_small={max(small_peaks):.0f} "
        f"peak_rss_mb_large={max(peaks):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
