"""A bounded, production-shaped workload on the demo's topics, for the demo and for tests.

What it writes, at a total rate you choose (records/s), until a duration or a record
count is reached or it is stopped (SIGTERM via ``cutover workload``):

* ``orders`` (6 partitions): keyed records (97 customers) with ``source-app`` and
  ``trace-id`` headers, from an idempotent producer;
* ``payments`` (3 partitions): a transactional producer writing small transactions,
  every Nth of which is **aborted after its records reached the broker** (so the log
  really holds aborted records, as production logs do);
* ``customers`` (3 partitions, compacted): keyed upserts from an idempotent producer,
  with tombstones (null values) for some keys;

and it runs a consumer group (``billing`` by default) that reads ``orders`` with
read_committed and commits after processing, so the group has live offsets and lag.

Missing topics are created with the demo's layout (``console.sandbox.demo.DEMO_TOPICS``).
Client ids start with ``cutover-workload-``: this stands in for production traffic,
so it deliberately does not carry the shadow prefix.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from console.errors import CutoverError
from console.sandbox.demo import DEMO_TOPICS

CLIENT_PREFIX = "cutover-workload-"


class WorkloadError(CutoverError):
    """The workload could not run; the message says what to do."""


@dataclass(frozen=True)
class WorkloadSpec:
    """How much to write and where. Every limit is explicit, so a run always ends."""

    rate: float = 200.0
    """Records per second over all topics."""
    duration_s: float | None = 60.0
    """Stop after this many seconds (None: only the record limit or a stop)."""
    max_records: int | None = None
    """Stop after this many records written (committed or aborted)."""
    aborted_every: int = 5
    """Abort every Nth payments transaction (0: never)."""
    txn_size: int = 5
    """Records per payments transaction."""
    tombstone_every: int = 8
    """Every Nth customers record is a tombstone (0: never)."""
    group: str | None = "billing"
    """Consumer group reading orders and committing (None: no consumer)."""
    topics: dict[str, str] = field(
        default_factory=lambda: {
            "orders": "orders",
            "payments": "payments",
            "customers": "customers",
        }
    )
    """Role -> topic name, so tests can use topics of their own."""
    timeout_s: float = 30.0
    """Timeout of each Kafka call (seconds)."""
    seq_start: int | None = None
    """The first sequence number (header ``seq``) of this run; None: the wall clock in
    milliseconds times 1000, so runs that follow each other never reuse a number."""

    def __post_init__(self):
        if self.rate <= 0:
            raise WorkloadError("--rate must be above 0 records/s")
        if self.duration_s is None and self.max_records is None:
            raise WorkloadError("give a duration or a record count, so the workload ends")
        unknown = set(self.topics) - {"orders", "payments", "customers"}
        if unknown:
            raise WorkloadError(f"unknown topic roles {sorted(unknown)}")


@dataclass(frozen=True)
class WorkloadResult:
    """What was written and read."""

    orders: int
    payments_committed: int
    payments_aborted: int
    customers: int
    tombstones: int
    consumed: int
    elapsed_s: float

    @property
    def written(self) -> int:
        return self.orders + self.payments_committed + self.payments_aborted + self.customers

    def summary(self) -> str:
        return (
            f"workload: {self.written} records in {self.elapsed_s:.1f} s: orders {self.orders}, "
            f"payments {self.payments_committed} committed + {self.payments_aborted} aborted, "
            f"customers {self.customers} ({self.tombstones} tombstones); "
            f"consumer read {self.consumed}"
        )


def ensure_topics(bootstrap: str, spec: WorkloadSpec, config: dict | None = None) -> None:
    """Create the workload's topics that are missing, with the demo's layout."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **(config or {})})
    try:
        existing = set(admin.list_topics(timeout=spec.timeout_s).topics)
    except KafkaException as exc:
        raise WorkloadError(
            f"no broker answered at {bootstrap} ({exc.args[0].name()}); check the address"
        ) from None
    wanted = [
        NewTopic(name, DEMO_TOPICS[role][0], 1, config=DEMO_TOPICS[role][1])
        for role, name in spec.topics.items()
        if name not in existing
    ]
    if not wanted:
        return
    futures = admin.create_topics(wanted, request_timeout=spec.timeout_s)
    for name, future in futures.items():
        try:
            future.result(timeout=spec.timeout_s)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise WorkloadError(
                    f"creating topic {name} failed ({exc.args[0].name()})"
                ) from None


