"""Moving many consumer groups: seconds to translate, apply and verify, and what a consumer
of each moved group actually reads next, on the built-in mirror and on MirrorMaker 2.

On the sandbox (source Kafka 3.9.1, target 4.1.1), per path: ``--topics`` topics of
``--partitions`` partitions written in transactions (every fourth aborted, so each
partition holds markers and aborted records between its records; every record carries a
``seq`` header no other record has), ``--groups`` groups spread over them, each with a
committed offset on the source at a random position of every partition (commits may land
on a marker or inside an aborted transaction, as a read_committed consumer's can). The
copy runs (the console's built-in mirror, or MirrorMaker 2 at exactly-once on a real
Kafka Connect worker), a comparison of the topics is recorded, then every group is moved
one after the other through the step's own engine (:func:`console.cutover.move.move_group`:
evaluate every precondition, store the offset plan, apply on the target, read back and
verify, fence on the source). Per group the wall time of that call is taken.

Replayed and skipped records are **read, not recomputed from the translation**: after
the moves, a consumer in each group (``group.id`` = the group, partitions assigned at the
group's stored offsets, ``read_committed``, as the application would start) reads the
first record of every partition on the target. Its ``seq`` header is located among the
source's records and set against the record the source group would have read next (the
first committed record at or after its committed offset): before it, the records in
between are replayed; after it, skipped. A partition the consumer finds at its end while
the source group still had a copied record to read counts those records as skipped.
MirrorMaker 2's own checkpoint translation is measured the same way: the records of the
target from the checkpoint's offset up to the copy of the record the group would read next.

    python bench/offsets.py [--sandbox-dir DIR] [--groups 200] [--partitions 24] [--no-mm2]

The baseline, measured in the same run: after each group's move, the same offsets are
written on the target for a scratch group with one plain ``alter_consumer_group_offsets``
and read back (the least any move does, on the same open admin client, under the same
load); its median and p95, and the move's ratio to it, are printed per path.

Last line: ``groups=<n> total_s=<x> p95_group_s=<x> builtin_replayed=<n>
builtin_skipped=<n> mm2_replayed=<n> mm2_checkpoint_replayed=<n>`` (``total_s`` is both
paths'; ``p95_group_s`` is the worse path's p95, so a target missed on either path shows
there), then each path's ``<path>_p95_s``, the built-in path's ``median_group_s``, the
baseline's ``baseline_median_s`` and ``baseline_p95_s``,
``ratio_p95`` (move / baseline), the load average, and ``rerun='...'``: the command as
it was run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import (  # noqa: E402
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (  # noqa: E402
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from console.cli.main import main as cutover  # noqa: E402
from console.cutover.clients import Sides  # noqa: E402
from console.cutover.move import MoveFailed, move_group  # noqa: E402
from console.kafka.client import ClusterError  # noqa: E402
from console.plan import credentials, parse_plan  # noqa: E402
from console.sandbox import (  # noqa: E402
    ADMIN_USER,
    SANDBOX_PASSWORDS,
    Sandbox,
    SandboxState,
    default_sandbox_dir,
)
from console.sandbox.connect import CONNECT_DIR, ConnectWorker, connect_worker  # noqa: E402
from console.sandbox.plans import sandbox_plan_text  # noqa: E402
from console.shadow import mirror, mm2  # noqa: E402
from console.store import Store  # noqa: E402

PRINCIPAL = "User:app"
"""The sandbox's ordinary user, allowed on app.* topics and groups: the groups' principal."""
PASSWORDS = {"source": SANDBOX_PASSWORDS[ADMIN_USER], "target": SANDBOX_PASSWORDS[ADMIN_USER]}
TIMEOUT_S = 300.0
OFFSET_STORED = -1000
TP = tuple[str, int]


def say(line: str) -> None:
    print(line, flush=True)


@dataclass
class Path_:
    """One shadow path's run: its topics, groups, committed offsets and results."""

    name: str
    topics: list[str]
    groups: dict[str, str]
    """group -> its topic"""
    committed: dict[str, dict[TP, int]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    """Per group, seconds of the baseline: the same offsets written plainly on the target
    (one alter_consumer_group_offsets for a scratch group) and read back, nothing else."""
    failed: list[str] = field(default_factory=list)
    coarse: dict[str, dict[TP, int]] = field(default_factory=dict)
    """group -> MirrorMaker's checkpoint translation per partition (MM2 path)."""


def create_topics(state: SandboxState, topics: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": state.source.plaintext_bootstrap})
    for fut in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        fut.result(60)


def fill(state: SandboxState, topics: list[str], partitions: int, txns: int, size: int) -> None:
    """Transactions over every partition of each topic, every fourth aborted."""
    producer = Producer(
        {
            "bootstrap.servers": state.source.plaintext_bootstrap,
            "transactional.id": f"bench-offsets-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5,
        }
    )
    producer.init_transactions(60)
    n = 0
    for t in range(txns):
        producer.begin_transaction()
        for topic in topics:
            for p in range(partitions):
                for _ in range(size):
                    producer.produce(
                        topic,
                        f'{{"n":{n}}}'.encode(),
                        f"k{n % 97}".encode(),
                        p,
                        headers=[("seq", str(n).encode())],
                    )
                    n += 1
        # On the log before the abort (as in production, and so the aborted records take
        # offsets); aborting with records still queued purges them and breaks the
        # producer's sequence numbers for the next transaction.
        producer.flush(60)
        if t % 4 == 3:
            producer.abort_transaction(60)
        else:
            producer.commit_transaction(60)


def read_all(bootstrap: str, topics: list[str]) -> dict[TP, list[tuple[int, str]]]:
    """Every committed record, (offset, seq) per partition, in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    out: dict[TP, list[tuple[int, str]]] = {}
    try:
        tps = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            tps += [TopicPartition(topic, p, -2) for p in meta.partitions]
        consumer.assign(tps)
        pending = {(tp.topic, tp.partition) for tp in tps}
        out = {k: [] for k in pending}
        deadline = time.monotonic() + TIMEOUT_S
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.5):
                key = (msg.topic(), msg.partition())
                if msg.error() is None:
                    seq = dict(msg.headers() or []).get("seq", b"").decode()
                    out[key].append((msg.offset(), seq))
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(key)
        if pending:
            raise SystemExit(f"bench: could not read {len(pending)} partition(s) to their end")
    finally:
        consumer.close()
    return out


def ends(bootstrap: str, topics: list[str]) -> dict[TP, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ends"})
    try:
        out = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                tp = TopicPartition(topic, p)
                out[(topic, p)] = consumer.get_watermark_offsets(tp, timeout=30, cached=False)[1]
        return out
    finally:
        consumer.close()


def commit_all(state: SandboxState, run: Path_, rng: random.Random) -> None:
    """A committed offset at a random position of every partition, for every group."""
    end = ends(state.source.plaintext_bootstrap, run.topics)
    for group, topic in run.groups.items():
        offsets = {tp: rng.randint(0, e) for tp, e in end.items() if tp[0] == topic}
        run.committed[group] = offsets
        consumer = Consumer(
            {
                "bootstrap.servers": state.source.plaintext_bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
            }
        )
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    consumer.commit(
                        offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                        asynchronous=False,
                    )
                    break
                except KafkaException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)  # the group coordinator is still loading
        finally:
            consumer.close()


def plan_text(state: SandboxState, run: Path_, name: str, shadow: str) -> str:
    groups = "".join(
        f"""[[groups]]
id = "{g}"
owner = "bench"
topics = ["{t}"]
offset_strategy = "translate"
principal = "{PRINCIPAL}"
auto_offset_reset = "earliest"
"""
        for g, t in run.groups.items()
    )
    text = sandbox_plan_text(
        state.source.sasl_bootstrap,
        state.target.sasl_bootstrap,
        dict.fromkeys(run.topics, True),
        name=name,
        owner="bench",
        extra=groups + shadow,
    )
    # A checkpoint that could not be refined re-reads an unknown number of records: the
    # gate would refuse it under a small tolerance. The bench counts what is read instead.
    return text.replace(
        "create_on_target = true", "create_on_target = true\ntolerated_replay_records = 1000000"
    )


def wait(predicate, what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.5)


def compare(db: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cutover(["compare", str(db), "--from", "0"])
    if code != 0:
        raise SystemExit(f"bench: the comparison did not pass ({code}): {out.getvalue()[-400:]}")


def baseline_group(group: str) -> str:
    return f"{group}.plain"


def plain_commit(admin: AdminClient, group: str, offsets: dict[TP, int]) -> float:
    """The baseline for one group: its offsets written on the target for a scratch group
    with one ``alter_consumer_group_offsets`` and read back with one
    ``list_consumer_group_offsets``, on an open admin client: the least any move does.
    Seconds taken."""
    started = time.perf_counter()
    request = ConsumerGroupTopicPartitions(
        baseline_group(group), [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    admin.alter_consumer_group_offsets([request], request_timeout=60)[baseline_group(group)].result(
        60
    )
    back = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(baseline_group(group))], request_timeout=60
    )[baseline_group(group)].result(60)
    got = {(tp.topic, tp.partition): tp.offset for tp in back.topic_partitions}
    if any(got.get(tp) != o for tp, o in offsets.items()):
        raise SystemExit(f"bench: the baseline's offsets for {group} did not read back")
    return time.perf_counter() - started


def delete_baseline_groups(state: SandboxState, groups: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": state.target.plaintext_bootstrap})
    names = [baseline_group(g) for g in groups]
    for i in range(0, len(names), 100):
        for fut in admin.delete_consumer_groups(names[i : i + 100]).values():
            with contextlib.suppress(KafkaException):
                fut.result(60)


def move_all(db: Path, run: Path_) -> None:
    """Every group through the step's engine, one after the other, timed per group; after
    each, the baseline for the same offsets (interleaved, so both see the same load)."""
    store = Store.open(db)
    plan = store.plan
    sides = Sides(plan, credentials.resolve_passwords(plan))
    try:
        for i, group in enumerate(run.groups, 1):
            key = f"move-group:{group}"

            def log(action, _key=key, **kw):
                return store.log(action, step=_key, **kw)

            started = time.perf_counter()
            try:
                result = move_group(store, group, log=log, sides=sides)
            except MoveFailed as exc:
                run.failed.append(f"{group}: {exc.reason}")
                continue
            except ClusterError as exc:  # a cluster's trouble fails this group, not the bench
                run.failed.append(f"{group}: {exc}")
                continue
            finally:
                run.seconds.append(time.perf_counter() - started)
            written = {
                (p.topic, p.partition): p.target_offset
                for p in (result.evaluation.writes if result.evaluation else [])
            }
            if written:
                run.baseline.append(plain_commit(sides.target.admin, group, written))
            if result.evaluation is not None:
                run.coarse[group] = {
                    (p.topic, p.partition): p.coarse_offset
                    for p in result.evaluation.positions
                    if p.coarse_offset is not None
                }
            if i % 25 == 0:
                say(f"  {run.name}: {i}/{len(run.groups)} groups moved")
    finally:
        sides.close()
        store.close()


def first_reads(state: SandboxState, group: str, topic: str, partitions: int) -> dict[TP, str]:
    """What a consumer of the moved group reads first on the target, per partition: the
    first record's seq, or '' at the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": state.target.plaintext_bootstrap,
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_STORED) for p in range(partitions)])
        pending = {(topic, p) for p in range(partitions)}
        out: dict[TP, str] = {}
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                key = (msg.topic(), msg.partition())
                if key not in pending:
                    continue
                if msg.error() is None:
                    out[key] = dict(msg.headers() or []).get("seq", b"").decode()
                    pending.discard(key)
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    out[key] = ""
                    pending.discard(key)
            consumer.pause([TopicPartition(t, p) for (t, p) in out])
        if pending:
            raise SystemExit(f"bench: {group} read nothing from {len(pending)} partition(s)")
        return out
    finally:
        consumer.close()


