"""The audit witness on the target cluster: an append-only topic of the chain's heads.

What a local edit cannot rewrite: at every gate (after the decision entry is durable,
before the step's work) the console appends one record ``(plan, run, seq, head hash,
time, step)`` here, and ``cutover audit verify --witness`` reads them all back and
compares each with the chain (:mod:`console.runbook.witness`).

The topic is made append-only on purpose: ``cleanup.policy=delete`` with
``retention.ms=-1`` and ``retention.bytes=-1`` (never compacted, never expired), one
partition (one order). When the plan names a witness principal it gets WRITE and
DESCRIBE on this topic and nothing else, and the heads are written as that principal,
so the console's own credentials are not what keeps the witness honest. Nothing is
written here between gates. Every call takes an explicit timeout.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from console import redact
from console.kafka.client import ClusterError, admin_client, answer, client_config, error_name
from console.plan import Plan

TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
"""What makes the witness topic append-only: nothing compacted, nothing expired."""
GRANTED = (AclOperation.WRITE, AclOperation.DESCRIBE)
"""All the witness principal may do, on the witness topic only."""


class WitnessError(ClusterError):
    """The witness could not be written or read; the message says why."""


@dataclass(frozen=True)
class Head:
    """One witnessed head of the chain."""

    plan: str
    run: str
    """The hash of the run's first entry (its plan import): tells runs of one plan apart."""
    seq: int
    head: str
    time: str
    step: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def _target(plan: Plan, passwords: dict[str, str | None], witness_password: str | None):
    """The target's client config, as the witness principal when the plan names one."""
    spec = plan.clusters.target
    if plan.audit.witness_principal:
        spec = spec.model_copy(update={"sasl_username": plan.audit.witness_principal})
        return spec, witness_password
    return spec, passwords.get("target")


def ensure_topic(plan: Plan, passwords: dict[str, str | None], *, timeout: float) -> str:
    """Create the witness topic (as the target's own user) or accept an existing one that
    is append-only; returns what was done. Never changes an existing topic's configs."""
    topic = plan.audit.witness_topic
    admin, _ = admin_client(
        plan.clusters.target, passwords.get("target"), client_id="cutover-witness"
    )
    metadata = _call(lambda: admin.list_topics(timeout=timeout), "list the target's topics")
    if topic in metadata.topics and metadata.topics[topic].error is None:
        _check_configs(admin, topic, timeout)
        return f"topic {topic} exists and is append-only"
    brokers = max(1, len(metadata.brokers))
    future = admin.create_topics(
        [NewTopic(topic, 1, min(3, brokers), config=TOPIC_CONFIG)], request_timeout=timeout
    )[topic]
    try:
        answer(future, timeout)
    except KafkaException as exc:
        if error_name(exc) != "TOPIC_ALREADY_EXISTS":
            raise WitnessError(
                f"target: cannot create the witness topic {topic} ({error_name(exc)}); the "
                "target's user needs CREATE on it"
            ) from None
        _check_configs(admin, topic, timeout)
        return f"topic {topic} exists and is append-only"
    return f"created topic {topic} (1 partition, replication {min(3, brokers)}, append-only)"


def _check_configs(admin: AdminClient, topic: str, timeout: float) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = _call(
        lambda: answer(
            admin.describe_configs([resource], request_timeout=timeout)[resource], timeout
        ),
        f"read the configs of {topic}",
    )
    wrong = [
        f"{name}={configs[name].value}"
        for name, wanted in TOPIC_CONFIG.items()
        if name in configs and configs[name].value != wanted
    ]
    if wrong:
        raise WitnessError(
            f"target: the topic {topic} exists but is not append-only ({', '.join(wrong)}): "
            "compaction or retention would erase witnessed heads",
            "name another witness_topic in the plan, or set cleanup.policy=delete, "
            "retention.ms=-1 and retention.bytes=-1 on it",
        )


def grant(plan: Plan, passwords: dict[str, str | None], *, timeout: float) -> list[str]:
    """Grant the witness principal WRITE and DESCRIBE on the witness topic (idempotent);
    returns the bindings as ``User:P ALLOW WRITE topic T``."""
    principal, topic = plan.audit.witness_principal, plan.audit.witness_topic
    admin, _ = admin_client(
        plan.clusters.target, passwords.get("target"), client_id="cutover-witness"
    )
    bindings = [
        AclBinding(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            f"User:{principal}",
            "*",
            operation,
            AclPermissionType.ALLOW,
        )  # fmt: skip
        for operation in GRANTED
    ]
    for binding, future in admin.create_acls(bindings, request_timeout=timeout).items():
        try:
            answer(future, timeout)
        except KafkaException as exc:
            raise WitnessError(
                f"target: cannot grant {binding.operation.name} on {topic} to User:{principal} "
                f"({error_name(exc)}); the target's user needs ALTER on the cluster"
            ) from None
    return [f"User:{principal} ALLOW {op.name} topic {topic}" for op in GRANTED]


