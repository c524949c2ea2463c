"""Safe consumers on the real clusters: the gate refuses principals that could touch
production (naming the right and where it comes from), the broker refuses a team's
command that writes to production and the console records it, the built-in consumer
counts a planted schema failure and an out-of-order key, identities are created with
minimal ACLs and removed again, and the processes outlive the console.

The schema registry is a real one (Apicurio Registry, the ``registries`` fixture), spoken
to through its Confluent-compatible API.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
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
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from console import processes, runbook
from console.kafka.rights import Login, effective_rights, exact_filter, probe_name
from console.plan import parse_plan
from console.plan.steps import StepState
from console.safe import SAMPLER, process_name
from console.safe.policy import judge
from console.sandbox.state import SANDBOX_PASSWORDS
from console.store import Store
from console.tui.app import CutoverApp
from tests.helpers import CountedProducer, files_containing, screen_lines, wait_for

ADMIN_PW = SANDBOX_PASSWORDS["admin"]
SHADOW_PW = "shadow-test-password-1"


def uid() -> str:
    return uuid.uuid4().hex[:8]


def plan_text(source, target, topic: str, consumer: str, *, registry: str | None = None) -> str:
    registry_line = f'schema_registry_url = "{registry}"\n' if registry else ""
    return (
        textwrap.dedent(
            f"""\
            [plan]
            name = "safe-{uid()}"

            [people]
            owners = ["platform"]
            approvers = ["alice"]

            [clusters.source]
            bootstrap_servers = "{source.sasl_bootstrap}"
            security_protocol = "SASL_PLAINTEXT"
            sasl_mechanism = "SCRAM-SHA-512"
            sasl_username = "admin"
            password = {{ env = "SAFE_TEST_ADMIN_PASSWORD" }}

            [clusters.target]
            bootstrap_servers = "{target.sasl_bootstrap}"
            security_protocol = "SASL_PLAINTEXT"
            sasl_mechanism = "SCRAM-SHA-512"
            sasl_username = "admin"
            password = {{ env = "SAFE_TEST_ADMIN_PASSWORD" }}
            """
        )
        + registry_line
        + textwrap.dedent(
            f"""
            [[topics]]
            name = "{topic}"
            owner = "team"
            external_side_effects = true
            ordering = "key"

            [shadow]
            sample_interval_s = 0.5
            """
        )
        + textwrap.dedent(consumer)
    )


_ADMINS: dict[str, AdminClient] = {}


def admin(cluster) -> AdminClient:
    """The sandbox's PLAINTEXT listener: a super user, for setting the scene. Kept, since a
    client dropped before its futures resolve fails them."""
    address = cluster.plaintext_bootstrap
    if address not in _ADMINS:
        _ADMINS[address] = AdminClient({"bootstrap.servers": address})
    return _ADMINS[address]


def create_topic(cluster, topic: str, partitions: int = 1) -> None:
    admin(cluster).create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def create_user(cluster, user: str, password: str) -> None:
    change = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin(cluster).alter_user_scram_credentials([change]).values():
        future.result(30)


def acl(kind, name, principal, op, pattern=ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)


def add_acls(cluster, bindings) -> None:
    for future in admin(cluster).create_acls(bindings).values():
        future.result(30)


def delete_acls(cluster, bindings) -> None:
    for future in admin(cluster).delete_acls([exact_filter(b) for b in bindings]).values():
        future.result(30)


def acls_of(cluster, principal: str) -> set[tuple]:
    every = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        principal,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = admin(cluster).describe_acls(every).result(30)
    return {(b.restype.name, b.name, b.operation.name, b.resource_pattern_type.name) for b in found}


def scram_users(cluster) -> set[str]:
    return set(admin(cluster).describe_user_scram_credentials().result(30))


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("SAFE_TEST_ADMIN_PASSWORD", ADMIN_PW)
    monkeypatch.setenv("SAFE_TEST_SHADOW_PASSWORD", SHADOW_PW)


@pytest.fixture
def stores(tmp_path):
    """Run databases made by a test; their processes are stopped afterwards."""
    made: list[Path] = []
    yield made
    for db in made:
        store = Store.open(db)
        for info in processes.all_processes(store):
            processes.stop(store, info.name, timeout=15)
        store.close()


def new_run(tmp_path, text: str, stores: list) -> Store:
    db = tmp_path / f"run-{uid()}.db"
    Store.create(db, text, parse_plan(text)).close()
    stores.append(db)
    store = Store.open(db)
    # Safe consumers read the copy, so their step requires the shadow copy's start; these
    # tests write the target topics themselves, so it is recorded as passed, not run.
    store.set_step("shadow-start", StepState.PASSED, "the test wrote the target topics itself")
    return store


def start(store: Store, reveal=None):
    decision = runbook.decide(store, "safe-consumers", "safe-consumers", via="test")
    assert decision.opened, decision.message
    return runbook.run(store, "safe-consumers", reveal=reveal)


def last_report(db: Path, consumer: str, side: str = "shadow"):
    store = Store.open(db, readonly=True)
    try:
        rows = store.shadow.recent(consumer, side, 1)
        return rows[-1] if rows else None
    finally:
        store.close()


class TestTheGateRefuses:
    def test_a_principal_with_write_on_a_production_topic_with_the_acl_named(
        self, tmp_path, source, target, env, stores
    ):
        topic, user = f"sc-prod-{uid()}", f"sc-w-{uid()}"
        create_topic(target, topic)
        create_user(target, user, SHADOW_PW)
        principal = f"User:{user}"
        add_acls(
            target,
            [
                acl(ResourceType.TOPIC, topic, principal, AclOperation.READ),
                acl(ResourceType.TOPIC, topic, principal, AclOperation.WRITE),
            ],
        )
        store = new_run(
            tmp_path,
            plan_text(
                source,
                target,
                topic,
                f"""
                [[shadow_consumers]]
                name = "bad"
                principal = "{user}"
                password = {{ env = "SAFE_TEST_SHADOW_PASSWORD" }}
                topics = ["{topic}"]
                group_id = "shadow.bad-{uid()}"
                """,
            ),
            stores,
        )
        gate = runbook.preview(store, "safe-consumers")
        named = f"ACL ALLOW {principal} WRITE on topic LITERAL '{topic}'"
        assert gate.blocked is not None
        assert f"{principal} may WRITE topic '{topic}' on the target" in gate.blocked
        assert named in gate.blocked
        assert any(named in line and "REFUSED" in line for line in gate.lines)
        decision = runbook.decide(store, "safe-consumers", "safe-consumers", via="test")
        assert not decision.opened and decision.outcome is runbook.Outcome.BLOCKED
        entry = store.audit_latest(1)[0]
        assert entry.action == "gate.blocked" and named in entry.outcome
        assert processes.get(store, process_name("bad")) is None
        store.close()

    def test_a_wildcard_grant_with_the_wildcard_named(self, tmp_path, source, target, env, stores):
        stem = f"sc-wild-{uid()}"
        topic, user = f"{stem}-prod", f"sc-u-{uid()}"
        create_topic(target, topic)
        create_user(target, user, SHADOW_PW)
        everyone = acl(
            ResourceType.TOPIC,
            stem,
            "User:*",
            AclOperation.ALTER_CONFIGS,
            ResourcePatternType.PREFIXED,
        )
        add_acls(target, [everyone])
        try:
            store = new_run(
                tmp_path,
                plan_text(
                    source,
                    target,
                    topic,
                    f"""
                    [[shadow_consumers]]
                    name = "wild"
                    principal = "{user}"
                    password = {{ env = "SAFE_TEST_SHADOW_PASSWORD" }}
                    topics = ["{topic}"]
                    group_id = "shadow.wild-{uid()}"
                    """,
                ),
                stores,
            )
            gate = runbook.preview(store, "safe-consumers")
            assert gate.blocked is not None
            assert f"may ALTER_CONFIGS topic '{topic}' on the target" in gate.blocked
            assert "retention.ms=1 deletes production data" in gate.blocked
            assert (
                f"ACL ALLOW User:* ALTER_CONFIGS on topic PREFIXED '{stem}' "
                "(wildcard principal: every user)"
            ) in gate.blocked
            store.close()
        finally:
            delete_acls(target, [everyone])

    def test_a_super_user_with_super_users_named(self, source, target, env):
        text = plan_text(
            source,
            target,
            "orders",
            """
            [[shadow_consumers]]
            name = "root"
            principal = "someone"
            topics = ["orders"]
            group_id = "shadow.root"
            """,
        )
        plan = parse_plan(text)
        # The plan refuses the console's own user as a shadow principal, so the super user
        # is put in by hand here to see what the brokers say about it.
        spec = plan.shadow_consumers[0].model_copy(update={"principal": "admin"})
        rights = {
            side: effective_rights(
                side,
                getattr(plan.clusters, side),
                ADMIN_PW,
                "User:admin",
                Login("admin", ADMIN_PW),
                probe_topics=[probe_name("shadow.")],
                probe_groups=[probe_name("shadow.", "group")],
            )
            for side in ("target", "source")
        }
        verdict = judge(plan, spec, rights["target"], rights["source"])
        cluster = next(r for r in verdict.refusals if "may ALTER the cluster on the target" in r)
        assert "(it could grant itself any right)" in cluster
        assert "a super user (super.users" in cluster
        assert any("on the SOURCE" in r and "super.users" in r for r in verdict.refusals)
        # The broker hides super.users: the check says so rather than pretending to read it.
        assert any("super.users: hidden by the broker" in c for c in rights["target"].context)


TEAM_COMMAND = r"""
import os, sys, time
from confluent_kafka import Producer
names = sorted(os.environ)
print("env:", ",".join(n for n in names if not n.startswith("CUTOVER_SHADOW_")), flush=True)
conf = {
    "bootstrap.servers": os.environ["CUTOVER_SHADOW_BOOTSTRAP_SERVERS"],
    "security.protocol": os.environ["CUTOVER_SHADOW_SECURITY_PROTOCOL"],
    "sasl.mechanism": os.environ["CUTOVER_SHADOW_SASL_MECHANISM"],
    "sasl.username": os.environ["CUTOVER_SHADOW_USERNAME"],
    "sasl.password": os.environ["CUTOVER_SHADOW_PASSWORD"],
}
failed = []
producer = Producer(conf)
producer.produce(sys.argv[1], b"from a shadow consumer",
                 on_delivery=lambda err, msg: failed.append(err))
