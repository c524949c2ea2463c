"""One cluster as the producer cutover reads and changes it: end offsets at both isolation
levels, records between offsets, ACL bindings and SCRAM users.

Every call takes a deadline (``time.monotonic()``); failures become
:class:`~console.kafka.client.ClusterError` messages naming the cluster and what to check.

Open transactions are seen the only way this client library allows: the end offset a
``read_uncommitted`` reader reaches (the high watermark) minus the one a
``read_committed`` reader reaches (the last stable offset). confluent-kafka has no
ListTransactions or DescribeProducers, so *which* producer or transactional id holds a
transaction open cannot be seen, nor how long it has left before
``transaction.timeout.ms`` aborts it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from console.kafka import client as kafka
from console.kafka.client import ClusterError
from console.kafka.provenance import SHADOW_CLIENT_PREFIX
from console.kafka.rights import exact_filter
from console.plan import ClusterSpec
from console.shadow.mirror.positions import committed_reader, read_positions_kept

TP = tuple[str, int]

NO_TRANSACTIONS_API = (
    "which producer holds a transaction open cannot be seen: confluent-kafka has no "
    "ListTransactions or DescribeProducers; an open transaction shows only as a gap between "
    "the read_committed and read_uncommitted end offsets"
)


@dataclass(frozen=True)
class Record:
    """A record read back, as much of it as the cutover shows or copies."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int

    def example(self) -> str:
        """One line for a gate, an audit entry or the evidence."""
        key = self.key.decode(errors="replace") if self.key is not None else "null"
        return f"{self.topic}[{self.partition}]@{self.offset} key={key[:40]} ts={self.timestamp}"

    @classmethod
    def of(cls, msg) -> Record:
        _kind, ts = msg.timestamp()
        return cls(
            msg.topic(),
            msg.partition(),
            msg.offset(),
            msg.key(),
            msg.value(),
            tuple(msg.headers() or ()),
            ts,
        )


def binding_of(data: dict[str, str]) -> AclBinding:
    """An ACL binding from how the run database keeps it."""
    return AclBinding(
        ResourceType[data["resource_type"]],
        data["resource_name"],
        ResourcePatternType[data["pattern_type"]],
        data["principal"],
        data["host"],
        AclOperation[data["operation"]],
        AclPermissionType[data["permission"]],
    )


def binding_text(data: dict[str, str]) -> str:
    """How the gate and the audit log name a binding."""
    kind = data["resource_type"].lower()
    pattern = "" if data["pattern_type"] == "LITERAL" else f" {data['pattern_type'].lower()}"
    return (
        f"{data['permission']} {data['principal']} {data['operation']} on {kind}{pattern} "
        f"'{data['resource_name']}'"
    )


class StillOpen(Exception):
    """Transactions still open at a deadline: ``tp -> (last stable offset, high
    watermark)``."""

    def __init__(self, still: dict[TP, tuple[int, int]]) -> None:
        super().__init__(f"{len(still)} partition(s) with an open transaction")
        self.still = still


