"""The built-in demo: sandbox clusters, a seeded source, and a run database pointed at them.

``prepare`` starts (or re-attaches to) the two sandbox clusters, seeds the source
with a few production-shaped topics and consumer groups with committed offsets,
writes a copy of ``plans/demo.toml`` with the sandbox's real addresses, and imports
it.

Each shadow path has demo topics, groups and a plan name of its own (the MirrorMaker 2
demo's are prefixed ``mm2-``): run one demo after the other and the second copies into
empty target topics, instead of on top of the first one's copy (which doubled every
record), and its workload writes to its own topics.

Passwords: the sandbox's are fixed constants, good only for its loopback clusters
(:data:`console.sandbox.state.SANDBOX_PASSWORDS`). They reach the console through the
environment variables the plan names, in the process only; nothing writes them to a
file. The demo records, as the run's second audit entry (``demo.prepared``), that the
run database is the demo's, so ``cutover run``/``step``/``compare`` on it later resolve
the same constants (:func:`use_sandbox_passwords`) instead of failing for want of a
variable only ``cutover demo`` had set. The demo also lists its run databases in the
sandbox directory, so ``cutover sandbox down`` stops every process they started
(:func:`stop_demo_processes`).
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
from console.plan import Plan, parse_plan
from console.sandbox.cluster import Sandbox
from console.sandbox.connect import connect_worker
from console.sandbox.state import (
    BILLING_USER,
    CHECKOUT_USER,
    SANDBOX_PASSWORDS,
    ClusterInfo,
    default_sandbox_dir,
)
from console.store import Store
from console.store.audit import current_actor

PLAN_TEMPLATE = Path(__file__).resolve().parents[2] / "plans" / "demo.toml"
TEMPLATE_SOURCE, TEMPLATE_TARGET = "127.0.0.1:19093", "127.0.0.1:29093"
WORKLOAD = "workload"
PREPARED = "demo.prepared"
"""The audit action that marks a run database as the demo's (its second entry)."""
RUNS_FILE = "demo-runs.txt"
"""In the sandbox directory: the demo run databases prepared against it, one a line."""

PREFIX = {"builtin": "", "mirrormaker2": "mm2-"}
"""Per shadow path: the prefix of the demo's topics, groups and plan name, so the demos
of the two paths never share a topic on either side."""

# name -> (partitions, configs)
DEMO_TOPICS: dict[str, tuple[int, dict[str, str]]] = {
    "orders": (6, {"retention.ms": "604800000"}),
    "payments": (3, {"min.insync.replicas": "1"}),
    "customers": (3, {"cleanup.policy": "compact"}),
}


def plan_text_for(
    source: ClusterInfo,
    target: ClusterInfo,
    connect_url: str | None = None,
    prefix: str = "",
    *,
    sandbox_root: Path | None = None,
    login: str | None = None,
    connect_offsets_topic: str | None = None,
) -> str:
    """The demo plan pointed at the sandbox's SASL listeners; with ``connect_url`` the
    shadow path is MirrorMaker 2 on the sandbox's Connect worker. ``prefix`` goes in
    front of every topic and group name (and the plan's name ends in it). With
    ``sandbox_root`` the operations drill restarts the sandbox's target broker itself;
    ``login`` (the demo's own OS user) becomes one of alice.ops's logins, so the person at
    the demo can approve as alice.ops."""
    text = PLAN_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace(TEMPLATE_SOURCE, source.sasl_bootstrap).replace(
        TEMPLATE_TARGET, target.sasl_bootstrap
    )
    if prefix:
        # Every quoted topic and group name (topics, groups, what a safe consumer reads and
        # shadows), and the safe consumer's shadow group, sink and principal after them.
        for name in (*DEMO_TOPICS, *DEMO_GROUPS):
            text = text.replace(f'"{name}"', f'"{prefix}{name}"')
        for group in DEMO_GROUPS:
            for mark in ('"shadow.', '"shadow-'):
                text = text.replace(f"{mark}{group}", f"{mark}{prefix}{group}")
        text = text.replace('name = "demo-orders"', f'name = "demo-orders-{prefix.strip("-")}"')
    if login and login != "alice":
        text = text.replace('"alice.ops" = ["alice"]', f'"alice.ops" = ["alice", "{login}"]')
    if sandbox_root is not None:
        text = text.replace(
            'restart = "operator"', f'restart = "sandbox"\nsandbox_dir = "{sandbox_root}"'
        )
    if connect_url:
        text += (
            "\n[shadow]\n"
            'path = "mirrormaker2"\n'
            f'connect_url = "{connect_url}"\n'
            "mm2_replication_factor = 1  # the sandbox has one broker per cluster\n"
            "mm2_interval_s = 2\n"
        )
        if connect_offsets_topic:
            # The worker's offset.storage.topic: MirrorMaker's copy position, read directly.
            text += f'connect_offsets_topic = "{connect_offsets_topic}"\n'

    return text


