"""The schema registry client against a real registry (Apicurio Registry, Confluent API).

What the comparison and the governance diff rely on: the schema behind an id, a
subject's latest version and compatibility level, an unknown id told apart from a
registry that cannot be reached, and the comparison's verdict over renumbered ids.
"""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from console.compare.schema import registry_result
from console.kafka.registry import Registry, RegistryError
from console.plan import parse_plan
from tests.helpers import demo_plan_text

ORDER = '{"type": "record", "name": "Order", "fields": [{"name": "n", "type": "int"}]}'
CUSTOMER = '{"type":"record","name":"Customer","fields":[{"name":"id","type":"string"}]}'


def _register(url: str, subject: str, schema: str) -> int:
    return SchemaRegistryClient({"url": url}).register_schema(subject, Schema(schema, "AVRO"))


def _plan(src_url: str, tgt_url: str):
    text = demo_plan_text()
    for side, url in (("SOURCE", src_url), ("TARGET", tgt_url)):
        ref = f'password = {{ env = "CUTOVER_DEMO_{side}_PASSWORD" }}'
        text = text.replace(ref, f'{ref}\nschema_registry_url = "{url}"')
    return parse_plan(text)


class TestRegistryClient:
    """Registry (SchemaRegistryClient underneath) on Apicurio's Confluent-compatible API."""

    def test_schema_by_id_is_normalised(self, registries):
        url = registries["source"].url
        schema_id = _register(url, "reg-a-value", ORDER)
        kind, text = Registry(url).schema(schema_id)
        assert kind == "AVRO"
        # Whitespace and key order do not matter; the schema's content does.
        assert text == '{"fields":[{"name":"n","type":"int"}],"name":"Order","type":"record"}'

    def test_unknown_id_is_named_as_such(self, registries):
        with pytest.raises(RegistryError) as caught:
            Registry(registries["source"].url).schema(987654)
        assert caught.value.unknown_id
        assert "schema id 987654 is not in the registry" in str(caught.value)

    def test_unreachable_registry_says_so(self):
        with pytest.raises(RegistryError) as caught:
            Registry("http://127.0.0.1:9/apis/ccompat/v7", timeout=2).schema(1)
        assert not caught.value.unknown_id
        assert "did not answer" in str(caught.value)

    def test_subject_latest_version_and_compatibility(self, registries):
        url = registries["target"].url
        client = SchemaRegistryClient({"url": url})
        _register(url, "reg-b-value", ORDER)
        evolved = ORDER.replace(
            '"type": "int"}]', '"type": "int"}, {"name": "m", "type": "int", "default": 0}]'
        )
        _register(url, "reg-b-value", evolved)
        client.set_compatibility("reg-b-value", "FULL")
        info = Registry(url).subject("reg-b-value")
        assert info is not None
        assert info.version == 2 and info.compatibility == "FULL"
        assert '"name":"m"' in info.schema
        assert Registry(url).subject("reg-absent-value") is None


class TestComparisonOnRegistry:
    """The comparison's schema check (compare/schema.py) asks the registries through it."""

    def test_renumbered_ids_with_the_same_schema_are_ok(self, registries):
        src, tgt = registries["source"].url, registries["target"].url
        sid = _register(src, "reg-c-value", CUSTOMER)
        _register(tgt, "reg-pad-value", ORDER)  # so the target numbers differently
        tid = _register(tgt, "reg-c-value", CUSTOMER)
        result = registry_result(_plan(src, tgt), "orders", {(sid, tid): 10})
        assert result.verdict.name == "OK", result.reason

    def test_ids_naming_different_schemas_are_red(self, registries):
        src, tgt = registries["source"].url, registries["target"].url
        sid = _register(src, "reg-d-value", CUSTOMER)
        tid = _register(tgt, "reg-d-value", ORDER)
        result = registry_result(_plan(src, tgt), "orders", {(sid, tid): 3})
        assert result.verdict.name == "RED"
        assert result.examples[0].detail == (
            f"source id {sid} and target id {tid} name different schemas"
        )

    def test_an_id_the_target_registry_lacks_is_red(self, registries):
        src, tgt = registries["source"].url, registries["target"].url
        sid = _register(src, "reg-e-value", ORDER)
        result = registry_result(_plan(src, tgt), "orders", {(sid, 555555): 1})
        assert result.verdict.name == "RED"
        assert "555555" in result.reason