class Cluster:
    """One side (``source`` or ``target``) with the console's own credentials."""

    def __init__(self, name: str, spec: ClusterSpec, password: str | None) -> None:
        self.name = name
        self.spec = spec
        self.password = password
        self._admin: AdminClient | None = None
        self._trap: kafka.ErrorTrap | None = None
        self._lock = threading.Lock()
        self._positions_reader: Consumer | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin, self._trap = kafka.admin_client(
                self.spec, self.password, client_id=f"{SHADOW_CLIENT_PREFIX}producers-admin"
            )
        return self._admin

    def mirror_positions(self, plan, keys: set[TP], timeout: float) -> dict[TP, int]:
        """The built-in mirror's stored positions (this being the target), read with
        clients kept open: a wait that polls them logs in once, not at every poll."""
        with self._lock:
            if self._positions_reader is None:
                self._positions_reader = committed_reader(
                    self.spec, self.password, f"{SHADOW_CLIENT_PREFIX}producers-positions"
                )
            return read_positions_kept(
                plan,
                self.password,
                keys,
                (self.admin, self._positions_reader),
                timeout=timeout,
                on_broken=self._close_positions,
            )

    def _close_positions(self) -> None:
        if self._positions_reader is not None:
            with contextlib.suppress(KafkaException, RuntimeError):
                self._positions_reader.close()
            self._positions_reader = None

    def close(self) -> None:
        """Close the clients kept open (the admin client closes when dropped)."""
        with self._lock:
            self._close_positions()

    def fail(self, what: str, exc: BaseException) -> ClusterError:
        """A failed request in words: authentication, or the error's name."""
        if self._trap is not None and self._trap.auth_failure() is not None:
            return ClusterError(
                f"{self.name}: authentication failed for '{self.spec.sasl_username}'; check "
                "its password"
            )
        return ClusterError(
            f"{self.name}: {what} failed ({kafka.error_name(exc)}); check the cluster is "
            "reachable and the console's user may describe, read and alter ACLs there"
        )

    # -- offsets -------------------------------------------------------------------------

    def ends(self, tps: Iterable[TP], deadline: float, *, committed: bool) -> dict[TP, int]:
        """End offsets: the last stable offset (``committed``) or the high watermark."""
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in tps}
        if not request:
            return {}
        level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
        try:
            futures = self.admin.list_offsets(
                request, isolation_level=level, request_timeout=kafka.remaining(deadline)
            )
            return {
                (tp.topic, tp.partition): f.result(timeout=kafka.remaining(deadline) + 1).offset
                for tp, f in futures.items()
            }
        except (KafkaException, TimeoutError) as exc:
            raise self.fail("listing end offsets", exc) from None

    def starts(self, tps: Iterable[TP], deadline: float) -> dict[TP, int]:
        request = {TopicPartition(t, p): OffsetSpec.earliest() for t, p in tps}
        if not request:
            return {}
        try:
            futures = self.admin.list_offsets(request, request_timeout=kafka.remaining(deadline))
            return {
                (tp.topic, tp.partition): f.result(timeout=kafka.remaining(deadline) + 1).offset
                for tp, f in futures.items()
            }
        except (KafkaException, TimeoutError) as exc:
            raise self.fail("listing start offsets", exc) from None

    def open_transactions(self, tps: Iterable[TP], deadline: float) -> dict[TP, tuple[int, int]]:
        """Partitions with an open transaction: ``tp -> (last stable offset, high
        watermark)``, where the two differ."""
        tps = list(tps)
        stable = self.ends(tps, deadline, committed=True)
        high = self.ends(tps, deadline, committed=False)
        return {tp: (stable[tp], high[tp]) for tp in tps if stable[tp] < high[tp]}

    def partitions(self, topics: Iterable[str], deadline: float) -> list[TP]:
        """Every partition of the topics (a topic missing here is an error naming it)."""
        topics = list(topics)
        try:
            meta = self.admin.list_topics(timeout=kafka.remaining(deadline)).topics
        except KafkaException as exc:
            raise self.fail("reading topics", exc) from None
        out = []
        for topic in topics:
            found = meta.get(topic)
            if found is None or found.error is not None:
                raise ClusterError(
                    f"{self.name}: topic '{topic}' does not exist or cannot be described; "
                    "check the plan's producer classes"
                )
            out += [(topic, p) for p in sorted(found.partitions)]
        return out

    # -- records -------------------------------------------------------------------------

    def reader(self, *, committed: bool, client: str = "reader") -> Consumer:
        """A consumer that is only ever assigned (never joins or commits a group)."""
        conf = kafka.assigned_reader_config(
            self.spec,
            self.password,
            client_id=f"{SHADOW_CLIENT_PREFIX}producers-{client}",
            committed=committed,
            fetch_wait_ms=20,
        )
        return Consumer(conf)

    def records(
        self,
        ranges: dict[TP, tuple[int, int]],
        deadline: float,
        *,
        committed: bool,
        limit: int | None = None,
    ) -> list[Record]:
        """The records in ``[lo, hi)`` of each partition, in offset order per partition.

        ``read_uncommitted`` returns aborted and still-open records too; neither level
        returns transaction markers, so offsets missing from the result are markers (or
        compaction gaps). ``limit`` stops early once that many records were read."""
        wanted = {tp: (lo, hi) for tp, (lo, hi) in ranges.items() if hi > lo}
        if not wanted:
            return []
        consumer = self.reader(committed=committed)
        out: list[Record] = []
        try:
            consumer.assign([TopicPartition(t, p, lo) for (t, p), (lo, _hi) in wanted.items()])
            pending = set(wanted)
            while pending:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"{self.name}: reading {len(pending)} partition(s) did not finish in "
                        f"time (first: {sorted(pending)[0]}); check the cluster"
                    )
                for msg in consumer.consume(500, 0.1):
                    tp = (msg.topic(), msg.partition())
                    if tp not in pending:
                        continue
                    lo, hi = wanted[tp]
                    err = msg.error()
                    if err is None:
                        if msg.offset() >= hi:
                            pending.discard(tp)
                            continue
                        out.append(Record.of(msg))
                        if msg.offset() + 1 >= hi:
                            pending.discard(tp)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        # Nothing more this isolation level can read: the rest of the range
                        # is markers (or, read_committed, an open transaction's records).
                        pending.discard(tp)
                    elif "AUTHORIZATION" in err.name():
                        raise ClusterError(
                            f"{self.name}: not allowed to read {tp[0]}; grant the console's "
                            "user READ on it"
                        )
                    if limit is not None and len(out) >= limit:
                        return out
                done = [TopicPartition(t, p) for (t, p) in wanted if (t, p) not in pending]
                if done and pending:
                    consumer.pause(done)
        finally:
            consumer.close()
        return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))

    # -- ACLs ----------------------------------------------------------------------------

    def acl_present(self, data: dict[str, str], deadline: float) -> bool:
        """Whether exactly this binding is in the cluster's ACLs now."""
        try:
            found = self.admin.describe_acls(
                exact_filter(binding_of(data)), request_timeout=kafka.remaining(deadline)
            ).result(timeout=kafka.remaining(deadline) + 1)
        except KafkaException as exc:
            raise self.fail("reading ACLs", exc) from None
        return bool(found)

    def create_acl(self, data: dict[str, str], deadline: float) -> None:
        """Create one binding and wait until the broker lists it (then it is in force)."""
        try:
            for future in self.admin.create_acls(
                [binding_of(data)], request_timeout=kafka.remaining(deadline)
            ).values():
                future.result(timeout=kafka.remaining(deadline) + 1)
        except KafkaException as exc:
            raise self.fail(f"creating the ACL ({binding_text(data)})", exc) from None
        while not self.acl_present(data, deadline):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{self.name}: the ACL ({binding_text(data)}) was created but is not listed "
                    "yet; run the step again to check"
                )
            time.sleep(0.05)  # the authorizer applies the controller's record a moment later

    def delete_acl(self, data: dict[str, str], deadline: float) -> int:
        """Delete exactly this binding; returns how many the broker removed."""
        try:
            removed = 0
            for future in self.admin.delete_acls(
                [exact_filter(binding_of(data))], request_timeout=kafka.remaining(deadline)
            ).values():
                removed += len(future.result(timeout=kafka.remaining(deadline) + 1))
        except KafkaException as exc:
            raise self.fail(f"removing the ACL ({binding_text(data)})", exc) from None
        while self.acl_present(data, deadline):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{self.name}: the ACL ({binding_text(data)}) is still listed after its "
                    "removal; run the step again to check"
                )
            time.sleep(0.05)
        return removed

    def scram_user(self, user: str, deadline: float) -> str:
        """``exists``, ``none``, or why it could not be told."""
        try:
            found = self.admin.describe_user_scram_credentials(
                [user], request_timeout=kafka.remaining(deadline)
            )[user].result(timeout=kafka.remaining(deadline) + 1)
        except KafkaException as exc:
            if kafka.error_name(exc) == "RESOURCE_NOT_FOUND":
                return "none"
            return f"unknown ({kafka.error_name(exc)})"
        return "exists" if found.scram_credential_infos else "none"


def until_settled(
    cluster: Cluster, tps: list[TP], deadline: float, check=lambda: None
) -> dict[TP, tuple[int, int]]:
    """Wait until no partition has an open transaction (an open one ends by commit, abort
    or timeout); returns what was open at the first look. At ``deadline`` with one still
    open, raises :class:`StillOpen` naming them: never a shorter read. ``check`` runs
    between looks (a cancel)."""
    first = cluster.open_transactions(tps, time.monotonic() + 15)
    still = first
    while still:
        check()
        if time.monotonic() > deadline:
            raise StillOpen(still)
        time.sleep(0.1)
        still = cluster.open_transactions(tps, time.monotonic() + 15)
    return first
