"""A bounded, production-shaped workload on the demo's topics, for the demo and for tests.

What it writes, at a total rate you choose (records/s), until a duration or a record
count is reached or it is stopped (SIGTERM via ``cutover workload``):

* ``orders`` (6 partitions): keyed records (97 customers) with ``source-app``, ``trace-id``
  and ``seq`` headers, from an idempotent producer;
* ``payments`` (3 partitions): a transactional producer writing small transactions,
  every Nth of which is **aborted after its records reached the broker** (so the log
  really holds aborted records, as production logs do);
* ``customers`` (3 partitions, compacted): keyed upserts from an idempotent producer,
  with tombstones (null values) for some keys;

and it runs a consumer group (``billing`` by default) that reads ``orders`` with
read_committed and commits after processing, so the group has live offsets and lag.

Every record carries a ``seq`` header, a number no other record of the run has, so an
independent reader can tell a record lost or written twice.

**Producer classes.** A role may be written by a producer class of the plan, as that
class's own SASL principal (:class:`Writer`), so a fence on the source is real (the
sandbox's PLAINTEXT listener is a super user, which no ACL binds). With a control
directory, the workload polls ``<dir>/<class>.json`` (written by the producer cutover,
:mod:`console.cutover.producers.switch`) and, when it names another cluster, switches that
role's producer there as an application redeployed with new bootstrap servers would:
it waits for what is in flight, opens a producer on the new cluster (the same
transactional id for payments), writes again every record the old cluster refused
(a fenced source refuses with TOPIC_AUTHORIZATION_FAILED), in order, and goes on. A
refused record is never dropped and never written twice: it was not written the first
time. The **ledger** (JSON, written at the end) lists per topic every ``seq`` the
cluster acknowledged (committed, for payments), the ones aborted on purpose and any
left unsent, and each switch with its time: what a benchmark checks both clusters
against.

Missing topics are created with the demo's layout (``console.sandbox.demo.DEMO_TOPICS``).
Client ids start with ``cutover-workload-``: this stands in for production traffic,
so it deliberately does not carry the shadow prefix.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from console.errors import CutoverError
from console.kafka.client import answer
from console.sandbox.demo import DEMO_TOPICS
from console.sandbox.state import SANDBOX_PASSWORDS

CLIENT_PREFIX = "cutover-workload-"
ROLES = ("orders", "payments", "customers")
TXN_SPAN_S = 0.05
STOP_GRACE_S = 10.0
"""Once asked to stop, how long the workload may take to end its current transaction and
deliver what it has queued before it exits anyway, saying what it could not confirm: a
cluster that stopped answering must not keep it running (each Kafka call alone may wait
``timeout_s``)."""
"""A payments transaction holds at most this many seconds of the payments rate (and at
least ``txn_size`` records): behind its rate, the workload writes what is due in fewer,
larger transactions, since each commit is a round trip."""


class WorkloadError(CutoverError):
    """The workload could not run; the message says what to do."""


@dataclass(frozen=True)
class Writer:
    """A role written by a producer class of the plan, as the class's own principal."""

    role: str
    """``orders``, ``payments`` or ``customers``."""
    cls: str
    """The producer class: its control file is ``<control dir>/<cls>.json``."""
    user: str
    """The SASL user it logs in as (SCRAM-SHA-512)."""

    @classmethod
    def parse(cls, text: str) -> Writer:
        """``ROLE=CLASS:USER`` (or ``ROLE=CLASS`` when the user is named like the class)."""
        role, _, rest = text.partition("=")
        name, _, user = rest.partition(":")
        if role not in ROLES or not name:
            raise WorkloadError(
                f"--writer {text!r}: give ROLE=CLASS[:USER] with ROLE one of {', '.join(ROLES)}"
            )
        return cls(role, name, user or name)


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
    writers: tuple[Writer, ...] = ()
    """Roles written by producer classes as their own principals (SASL on the bootstrap
    given); other roles use the shared connection settings."""
    control_dir: str | None = None
    """Where the producer cutover's switch files are polled (``RUN.db.logs/switch``)."""
    ledger: str | None = None
    """Where the ledger is written at the end (JSON)."""
    roles: tuple[str, ...] = ROLES
    """The roles this run writes (the others write nothing)."""

    def __post_init__(self):
        if self.rate <= 0:
            raise WorkloadError("--rate must be above 0 records/s")
        if self.duration_s is None and self.max_records is None:
            raise WorkloadError("give a duration or a record count, so the workload ends")
        unknown = set(self.topics) - set(ROLES)
        if unknown:
            raise WorkloadError(f"unknown topic roles {sorted(unknown)}")
        if not self.roles or set(self.roles) - set(ROLES):
            raise WorkloadError(f"roles must be some of {', '.join(ROLES)}")


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
    resent: int = 0
    """Records a fenced cluster refused and that were written again after a switch."""
    switches: tuple[dict, ...] = ()
    unconfirmed: int = 0
    """Records still waiting for the cluster's answer when a stop's grace ran out
    (:data:`STOP_GRACE_S`): queued, or in a transaction whose commit had not returned.
    Counted nowhere else: neither written nor refused."""

    @property
    def written(self) -> int:
        return self.orders + self.payments_committed + self.payments_aborted + self.customers

    def summary(self) -> str:
        text = (
            f"workload: {self.written} records in {self.elapsed_s:.1f} s: orders {self.orders}, "
            f"payments {self.payments_committed} committed + {self.payments_aborted} aborted, "
            f"customers {self.customers} ({self.tombstones} tombstones); "
            f"consumer read {self.consumed}"
        )
        if self.switches:
            text += f"; {len(self.switches)} switch(es), {self.resent} record(s) written again"
        if self.unconfirmed:
            text += (
                f"; {self.unconfirmed} record(s) not confirmed by the cluster within "
                f"{STOP_GRACE_S:.0f} s of the stop (it was slow or unreachable)"
            )
        return text


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
        if name not in existing and role in spec.roles
    ]
    if not wanted:
        return
    futures = admin.create_topics(wanted, request_timeout=spec.timeout_s)
    for name, future in futures.items():
        try:
            answer(future, spec.timeout_s)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise WorkloadError(
                    f"creating topic {name} failed ({exc.args[0].name()})"
                ) from None