@dataclass
class Counted:
    replayed: int = 0
    skipped: int = 0
    checkpoint_replayed: int = 0
    checkpoint_partitions: int = 0


def count(state: SandboxState, run: Path_, partitions: int) -> Counted:
    """Replayed and skipped records from what each moved group's consumer reads."""
    source = read_all(state.source.plaintext_bootstrap, run.topics)
    target = read_all(state.target.plaintext_bootstrap, run.topics)
    src_index = {tp: {seq: i for i, (_o, seq) in enumerate(recs)} for tp, recs in source.items()}
    tgt_index = {tp: {seq: i for i, (_o, seq) in enumerate(recs)} for tp, recs in target.items()}
    copied = {tp: set(tgt_index[tp]) for tp in target}
    out = Counted()
    for group, topic in run.groups.items():
        if any(f.startswith(f"{group}:") for f in run.failed):
            continue
        read = first_reads(state, group, topic, partitions)
        for tp, seq in read.items():
            src = source[tp]
            committed = run.committed[group][tp]
            s = next((i for i, (o, _q) in enumerate(src) if o >= committed), len(src))
            if seq:
                j = src_index[tp][seq]
                if j < s:
                    # The consumer reads the copies from its first record up to the copy
                    # of the record the source group would read next: those are replayed.
                    out.replayed += tgt_index[tp][src[s][1]] - tgt_index[tp][seq]
                else:
                    out.skipped += sum(1 for _o, q in src[s:j] if q in copied[tp])
            else:
                out.skipped += sum(1 for _o, q in src[s:] if q in copied[tp])
            coarse = run.coarse.get(group, {}).get(tp)
            if coarse is not None:
                out.checkpoint_partitions += 1
                tgt = target[tp]
                first = next((i for i, (o, _q) in enumerate(tgt) if o >= coarse), len(tgt))
                nxt = tgt_index[tp][src[s][1]] if s < len(src) else len(tgt)
                out.checkpoint_replayed += max(0, nxt - first)
    return out


