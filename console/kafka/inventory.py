"""Inventory: read both clusters and record what is there, next to what the plan says.

For each cluster: brokers and their Kafka release, topics with partitions, replication
and configs, the earliest and latest offsets of the plan's topics, consumer groups
with state, members (client id, host) and committed offsets, and ACLs. Anything the
credentials may not read is listed as denied: an inventory with holes is not a pass.
Read-only; every request has a timeout, and a cancel event is checked between them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from console.errors import Cancelled, Progress
from console.kafka.client import (
    ClusterError,
    admin_client,
    connect_error,
    error_name,
    is_denied,
)
from console.kafka.probe import broker_release
from console.plan import ClusterSpec, Plan, TopicSpec

# Topic configs whose difference between the sides matters for a migration.
KEY_CONFIGS = (
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "compression.type",
    "segment.bytes",
)


@dataclass(frozen=True)
class Broker:
    id: int
    host: str
    port: int
    release: str


@dataclass(frozen=True)
class Partition:
    id: int
    leader: int
    replicas: int
    isr: int
    earliest: int | None = None
    latest: int | None = None


@dataclass(frozen=True)
class Topic:
    name: str
    internal: bool
    partitions: list[Partition]
    configs: dict[str, str]

    @property
    def records(self) -> int | None:
        """Records retained (latest minus earliest) summed over partitions, when known."""
        if any(p.latest is None or p.earliest is None for p in self.partitions):
            return None
        return sum(p.latest - p.earliest for p in self.partitions)


@dataclass(frozen=True)
class Member:
    client_id: str
    host: str
    partitions: list[str]


@dataclass(frozen=True)
class Group:
    id: str
    state: str
    members: list[Member]
    offsets: dict[str, int]  # "topic:partition" -> committed offset


@dataclass(frozen=True)
class ClusterInventory:
    """What one cluster holds, as read with the plan's credentials."""

    name: str
    bootstrap: str
    principal: str
    cluster_id: str | None
    controller: int | None
    brokers: list[Broker]
    topics: list[Topic]
    groups: list[Group]
    acls: list[dict[str, str]] | None
    denied: list[str] = field(default_factory=list)

    def topic(self, name: str) -> Topic | None:
        return next((t for t in self.topics if t.name == name), None)


@dataclass(frozen=True)
class Inventory:
    """Both sides, the plan's view of them, and what does not add up."""

    source: ClusterInventory | None
    target: ClusterInventory | None
    problems: list[str]
    notes: list[str]
    risk: dict[str, str]

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def risk_class(topic: TopicSpec) -> str:
    """High where a mistake reaches the outside world or breaks transactions."""
    if topic.external_side_effects or topic.transactions:
        return "high"
    if topic.idempotent_producers or topic.tolerated_replay_records == 0:
        return "medium"
    return "low"


def take_inventory(
    plan: Plan,
    passwords: dict[str, str | None],
    *,
    cancel: threading.Event | None = None,
    progress: Progress = lambda _msg: None,
) -> Inventory:
    """Read both clusters. Never raises for cluster trouble: it lands in ``problems``."""
    cancel = cancel or threading.Event()
    problems: list[str] = []
    notes: list[str] = []
    sides: dict[str, ClusterInventory | None] = {}
    plan_topics = [t.name for t in plan.topics]
    for name in ("source", "target"):
        spec: ClusterSpec = getattr(plan.clusters, name)
        try:
            sides[name] = read_cluster(
                name, spec, passwords.get(name), plan_topics, cancel=cancel, progress=progress
            )
        except ClusterError as exc:
            problems.append(str(exc))
            sides[name] = None
    source, target = sides["source"], sides["target"]
    for side in (source, target):
        if side is not None:
            problems.extend(f"{side.name}: {d}" for d in side.denied)
    if source is not None:
        for topic in plan_topics:
            if source.topic(topic) is None and not any(f"'{topic}'" in d for d in source.denied):
                problems.append(
                    f"topic '{topic}' in the plan is missing on source; "
                    "fix the plan or check you are pointed at the right cluster"
                )
    if source is not None and target is not None:
        notes.extend(_compare_sides(plan, source, target))
    return Inventory(source, target, problems, notes, {t.name: risk_class(t) for t in plan.topics})