class _Workload:
    def __init__(self, bootstrap: str, spec: WorkloadSpec, config: dict):
        self.spec = spec
        base = {"bootstrap.servers": bootstrap, "log_level": 0, **config}
        # Unique per run: two workloads sharing a transactional id would fence each other.
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.plain = Producer(
            {
                **base,
                "client.id": f"{CLIENT_PREFIX}producer-{tag}",
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )
        self.tx = Producer(
            {
                **base,
                "client.id": f"{CLIENT_PREFIX}payments-{tag}",
                "transactional.id": f"{CLIENT_PREFIX}payments-{tag}",
                "linger.ms": 5,
            }
        )
        self.consumer = None
        if spec.group:
            self.consumer = Consumer(
                {
                    **base,
                    "client.id": f"{CLIENT_PREFIX}consumer-{tag}",
                    "group.id": spec.group,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                }
            )
        self.counts = {
            "orders": 0,
            "payments_committed": 0,
            "payments_aborted": 0,
            "customers": 0,
            "tombstones": 0,
            "consumed": 0,
        }
        self.txns = 0
        self.seq = 0
        self.mix = 0
        # Every record carries a number no other record of the demo has (header "seq"), so
        # a consumer's sink shows a record read twice, or one never read.
        self.seq_base = (
            spec.seq_start if spec.seq_start is not None else int(time.time() * 1000) * 1000
        )

    def written(self) -> int:
        c = self.counts
        return c["orders"] + c["payments_committed"] + c["payments_aborted"] + c["customers"]

    def write_one(self) -> None:
        """One record, mixed as production is: mostly orders, some payments, customers."""
        spec = self.spec
        n = self.seq
        self.seq += 1
        # A fixed cycle of 10 slots: 6 orders, one payments transaction, 3 customers.
        kind = self.mix % 10
        self.mix += 1
        if kind < 6:
            self._produce(
                spec.topics["orders"],
                f"customer-{n % 97}".encode(),
                f'{{"order":{n},"amount_cents":{(n * 37) % 10000}}}'.encode(),
                [
                    ("source-app", b"checkout"),
                    ("trace-id", f"w{n:08d}".encode()),
                    ("seq", str(self.seq_base + n).encode()),
                ],
            )
            self.counts["orders"] += 1
        elif kind == 6:
            self._payments_transaction(n)
        else:
            customer = n % 120
            tomb = spec.tombstone_every and self.counts["customers"] % spec.tombstone_every == (
                spec.tombstone_every - 1
            )
            value = None if tomb else f'{{"customer":{customer},"v":{n}}}'.encode()
            self._produce(
                spec.topics["customers"],
                f"customer-{customer}".encode(),
                value,
                [("seq", str(self.seq_base + n).encode())],
            )
            self.counts["customers"] += 1
            self.counts["tombstones"] += 1 if tomb else 0

    def _produce(self, topic, key, value, headers) -> None:
        while True:
            try:
                self.plain.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                self.plain.poll(0.05)

    def _payments_transaction(self, n: int) -> None:
        spec = self.spec
        self.tx.begin_transaction()
        for i in range(spec.txn_size):
            key = f"order-{n}-{i}".encode()
            self.tx.produce(
                spec.topics["payments"],
                f'{{"paid":{n},"part":{i}}}'.encode(),
                key,
                headers=[("seq", str(self.seq_base + n + i).encode())],
            )
        self.txns += 1
        if spec.aborted_every and self.txns % spec.aborted_every == 0:
            # Flush first: the records reach the log and are then aborted, which is what
            # a read_committed reader (and the mirror) must skip.
            self.tx.flush(spec.timeout_s)
            self.tx.abort_transaction(spec.timeout_s)
            self.counts["payments_aborted"] += spec.txn_size
        else:
            self.tx.commit_transaction(spec.timeout_s)
            self.counts["payments_committed"] += spec.txn_size
        # A transaction is many records; count them against the rate.
        self.seq += spec.txn_size - 1

    def consume(self, budget_s: float) -> None:
        if self.consumer is None:
            return
        msgs = self.consumer.consume(500, max(0.0, budget_s))
        got = sum(1 for m in msgs if m.error() is None)
        if got:
            self.counts["consumed"] += got
            # Commit after processing, as the demo plan says billing does. Asynchronously:
            # a synchronous commit has no timeout, and close() completes pending ones.
            self.consumer.commit(asynchronous=True)

    def drain(self, stop: threading.Event, limit_s: float = 5.0) -> None:
        """Ended by its limits: let the consumer catch up (briefly), so the group's
        committed offsets reflect what was written."""
        if self.consumer is None:
            return
        self.plain.flush(self.spec.timeout_s)
        deadline = time.monotonic() + limit_s
        while (
            self.counts["consumed"] < self.counts["orders"]
            and time.monotonic() < deadline
            and not stop.is_set()
        ):
            self.consume(0.2)

    def close(self) -> None:
        self.plain.flush(self.spec.timeout_s)
        if self.consumer is not None:
            self.consumer.close()


def run(
    bootstrap: str,
    spec: WorkloadSpec,
    stop: threading.Event | None = None,
    *,
    config: dict | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> WorkloadResult:
    """Write the workload until a limit is reached or ``stop`` is set."""
    stop = stop or threading.Event()
    ensure_topics(bootstrap, spec, config)
    work = _Workload(bootstrap, spec, config or {})
    started = time.monotonic()
    try:
        work.tx.init_transactions(spec.timeout_s)
        if work.consumer is not None:
            work.consumer.subscribe([spec.topics["orders"]])
        last_report = started
        while not stop.is_set():
            now = time.monotonic()
            elapsed = now - started
            if spec.duration_s is not None and elapsed >= spec.duration_s:
                break
            if spec.max_records is not None and work.written() >= spec.max_records:
                break
            due = int(spec.rate * elapsed) + 1
            while work.seq < due and not stop.is_set():
                if spec.max_records is not None and work.written() >= spec.max_records:
                    break
                work.write_one()
            work.plain.poll(0)
            # Sleep until the next record is due, reading orders meanwhile.
            wait = (work.seq / spec.rate) - (time.monotonic() - started)
            work.consume(min(max(wait, 0.0), 0.2))
            if wait > 0 and work.consumer is None:
                stop.wait(min(wait, 0.2))
            if now - last_report >= 5:
                progress(f"workload: {work.written()} records written, {work.counts}")
                last_report = now
        if not stop.is_set():
            work.drain(stop)
    except KafkaException as exc:
        raise WorkloadError(
            f"Kafka refused the workload ({exc.args[0].name()}); check the cluster and retry"
        ) from None
    finally:
        work.close()
    c = work.counts
    return WorkloadResult(
        orders=c["orders"],
        payments_committed=c["payments_committed"],
        payments_aborted=c["payments_aborted"],
        customers=c["customers"],
        tombstones=c["tombstones"],
        consumed=c["consumed"],
        elapsed_s=time.monotonic() - started,
    )


def start_background(
    bootstrap: str, spec: WorkloadSpec, *, config: dict | None = None
) -> tuple[threading.Thread, threading.Event]:
    """Run the workload in a daemon thread (for the demo): returns (thread, stop event)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run,
        args=(bootstrap, spec, stop),
        kwargs={"config": config},
        daemon=True,
        name="cutover-workload",
    )
    thread.start()
    return thread, stop