def append(
    plan: Plan,
    passwords: dict[str, str | None],
    witness_password: str | None,
    head: Head,
    *,
    timeout: float,
) -> None:
    """Append one head and wait until the broker has it (acks=all); raises WitnessError."""
    spec, password = _target(plan, passwords, witness_password)
    conf = client_config(spec, password, client_id="cutover-witness")
    conf.update(
        {
            "acks": "all",
            "enable.idempotence": False,  # needs no IDEMPOTENT_WRITE right for the principal
            "message.timeout.ms": int(timeout * 1000),
            "retries": 2,
        }
    )
    delivered: list[KafkaError | None] = []
    producer = Producer(conf)
    producer.produce(
        plan.audit.witness_topic,
        key=head.plan.encode(),
        value=head.to_bytes(),
        on_delivery=lambda err, _msg: delivered.append(err),
    )
    producer.flush(timeout + 1)
    if not delivered:
        raise WitnessError(f"the witness did not confirm within {timeout:g} s")
    if delivered[0] is not None:
        raise WitnessError(f"the witness refused the head ({delivered[0].name()})")


def read(plan: Plan, passwords: dict[str, str | None], *, run: str, timeout: float) -> list[Head]:
    """Every head of this run recorded on the witness topic, oldest first (read as the
    target's own user, which needs READ on the topic)."""
    topic = plan.audit.witness_topic
    conf = client_config(plan.clusters.target, passwords.get("target"), client_id="cutover-witness")
    conf.update(
        {
            "group.id": "cutover-witness-reader",  # assign() only: never joined or committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    consumer = Consumer(conf)
    try:
        metadata = _call(lambda: consumer.list_topics(topic, timeout=timeout), f"describe {topic}")
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None:
            why = meta.error.name() if meta is not None and meta.error else "absent"
            raise WitnessError(f"target: the witness topic {topic} cannot be read ({why})")
        ends = {}
        for partition in meta.partitions:
            low, high = _call(
                lambda p=partition: consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=timeout
                ),
                f"read the end of {topic}",
            )
            if high > low:
                ends[partition] = high
        heads: list[Head] = []
        if not ends:
            return heads
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        done: set[int] = set()
        deadline = time.monotonic() + max(timeout * 3, 10.0)
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise WitnessError(f"target: reading {topic} did not finish within the deadline")
            for message in consumer.consume(500, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done.add(message.partition())
                        continue
                    raise WitnessError(f"target: reading {topic} failed ({error.name()})")
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
                head = _parse(message.value())
                if head is not None and head.run == run:
                    heads.append(head)
        return sorted(heads, key=lambda h: h.seq)
    finally:
        consumer.close()


def _parse(value: bytes | None) -> Head | None:
    try:
        data = json.loads(value or b"")
        return Head(
            str(data["plan"]), str(data["run"]), int(data["seq"]), str(data["head"]),
            str(data["time"]), str(data.get("step", "")),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


def await_grant(
    plan: Plan, passwords: dict[str, str | None], witness_password: str | None, *, timeout: float
) -> bool:
    """Wait until the witness principal sees the witness topic (its DESCRIBE, granted with
    its WRITE, is in force on the broker), at most ``timeout`` seconds; whether it did.

    A grant is acknowledged once the controller has it; each broker applies it a moment
    later (longer on a loaded machine). A head written as the principal in between is
    refused (TOPIC_AUTHORIZATION_FAILED), which would report a witness that works as
    unreachable. The caller writes anyway when this returns False: what it gets then is
    the real answer."""
    spec, password = _target(plan, passwords, witness_password)
    conf = client_config(spec, password, client_id="cutover-witness")
    topic = plan.audit.witness_topic
    deadline = time.monotonic() + timeout
    producer = Producer(conf)
    while True:
        try:
            meta = producer.list_topics(topic, timeout=max(0.5, deadline - time.monotonic()))
            found = meta.topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return True
        except KafkaException:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _call(request, what: str):
    try:
        return request()
    except KafkaException as exc:
        raise WitnessError(f"target: cannot {what} ({redact.text(error_name(exc))})") from None