producer.flush(30)
for err in failed:
    if err is not None:
        print(f"delivery failed: {err.name()}: {err.str()}", flush=True)
sys.exit(3 if any(failed) else 0)
"""


class TestTeamCommand:
    def test_a_write_to_production_is_refused_by_the_broker_and_recorded(
        self, tmp_path, source, target, env, stores
    ):
        topic, user = f"sc-team-{uid()}", f"sc-team-{uid()}"
        create_topic(target, topic)
        script = tmp_path / "team.py"
        script.write_text(TEAM_COMMAND)
        store = new_run(
            tmp_path,
            plan_text(
                source,
                target,
                topic,
                f"""
                [[shadow_consumers]]
                name = "team"
                principal = "{user}"
                password = {{ env = "SAFE_TEST_SHADOW_PASSWORD" }}
                topics = ["{topic}"]
                group_id = "shadow.team-{uid()}"
                run = "command"
                command = ["{sys.executable}", "{script}", "{topic}"]
                create_identity = true
                """,
            ),
            stores,
        )
        db = store.path
        outcome = start(store)
        assert outcome.state.value == "passed", outcome.reason
        report = wait_for(
            lambda: (r := last_report(db, "team")) and r.errors["authorization"] and r,
            what="the authorization error to be recorded",
        )
        assert report.errors["authorization"] >= 1
        example = store.shadow.errors("team")[0]
        assert example.kind == "authorization"
        assert "TOPIC_AUTHORIZATION_FAILED" in example.detail
        info = wait_for(
            lambda: (i := processes.get(store, process_name("team"))) and not i.alive and i,
            what="the command to end",
        )
        assert info.status == "FAILED" and "exited with code 3" in info.detail
        # Nothing reached production, and the command saw none of the console's settings.
        assert admin(target).list_topics(topic).topics[topic].partitions[0] is not None
        log = Path(info.log_path).read_text()
        listed = next(line for line in log.splitlines() if "env:" in line)
        assert "SAFE_TEST_ADMIN_PASSWORD" not in listed
        assert ADMIN_PW not in log and SHADOW_PW not in log
        store.close()


def wire(schema_id: int, value: dict | str) -> bytes:
    payload = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    return b"\x00" + struct.pack(">I", schema_id) + payload


class TestBuiltinConsumer:
    def test_a_planted_schema_failure_and_an_out_of_order_key_are_counted(
        self, tmp_path, source, target, registries, env, stores
    ):
        schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
        topic, user = f"sc-val-{uid()}", f"sc-val-{uid()}"
        url = registries["target"].url
        sid = SchemaRegistryClient({"url": url}).register_schema(
            f"{topic}-value", Schema(json.dumps(schema), "JSON")
        )
        unknown = sid + 1000
        create_topic(target, topic, partitions=2)
        producer = CountedProducer(target.plaintext_bootstrap)
        base = int(time.time() * 1000) - 60_000
        for n in range(20):
            producer.produce(
                topic, key=f"k{n % 4}".encode(), value=wire(sid, {"n": n}), timestamp=base + n * 10
            )
        planted = [
            (b"k1", wire(unknown, {"n": 100}), base + 1000),  # an id the registry lacks
            (b"k2", wire(sid, {"n": "one hundred"}), base + 1010),  # does not match its schema
            (b"k3", wire(sid, {"n": 101}), base - 5000),  # k3 older than its previous record
        ]
        for key, value, ts in planted:
            producer.produce(topic, key=key, value=value, timestamp=ts)
        assert producer.flush_all(30) == 20 + len(planted)
        store = new_run(
            tmp_path,
            plan_text(
                source,
                target,
                topic,
                f"""
                    [[shadow_consumers]]
                    name = "validate"
                    principal = "{user}"
                    password = {{ env = "SAFE_TEST_SHADOW_PASSWORD" }}
                    topics = ["{topic}"]
                    group_id = "shadow.validate-{uid()}"
                    sink = "file"
                    sink_path = "validate.jsonl"
                    create_identity = true
                    """,
                registry=url,
            ),
            stores,
        )
        outcome = start(store)
        assert outcome.state.value == "passed", outcome.reason
        report = wait_for(
            lambda: (r := last_report(store.path, "validate")) and r.processed == 23 and r,
            what="all 23 records to be checked",
        )
        assert report.errors == {"deserialization": 0, "schema": 2, "order": 1, "authorization": 0}
        assert report.lag == 0
        details = [e.detail for e in store.shadow.errors("validate")]
        assert f"schema id {unknown} is not in the registry" in details
        assert any(d.startswith(f"does not match JSON schema id {sid} at n") for d in details)
        order = next(e for e in store.shadow.errors("validate") if e.kind == "order")
        assert order.key == "k3" and "comes after" in order.detail
        lines = (store.path.parent / "validate.jsonl").read_text().splitlines()
        assert len(lines) == 23
        assert sum(not json.loads(line)["ok"] for line in lines) == 3
        store.close()


class TestIdentity:
    def test_created_with_minimal_acls_shown_once_and_removed_again(
        self, tmp_path, source, target, monkeypatch, stores
    ):
        monkeypatch.setenv("SAFE_TEST_ADMIN_PASSWORD", ADMIN_PW)
        monkeypatch.delenv("SAFE_TEST_UNSET_PASSWORD", raising=False)
        topic, user = f"sc-id-{uid()}", f"sc-id-{uid()}"
        create_topic(target, topic, partitions=2)
        group, sink = f"shadow.id-{uid()}", f"shadow.id-out-{uid()}"
        source_acls, source_users = acls_of(source, None), scram_users(source)
        store = new_run(
            tmp_path,
            plan_text(
                source,
                target,
                topic,
                f"""
                [[shadow_consumers]]
                name = "ident"
                principal = "{user}"
                password = {{ env = "SAFE_TEST_UNSET_PASSWORD" }}
                topics = ["{topic}"]
                group_id = "{group}"
                sink = "topic"
                sink_topic = "{sink}"
                create_identity = true
                """,
            ),
            stores,
        )
        shown: list[tuple[str, str]] = []
        outcome = start(store, reveal=lambda what, secret: shown.append((what, secret)))
        assert outcome.state.value == "passed", outcome.reason
        assert len(shown) == 1 and f"User:{user}" in shown[0][0]
        password = shown[0][1]
        assert user in scram_users(target)
        assert acls_of(target, f"User:{user}") == {
            ("TOPIC", topic, "READ", "LITERAL"),
            ("GROUP", group, "READ", "LITERAL"),
            ("TOPIC", sink, "WRITE", "LITERAL"),
        }
        assert sink in admin(target).list_topics(timeout=10).topics
        # Never changed: the source; never kept: the generated password.
        assert acls_of(source, None) == source_acls and scram_users(source) == source_users
        assert files_containing(store.path.parent, password) == []
        evidence = store.latest_evidence("safe-consumers", "safe-consumers")
        assert evidence.body["all_sinks_safe"] and evidence.body["all_principals_safe"]

        for step, word in (
            ("safe-identities-remove", "remove-shadow-identities"),
            ("safe-consumers-stop", "stop-safe-consumers"),
        ):
            assert runbook.decide(store, step, word, via="test").opened
        refused = runbook.run(store, "safe-identities-remove")
        assert refused.state.value == "failed" and "Stop safe consumers first" in refused.reason
        assert runbook.run(store, "safe-consumers-stop").state.value == "passed"
        assert runbook.decide(store, "safe-identities-remove", "remove-shadow-identities", via="t")
        removed = runbook.run(store, "safe-identities-remove")
        assert removed.state.value == "passed", removed.reason
        assert acls_of(target, f"User:{user}") == set()
        assert user not in scram_users(target)
        assert sink in admin(target).list_topics(timeout=10).topics  # its data is kept
        actions = [e.action for e in store.audit_latest(40)]
        assert "identity.acls.delete" in actions and "identity.user.delete" in actions
        assert acls_of(source, None) == source_acls and scram_users(source) == source_users
        store.close()


class TestProcesses:
    async def test_they_survive_the_console_closing_and_are_reattached(
        self, tmp_path, source, target, env, stores
    ):
        topic, user = f"sc-live-{uid()}", f"sc-live-{uid()}"
        create_topic(target, topic)
        create_topic(source, topic)
        store = new_run(
            tmp_path,
            plan_text(
                source,
                target,
                topic,
                f"""
                [[shadow_consumers]]
                name = "live"
                principal = "{user}"
                password = {{ env = "SAFE_TEST_SHADOW_PASSWORD" }}
                topics = ["{topic}"]
                group_id = "shadow.live-{uid()}"
                shadows = "prod-{uid()}"
                create_identity = true
                """,
            ),
            stores,
        )
        db = store.path
        assert start(store).state.value == "passed"
        store.close()  # the console goes away; its processes do not

        reopened = Store.open(db)
        info = processes.get(reopened, process_name("live"))
        assert info.alive and info.status == "RUNNING"
        first = last_report(db, "live")
        wait_for(lambda: last_report(db, "live").ts != first.ts, what="a newer heartbeat")
        assert processes.get(reopened, SAMPLER).status == "RUNNING"

        app = CutoverApp(reopened, blink=False, poll=False, gate_guard_s=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.press("4")
            await pilot.pause()
            row = next(ln for ln in screen_lines(app) if " live " in ln and " as User:" not in ln)
            assert "▶ RUNNING" in row
            os.kill(info.pid, signal.SIGKILL)
            wait_for(lambda: not processes.get(reopened, process_name("live")).alive, what="death")
            await pilot.press("r")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            row = next(ln for ln in screen_lines(app) if " live " in ln and " as User:" not in ln)
            assert "✗ DEAD" in row
        assert processes.get(reopened, process_name("live")).status == "DEAD"
        reopened.close()