def export_sandbox_passwords() -> None:
    """Make the sandbox-only admin password visible to this process under the plan's names."""
    os.environ["CUTOVER_DEMO_SOURCE_PASSWORD"] = SANDBOX_PASSWORDS["admin"]
    os.environ["CUTOVER_DEMO_TARGET_PASSWORD"] = SANDBOX_PASSWORDS["admin"]
    os.environ["CUTOVER_DEMO_BILLING_PASSWORD"] = SANDBOX_PASSWORDS[BILLING_USER]
    os.environ["CUTOVER_DEMO_CHECKOUT_PASSWORD"] = SANDBOX_PASSWORDS[CHECKOUT_USER]


DEMO_GROUPS = ("billing", "crm-sync")
"""The demo's consumer groups (the plan names them; seeding commits their offsets)."""


def seed_source(
    bootstrap: str, *, orders: int = 3000, timeout: float = 60, prefix: str = ""
) -> None:
    """Create the demo topics on the source and fill them, once (skips if already there);
    ``prefix`` names the topics and groups of one shadow path's demo."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in DEMO_TOPICS if f"{prefix}{name}" not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            NewTopic(f"{prefix}{name}", DEMO_TOPICS[name][0], 1, config=DEMO_TOPICS[name][1])
            for name in missing
        ],
        request_timeout=timeout,
    )
    for fut in futures.values():
        fut.result(timeout=timeout)

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "log_level": 3}
    )
    for i in range(orders):
        producer.produce(
            f"{prefix}orders",
            key=f"customer-{i % 97}".encode(),
            value=f'{{"order":{i},"amount_cents":{(i * 37) % 10000}}}'.encode(),
            headers=[
                ("source-app", b"checkout"),
                ("trace-id", f"t{i:06d}".encode()),
                ("seq", str(i).encode()),
            ],
        )
        if i % 1000 == 0:
            producer.poll(0)
    for i in range(400):
        key = f"customer-{i % 120}".encode()
        value = None if i % 25 == 24 else f'{{"customer":{i % 120},"v":{i}}}'.encode()
        producer.produce(f"{prefix}customers", key=key, value=value)
    producer.flush(timeout)

    tx = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"{prefix}demo-payments",
            "linger.ms": 5,
            "log_level": 3,
        }
    )
    tx.init_transactions(timeout)
    for batch in range(20):
        tx.begin_transaction()
        for i in range(15):
            n = batch * 15 + i
            tx.produce(
                f"{prefix}payments", key=f"order-{n}".encode(), value=f'{{"paid":{n}}}'.encode()
            )
        if batch % 7 == 6:
            tx.abort_transaction(timeout)  # a few aborted transactions, as in production
        else:
            tx.commit_transaction(timeout)

    _consume_and_commit(bootstrap, f"{prefix}billing", f"{prefix}orders", orders // 2, timeout)
    _consume_and_commit(bootstrap, f"{prefix}crm-sync", f"{prefix}customers", 400, timeout)


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
    prefix = PREFIX[path]
    sandbox = Sandbox(sandbox_dir or default_sandbox_dir())
    progress("Starting the sandbox clusters (Kafka 3.9 source, 4.1 target)…")
    state = sandbox.up()
    source, target = state.clusters["source"], state.clusters["target"]
    progress(f"  source {source.sasl_bootstrap}, target {target.sasl_bootstrap}")
    connect_url = offsets_topic = None
    if path == "mirrormaker2":
        progress("Starting a Kafka Connect worker with MirrorMaker 2…")
        worker = connect_worker(state)
        connect_url, offsets_topic = worker.rest_url, worker.offsets_topic
        progress(f"  Connect REST {connect_url}")
    names = ", ".join(f"{prefix}{name}" for name in DEMO_TOPICS)
    progress(f"Seeding the source with {names}…")
    try:
        seed_source(source.plaintext_bootstrap, prefix=prefix)
    except KafkaException as exc:
        raise RuntimeError(f"seeding the sandbox source failed: {exc}") from None
    export_sandbox_passwords()

    text = plan_text_for(
        source,
        target,
        connect_url,
        prefix,
        sandbox_root=sandbox.root,
        login=current_actor()[0],
        connect_offsets_topic=offsets_topic,
    )
    plan_file = directory / "demo-plan.toml"
    db = directory / "demo.db"
    _register(sandbox.root, db)
    if db.exists():
        try:
            current = Store.open(db, readonly=True)
            same = current.plan.clusters.source.bootstrap_servers == source.sasl_bootstrap
            current.close()
        except Exception:  # noqa: BLE001 - an unreadable old demo db is simply set aside
            same = False
        if same:
            progress(f"Re-opening the demo run database {db}")
            _start_workload(db, source, prefix, progress)
            return db
        aside = db.with_name(f"demo-{time.strftime('%Y%m%d-%H%M%S')}.db")
        shutil.move(db, aside)
        progress(f"The sandbox was re-created; the old demo run is kept as {aside}")
    plan_file.write_text(text, encoding="utf-8")
    store = Store.create(db, text, parse_plan(text, str(plan_file)))
    try:
        store.log(
            PREPARED,
            params={
                "sandbox": str(sandbox.root),
                "path": path,
                "topics": [f"{prefix}{name}" for name in DEMO_TOPICS],
                "passwords": "the sandbox's fixed loopback-only passwords, resolved in "
                "memory by cutover when it opens this run database; never stored",
            },
            outcome="ok",
        )
    finally:
        store.close()
    progress(f"Imported {plan_file} into {db}")
    _start_workload(db, source, prefix, progress)
    return db


def _start_workload(
    db: Path, source: ClusterInfo, prefix: str, progress: Callable[[str], None]
) -> None:
    """Live, production-shaped traffic on this demo's source topics for half an hour
    (bounded), so the lag and comparison panes have something moving. No consumer group:
    a live member would keep the demo's groups from being moved at cutover."""
    store = Store.open(db)
    try:
        current = processes.get(store, WORKLOAD)
        if current is not None and current.alive:
            return
        args = [
            "workload",
            "--rate",
            "50",
            "--duration",
            "1800",
            "--no-group",
            "--prefix",
            prefix,
            "--quiet",
        ]
        if prefix:
            args += ["--bootstrap", source.plaintext_bootstrap]
        else:
            # The built-in demo's orders are written as the ordinary user checkout (the
            # plan's producer class), so the producer cutover's fence really stops them;
            # the switch files next to the run database tell it where to write.
            args += [
                "--bootstrap",
                source.sasl_bootstrap,
                "--sasl-username",
                "admin",
                "--password-env",
                "CUTOVER_DEMO_SOURCE_PASSWORD",
                "--writer",
                f"orders=checkout:{CHECKOUT_USER}",
                "--control-dir",
                str(processes.log_dir(store) / "switch"),
            ]
        info = processes.spawn(store, WORKLOAD, args)
        progress(f"Synthetic workload running (pid {info.pid}, 50 records/s for 30 min)")
    finally:
        store.close()


