"""Setting the scene for producer cutover tests on the real clusters, and reading it back.

A *scene* is one test's world: its own topics (a unique prefix), its own producer
principals (SCRAM users on both clusters, ALLOW WRITE on the source only, as an
application that has not moved yet), a plan naming them as producer classes, a run
database, the built-in mirror, and the demo workload writing as those principals in a
process of its own (``cutover workload --writer ...``), switching when told.

:func:`read_all` reads a topic on a cluster with a consumer of its own (read_committed)
and returns every record's ``seq`` header and provenance: the independent read the
tests judge by, never the console's own bookkeeping.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from console import processes, runbook
from console.cli.main import main
from console.kafka import provenance
from console.kafka.rights import exact_filter
from console.plan import parse_plan
from console.plan.steps import StepState
from console.sandbox.state import SANDBOX_PASSWORDS
from console.store import Store
from console.store.audit import current_actor

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PW = SANDBOX_PASSWORDS["admin"]
WRITER_PW = "writer-test-password-7"
ADMIN_ENV = "PRODUCERS_TEST_ADMIN_PASSWORD"
WRITER_REF = '{ env = "PRODUCERS_TEST_WRITER_PASSWORD" }'
"""The plan's secret reference for the writers' passwords (the test sets the variable)."""

_ADMINS: dict[str, AdminClient] = {}


def uid() -> str:
    return uuid.uuid4().hex[:8]


def admin(cluster) -> AdminClient:
    """The sandbox's PLAINTEXT listener (a super user), for setting the scene."""
    address = cluster.plaintext_bootstrap
    if address not in _ADMINS:
        _ADMINS[address] = AdminClient({"bootstrap.servers": address})
    return _ADMINS[address]


def create_topics(cluster, topics: dict[str, int], configs: dict | None = None) -> None:
    futures = admin(cluster).create_topics(
        [NewTopic(t, n, 1, config=configs or {}) for t, n in topics.items()]
    )
    for future in futures.values():
        future.result(30)


def create_user(cluster, user: str, password: str) -> None:
    change = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin(cluster).alter_user_scram_credentials([change]).values():
        future.result(30)
    deadline = time.monotonic() + 30
    while user not in admin(cluster).describe_user_scram_credentials().result(30):
        assert time.monotonic() < deadline, f"user {user} not listed in time"
        time.sleep(0.1)  # poll while the controller's record reaches the broker


def allow(kind, name, principal, op, pattern=ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)


def add_acls(cluster, bindings) -> None:
    for future in admin(cluster).create_acls(bindings).values():
        future.result(30)


def delete_acls(cluster, bindings) -> None:
    filters = [exact_filter(b) for b in bindings]
    for future in admin(cluster).delete_acls(filters).values():
        future.result(30)


def writer_env(users: list[str]) -> dict[str, str]:
    """The environment the workload finds its writers' passwords in."""
    return {f"CUTOVER_WORKLOAD_PW_{u.replace('-', '_').upper()}": WRITER_PW for u in users}


