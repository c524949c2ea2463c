"""Safe consumers without brokers: the plan's rules, the policy on given rights, record
checks and the team command's environment."""

from __future__ import annotations

import json
import struct
import textwrap
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from console.kafka.rights import Binding, Grant, ResourceRights, Rights, cluster_facts
from console.plan import PlanError, parse_plan
from console.safe.command import PASSED_THROUGH, command_environment
from console.safe.policy import judge
from console.safe.validate import DESERIALIZATION, ORDER, SCHEMA, Decoded, Decoder, OrderCheck
from tests.helpers import demo_plan_text

CONSUMER = """
[[shadow_consumers]]
name = "billing-shadow"
principal = "shadow-billing"
topics = ["orders"]
group_id = "{group}"
sink = "{sink}"
{extra}
"""


def base_plan_text(**addresses) -> str:
    """The demo plan without its own shadow consumer (the block from its comment to the
    topology's)."""
    text = demo_plan_text(**addresses)
    start = text.index("\n# Safe consumers:")
    return text[:start] + text[text.index("\n# Where each part runs", start) :]


def plan_with(group="shadow.billing", sink="null", extra="", text=None):
    body = text if text is not None else base_plan_text()
    return body + textwrap.dedent(CONSUMER).format(group=group, sink=sink, extra=extra)


class TestPlanRules:
    def test_a_group_without_the_prefix_is_refused_with_its_line(self):
        text = plan_with(group="billing-copy")
        with pytest.raises(PlanError) as caught:
            parse_plan(text, "plan.toml")
        line = text.splitlines().index('group_id = "billing-copy"') + 1
        assert [str(p) for p in caught.value.problems] == [
            f"plan.toml:{line}: shadow_consumers[0].group_id: group 'billing-copy' does not "
            "start with the shadow prefix 'shadow.'; a shadow consumer may only use shadow "
            "groups (e.g. 'shadow.billing-shadow')"
        ]

    def test_a_sink_topic_without_the_prefix_is_refused(self):
        text = plan_with(sink="topic", extra='sink_topic = "orders-copy"')
        with pytest.raises(PlanError) as caught:
            parse_plan(text, "plan.toml")
        (problem,) = caught.value.problems
        assert problem.field == "shadow_consumers[0].sink_topic"
        assert problem.line == text.splitlines().index('sink_topic = "orders-copy"') + 1
        assert "does not start with the shadow prefix" in problem.message

    def test_a_production_topic_as_sink_is_refused_even_with_the_prefix_setting(self):
        text = plan_with(sink="topic", extra='sink_topic = "orders"')
        with pytest.raises(PlanError, match="only write to shadow topics"):
            parse_plan(text, "plan.toml")

    def test_the_prefix_can_be_set_and_production_names_may_not_carry_it(self):
        text = plan_with(group="copy.billing").replace(
            "[thresholds]", '[shadow]\nprefix = "copy."\n\n[thresholds]'
        )
        assert parse_plan(text).shadow.prefix == "copy."
        clash = text.replace('prefix = "copy."', 'prefix = "ord"').replace(
            "copy.billing", "ord.billing"
        )
        with pytest.raises(PlanError, match="production topic 'orders' starts with the shadow"):
            parse_plan(clash)

    def test_a_shadow_consumer_needs_its_own_principal_and_a_sasl_target(self):
        text = plan_with().replace('principal = "shadow-billing"', 'principal = "admin"')
        with pytest.raises(PlanError, match="the console's own cluster user"):
            parse_plan(text)
        plain = plan_with().replace(
            'security_protocol = "SASL_PLAINTEXT"\nsasl_mechanism = "SCRAM-SHA-512"\n'
            'sasl_username = "admin"\npassword = { env = "CUTOVER_DEMO_TARGET_PASSWORD" }',
            'security_protocol = "PLAINTEXT"',
        )
        with pytest.raises(PlanError, match="log in as their own SASL principal"):
            parse_plan(plain)

    def test_sinks_and_commands_need_their_settings(self):
        with pytest.raises(PlanError, match="sink = 'file' needs sink_path"):
            parse_plan(plan_with(sink="file"))
        with pytest.raises(PlanError, match="run = 'command' needs command"):
            parse_plan(plan_with(extra='run = "command"'))
        with pytest.raises(PlanError, match="is not KIND:NAME:OPERATION"):
            parse_plan(plan_with(extra='source_allowed = ["orders:READ"]'))

    def test_secrets_are_references_only(self):
        text = plan_with(extra='password = "hunter2hunter2"')
        with pytest.raises(PlanError, match="password"):
            parse_plan(text)