def _compare_sides(plan: Plan, source: ClusterInventory, target: ClusterInventory) -> list[str]:
    notes = []
    for spec in plan.topics:
        src, dst = source.topic(spec.name), target.topic(spec.name)
        if src is None:
            continue
        if dst is None:
            allowed = "may create it" if spec.create_on_target else "may not create it"
            notes.append(f"topic '{spec.name}' is not on target yet (the plan {allowed})")
            continue
        if len(src.partitions) != len(dst.partitions):
            notes.append(
                f"topic '{spec.name}': {len(src.partitions)} partitions on source, "
                f"{len(dst.partitions)} on target; per-key order will not survive"
            )
        for key in KEY_CONFIGS:
            a, b = src.configs.get(key), dst.configs.get(key)
            if a != b:
                notes.append(f"topic '{spec.name}': {key} is {a} on source, {b} on target")
    return notes


def read_cluster(
    name: str,
    spec: ClusterSpec,
    password: str | None,
    plan_topics: list[str],
    *,
    cancel: threading.Event,
    progress: Progress,
) -> ClusterInventory:
    """Read one cluster. Raises ClusterError when it cannot be reached or logged into."""
    timeout = spec.request_timeout_s
    admin, trap = admin_client(spec, password, client_id=f"cutover-inventory-{name}")
    denied: list[str] = []

    def step(message: str) -> None:
        if cancel.is_set():
            raise Cancelled(f"cancelled while reading {name}")
        progress(f"{name}: {message}")

    step("connecting")
    try:
        metadata = admin.list_topics(timeout=timeout)
        described = admin.describe_cluster(
            request_timeout=timeout, include_authorized_operations=True
        ).result(timeout=timeout + 1)
    except Exception as exc:  # noqa: BLE001 - librdkafka raises several kinds here
        raise connect_error(name, spec, admin, trap, exc) from None
    cluster_ops = {op.name for op in (described.authorized_operations or [])}
    if "DESCRIBE" not in cluster_ops:
        # Kafka answers such a principal with silently filtered lists (no ACLs, only
        # the groups it may see), so the gap must be said out loud.
        denied.append(
            f"user '{spec.sasl_username or 'ANONYMOUS'}' has no DESCRIBE on the cluster, so "
            "Kafka hides the ACLs and any consumer groups it may not see; "
            "use a principal with cluster DESCRIBE for the inventory"
        )
    brokers = []
    protocol = spec.security_protocol
    for node in sorted(described.nodes, key=lambda n: n.id):
        step(f"probing broker {node.id}")
        brokers.append(
            Broker(node.id, node.host, node.port, broker_release(node.host, node.port, protocol))
        )

    step("describing topics")
    names = sorted(set(metadata.topics) | set(plan_topics))
    topics_meta: dict[str, Any] = {}
    futures = admin.describe_topics(TopicCollection(names), request_timeout=timeout)
    for topic, fut in futures.items():
        try:
            topics_meta[topic] = fut.result(timeout=timeout + 1)
        except Exception as exc:  # noqa: BLE001
            if is_denied(exc):
                denied.append(
                    f"user '{spec.sasl_username or 'ANONYMOUS'}' may not describe topic "
                    f"'{topic}' ({error_name(exc)}); use a principal with DESCRIBE on it"
                )
            # UNKNOWN_TOPIC_OR_PART: absent; the caller words it for plan topics.

    step(f"reading configs of {len(topics_meta)} topics")
    configs = _topic_configs(admin, list(topics_meta), timeout, denied, spec)

    step("reading offsets")
    watermarks = _watermarks(admin, topics_meta, plan_topics, timeout, denied)

    topics = []
    for topic, desc in sorted(topics_meta.items()):
        parts = [
            Partition(
                p.id,
                p.leader.id if p.leader is not None else -1,
                len(p.replicas),
                len(p.isr),
                *watermarks.get((topic, p.id), (None, None)),
            )
            for p in sorted(desc.partitions, key=lambda p: p.id)
        ]
        topics.append(Topic(topic, desc.is_internal, parts, configs.get(topic, {})))

    step("reading consumer groups")
    groups = _groups(admin, timeout, denied, spec, step)

    step("reading ACLs")
    acls = _acls(admin, timeout, denied, spec) if "DESCRIBE" in cluster_ops else None
    return ClusterInventory(
        name=name,
        bootstrap=spec.bootstrap_servers,
        principal=f"User:{spec.sasl_username}" if spec.sasl_username else "User:ANONYMOUS",
        cluster_id=described.cluster_id,
        controller=described.controller.id if described.controller else None,
        brokers=brokers,
        topics=topics,
        groups=groups,
        acls=acls,
        denied=denied,
    )


