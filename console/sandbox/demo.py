"""The built-in demo: sandbox clusters, a seeded source, and a run database pointed at them.

``prepare`` starts (or re-attaches to) the two sandbox clusters, seeds the source
with a few production-shaped topics and consumer groups with committed offsets,
writes a copy of ``plans/demo.toml`` with the sandbox's real addresses, and imports
it. The sandbox passwords reach the console through the environment variables the
plan names, in this process only; nothing writes them to a file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from console import processes
from console.plan import parse_plan
from console.sandbox.cluster import Sandbox
from console.sandbox.connect import connect_worker
from console.sandbox.state import SANDBOX_PASSWORDS, ClusterInfo, default_sandbox_dir
from console.store import Store

PLAN_TEMPLATE = Path(__file__).resolve().parents[2] / "plans" / "demo.toml"
TEMPLATE_SOURCE, TEMPLATE_TARGET = "127.0.0.1:19093", "127.0.0.1:29093"
WORKLOAD = "workload"

# name -> (partitions, configs)
DEMO_TOPICS: dict[str, tuple[int, dict[str, str]]] = {
    "orders": (6, {"retention.ms": "604800000"}),
    "payments": (3, {"min.insync.replicas": "1"}),
    "customers": (3, {"cleanup.policy": "compact"}),
}


def plan_text_for(source: ClusterInfo, target: ClusterInfo, connect_url: str | None = None) -> str:
    """The demo plan pointed at the sandbox's SASL listeners; with ``connect_url`` the
    shadow path is MirrorMaker 2 on the sandbox's Connect worker."""
    text = PLAN_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace(TEMPLATE_SOURCE, source.sasl_bootstrap).replace(
        TEMPLATE_TARGET, target.sasl_bootstrap
    )
    if connect_url:
        text += (
            "\n[shadow]\n"
            'path = "mirrormaker2"\n'
            f'connect_url = "{connect_url}"\n'
            "mm2_replication_factor = 1  # the sandbox has one broker per cluster\n"
            "mm2_interval_s = 2\n"
        )
    return text


def export_sandbox_passwords() -> None:
    """Make the sandbox-only admin password visible to this process under the plan's names."""
    os.environ["CUTOVER_DEMO_SOURCE_PASSWORD"] = SANDBOX_PASSWORDS["admin"]
    os.environ["CUTOVER_DEMO_TARGET_PASSWORD"] = SANDBOX_PASSWORDS["admin"]


def seed_source(bootstrap: str, *, orders: int = 3000, timeout: float = 60) -> None:
    """Create the demo topics on the source and fill them, once (skips if already there)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in DEMO_TOPICS if name not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(name, DEMO_TOPICS[name][0], 1, config=DEMO_TOPICS[name][1]) for name in missing],
        request_timeout=timeout,
    )
    for fut in futures.values():
        fut.result(timeout=timeout)

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "log_level": 3}
    )
    for i in range(orders):
        producer.produce(
            "orders",
            key=f"customer-{i % 97}".encode(),
            value=f'{{"order":{i},"amount_cents":{(i * 37) % 10000}}}'.encode(),
            headers=[("source-app", b"checkout"), ("trace-id", f"t{i:06d}".encode())],
        )
        if i % 1000 == 0:
            producer.poll(0)
    for i in range(400):
        key = f"customer-{i % 120}".encode()
        value = None if i % 25 == 24 else f'{{"customer":{i % 120},"v":{i}}}'.encode()
        producer.produce("customers", key=key, value=value)
    producer.flush(timeout)

    tx = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": "demo-payments",
            "linger.ms": 5,
            "log_level": 3,
        }
    )
    tx.init_transactions(timeout)
    for batch in range(20):
        tx.begin_transaction()
        for i in range(15):
            n = batch * 15 + i
            tx.produce("payments", key=f"order-{n}".encode(), value=f'{{"paid":{n}}}'.encode())
        if batch % 7 == 6:
            tx.abort_transaction(timeout)  # a few aborted transactions, as in production
        else:
            tx.commit_transaction(timeout)

    _consume_and_commit(bootstrap, "billing", "orders", orders // 2, timeout)
    _consume_and_commit(bootstrap, "crm-sync", "customers", 400, timeout)


def _consume_and_commit(bootstrap: str, group: str, topic: str, count: int, timeout: float):
    """Read ``count`` records as ``group`` and commit, so the group has offsets and lag."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < count and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                if msg.error() is None:
                    seen += 1
                    if seen >= count:
                        break
            if seen:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def prepare(
    directory: Path,
    *,
    sandbox_dir: Path | None = None,
    path: str = "builtin",
    progress: Callable[[str], None] = lambda _m: None,
) -> Path:
    """Everything the demo needs; returns the run database to open. ``path`` is the
    shadow path: ``builtin`` or ``mirrormaker2`` (starts a Connect worker too)."""
    directory = directory / path if path != "builtin" else directory
    directory.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(sandbox_dir or default_sandbox_dir())
    progress("Starting the sandbox clusters (Kafka 3.9 source, 4.1 target)…")
    state = sandbox.up()
    source, target = state.clusters["source"], state.clusters["target"]
    progress(f"  source {source.sasl_bootstrap}, target {target.sasl_bootstrap}")
    connect_url = None
    if path == "mirrormaker2":
        progress("Starting a Kafka Connect worker with MirrorMaker 2…")
        connect_url = connect_worker(state).rest_url
        progress(f"  Connect REST {connect_url}")
    progress("Seeding the source with orders, payments and customers…")
    try:
        seed_source(source.plaintext_bootstrap)
    except KafkaException as exc:
        raise RuntimeError(f"seeding the sandbox source failed: {exc}") from None
    export_sandbox_passwords()

    text = plan_text_for(source, target, connect_url)
    plan_file = directory / "demo-plan.toml"
    db = directory / "demo.db"
    if db.exists():
        try:
            current = Store.open(db, readonly=True)
            same = current.plan.clusters.source.bootstrap_servers == source.sasl_bootstrap
            current.close()
        except Exception:  # noqa: BLE001 - an unreadable old demo db is simply set aside
            same = False
        if same:
            progress(f"Re-opening the demo run database {db}")
            _start_workload(db, source, progress)
            return db
        aside = db.with_name(f"demo-{time.strftime('%Y%m%d-%H%M%S')}.db")
        shutil.move(db, aside)
        progress(f"The sandbox was re-created; the old demo run is kept as {aside}")
    plan_file.write_text(text, encoding="utf-8")
    Store.create(db, text, parse_plan(text, str(plan_file))).close()
    progress(f"Imported {plan_file} into {db}")
    _start_workload(db, source, progress)
    return db


def _start_workload(db: Path, source: ClusterInfo, progress: Callable[[str], None]) -> None:
    """Live, production-shaped traffic on the source for half an hour (bounded), so the
    lag and comparison panes have something moving. No consumer group: a live member
    would keep the demo's groups from being moved at cutover."""
    store = Store.open(db)
    try:
        current = processes.get(store, WORKLOAD)
        if current is not None and current.alive:
            return
        info = processes.spawn(
            store,
            WORKLOAD,
            [
                "workload",
                "--bootstrap",
                source.plaintext_bootstrap,
                "--rate",
                "50",
                "--duration",
                "1800",
                "--no-group",
                "--quiet",
            ],
        )
        progress(f"Synthetic workload running (pid {info.pid}, 50 records/s for 30 min)")
    finally:
        store.close()


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """Latest offsets of a topic, for tests and the demo's own checks."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cutover-probe"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        ]
    finally:
        consumer.close()