def _rights(cluster, resources, *, logged_in=True, credential="SCRAM-SHA-512", bindings=()):
    return Rights(
        cluster, "User:shadow-billing", logged_in, "asked", credential, tuple(resources), bindings
    )


def _res(kind, name, *ops, source="ACL ALLOW User:shadow-billing ..."):
    return ResourceRights(kind, name, tuple(Grant(op, source) for op in ops), True)


class TestPolicy:
    plan = parse_plan(plan_with(sink="topic", extra='sink_topic = "shadow.out"'))
    consumer = plan.shadow_consumers[0]

    def test_minimal_rights_are_safe(self):
        target = _rights(
            "target",
            [
                _res("topic", "orders", "READ", "DESCRIBE"),
                _res("group", "shadow.billing", "READ", "DESCRIBE"),
                _res("topic", "shadow.out", "WRITE", "DESCRIBE", "ALTER_CONFIGS"),
            ],
        )
        source = _rights("source", [], logged_in=False, credential="none")
        verdict = judge(self.plan, self.consumer, target, source)
        assert verdict.refusals == []
        assert "cannot log in" in verdict.source_rights[0]

    @pytest.mark.parametrize(
        "resource, expected",
        [
            (("topic", "orders", "ALTER_CONFIGS"), "may ALTER_CONFIGS topic 'orders'"),
            (("topic", "orders", "WRITE"), "may WRITE topic 'orders'"),
            (("cluster", "", "ALTER"), "may ALTER the cluster"),
            (("group", "billing", "READ"), "may READ group 'billing'"),
            (("topic", "*", "DELETE"), "may DELETE every topic named '*'"),
            (("transactional_id", "orders-tx", "WRITE"), "could fence a production producer"),
        ],
    )
    def test_each_dangerous_right_is_refused_with_its_source(self, resource, expected):
        kind, name, op = resource
        target = _rights("target", [_res(kind, name, op, source="ACL ALLOW User:* ...")])
        source = _rights("source", [], logged_in=False, credential="none")
        verdict = judge(self.plan, self.consumer, target, source)
        assert len(verdict.refusals) == 1
        assert expected in verdict.refusals[0]
        assert verdict.refusals[0].endswith("ACL ALLOW User:* ...")

    def test_any_right_on_the_source_is_refused_unless_declared(self):
        target = _rights("target", [])
        source = _rights("source", [_res("group", "billing", "READ", "DESCRIBE")])
        verdict = judge(self.plan, self.consumer, target, source)
        assert sorted(r.split(" on the SOURCE")[0] for r in verdict.refusals) == [
            "User:shadow-billing may DESCRIBE group 'billing'",
            "User:shadow-billing may READ group 'billing'",
        ]
        declared = parse_plan(plan_with(extra='source_allowed = ["group:billing:READ"]'))
        verdict = judge(declared, declared.shadow_consumers[0], target, source)
        assert verdict.refusals == []

    def test_a_source_credential_that_cannot_be_checked_is_refused(self):
        source = _rights("source", [], logged_in=False, credential="SCRAM-SHA-512")
        verdict = judge(self.plan, self.consumer, _rights("target", []), source)
        assert "has a SCRAM-SHA-512 credential on the SOURCE" in verdict.refusals[0]

    def test_latent_bindings_on_the_source_are_a_warning(self):
        binding = Binding("topic", "LITERAL", "orders", "User:shadow-billing", "*", "READ", "ALLOW")
        source = _rights("source", [], logged_in=False, credential="none", bindings=(binding,))
        verdict = judge(self.plan, self.consumer, _rights("target", []), source)
        assert verdict.refusals == []
        assert any(
            "name User:shadow-billing although it cannot log in" in w for w in verdict.warnings
        )


