"""The built-in validation consumer: reads the target as a shadow principal, in its shadow
group, and counts what is wrong with each record.

It decodes values through the target's schema registry where the plan says they are in
that format, checks the ordering the plan declares per topic, counts authorization
refusals from the broker, and writes only to its safe sink (nothing, a file, or its own
shadow topic). Offsets are stored only after a record was checked, so a restart goes on
where it stopped without skipping one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from console.kafka.client import ErrorTrap, client_config
from console.kafka.registry import Registry
from console.plan import Plan, ShadowConsumerSpec, TopicSpec
from console.safe.validate import (
    AUTHORIZATION,
    Decoded,
    Decoder,
    Finding,
    OrderCheck,
    RegistryUnavailable,
)
from console.store.safe import ERROR_KINDS, ErrorExample

BEAT_S = 2.0
"""How often progress goes to the run database (seconds)."""
EXAMPLES_PER_BEAT = 5
"""Error examples written per kind per beat; counts are always complete."""


@dataclass
class Tally:
    """What the consumer did so far, and the examples not yet written."""

    processed: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    examples: list[ErrorExample] = field(default_factory=list)
    _per_kind: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(
        self,
        kind: str,
        detail: str,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | None = None,
    ) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if self._per_kind.get(kind, 0) < EXAMPLES_PER_BEAT:
                self._per_kind[kind] = self._per_kind.get(kind, 0) + 1
                self.examples.append(
                    ErrorExample(kind, "", topic, partition, offset, _key_text(key), detail)
                )

    def take_examples(self) -> list[ErrorExample]:
        with self.lock:
            out, self.examples, self._per_kind = self.examples, [], {}
            return out


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + key.hex()


def principal_config(plan: Plan, spec: ShadowConsumerSpec, password: str, client_id: str) -> dict:
    """Client settings for the target, logged in as the shadow principal."""
    as_user = plan.clusters.target.model_copy(update={"sasl_username": spec.principal})
    return client_config(as_user, password, client_id=client_id)


def value_format(plan: Plan, topic: TopicSpec) -> str:
    """How a topic's values are read: as the plan says, else through the target's registry
    when it names one."""
    if topic.value_format:
        return topic.value_format
    return "schema-registry" if plan.clusters.target.schema_registry_url else "raw"


class Sink:
    """Where a validation consumer writes: nothing, a JSON-lines file, or its shadow topic."""

    def __init__(self, plan: Plan, spec: ShadowConsumerSpec, password: str, base: Path):
        self.spec = spec
        self.kind = spec.sink
        self._file = None
        self._producer: Producer | None = None
        if self.kind == "file":
            path = Path(spec.sink_path or "")
            path = path if path.is_absolute() else base / path
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        elif self.kind == "topic":
            # The plan guarantees the sink topic carries the shadow prefix; the broker's
            # ACLs (WRITE on that topic only) guarantee it cannot be anything else.
            conf = principal_config(plan, spec, password, f"cutover-shadow-{spec.name}-sink")
            self._producer = Producer({**conf, "enable.idempotence": True, "linger.ms": 20})

    def write(self, msg: Message, findings: list[Finding], decoded: Any) -> None:
        if self._file is not None:
            line = {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": _key_text(msg.key()),
                "ok": not findings,
                "findings": [f"{f.kind}: {f.detail}" for f in findings],
            }
            if isinstance(decoded, Decoded):
                line["schema_id"] = decoded.schema_id
            self._file.write(json.dumps(line) + "\n")
        elif self._producer is not None:
            self._producer.produce(
                self.spec.sink_topic,
                key=msg.key(),
                value=msg.value(),
                headers=[
                    ("cutover.src", f"{msg.topic()}:{msg.partition()}:{msg.offset()}".encode())
                ],
            )
            self._producer.poll(0)

    def flush(self) -> str:
        """Write out what is buffered; a problem in words, or ''."""
        if self._file is not None:
            self._file.flush()
        if self._producer is not None:
            left = self._producer.flush(10)
            if left:
                return f"{left} record(s) not yet written to {self.spec.sink_topic}"
        return ""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._producer is not None:
            self._producer.flush(10)


class ValidationConsumer:
    """Reads the plan's topics on the target as the shadow principal and checks each record."""

    def __init__(
        self,
        plan: Plan,
        spec: ShadowConsumerSpec,
        password: str,
        base: Path,
        registry_password: str | None = None,
    ):
        self.plan = plan
        self.spec = spec
        self.tally = Tally()
        self.trap = ErrorTrap()
        self.state = "starting"
        conf = principal_config(plan, spec, password, f"cutover-shadow-{spec.name}")
        conf.update(
            {
                "group.id": spec.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "error_cb": self._on_error,
            }
        )
        self.consumer = Consumer(conf)
        self.sink = Sink(plan, spec, password, base)
        by_name = {t.name: t for t in plan.topics}
        self.orders = {t: OrderCheck(by_name[t]) for t in spec.topics}
        target = plan.clusters.target
        self.decoder = (
            Decoder.for_registry(
                Registry(
                    target.schema_registry_url,
                    username=target.schema_registry_username,
                    password=registry_password,
                    timeout=target.request_timeout_s,
                )
            )
            if target.schema_registry_url
            else None
        )
        self.formats = {t: value_format(plan, by_name[t]) for t in spec.topics}
        self.registry_problem = ""
        self.sink_problem = ""

    def _on_error(self, err: KafkaError) -> None:
        if "AUTHORIZATION" in err.name() or err.code() == KafkaError._AUTHENTICATION:
            self.tally.count(AUTHORIZATION, f"{err.name()}: {err.str()}")

    def lag(self) -> int | None:
        """Records between the consumer's position and the end, over its partitions."""
        try:
            assigned = self.consumer.assignment()
            positions = self.consumer.position(assigned)
        except Exception:  # noqa: BLE001 - lag is a best-effort figure, never fatal
            return None
        total = 0
        for tp in positions:
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, timeout=2, cached=False)
            except Exception:  # noqa: BLE001 - as above
                return None
            if tp.offset >= 0:
                total += max(0, high - tp.offset)
            else:
                total += high
        return total

    def run(self, stop: threading.Event, beat: Callable[[Tally, int | None, str], None]) -> None:
        """Consume until ``stop``; ``beat(tally, lag, detail)`` every :data:`BEAT_S`."""
        self.consumer.subscribe(list(self.spec.topics))
        self.state = "running"
        next_beat = time.monotonic()
        try:
            while not stop.is_set():
                for msg in self.consumer.consume(num_messages=500, timeout=0.5):
                    self._one(msg)
                if time.monotonic() >= next_beat:
                    self.sink_problem = self.sink.flush()
                    beat(self.tally, self.lag(), self.describe())
                    next_beat = time.monotonic() + BEAT_S
        finally:
            self.sink.close()
            self.consumer.close()

    def describe(self) -> str:
        errs = ", ".join(f"{k} {v}" for k, v in self.tally.errors.items() if v) or "no errors"
        extra = "".join(f"; {p}" for p in (self.registry_problem, self.sink_problem) if p)
        return f"group {self.spec.group_id}: {self.tally.processed:,} records, {errs}{extra}"

    def _one(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                return
            if "AUTHORIZATION" in err.name():
                self.tally.count(AUTHORIZATION, f"{err.name()}: {err.str()}", msg.topic())
            return
        topic = msg.topic()
        findings: list[Finding] = []
        decoded: Any = None
        if self.formats.get(topic) == "schema-registry" and self.decoder is not None:
            try:
                decoded = self.decoder.decode(msg.value())
                self.registry_problem = ""
            except RegistryUnavailable as exc:
                # Not the record's fault: do not count it, do not move past it.
                self.registry_problem = f"schema registry unavailable ({exc})"
                self.consumer.seek(TopicPartition(topic, msg.partition(), msg.offset()))
                time.sleep(1.0)
                return
            if isinstance(decoded, Finding):
                findings.append(decoded)
        order = self.orders.get(topic)
        if order is not None and order.active:
            value = decoded.value if isinstance(decoded, Decoded) else None
            if value is None and self.formats.get(topic) == "raw":
                value = _json_or_none(msg.value())
            position = order.position(msg.timestamp()[1], msg.headers(), value)
            if isinstance(position, Finding):
                findings.append(position)
            elif position is not None:
                found = order.check(msg.partition(), msg.offset(), msg.key(), position)
                if found:
                    findings.append(found)
        for finding in findings:
            self.tally.count(
                finding.kind, finding.detail, topic, msg.partition(), msg.offset(), msg.key()
            )
        self.sink.write(msg, findings, decoded)
        self.tally.processed += 1
        self.consumer.store_offsets(msg)


def _json_or_none(value: bytes | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None