# -- the demo's run databases after `cutover demo` ------------------------------------------


def prepared_by_demo(store: Store) -> dict | None:
    """The ``demo.prepared`` entry's parameters when ``cutover demo`` made this run
    database (its second audit entry, in the chain), else None."""
    second = store.audit_since(1, limit=1)
    if second and second[0].action == PREPARED:
        return second[0].params
    return None


def _loopback(bootstrap_servers: str) -> bool:
    hosts = [
        server.strip().rsplit(":", 1)[0].strip("[]") for server in bootstrap_servers.split(",")
    ]
    return all(h == "localhost" or h == "::1" or h.startswith("127.") for h in hosts)


def use_sandbox_passwords(store: Store) -> str | None:
    """On a run database ``cutover demo`` prepared, make the sandbox's fixed passwords
    visible to this process (and the mirror, sampler and workload it starts) under the
    variables the plan names, as ``cutover demo`` does; returns a line saying so, or
    None when it does not apply.

    Only for the demo's own run databases (recorded as such in the chain), only for
    clusters on loopback addresses logging in as a sandbox user, and never over a
    variable the operator has set: the operator's own password always wins.
    """
    if store.readonly or prepared_by_demo(store) is None:
        return None
    plan: Plan = store.plan
    wanted: dict[str, str] = {}
    for side in ("source", "target"):
        spec = getattr(plan.clusters, side)
        if spec.password is None:
            continue
        env = spec.password.env
        if not env or spec.sasl_username not in SANDBOX_PASSWORDS:
            return None
        if not _loopback(spec.bootstrap_servers):
            return None
        if os.environ.get(env):
            return None
        wanted[env] = SANDBOX_PASSWORDS[spec.sasl_username]
    for group in plan.groups:
        # The demo's group principals (billing): sandbox users, never an operator's own.
        ref = group.principal_password
        user = (group.principal or "").partition(":")[2]
        if ref and ref.env and user in SANDBOX_PASSWORDS and not os.environ.get(ref.env):
            wanted[ref.env] = SANDBOX_PASSWORDS[user]
    for cls in plan.producers:
        # The demo's producer principals (checkout): the move proves its fence by asking
        # the brokers as them, which needs their passwords.
        for user, ref in cls.principal_passwords.items():
            if ref.env and user in SANDBOX_PASSWORDS and not os.environ.get(ref.env):
                wanted[ref.env] = SANDBOX_PASSWORDS[user]
    if not wanted:
        return None
    os.environ.update(wanted)
    return (
        f"{store.path} was prepared by `cutover demo`: using the sandbox's fixed loopback "
        "passwords, as the demo does"
    )