def remove_fences(state: SandboxState, groups: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": state.source.plaintext_bootstrap})
    filters = [
        AclBindingFilter(
            ResourceType.GROUP,
            g,
            ResourcePatternType.LITERAL,
            PRINCIPAL,
            None,
            AclOperation.READ,
            AclPermissionType.DENY,
        )
        for g in groups
    ]
    for i in range(0, len(filters), 100):
        for fut in admin.delete_acls(filters[i : i + 100]).values():
            fut.result(60)


def delete_topics(state: SandboxState, topics: list[str]) -> None:
    for bootstrap in (state.source.plaintext_bootstrap, state.target.plaintext_bootstrap):
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for fut in admin.delete_topics(topics).values():
            with contextlib.suppress(KafkaException):
                fut.result(60)


def setup(state: SandboxState, name: str, args, rng: random.Random) -> Path_:
    tag = uuid.uuid4().hex[:6]
    topics = [f"app.bo{name[:2]}-{tag}-{i}" for i in range(args.topics)]
    groups = {f"app.bog{name[:2]}-{tag}-{g}": topics[g % len(topics)] for g in range(args.groups)}
    run = Path_(name, topics, groups)
    create_topics(state, topics, args.partitions)
    fill(state, topics, args.partitions, args.transactions, args.records)
    commit_all(state, run, rng)
    return run


def builtin(state: SandboxState, args, workdir: Path, rng: random.Random) -> Path_:
    run = setup(state, "builtin", args, rng)
    text = plan_text(state, run, f"bench-off-{uuid.uuid4().hex[:6]}", "")
    db = workdir / "builtin.db"
    Store.create(db, text, parse_plan(text)).close()
    plan = parse_plan(text)
    stop = threading.Event()
    thread = threading.Thread(
        target=mirror.run, args=(db, stop), kwargs={"progress": lambda _m: None}, daemon=True
    )
    thread.start()
    try:
        source_ends = ends(state.source.plaintext_bootstrap, run.topics)

        def copied() -> bool:
            try:
                at = mirror.mirror_positions(plan, PASSWORDS)
            except Exception:  # noqa: BLE001 - the positions topic may not exist yet
                return False
            return all(at.get(tp, 0) >= e for tp, e in source_ends.items())

        wait(copied, "the built-in mirror to copy everything")
        compare(db)
        say(f"builtin: {len(run.groups)} groups x {args.partitions} partitions copied; moving")
        move_all(db, run)
    finally:
        stop.set()
        thread.join(60)
    return run


def mirrormaker2(state: SandboxState, args, workdir: Path, rng: random.Random) -> Path_:
    worker = connect_worker(state)
    run = setup(state, "mm2", args, rng)
    shadow = f"""[shadow]
path = "mirrormaker2"
connect_url = "{worker.rest_url}"
connect_offsets_topic = "{worker.offsets_topic}"
mm2_exactly_once = true
mm2_replication_factor = 1
mm2_interval_s = 1
"""
    text = plan_text(state, run, f"bench-om-{uuid.uuid4().hex[:6]}", shadow)
    db = workdir / "mm2.db"
    plan = parse_plan(text)
    Store.create(db, text, plan).close()
    mm2.deploy(plan, PASSWORDS, timeout=TIMEOUT_S, settings=mm2.settings_from_plan(plan))
    try:
        # MirrorMaker's position is the offset after the last record it copied: a marker
        # or an aborted transaction after it is never "copied", so the last record is the
        # mark to wait for, not the end offset.
        last = {
            tp: recs[-1][0] + 1
            for tp, recs in read_all(state.source.plaintext_bootstrap, run.topics).items()
            if recs
        }

        def mm2_copied() -> bool:
            try:
                at = mm2.source_positions(plan, timeout=30)
            except mm2.Mm2Error:
                return False  # Connect answers HTTP 500 for its offsets while it starts
            return all(at.get(tp, 0) >= e for tp, e in last.items())

        wait(mm2_copied, "MirrorMaker 2 to copy everything")
        wanted = sum(len(c) for c in run.committed.values())

        def checkpointed() -> bool:
            read = mm2.read_offset_syncs(plan, PASSWORDS, timeout=60)
            got = {(c.group, c.topic, c.partition) for c in read.checkpoints}
            return len(got) >= wanted

        # Checkpoints of every group and partition (the checkpoint connector looks the
        # groups up every second here); the move falls back to the offset syncs otherwise.
        with contextlib.suppress(SystemExit):
            wait(checkpointed, "MirrorMaker 2's checkpoints", timeout=90)
        compare(db)
        say(f"mm2: {len(run.groups)} groups x {args.partitions} partitions copied; moving")
        move_all(db, run)
    finally:
        mm2.remove(plan, timeout=120)
    return run


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)] if ordered else 0.0


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def report(run: Path_, counted: Counted) -> None:
    move_med, move_p95 = statistics.median(run.seconds), p95(run.seconds)
    say(
        f"{run.name}: {len(run.groups)} groups, {len(run.failed)} refused or failed; "
        f"total {sum(run.seconds):.1f} s, median {move_med:.3f} s, "
        f"p95 {move_p95:.3f} s, max {max(run.seconds):.3f} s per group; "
        f"read after the move: replayed {counted.replayed}, skipped {counted.skipped}"
        + (
            f"; MirrorMaker's checkpoint would replay {counted.checkpoint_replayed} over "
            f"{counted.checkpoint_partitions} partitions"
            if run.name == "mm2"
            else ""
        )
    )
    if run.baseline:
        base_med, base_p95 = statistics.median(run.baseline), p95(run.baseline)
        say(
            f"{run.name} baseline (same offsets, one plain alter_consumer_group_offsets and a "
            f"read back, {len(run.baseline)} groups, same run): median {base_med:.3f} s, "
            f"p95 {base_p95:.3f} s per group"
        )
        say(
            f"{run.name} move / baseline: median {ratio(move_med, base_med)}, "
            f"p95 {ratio(move_p95, base_p95)}"
        )
    for line in run.failed[:5]:
        say(f"  {line}")


