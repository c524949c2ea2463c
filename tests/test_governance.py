"""The governance diff on the real sandbox clusters, with planted ACL, user, config,
partition and quota differences; decisions recorded with who made them; applying the
chosen items on the target only (the source checked unchanged); and the schema subjects
of two real registries.

Each test plants its own uniquely named topic, group and principal, so runs against a
reused sandbox never see each other's state.
"""

from __future__ import annotations

import getpass
import json
import uuid

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from console.cli.main import main
from console.governance import evidence
from console.plan import parse_plan
from console.plan.steps import StepState
from console.runbook import decide as gate_decide
from console.runbook import preview, run
from console.sandbox import ADMIN_USER, SANDBOX_PASSWORDS
from console.sandbox.plans import sandbox_plan_text
from console.store import Store
from tests.test_wire import _spec, set_quota, wait_for_quota

PASSWORD = SANDBOX_PASSWORDS[ADMIN_USER]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    return monkeypatch


def _acl(kind, name, pattern, principal, op, perm=AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(kind, name, pattern, principal, "*", op, perm)


def _create_acls(admin: AdminClient, bindings: list[AclBinding]) -> None:
    for fut in admin.create_acls(bindings, request_timeout=10).values():
        fut.result(15)


def _acls_of(admin: AdminClient, principal: str) -> set[str]:
    query = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        principal,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = admin.describe_acls(query, request_timeout=10).result(15)
    # confluent-kafka calls Kafka's CLUSTER resource type BROKER.
    return {
        ":".join(
            (
                b.restype.name.replace("BROKER", "CLUSTER"),
                b.resource_pattern_type.name,
                b.name,
                b.operation.name,
                b.permission_type.name,
            )
        )
        for b in found
    }


def _config(admin: AdminClient, topic: str, name: str) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(15)[name].value


class Planted:
    """Both clusters with governance differences planted for one test."""

    def __init__(self, source, target) -> None:
        tag = uuid.uuid4().hex[:8]
        self.topic = f"gov-{tag}-orders"
        self.group = f"gov-{tag}-billing"
        self.user = f"gov-{tag}-app"
        self.principal = f"User:{self.user}"
        self.other = f"User:gov-{tag}-auditor"
        self.txn = f"gov-{tag}-txn"
        self.src = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
        self.tgt = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
        self.source, self.target = source, target
        self.src.create_topics([NewTopic(self.topic, 3, 1, config={"retention.ms": "86400000"})])[
            self.topic
        ].result(15)
        self.tgt.create_topics([NewTopic(self.topic, 2, 1)])[self.topic].result(15)
        p = self.principal
        both = [
            _acl(ResourceType.TOPIC, self.topic, ResourcePatternType.LITERAL, p, AclOperation.READ)
        ]
        self.source_only = [
            _acl(ResourceType.GROUP, self.group, ResourcePatternType.LITERAL, p, AclOperation.READ),
            _acl(
                ResourceType.TOPIC,
                f"gov-{tag}-",
                ResourcePatternType.PREFIXED,
                p,
                AclOperation.WRITE,
            ),
            _acl(
                ResourceType.TRANSACTIONAL_ID,
                self.txn,
                ResourcePatternType.LITERAL,
                p,
                AclOperation.WRITE,
            ),
            _acl(
                ResourceType.BROKER,
                "kafka-cluster",
                ResourcePatternType.LITERAL,
                p,
                AclOperation.IDEMPOTENT_WRITE,
            ),
        ]
        self.target_only = [
            _acl(
                ResourceType.TOPIC,
                self.topic,
                ResourcePatternType.LITERAL,
                self.other,
                AclOperation.DESCRIBE,
            )
        ]
        _create_acls(self.src, both + self.source_only)
        _create_acls(self.tgt, both + self.target_only)
        upsert = UserScramCredentialUpsertion(
            self.user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"gov-user-pw"
        )
        for fut in self.src.alter_user_scram_credentials([upsert]).values():
            fut.result(15)
        set_quota(_spec(source.sasl_bootstrap), PASSWORD, self.user, "producer_byte_rate", 4096.0)
        assert wait_for_quota(_spec(source.sasl_bootstrap), PASSWORD, f"user={self.user}")

    def plan_text(self, extra: str = "") -> str:
        return sandbox_plan_text(
            self.source.sasl_bootstrap,
            self.target.sasl_bootstrap,
            {self.topic: False},
            name="gov-test",
            extra=f"""
[[groups]]
id = "{self.group}"
owner = "test"
topics = ["{self.topic}"]
offset_strategy = "translate"
"""
            + extra,
        )

    def source_state(self) -> tuple[set[str], str, int]:
        partitions = len(self.src.list_topics(self.topic, timeout=10).topics[self.topic].partitions)
        return (
            _acls_of(self.src, self.principal) | _acls_of(self.src, self.other),
            _config(self.src, self.topic, "retention.ms"),
            partitions,
        )


@pytest.fixture
def planted(source, target) -> Planted:
    return Planted(source, target)


def make_db(tmp_path, text: str):
    path = tmp_path / "run.db"
    Store.create(path, text, parse_plan(text)).close()
    return path


def run_step(db, key: str, word: str):
    store = Store.open(db)
    try:
        decision = gate_decide(store, key, word, via="test")
        assert decision.opened, decision.message
        return run(store, key)
    finally:
        store.close()


def items_by_key(db) -> dict[str, dict]:
    store = Store.open(db, readonly=True)
    try:
        return {i["key"]: i for i in evidence.latest(store).body["items"]}
    finally:
        store.close()


class TestDiff:
    """What the diff lists, read from both real clusters."""

    def test_planted_differences_are_each_listed(self, tmp_path, planted, env):
        db = make_db(tmp_path, planted.plan_text())
        outcome = run_step(db, "governance", "governance")
        assert outcome.state is StepState.PASSED, outcome.reason
        items = items_by_key(db)
        p, t = planted.principal, planted.topic
        expected = {
            f"acl:GROUP:LITERAL:{planted.group}:{p}:*:READ:ALLOW",
            f"acl:TOPIC:PREFIXED:{t[:13]}:{p}:*:WRITE:ALLOW",
            f"acl:TRANSACTIONAL_ID:LITERAL:{planted.txn}:{p}:*:WRITE:ALLOW",
            f"acl:CLUSTER:LITERAL:kafka-cluster:{p}:*:IDEMPOTENT_WRITE:ALLOW",
            f"acl:TOPIC:LITERAL:{t}:{planted.other}:*:DESCRIBE:ALLOW",
            f"scram:{planted.user}",
            f"partitions:{t}",
            f"config:{t}:retention.ms",
            f"quota:user={planted.user}",
        }
        assert expected <= set(items), sorted(set(items))
        # The ACL both sides have is no difference.
        assert f"acl:TOPIC:LITERAL:{t}:{p}:*:READ:ALLOW" not in items
        assert items[f"config:{t}:retention.ms"]["source"] == "86400000"
        assert items[f"config:{t}:retention.ms"]["target"] == "604800000"
        assert (
            items[f"partitions:{t}"]["source"] == "3" and items[f"partitions:{t}"]["target"] == "2"
        )
        assert items[f"scram:{planted.user}"]["source"] == "SCRAM-SHA-512/8192"
        assert items[f"scram:{planted.user}"]["target"] == "none"
        assert items[f"quota:user={planted.user}"]["source"] == "producer_byte_rate=4096"
        # Only what cutover can make true on the target can be applied; the rest says why.
        appliable = {k for k, i in items.items() if i["fix"]}
        assert appliable == {
            k for k in expected if k.startswith("acl:") and planted.other not in k
        } | {f"config:{t}:retention.ms"}
        assert "salted" in items[f"scram:{planted.user}"]["why_not"]
        store = Store.open(db, readonly=True)
        body = evidence.latest(store).body
        store.close()
        assert body["not_compared"]["subjects"].startswith("no schema_registry_url")
        assert "quotas" not in body["not_compared"]  # read through the wire module

    def test_cli_lists_numbered_items_and_says_what_was_not_compared(
        self, tmp_path, planted, env, capsys
    ):
        db = make_db(tmp_path, planted.plan_text())
        assert main(["governance", str(db)]) == 3  # no diff yet: NO DATA, never a pass
        capsys.readouterr()
        run_step(db, "governance", "governance")
        code = main(["governance", str(db)])
        out = capsys.readouterr().out
        assert code == 1  # undecided items
        assert "  1. [UNDECIDED] ACL only on source" in out
        assert "NOT COMPARED subjects: no schema_registry_url" in out
        assert main(["governance", str(db), "--json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["summary"]["undecided"] == data["summary"]["items"] > 0


class TestDecisions:
    """Per-item decisions: who decided, audited, carried over to a new reading."""

    def test_decisions_record_who_and_are_audited(self, tmp_path, planted, env, capsys):
        db = make_db(tmp_path, planted.plan_text())
        run_step(db, "governance", "governance")
        key = f"config:{planted.topic}:retention.ms"
        code = main(["governance", str(db), "--decide", key, "--as", "accept", "--reason", "ok"])
        assert code == 0, capsys.readouterr().err
        item = items_by_key(db)[key]
        assert item["decision"] == "accept" and item["decided_by"] == getpass.getuser()
        assert item["reason"] == "ok"
        store = Store.open(db, readonly=True)
        entry = next(e for e in store.audit_latest(20) if e.action == "governance.decided")
        assert entry.actor == getpass.getuser()
        assert entry.params["item"] == key and entry.params["decision"] == "accept"
        assert store.audit_verify().ok
        store.close()
        # A new reading keeps the decision: the item reads the same on both sides.
        run_step(db, "governance", "governance")
        assert items_by_key(db)[key]["decision"] == "accept"

    def test_what_cannot_be_applied_is_refused(self, tmp_path, planted, env, capsys):
        db = make_db(tmp_path, planted.plan_text())
        run_step(db, "governance", "governance")
        code = main(["governance", str(db), "--decide", f"scram:{planted.user}", "--as", "apply"])
        err = capsys.readouterr().err
        assert code == 1 and "cannot be applied" in err and "salted" in err
        assert main(["governance", str(db), "--decide", "no-such-item", "--as", "skip"]) == 1
        assert "no governance item 'no-such-item'" in capsys.readouterr().err
        assert items_by_key(db)[f"scram:{planted.user}"]["decision"] is None


class TestApply:
    """Applying the items decided 'apply': on the target only, audited, verified."""

    def test_gate_stays_shut_until_something_is_decided_apply(self, tmp_path, planted, env):
        db = make_db(tmp_path, planted.plan_text())
        store = Store.open(db)
        assert preview(store, "governance-apply").blocked.startswith("blocked by: governance")
        store.close()
        run_step(db, "governance", "governance")
        store = Store.open(db)
        assert "decided 'apply'" in preview(store, "governance-apply").blocked
        store.close()

    def test_apply_changes_the_target_and_never_the_source(self, tmp_path, planted, env, capsys):
        db = make_db(tmp_path, planted.plan_text())
        run_step(db, "governance", "governance")
        before = planted.source_state()
        p, t = planted.principal, planted.topic
        chosen = [
            f"acl:GROUP:LITERAL:{planted.group}:{p}:*:READ:ALLOW",
            f"acl:TRANSACTIONAL_ID:LITERAL:{planted.txn}:{p}:*:WRITE:ALLOW",
            f"config:{t}:retention.ms",
        ]
        for key in chosen:
            assert main(["governance", str(db), "--decide", key, "--as", "apply"]) == 0
        store = Store.open(db)
        gate = preview(store, "governance-apply")
        store.close()
        assert gate.blocked is None and gate.mutating
        assert any("set topic" in line and "604800000 -> 86400000" in line for line in gate.lines)
        assert gate.lines[-1] == "Nothing is changed on the source."
        outcome = run_step(db, "governance-apply", "apply-governance")
        assert outcome.state is StepState.PASSED, outcome.reason
        # The target has them now ...
        target_acls = _acls_of(planted.tgt, p)
        assert f"GROUP:LITERAL:{planted.group}:READ:ALLOW" in target_acls
        assert f"TRANSACTIONAL_ID:LITERAL:{planted.txn}:WRITE:ALLOW" in target_acls
        assert _config(planted.tgt, t, "retention.ms") == "86400000"
        # ... what was not chosen was left alone ...
        assert "CLUSTER:LITERAL:kafka-cluster:IDEMPOTENT_WRITE:ALLOW" not in target_acls
        # ... and the source is exactly as it was.
        assert planted.source_state() == before
        items = items_by_key(db)
        assert not set(chosen) & set(items)  # read again: those differences are gone
        assert f"acl:CLUSTER:LITERAL:kafka-cluster:{p}:*:IDEMPOTENT_WRITE:ALLOW" in items
        store = Store.open(db, readonly=True)
        changes = [e for e in store.audit_latest(60) if e.action == "governance.change"]
        assert store.audit_verify().ok
        store.close()
        intents = [e for e in changes if e.outcome == "intent"]
        results = [e for e in changes if e.outcome == "applied"]
        assert len(intents) == len(results) == 3
        assert all(e.params["cluster"] == "target" for e in intents)
        # Each result refers to its intent, logged before it.
        assert {r.ref for r in results} == {i.seq for i in intents}
        assert all(r.seq > r.ref for r in results)


class TestSubjects:
    """Schema subjects and compatibility, from two real registries (Apicurio)."""

    def test_subjects_and_compatibility_differences(self, tmp_path, planted, env, registries):
        src, tgt = registries["source"].url, registries["target"].url
        order = '{"type":"record","name":"Order","fields":[{"name":"n","type":"int"}]}'
        wider = order.replace('"int"}]', '"int"},{"name":"m","type":"int","default":0}]')
        a, b = SchemaRegistryClient({"url": src}), SchemaRegistryClient({"url": tgt})
        t = planted.topic
        a.register_schema(f"{t}-value", Schema(wider, "AVRO"))
        b.register_schema(f"{t}-value", Schema(order, "AVRO"))
        a.register_schema(f"{t}-key", Schema('"string"', "AVRO"))
        b.register_schema(f"{t}-key", Schema('"string"', "AVRO"))
        a.set_compatibility(f"{t}-key", "FULL")
        b.set_compatibility(f"{t}-key", "BACKWARD")
        text = planted.plan_text()
        for side, url in (("SOURCE", src), ("TARGET", tgt)):
            ref = f'password = {{ env = "CUTOVER_DEMO_{side}_PASSWORD" }}'
            text = text.replace(ref, f'{ref}\nschema_registry_url = "{url}"')
        db = make_db(tmp_path, text)
        run_step(db, "governance", "governance")
        items = items_by_key(db)
        assert items[f"subject:{t}-value"]["what"].endswith("the latest schemas differ")
        assert items[f"compatibility:{t}-key"]["source"] == "FULL"
        assert items[f"compatibility:{t}-key"]["target"] == "BACKWARD"
        assert f"subject:{t}-key" not in items  # the same schema on both
