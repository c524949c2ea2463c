"""What the built-in validation consumer checks in each record: its value decodes through
the schema registry, and it arrives in the order the plan says consumers rely on.

Each finding is one of the four kinds the pane counts:

* ``deserialization``: the bytes cannot be read at all (not the Confluent wire format,
  cut short, not JSON where the schema is JSON);
* ``schema``: the schema id is not in the registry, or the value does not match the
  schema it names (Avro that does not decode with it, JSON that does not validate);
* ``order``: a record of a key (or of a partition) comes after one it should precede,
  by the record timestamp, an integer header or an integer field of the decoded value;
* ``authorization``: the broker refused the consumer (counted by the consumer loop).

Decoding uses the plan's registry client (:mod:`console.kafka.registry`: confluent-kafka's
``SchemaRegistryClient``, authenticated, caching schemas by id)
and fastavro / jsonschema for the payload. Protobuf values are checked for their schema
id only: decoding them needs the generated classes, which a validation consumer does not
have.
"""

from __future__ import annotations

import io
import json
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.kafka.registry import Registry, client_error
from console.plan import TopicSpec

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import Schema

DESERIALIZATION = "deserialization"
SCHEMA = "schema"
ORDER = "order"
AUTHORIZATION = "authorization"

MAX_KEYS = 200_000
"""Keys whose last position the order check remembers; the oldest are forgotten first,
so a key unseen for that long is not compared with its previous record."""


@dataclass(frozen=True)
class Finding:
    """Something wrong with one record."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Decoded:
    """A value read through the registry: its schema id and the decoded value."""

    schema_id: int
    value: Any


class RegistryUnavailable(Exception):
    """The registry did not answer; not the record's fault."""


class Decoder:
    """Decodes Confluent wire-format values through a schema registry, caching schemas."""

    def __init__(self, lookup: Callable[[int], Schema]):
        self._lookup = lookup
        self._parsed: dict[int, tuple[str, Any]] = {}

    @classmethod
    def for_registry(cls, registry: Registry) -> Decoder:
        """Through the plan's registry client (authenticated, cached by id)."""
        return cls(registry.client.get_schema)

    def decode(self, value: bytes | None) -> Decoded | Finding | None:
        """The decoded value, a finding, or None for a tombstone (nothing to decode)."""
        if value is None:
            return None
        if len(value) < 5 or value[0] != 0:
            return Finding(
                DESERIALIZATION,
                f"not in the Confluent wire format (first byte {value[:1].hex() or 'none'}, "
                f"{len(value)} bytes)",
            )
        schema_id = struct.unpack(">I", value[1:5])[0]
        payload = value[5:]
        try:
            kind, parsed = self._schema(schema_id)
        except client_error() as exc:
            if exc.http_status_code == 404:
                return Finding(SCHEMA, f"schema id {schema_id} is not in the registry")
            raise RegistryUnavailable(
                f"registry answered HTTP {exc.http_status_code} for id {schema_id}"
            ) from None
        except ValueError as exc:
            return Finding(SCHEMA, f"schema id {schema_id} cannot be parsed ({exc})")
        except Exception as exc:  # noqa: BLE001 - the HTTP client's connection errors
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from None
        if kind == "AVRO":
            return self._avro(schema_id, parsed, payload)
        if kind == "JSON":
            return self._json(schema_id, parsed, payload)
        return Decoded(schema_id, None)  # PROTOBUF: the id is known; the payload unchecked

    def _schema(self, schema_id: int) -> tuple[str, Any]:
        if schema_id not in self._parsed:
            schema = self._lookup(schema_id)
            kind = (schema.schema_type or "AVRO").upper()
            text = schema.schema_str or ""
            # fastavro and jsonschema are imported by the first schema to parse, not by
            # every command that imports this module (0.08 s of each start-up).
            if kind == "AVRO":
                import fastavro

                parsed: Any = fastavro.parse_schema(json.loads(text))
            elif kind == "JSON":
                import jsonschema

                parsed = jsonschema.validators.validator_for(json.loads(text))(json.loads(text))
            else:
                parsed = None
            self._parsed[schema_id] = (kind, parsed)
        return self._parsed[schema_id]

    @staticmethod
    def _avro(schema_id: int, parsed: Any, payload: bytes) -> Decoded | Finding:
        import fastavro

        reader = io.BytesIO(payload)
        try:
            value = fastavro.schemaless_reader(reader, parsed, None)
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types for bad bytes
            return Finding(SCHEMA, f"does not decode with Avro schema id {schema_id} ({exc})")
        if reader.tell() != len(payload):
            return Finding(
                SCHEMA,
                f"{len(payload) - reader.tell()} bytes left over after decoding with Avro "
                f"schema id {schema_id}: written with another schema",
            )
        return Decoded(schema_id, value)

    @staticmethod
    def _json(schema_id: int, validator: Any, payload: bytes) -> Decoded | Finding:
        try:
            value = json.loads(payload)
        except ValueError as exc:
            return Finding(DESERIALIZATION, f"not JSON ({exc})")
        import jsonschema

        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the value"
            return Finding(
                SCHEMA, f"does not match JSON schema id {schema_id} at {where}: {error.message}"
            )
        return Decoded(schema_id, value)


class OrderCheck:
    """The ordering a topic's consumers rely on, checked record by record.

    ``ordering`` is ``key`` (per key) or ``partition``; ``order_by`` is ``timestamp``,
    ``header:NAME`` or ``field:NAME``. A record whose position is lower than the previous
    one of its key (or partition) is out of order; equal positions are in order.
    """

    def __init__(self, topic: TopicSpec):
        self.topic = topic
        self._last: OrderedDict[Any, tuple[int, int, int]] = OrderedDict()

    @property
    def active(self) -> bool:
        return self.topic.ordering != "none"

    def position(
        self, timestamp: int, headers: list[tuple[str, bytes]] | None, value: Any
    ) -> int | Finding | None:
        by = self.topic.order_by
        if by == "timestamp":
            return timestamp
        kind, _, name = by.partition(":")
        if kind == "header":
            raw = next((v for k, v in headers or () if k == name), None)
            if raw is None:
                return Finding(ORDER, f"no header '{name}' to order by")
            try:
                return int(raw.decode())
            except (UnicodeDecodeError, ValueError):
                return Finding(ORDER, f"header '{name}' is not an integer")
        if not isinstance(value, dict) or name not in value:
            return Finding(ORDER, f"no field '{name}' in the value to order by")
        try:
            return int(value[name])
        except (TypeError, ValueError):
            return Finding(ORDER, f"field '{name}' is not an integer")

    def check(
        self, partition: int, offset: int, key: bytes | None, position: int
    ) -> Finding | None:
        """Remember this record's position; a finding when it breaks the order."""
        if self.topic.ordering == "key":
            if key is None:
                return None  # unkeyed records promise no order per key
            slot: Any = key
        else:
            slot = partition
        before = self._last.get(slot)
        self._last[slot] = (position, partition, offset)
        self._last.move_to_end(slot)
        if len(self._last) > MAX_KEYS:
            self._last.popitem(last=False)
        if before is not None and position < before[0]:
            what = "key" if self.topic.ordering == "key" else "partition"
            return Finding(
                ORDER,
                f"{self.topic.order_by} {position} comes after {before[0]} "
                f"(at {before[1]}:{before[2]}) within its {what}",
            )
        return None