def _register(sandbox_root: Path, db: Path) -> None:
    """List a demo run database in the sandbox directory (for `cutover sandbox down`)."""
    sandbox_root.mkdir(parents=True, exist_ok=True)
    runs = sandbox_root / RUNS_FILE
    known = runs.read_text(encoding="utf-8").split() if runs.exists() else []
    entry = str(db.resolve())
    if entry not in known:
        with open(runs, "a", encoding="utf-8") as out:
            out.write(entry + "\n")


def stop_demo_processes(sandbox_root: Path, *, timeout: float = 15) -> list[str]:
    """Stop every live process the demo run databases prepared against this sandbox
    recorded (the workload, and the mirror and sampler the operator started); returns
    what was done, a line each. Run before the clusters stop, so nothing is left
    writing to, or retrying against, brokers that are gone."""
    runs = sandbox_root / RUNS_FILE
    if not runs.exists():
        return []
    done = []
    for line in runs.read_text(encoding="utf-8").split():
        db = Path(line)
        if not db.is_file():
            continue
        try:
            store = Store.open(db)
        except Exception:  # noqa: BLE001 - a run database that cannot be opened has nothing
            continue  # we could stop; it is named by its own commands
        try:
            for info in processes.all_processes(store):
                if info.alive:
                    result = processes.stop(store, info.name, timeout)
                    done.append(f"{info.name} (pid {info.pid}, {db}): {result}")
        finally:
            store.close()
    return done


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