@dataclass
class Scene:
    """One test's topics, principals, plan and run database."""

    source: object
    target: object
    tmp: Path
    prefix: str = field(default_factory=lambda: f"pc{uid()}.")
    user: str = field(default_factory=lambda: f"prod-{uid()}")
    tx_user: str = field(default_factory=lambda: f"txn-{uid()}")
    db: Path | None = None
    workload: subprocess.Popen | None = None
    ledger: Path | None = None

    @property
    def orders(self) -> str:
        return f"{self.prefix}orders"

    @property
    def payments(self) -> str:
        return f"{self.prefix}payments"

    @property
    def tx_prefix(self) -> str:
        return f"payments-{self.prefix}"

    def build(
        self,
        *,
        quiet_s: float = 1.0,
        target_only: str = "copy-back",
        window_minutes: float = 60,
        extra_plan: str = "",
        groups: str = "",
        with_payments: bool = True,
    ) -> Store:
        """Topics on the source (the mirror creates them on the target), users on both
        clusters, source ACLs, the plan and the run database."""
        topics = {self.orders: 3}
        if with_payments:
            topics[self.payments] = 2
        create_topics(self.source, topics)
        for cluster in (self.source, self.target):
            create_user(cluster, self.user, WRITER_PW)
            if with_payments:
                create_user(cluster, self.tx_user, WRITER_PW)
        bindings = [
            allow(ResourceType.TOPIC, self.orders, f"User:{self.user}", op)
            for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
        ]
        if with_payments:
            bindings += [
                allow(ResourceType.TOPIC, self.payments, f"User:{self.tx_user}", op)
                for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
            ] + [
                allow(
                    ResourceType.TRANSACTIONAL_ID,
                    self.tx_prefix,
                    f"User:{self.tx_user}",
                    op,
                    ResourcePatternType.PREFIXED,
                )
                for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
            ]
        add_acls(self.source, bindings)
        text = self.plan_text(quiet_s, target_only, window_minutes, with_payments)
        text += textwrap.dedent(groups) + textwrap.dedent(extra_plan)
        self.db = self.tmp / f"run-{uid()}.db"
        Store.create(self.db, text, parse_plan(text)).close()
        return Store.open(self.db)

    def plan_text(self, quiet_s, target_only, window_minutes, with_payments) -> str:
        payments = (
            f"""
            [[topics]]
            name = "{self.payments}"
            owner = "payments-team"
            external_side_effects = true
            transactions = true
            create_on_target = true

            [[producers]]
            name = "payments"
            owner = "payments-team"
            principals = ["User:{self.tx_user}"]
            topics = ["{self.payments}"]
            transactional_id_prefix = "{self.tx_prefix}"
            switch = "demo-workload"
            create_acls_on_target = true
            principal_passwords = {{ {self.tx_user} = {WRITER_REF} }}
            """
            if with_payments
            else ""
        )
        return textwrap.dedent(
            f"""\
            [plan]
            name = "producers-{uid()}"

            [people]
            owners = ["platform"]
            approvers = ["alice"]
            logins = {{ "alice" = ["{current_actor()[0]}"] }}

            [clusters.source]
            bootstrap_servers = "{self.source.sasl_bootstrap}"
            security_protocol = "SASL_PLAINTEXT"
            sasl_mechanism = "SCRAM-SHA-512"
            sasl_username = "admin"
            password = {{ env = "{ADMIN_ENV}" }}

            [clusters.target]
            bootstrap_servers = "{self.target.sasl_bootstrap}"
            security_protocol = "SASL_PLAINTEXT"
            sasl_mechanism = "SCRAM-SHA-512"
            sasl_username = "admin"
            password = {{ env = "{ADMIN_ENV}" }}

            [shadow]
            sample_interval_s = 0.5

            [producer_defaults]
            quiet_seconds = {quiet_s}
            target_only = "{target_only}"
            rollback_window_minutes = {window_minutes}
            transaction_wait_seconds = 30
            tail_seconds = 30
            switch_timeout_minutes = 2

            [[topics]]
            name = "{self.orders}"
            owner = "checkout-team"
            external_side_effects = true
            idempotent_producers = true
            create_on_target = true

            [[producers]]
            name = "checkout"
            owner = "checkout-team"
            principals = ["User:{self.user}"]
            topics = ["{self.orders}"]
            switch = "demo-workload"
            create_acls_on_target = true
            principal_passwords = {{ {self.user} = {WRITER_REF} }}
            """
        ) + textwrap.dedent(payments)

    # -- processes ------------------------------------------------------------------------

    def store(self, readonly: bool = False) -> Store:
        assert self.db is not None
        return Store.open(self.db, readonly=readonly)

    def control_dir(self) -> Path:
        path = Path(f"{self.db}.logs") / "switch"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start_workload(self, rate: float = 200, duration: float = 900) -> subprocess.Popen:
        """The demo workload as its own process, writing as the classes' principals."""
        self.ledger = self.tmp / f"ledger-{uid()}.json"
        roles = "orders,payments" if self.has_payments() else "orders"
        args = [
            sys.executable,
            "-m",
            "console.cli",
            "workload",
            "--bootstrap",
            self.source.sasl_bootstrap,
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--no-group",
            "--prefix",
            self.prefix,
            "--roles",
            roles,
            "--writer",
            f"orders=checkout:{self.user}",
            "--control-dir",
            str(self.control_dir()),
            "--ledger",
            str(self.ledger),
            "--quiet",
        ]
        if self.has_payments():
            args += ["--writer", f"payments=payments:{self.tx_user}"]
        env = {**os.environ, **writer_env([self.user, self.tx_user])}
        log = open(self.tmp / f"workload-{uid()}.log", "wb")  # noqa: SIM115 - kept for the process
        self.workload = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        return self.workload

    def has_payments(self) -> bool:
        return self.store(readonly=True).plan.producers[-1].name == "payments"

    def stop_workload(self, timeout: float = 60) -> dict:
        """Stop it (SIGTERM: it finishes what is in flight) and read its ledger."""
        assert self.workload is not None and self.ledger is not None
        if self.workload.poll() is None:
            self.workload.send_signal(signal.SIGTERM)
        self.workload.wait(timeout)
        return json.loads(self.ledger.read_text())

    def close(self) -> None:
        if self.workload is not None and self.workload.poll() is None:
            self.workload.kill()
            self.workload.wait(10)
        if self.db is not None and self.db.exists():
            store = Store.open(self.db)
            for info in processes.all_processes(store):
                processes.stop(store, info.name, timeout=15)
            store.close()