def load() -> str:
    return ",".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--topics", type=int, default=10, help="the groups share these")
    parser.add_argument("--transactions", type=int, default=8)
    parser.add_argument("--records", type=int, default=5, help="per partition per transaction")
    parser.add_argument("--sandbox-dir", help="use the sandbox running there")
    parser.add_argument("--no-mm2", action="store_true", help="skip MirrorMaker 2")
    parser.add_argument("--no-builtin", action="store_true", help="skip the built-in mirror")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()

    # Sandbox-only throwaway credentials (loopback clusters), under the plan's names.
    os.environ["CUTOVER_DEMO_SOURCE_PASSWORD"] = PASSWORDS["source"]
    os.environ["CUTOVER_DEMO_TARGET_PASSWORD"] = PASSWORDS["target"]
    sandbox = Sandbox(Path(args.sandbox_dir) if args.sandbox_dir else default_sandbox_dir())
    state = sandbox.status()
    started = state is None
    if started:
        say(f"starting the sandbox in {sandbox.root}")
        state = sandbox.up()
    rng = random.Random(args.seed)
    runs: list[tuple[Path_, Counted]] = []
    say(f"load average at the start: {load()} ({os.cpu_count()} cores)")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-offsets-") as tmp:
            workdir = Path(tmp)
            paths = ([] if args.no_builtin else [builtin]) + ([] if args.no_mm2 else [mirrormaker2])
            for body in paths:
                run = body(state, args, workdir, rng)
                try:
                    counted = count(state, run, args.partitions)
                finally:
                    remove_fences(state, list(run.groups))
                    delete_baseline_groups(state, list(run.groups))
                    delete_topics(state, run.topics)
                report(run, counted)
                runs.append((run, counted))
    finally:
        if started:
            # The Connect worker the MirrorMaker 2 run started is not one of the clusters
            # sandbox.down() stops: stop it too, or it outlives the bench.
            worker = ConnectWorker.load(sandbox.root / CONNECT_DIR)
            if worker is not None and worker.alive():
                worker.stop()
            sandbox.down()
    by = {run.name: (run, counted) for run, counted in runs}
    timed, _ = by.get("builtin", runs[0])
    bc = by["builtin"][1] if "builtin" in by else None
    mc = by["mm2"][1] if "mm2" in by else None

    def na(counted: Counted | None, name: str) -> str:
        return "n/a" if counted is None else str(getattr(counted, name))

    say(f"load average at the end: {load()}")
    # The fields first; then the baseline, the load and the command to rerun it.
    # p95_group_s is the worst path's: a target met on one path and missed on the other
    # is missed (each path's own p95 follows).
    worst = max(p95(run.seconds) for run, _ in runs)
    per_path = " ".join(f"{run.name}_p95_s={p95(run.seconds):.3f}" for run, _ in runs)
    say(
        f"groups={len(timed.groups)} total_s={sum(sum(run.seconds) for run, _ in runs):.1f} "
        f"p95_group_s={worst:.3f} builtin_replayed={na(bc, 'replayed')} "
        f"builtin_skipped={na(bc, 'skipped')} mm2_replayed={na(mc, 'replayed')} "
        f"mm2_checkpoint_replayed={na(mc, 'checkpoint_replayed')} "
        f"{per_path} median_group_s={statistics.median(timed.seconds):.3f} "
        f"baseline_median_s={statistics.median(timed.baseline or [0]):.3f} "
        f"baseline_p95_s={p95(timed.baseline):.3f} "
        f"ratio_p95={ratio(p95(timed.seconds), p95(timed.baseline))} load={load()} "
        f"rerun='{shlex.join(['python', 'bench/offsets.py', *sys.argv[1:]])}'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