def _wire(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + payload


class TestRecordChecks:
    schemas = {
        1: Schema(
            json.dumps(
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
            ),
            "JSON",
        ),
        2: Schema(
            json.dumps({"type": "record", "name": "R", "fields": [{"name": "id", "type": "long"}]}),
            "AVRO",
        ),
    }

    def lookup(self, schema_id):
        if schema_id not in self.schemas:
            raise SchemaRegistryError(404, 40403, "Schema not found")
        return self.schemas[schema_id]

    def test_decoding_sorts_findings_by_kind(self):
        decoder = Decoder(self.lookup)
        assert decoder.decode(_wire(1, b'{"id": 7}')) == Decoded(1, {"id": 7})
        assert decoder.decode(_wire(2, b"\x0e")) == Decoded(2, {"id": 7})
        assert decoder.decode(b'{"id": 7}').kind == DESERIALIZATION
        assert decoder.decode(_wire(1, b"{not json")).kind == DESERIALIZATION
        assert decoder.decode(_wire(1, b'{"id": "seven"}')).kind == SCHEMA
        assert decoder.decode(_wire(9, b"{}")).kind == SCHEMA
        assert decoder.decode(_wire(2, b"\x0e\x0e")).kind == SCHEMA  # bytes left over
        assert decoder.decode(None) is None

    def test_order_per_key_and_per_partition(self):
        plan = parse_plan(demo_plan_text())
        orders = plan.topics[0]
        by_key = OrderCheck(orders)
        assert by_key.check(0, 1, b"a", 10) is None
        assert by_key.check(0, 2, b"b", 5) is None
        found = by_key.check(0, 3, b"a", 9)
        assert found.kind == ORDER and "9 comes after 10 (at 0:1) within its key" in found.detail
        assert by_key.check(0, 4, None, 1) is None  # unkeyed records promise no order per key
        per_partition = OrderCheck(orders.model_copy(update={"ordering": "partition"}))
        assert per_partition.check(0, 1, b"a", 10) is None
        assert per_partition.check(0, 2, b"b", 5).kind == ORDER
        header = OrderCheck(orders.model_copy(update={"order_by": "header:seq"}))
        assert header.position(0, [("seq", b"42")], None) == 42
        assert header.position(0, [], None).kind == ORDER


def test_a_team_command_gets_only_its_own_settings(monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", "console-admin-secret")
    monkeypatch.setenv("SOME_TOKEN", "other-secret")
    monkeypatch.setenv("PATH", "/usr/bin")
    plan = parse_plan(plan_with(sink="topic", extra='sink_topic = "shadow.out"'))
    env = command_environment(plan, plan.shadow_consumers[0], "shadow-pw", base=Path("/tmp"))
    assert env["CUTOVER_SHADOW_PASSWORD"] == "shadow-pw"
    assert env["CUTOVER_SHADOW_USERNAME"] == "shadow-billing"
    assert env["CUTOVER_SHADOW_GROUP_ID"] == "shadow.billing"
    assert env["CUTOVER_SHADOW_SINK_TOPIC"] == "shadow.out"
    assert "console-admin-secret" not in env.values()
    assert "other-secret" not in env.values()
    assert set(env) - {k for k in env if k.startswith("CUTOVER_SHADOW_")} <= set(PASSED_THROUGH)


class _RefusingAdmin:
    """An admin client whose cluster answers, but whose configs and ACL requests are
    refused as they are sent (librdkafka raises at once, before any future)."""

    class _Cluster:
        nodes = [type("Node", (), {"id": 1})()]

    def describe_cluster(self, request_timeout):
        done = Future()
        done.set_result(self._Cluster())
        return done

    def describe_configs(self, resources, request_timeout):
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    def describe_acls(self, query, request_timeout):
        raise KafkaException(KafkaError(KafkaError.SECURITY_DISABLED))


def test_cluster_facts_say_what_could_not_be_read_when_a_request_is_refused_as_sent():
    """A refusal at sending is recorded as unread, as a refused answer is: never an
    exception out of the rights reading (the step would show an internal error)."""
    facts = cluster_facts("target", None, _RefusingAdmin(), None, time.monotonic() + 5)
    assert facts.settings == {}
    assert any("broker settings could not be read" in u for u in facts.unknown), facts.unknown
    assert facts.bindings == () and facts.acl_error == "SECURITY_DISABLED"