# -- steps ----------------------------------------------------------------------------------


def step(store: Store, key: str, word: str | None = None):
    """Confirm a gate and run the step, as the console does; returns the outcome."""
    decision = runbook.decide(store, key, word or key.partition(":")[2] or key, via="test")
    assert decision.opened, decision.message
    return runbook.run(store, key)


def cli_step(db: Path, step_id: str, word: str, *, cls: str | None = None, env=None, timeout=300):
    """``cutover step`` in a process of its own (a test may kill it)."""
    args = [sys.executable, "-m", "console.cli", "step", str(db), step_id, "--confirm", word]
    if cls:
        args += ["--class", cls]
    return subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def drill_passed_for_test(store: Store) -> None:
    """Record the drill as passed WITHOUT running it, for tests of the move alone (the
    drill has tests of its own and the full walk-through runs it for real)."""
    store.add_evidence(
        "rollback-drill",
        "rollback-drill",
        {"passed": True, "summary": "recorded by a test that exercises the move alone"},
    )
    store.set_step("rollback-drill", StepState.PASSED, "recorded by the test (see the docstring)")


def waive_the_review(db: Path) -> None:
    """These tests move producers, they do not hold the readiness review: every scorecard
    area that would shut the move's gate is waived by the plan's approver (alice, whose
    login is this test's), saying why, as an operator would have to."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["scorecard", str(db), "--json"]) in (0, 1, 3)
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    for area in json.loads(out.getvalue())["areas"]:
        if area["blocks_cutover"]:
            args = ["waive", str(db), area["area"], "--confirm", area["area"]]
            args += ["--reason", "a producer cutover test, not a readiness review"]
            with contextlib.redirect_stdout(io.StringIO()) as said:
                assert main([*args, "--expires", expires]) == 0, said.getvalue()


# -- independent reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One record as an independent reader saw it."""

    partition: int
    offset: int
    seq: int | None
    copied_from: tuple[int, int] | None
    """The mirror's provenance: the source (partition, offset) it copies."""
    reverse_of: tuple[int, int] | None
    """A rollback's reverse copy: the target (partition, offset) it copies."""
    key: bytes | None
    value: bytes | None


def read_all(cluster, topic: str, timeout: float = 60) -> list[Seen]:
    """Every committed record of a topic, read with a consumer of the test's own over the
    PLAINTEXT listener (read_committed, assigned, no group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.plaintext_bootstrap,
            "group.id": f"test-reader-{uid()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        parts = sorted(meta.partitions)
        # Read up to the end offsets seen now: with live writes (and transactions open most
        # of the time) an end-of-partition event may never come.
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        pending = {p for p in parts if ends[p] > 0}
        out = []
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"reading {topic} did not finish"
            batch = consumer.consume(1000, 0.5)
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    continue
                if msg.offset() >= ends[msg.partition()]:
                    continue
                headers = msg.headers() or []
                seq = next((int(v) for k, v in headers if k == "seq"), None)
                out.append(
                    Seen(
                        msg.partition(),
                        msg.offset(),
                        seq,
                        provenance.find(headers),
                        provenance.reverse_of(headers),
                        msg.key(),
                        msg.value(),
                    )
                )
        return out
    finally:
        consumer.close()


def counts(records: list[Seen]) -> Counter:
    return Counter(r.seq for r in records if r.seq is not None)