def password_for(user: str) -> str:
    """A writer's password: ``$CUTOVER_WORKLOAD_PW_<USER>`` when set (tests make users of
    their own), else the sandbox's fixed one."""
    env = "CUTOVER_WORKLOAD_PW_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()
    if os.environ.get(env):
        return os.environ[env]
    if user in SANDBOX_PASSWORDS:
        return SANDBOX_PASSWORDS[user]
    raise WorkloadError(f"no password for writer {user}: export {env}")


def _fatal(exc: KafkaException) -> bool:
    """The error ends the producer that raised it (only a new one can go on)."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.fatal()


@dataclass
class _Pending:
    """A record (or a payments transaction) a cluster refused, to be written again."""

    topic: str
    records: list[tuple[bytes | None, bytes | None, list, int]]
    """``(key, value, headers, seq)``."""
    transactional: bool


class _Role:
    """One role's producer, the cluster it writes to now, and what it must write again."""

    def __init__(self, work: _Workload, role: str, writer: Writer | None) -> None:
        self.work = work
        self.role = role
        self.writer = writer
        self.cluster = "source"
        self.refused: list[_Pending] = []
        self.lock = threading.Lock()
        self.producer: Producer | None = None
        self.in_txn = False
        self.open(work.base_conf(writer, None))

    @property
    def transactional(self) -> bool:
        return self.role == "payments"

    def open(self, conf: dict) -> None:
        self.conf = conf
        work = self.work
        tag = work.tag
        if self.transactional:
            conf = {
                **conf,
                "client.id": f"{CLIENT_PREFIX}payments-{tag}",
                "transactional.id": work.transactional_id,
                "linger.ms": 5,
            }
            self.producer = Producer(conf)
            self.producer.init_transactions(work.spec.timeout_s)
        else:
            conf = {
                **conf,
                "client.id": f"{CLIENT_PREFIX}{self.role}-{tag}",
                "enable.idempotence": True,
                "linger.ms": 5,
            }
            self.producer = Producer(conf)

    # -- idempotent -----------------------------------------------------------------------

    def produce(self, topic, key, value, headers, seq) -> None:
        assert self.producer is not None

        def delivered(err, _msg, record=(key, value, headers, seq)) -> None:
            if err is None:
                self.work.ack(topic, seq)
            else:
                with self.lock:
                    self.refused.append(_Pending(topic, [record], False))

        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:
                # A fenced topic is refused before a request is sent once the client's
                # metadata knows it (TOPIC_AUTHORIZATION_FAILED): kept to write again.
                err = exc.args[0] if exc.args else None
                if not isinstance(err, KafkaError) or err.fatal():
                    raise
                with self.lock:
                    self.refused.append(_Pending(topic, [(key, value, headers, seq)], False))
                return

    # -- transactional --------------------------------------------------------------------

    def transaction(self, topic, records, abort: bool) -> str:
        """Write one transaction; returns ``committed``, ``aborted`` or ``refused``."""
        producer = self.producer
        assert producer is not None
        timeout = self.work.spec.timeout_s
        try:
            producer.begin_transaction()
            for key, value, headers, _seq in records:
                producer.produce(topic, value, key, headers=headers)
            if abort:
                # Flush first: the records reach the log and are then aborted, which is
                # what a read_committed reader (and the mirror) must skip.
                producer.flush(timeout)
                producer.abort_transaction(timeout)
                return "aborted"
            producer.commit_transaction(timeout)
        except KafkaException as exc:
            last: KafkaException | None = exc
            if not _fatal(exc):
                # Refused (a fenced topic): abort, keep the records to write again later.
                try:
                    producer.abort_transaction(timeout)
                    last = None
                except KafkaException as abort_failed:
                    last = abort_failed
            if last is not None and _fatal(last):
                # A fenced topic can leave the transaction unendable (the broker answers
                # the abort with INVALID_TXN_STATE, fatal for this producer): start a new
                # one with the same transactional id now, as an application restarting it
                # would, not at its next use (a switch would flush a dead producer); its
                # init_transactions ends whatever the old one left open.
                self.producer = None
                self.open(self.conf)
            # Nothing of this transaction was committed either way.
            if not abort:
                with self.lock:
                    self.refused.append(_Pending(topic, list(records), True))
            return "refused"
        self.work.ack_all(topic, [r[3] for r in records])
        return "committed"

    # -- switching ------------------------------------------------------------------------

    def switch(self, to: dict) -> int:
        """Point this role at another cluster: drain the old producer, open one there,
        write again what was refused. Returns how many records were written again."""
        old = self.producer
        if old is not None:
            try:
                old.flush(self.work.spec.timeout_s)
            except KafkaException:
                # Only a transactional producer raises here: the error its last transaction
                # ended with (a fenced cluster answers the abort of a refused transaction
                # with INVALID_TXN_STATE, fatal for that producer). Its transactions end
                # before transaction() returns, so nothing of it is queued: its records are
                # kept to write again below, and a new producer replaces it.
                if not self.transactional:
                    raise
        self.producer = None
        conf = self.work.base_conf(self.writer, to)
        self.open(conf)
        self.cluster = to["cluster"]
        with self.lock:
            again, self.refused = self.refused, []
        resent = 0
        for pending in again:
            if pending.transactional:
                if self.transaction(pending.topic, pending.records, False) == "committed":
                    resent += len(pending.records)
            else:
                for key, value, headers, seq in pending.records:
                    self.produce(pending.topic, key, value, headers, seq)
                    resent += 1
        if self.producer is not None:
            self.producer.flush(self.work.spec.timeout_s)
        return resent

    def close(self, timeout_s: float | None = None) -> int:
        """Deliver what is queued (within ``timeout_s``, the spec's timeout by default);
        returns how many records are still undelivered."""
        if self.producer is None:
            return 0
        return self.producer.flush(self.work.spec.timeout_s if timeout_s is None else timeout_s)