def _topic_configs(admin, names, timeout, denied, spec) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    out: dict[str, dict[str, str]] = {}
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=timeout
    )
    for resource, fut in futures.items():
        try:
            entries = fut.result(timeout=timeout + 1)
        except Exception as exc:  # noqa: BLE001
            if is_denied(exc):
                denied.append(
                    f"user '{spec.sasl_username or 'ANONYMOUS'}' may not read the configs of "
                    f"topic '{resource.name}' ({error_name(exc)}); grant DESCRIBE_CONFIGS"
                )
            continue
        out[resource.name] = {
            k: ("" if e.value is None else str(e.value))
            for k, e in entries.items()
            if k in KEY_CONFIGS or not e.is_default
        }
    return out


def _watermarks(admin, topics_meta, plan_topics, timeout, denied) -> dict:
    """Earliest and latest offsets of the plan's topics (the ones a migration compares)."""
    wanted = [
        TopicPartition(t, p.id)
        for t in plan_topics
        if t in topics_meta
        for p in topics_meta[t].partitions
    ]
    if not wanted:
        return {}
    out: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    results: dict[str, dict] = {}
    for label, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest())):
        futures: dict[TopicPartition, Future] = admin.list_offsets(
            {tp: spec for tp in wanted}, request_timeout=timeout
        )
        results[label] = {}
        for tp, fut in futures.items():
            try:
                results[label][(tp.topic, tp.partition)] = fut.result(timeout=timeout + 1).offset
            except Exception as exc:  # noqa: BLE001
                if is_denied(exc):
                    denied.append(f"may not read offsets of '{tp.topic}' ({error_name(exc)})")
                    break
    for key in {(tp.topic, tp.partition) for tp in wanted}:
        out[key] = (results["earliest"].get(key), results["latest"].get(key))
    return out


def _groups(admin, timeout, denied, spec, step) -> list[Group]:
    try:
        listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout + 1)
    except Exception as exc:  # noqa: BLE001
        denied.append(f"may not list consumer groups ({error_name(exc)}); grant DESCRIBE on groups")
        return []
    ids = sorted(g.group_id for g in listing.valid)
    if not ids:
        return []
    groups = []
    descriptions = admin.describe_consumer_groups(ids, request_timeout=timeout)
    for gid in ids:
        step(f"reading group {gid}")
        try:
            desc = descriptions[gid].result(timeout=timeout + 1)
        except Exception as exc:  # noqa: BLE001
            if is_denied(exc):
                denied.append(f"may not describe group '{gid}' ({error_name(exc)})")
            continue
        members = [
            Member(
                m.client_id,
                m.host,
                sorted(
                    f"{tp.topic}:{tp.partition}"
                    for tp in (m.assignment.topic_partitions if m.assignment else [])
                ),
            )
            for m in desc.members
        ]
        offsets: dict[str, int] = {}
        try:
            fut = admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(gid)], request_timeout=timeout
            )[gid]
            for tp in fut.result(timeout=timeout + 1).topic_partitions:
                if tp.error is None and tp.offset >= 0:
                    offsets[f"{tp.topic}:{tp.partition}"] = tp.offset
        except Exception as exc:  # noqa: BLE001
            denied.append(f"may not read committed offsets of group '{gid}' ({error_name(exc)})")
        state = getattr(desc.state, "name", str(desc.state))
        groups.append(Group(gid, state, members, dict(sorted(offsets.items()))))
    return groups


def _acls(admin, timeout, denied, spec) -> list[dict[str, str]] | None:
    query = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        bindings = admin.describe_acls(query, request_timeout=timeout).result(timeout=timeout + 1)
    except Exception as exc:  # noqa: BLE001
        if "SECURITY_DISABLED" in error_name(exc):
            return []
        denied.append(
            f"user '{spec.sasl_username or 'ANONYMOUS'}' may not read ACLs ({error_name(exc)}); "
            "grant DESCRIBE on the cluster"
        )
        return None
    return sorted(
        (
            {
                "resource": f"{b.restype.name}:{b.name}",
                "pattern": b.resource_pattern_type.name,
                "principal": b.principal,
                "host": b.host,
                "operation": b.operation.name,
                "permission": b.permission_type.name,
            }
            for b in bindings
        ),
        key=lambda d: tuple(d.values()),
    )