class _Workload:
    def __init__(self, bootstrap: str, spec: WorkloadSpec, config: dict):
        self.spec = spec
        self.bootstrap = bootstrap
        self.config = config
        # Unique per run: two workloads sharing a transactional id would fence each other.
        self.tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.transactional_id = f"{CLIENT_PREFIX}payments-{self.tag}"
        writers = {w.role: w for w in spec.writers}
        payments = writers.get("payments")
        if payments is not None:
            # A class's transactional ids start with its name and its topic (the plan's
            # transactional_id_prefix is a prefix of that).
            self.transactional_id = f"{payments.cls}-{spec.topics['payments']}-{self.tag}"
        self.lock = threading.Lock()
        self.acked: dict[str, list[int]] = {spec.topics[r]: [] for r in ROLES}
        self.aborted: dict[str, list[int]] = {spec.topics[r]: [] for r in ROLES}
        self.switches: list[dict] = []
        self.resent = 0
        self.roles = {role: _Role(self, role, writers.get(role)) for role in spec.roles}
        self.consumer = None
        if spec.group:
            self.consumer = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "log_level": 0,
                    **config,
                    "client.id": f"{CLIENT_PREFIX}consumer-{self.tag}",
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
        self.seq_lock = threading.Lock()
        # Each role's share of the rate, as production's mix: per 14 records 6 orders, one
        # payments transaction of 5 and 3 customers, over the roles this run writes.
        weight = {"orders": 6, "payments": 5, "customers": 3}
        total = sum(weight[r] for r in self.roles)
        self.share = {r: spec.rate * weight[r] / total for r in self.roles}
        self.role_written = dict.fromkeys(self.roles, 0)
        # With a record limit, each role stops at its share of it, so the mix holds
        # however fast each role's thread gets going.
        self.cap = {
            r: -(-spec.max_records * weight[r] // total) if spec.max_records else None
            for r in self.roles
        }
        self.per_second: dict[int, int] = {}
        # Every record carries a number no other record of the demo has (header "seq"), so
        # a consumer's sink or a benchmark shows a record read twice, or one never written.
        self.seq_base = (
            spec.seq_start if spec.seq_start is not None else int(time.time() * 1000) * 1000
        )
        self._control_seen: dict[str, float] = {}
        self.in_flight = 0
        """Records of the payments transaction under way (its commit not yet returned)."""

    def base_conf(self, writer: Writer | None, to: dict | None) -> dict:
        """Connection settings of a role: the shared ones, or its class's own login."""
        bootstrap = to["bootstrap_servers"] if to else self.bootstrap
        conf = {"bootstrap.servers": bootstrap, "log_level": 0}
        if writer is None:
            return {**conf, **self.config}
        return {
            **conf,
            "security.protocol": (to or {}).get("security_protocol") or "SASL_PLAINTEXT",
            "sasl.mechanism": (to or {}).get("sasl_mechanism") or "SCRAM-SHA-512",
            "sasl.username": writer.user,
            "sasl.password": password_for(writer.user),
        }

    def ack(self, topic: str, seq: int) -> None:
        with self.lock:
            self.acked[topic].append(seq)
            self._tick(1)

    def ack_all(self, topic: str, seqs: list[int]) -> None:
        with self.lock:
            self.acked[topic] += seqs
            self._tick(len(seqs))

    def _tick(self, n: int) -> None:
        """Count ``n`` records the cluster acknowledged (acked, or ended with their
        transaction) in this wall-clock second (call with ``self.lock`` held)."""
        second = int(time.time())
        self.per_second[second] = self.per_second.get(second, 0) + n

    def written(self) -> int:
        c = self.counts
        return c["orders"] + c["payments_committed"] + c["payments_aborted"] + c["customers"]

    def take(self, n: int) -> int:
        """``n`` record numbers no other record of the run has (the roles write from
        threads of their own); returns the first."""
        with self.seq_lock:
            first = self.seq
            self.seq += n
        return first

    def due(self, role: str, started: float) -> int:
        """How many records ``role`` is behind its share of the rate (up to its share of
        the record limit)."""
        due = int(self.share[role] * (time.monotonic() - started)) + 1
        if self.cap[role] is not None:
            due = min(due, self.cap[role])
        return due - self.role_written[role]

    def capped_soon(self, role: str) -> bool:
        """``role`` has less than a transaction left of its share of the record limit."""
        cap = self.cap[role]
        return cap is not None and cap - self.role_written[role] < self.spec.txn_size

    def capped(self, roles) -> bool:
        """Every one of ``roles`` wrote its share of the record limit."""
        return all(self.cap[r] is not None and self.role_written[r] >= self.cap[r] for r in roles)

    def write_order(self) -> None:
        spec = self.spec
        n = self.take(1)
        seq = self.seq_base + n
        self.roles["orders"].produce(
            spec.topics["orders"],
            f"customer-{n % 97}".encode(),
            f'{{"order":{n},"amount_cents":{(n * 37) % 10000}}}'.encode(),
            [
                ("source-app", b"checkout"),
                ("trace-id", f"w{n:08d}".encode()),
                ("seq", str(seq).encode()),
            ],
            seq,
        )
        self.counts["orders"] += 1
        self.role_written["orders"] += 1

    def write_customer(self) -> None:
        spec = self.spec
        n = self.take(1)
        seq = self.seq_base + n
        customer = n % 120
        tomb = spec.tombstone_every and self.counts["customers"] % spec.tombstone_every == (
            spec.tombstone_every - 1
        )
        value = None if tomb else f'{{"customer":{customer},"v":{n}}}'.encode()
        self.roles["customers"].produce(
            spec.topics["customers"],
            f"customer-{customer}".encode(),
            value,
            [("seq", str(seq).encode())],
            seq,
        )
        self.counts["customers"] += 1
        self.counts["tombstones"] += 1 if tomb else 0
        self.role_written["customers"] += 1

    def payments_transaction(self, size: int) -> None:
        """One payments transaction of ``size`` records (``txn_size`` when on time; more
        when behind the rate: a commit is a round trip, so at thousands of records/s the
        records due go into one transaction rather than into many that queue up)."""
        spec = self.spec
        topic = spec.topics["payments"]
        n = self.take(size)
        records = [
            (
                f"order-{n}-{i}".encode(),
                f'{{"paid":{n},"part":{i}}}'.encode(),
                [("seq", str(self.seq_base + n + i).encode())],
                self.seq_base + n + i,
            )
            for i in range(size)
        ]
        self.txns += 1
        abort = bool(spec.aborted_every) and self.txns % spec.aborted_every == 0
        self.in_flight = size
        self.roles["payments"].transaction(topic, records, abort)
        self.in_flight = 0
        if abort:
            self.counts["payments_aborted"] += size
            with self.lock:
                self.aborted[topic] += [r[3] for r in records]
                self._tick(size)
        else:
            # Refused ones are written again after a switch; they count once, as committed.
            self.counts["payments_committed"] += size
        self.role_written["payments"] += size

    def poll_all(self) -> None:
        for role in self.roles.values():
            if role.producer is not None and not role.transactional:
                role.producer.poll(0)

    def check_control(self, roles: list[_Role]) -> None:
        """Switch each of ``roles`` whose class's control file names another cluster
        (called from the thread that writes those roles)."""
        directory = self.spec.control_dir
        if not directory:
            return
        for role in roles:
            if role.writer is None:
                continue
            path = Path(directory) / f"{role.writer.cls}.json"
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if self._control_seen.get(role.role) == mtime:
                continue
            try:
                told = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # being written; read it on the next round
            self._control_seen[role.role] = mtime
            if told.get("cluster") and told["cluster"] != role.cluster:
                began = time.time()
                resent = role.switch(told)
                with self.lock:
                    self.resent += resent
                    self.switches.append(
                        {
                            "role": role.role,
                            "class": role.writer.cls,
                            "cluster": told["cluster"],
                            "seen_at": began,
                            "done_at": time.time(),
                            "resent": resent,
                            "told_at": told.get("told_at"),
                        }
                    )

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
        for role in self.roles.values():
            role.close()
        deadline = time.monotonic() + limit_s
        while (
            self.counts["consumed"] < self.counts["orders"]
            and time.monotonic() < deadline
            and not stop.is_set()
        ):
            self.consume(0.2)

    def close(self, deadline: float | None = None, busy: tuple[str, ...] = ()) -> int:
        """Deliver what every role queued and close the consumer; with a ``deadline``
        (monotonic), only until then. A role in ``busy`` is still inside a call on
        another thread (a transaction's commit that has not returned) and is left alone.
        Returns how many records were left undelivered."""
        left = 0
        for role in self.roles.values():
            if role.role in busy:
                continue
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            left += role.close(timeout)
        if self.consumer is not None:
            self.consumer.close()
        return left

    def unsent(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for role in self.roles.values():
            with role.lock:
                for pending in role.refused:
                    out.setdefault(pending.topic, []).extend(r[3] for r in pending.records)
        return out

    def write_ledger(self, path: str) -> None:
        unsent = self.unsent()
        with self.lock:
            body = {
                "seq_base": self.seq_base,
                "topics": {
                    topic: {
                        "acked": sorted(self.acked[topic]),
                        "aborted": sorted(self.aborted[topic]),
                        "unsent": sorted(unsent.get(topic, [])),
                    }
                    for topic in self.acked
                },
                "switches": self.switches,
                "transactional_id": self.transactional_id,
                "rate": self.spec.rate,
                # Records the clusters acknowledged (acked, or ended with their
                # transaction, committed or aborted on purpose) per wall-clock second:
                # what a benchmark reads the rate really achieved from.
                "acknowledged_per_second": {str(k): v for k, v in sorted(self.per_second.items())},
            }
        tmp = f"{path}.{os.getpid()}.tmp"
        Path(tmp).write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, path)


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
    if not spec.writers:
        ensure_topics(bootstrap, spec, config)
    try:
        work = _Workload(bootstrap, spec, config or {})
    except KafkaException as exc:
        raise WorkloadError(
            f"Kafka refused the workload ({exc.args[0].name()}); check the cluster and retry"
        ) from None
    started = time.monotonic()
    done = threading.Event()
    failed: list[BaseException] = []
    stop_deadline: list[float] = []

    def grace_left() -> float:
        """Seconds left of the stop's grace, counted from the first time it was asked."""
        if not stop_deadline:
            stop_deadline.append(time.monotonic() + STOP_GRACE_S)
        return max(stop_deadline[0] - time.monotonic(), 0.0)

    def limited(roles) -> bool:
        # A failed payments writer ends the whole workload, which says why: it never
        # goes on writing orders with payments silently stopped.
        if stop.is_set() or done.is_set() or failed:
            return True
        if spec.duration_s is not None and time.monotonic() - started >= spec.duration_s:
            return True
        return work.capped(roles)

    # Payments commit each transaction (a round trip that blocks): in a thread of their
    # own, so the other roles keep their rate meanwhile (the client releases the GIL
    # while it waits), and reading their own switch file between transactions.
    payments = work.roles.get("payments")
    mine = [r for r in work.roles.values() if r is not payments]
    thread = None
    if payments is not None:
        thread = threading.Thread(
            target=_payments_loop,
            args=(work, payments, started, limited, failed),
            name="cutover-workload-payments",
            daemon=True,
        )
    try:
        if work.consumer is not None:
            work.consumer.subscribe([spec.topics["orders"]])
        if thread is not None:
            thread.start()
        last_report = started
        last_control = 0.0
        writers = [
            (role, fn)
            for role, fn in (("orders", work.write_order), ("customers", work.write_customer))
            if role in work.roles
        ]
        names = [r.role for r in mine]
        while not limited(names):
            now = time.monotonic()
            if now - last_control >= 0.05:
                work.check_control(mine)
                last_control = now
            for role, write in writers:
                behind = work.due(role, started)
                while behind > 0 and not stop.is_set():
                    write()
                    behind -= 1
                    if behind % 500 == 0:
                        work.poll_all()
                        # Behind its rate (a loaded machine, a fenced cluster refusing),
                        # it still reads its switch files: catching up first would keep
                        # it writing to the fenced cluster for as long as it lags.
                        if time.monotonic() - last_control >= 0.05:
                            work.check_control(mine)
                            last_control = time.monotonic()
                        if limited(names):
                            break
            work.poll_all()
            # Sleep until the next record is due, reading orders meanwhile.
            wait = min(
                (
                    (work.role_written[role] + 1) / work.share[role] - (time.monotonic() - started)
                    for role, _write in writers
                ),
                default=0.05,
            )
            work.consume(min(max(wait, 0.0), 0.05))
            if wait > 0 and work.consumer is None:
                stop.wait(min(wait, 0.05))
            if now - last_report >= 5:
                progress(f"workload: {work.written()} records written, {work.counts}")
                last_report = now
        if thread is not None:
            # The record limit: payments write their share too (a duration or a stop
            # has ended them already).
            while thread.is_alive() and not stop.is_set():
                thread.join(0.05)
        done.set()
        if thread is not None:
            # A stop waits for the transaction under way only for its grace.
            thread.join(grace_left() if stop.is_set() else None)
        if failed:
            error = failed[0]
            if isinstance(error, KafkaException):
                raise error
            raise WorkloadError(
                f"the payments writer stopped ({type(error).__name__}: {error}); check the "
                "cluster and the workload's log, then start it again"
            ) from None
        # Refused records are written again only after a switch: one last look.
        work.check_control(mine)
        if not stop.is_set():
            work.drain(stop)
    except KafkaException as exc:
        raise WorkloadError(
            f"Kafka refused the workload ({exc.args[0].name()}); check the cluster and retry"
        ) from None
    finally:
        done.set()
        if thread is not None and thread.is_alive():
            thread.join(grace_left() if stop.is_set() else work.spec.timeout_s * 2)
        busy = ("payments",) if thread is not None and thread.is_alive() else ()
        deadline = time.monotonic() + grace_left() if stop.is_set() else None
        unconfirmed = work.close(deadline, busy)
        if busy:
            unconfirmed += work.in_flight
        if spec.ledger:
            work.write_ledger(spec.ledger)
    c = work.counts
    return WorkloadResult(
        orders=c["orders"],
        payments_committed=c["payments_committed"],
        payments_aborted=c["payments_aborted"],
        customers=c["customers"],
        tombstones=c["tombstones"],
        consumed=c["consumed"],
        elapsed_s=time.monotonic() - started,
        resent=work.resent,
        switches=tuple(work.switches),
        unconfirmed=unconfirmed,
    )


def _payments_loop(
    work: _Workload,
    role: _Role,
    started: float,
    limited: Callable[[list[str]], bool],
    failed: list[BaseException],
) -> None:
    """The payments role's own thread: transactions at its share of the rate, each of
    ``txn_size`` records, or of the records due when behind (up to ``TXN_SPAN_S`` of
    the rate)."""
    spec = work.spec
    largest = max(spec.txn_size, int(work.share["payments"] * TXN_SPAN_S))
    try:
        while not limited(["payments"]):
            work.check_control([role])
            behind = work.due("payments", started)
            if behind < spec.txn_size and not (behind > 0 and work.capped_soon("payments")):
                wait = (work.role_written["payments"] + spec.txn_size) / work.share["payments"]
                time.sleep(min(max(wait - (time.monotonic() - started), 0.001), 0.05))
                continue
            work.payments_transaction(min(behind, largest))
        work.check_control([role])
    except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
        failed.append(exc)


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
