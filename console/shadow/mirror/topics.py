"""The mirror's names and its target topics: what exists on each side and what it creates.

Target topics that are missing are created (same partition count, the configs that
change behaviour, see :data:`COPIED_CONFIGS`) only when the plan's
``create_on_target`` allows it; otherwise the mirror refuses to start and names every
missing topic. Kafka topics carry no tags, so each creation is written to the audit
log, before and after, with the client id that made it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from console.errors import CutoverError, Progress
from console.kafka import provenance
from console.kafka.client import ClusterError, admin_client, answer, connect_error, error_name
from console.plan import Plan
from console.store import Store

STEP = "shadow-start"


# The provenance header and batch overhead a copied record gains; target topics the
# mirror creates get this much more max.message.bytes than the source, so a record
# at the source's limit still fits.
HEADROOM_BYTES = 1024

# Topic configs that change what a topic keeps or accepts, copied when the mirror
# creates a target topic. Deliberately not copied: min.insync.replicas and
# unclean.leader.election.enable (they depend on the target's replication layout),
# segment sizes (storage tuning), and message.timestamp.difference.max.ms (removed in
# Kafka 4.0; its successors below are copied).
COPIED_CONFIGS = (
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "compression.type",
)
NOT_COPIED = ("min.insync.replicas", "unclean.leader.election.enable")


def mirror_id(plan_name: str) -> str:
    """A plan's mirror id: ``cutover-shadow-mirror-<plan>``.

    Used as the target producer's ``transactional.id`` (so a restarted mirror fences
    the old one) and as the source consumer's group id, which a consumer must have but
    the mirror never joins or commits to.
    """
    return f"{provenance.SHADOW_CLIENT_PREFIX}mirror-{plan_name}"


class MirrorError(CutoverError):
    """The mirror cannot go on; the message is one line that says what to do."""


@dataclass(frozen=True)
class TopicCheck:
    """One plan topic on both sides, and what the mirror does about it."""

    name: str
    source_partitions: int | None
    target_partitions: int | None
    action: Literal["ok", "create", "missing", "too-few-partitions", "no-source"]
    configs: dict[str, str] = field(default_factory=dict)
    note: str = ""
    source_max_bytes: int | None = None
    """The source topic's max.message.bytes."""
    target_max_bytes: int | None = None
    """The target topic's max.message.bytes (when it exists)."""


# -- topics ------------------------------------------------------------------------------------


def admin_for(plan: Plan, passwords: dict[str, str | None], side: str) -> AdminClient:
    """An admin client for ``source`` or ``target`` with the mirror's client id."""
    spec = getattr(plan.clusters, side)
    admin, _ = admin_client(spec, passwords.get(side), client_id=f"{mirror_id(plan.name)}-admin")
    return admin


def admin_with_topics(
    plan: Plan, passwords: dict[str, str | None], side: str, timeout: float
) -> tuple[AdminClient, dict]:
    """An admin client that answered, and the cluster's topic metadata.

    The first request is where a wrong password or an unreachable cluster shows;
    ``connect_error`` words both for the operator.
    """
    spec = getattr(plan.clusters, side)
    admin, trap = admin_client(spec, passwords.get(side), client_id=f"{mirror_id(plan.name)}-admin")
    try:
        return admin, admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise connect_error(side, spec, admin, trap, exc) from None


def _describe(admin: AdminClient, names: list[str], timeout: float) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=timeout
    )
    out = {}
    for resource, future in futures.items():
        entries = answer(future, timeout)
        out[resource.name] = {k: e.value for k, e in entries.items() if e.value is not None}
    return out


def check_topics(
    plan: Plan, passwords: dict[str, str | None], *, timeout: float = 10.0
) -> list[TopicCheck]:
    """Each plan topic on source and target and what the mirror will do (for the gate)."""
    src_admin, src_meta = admin_with_topics(plan, passwords, "source", timeout)
    dst_admin, dst_meta = admin_with_topics(plan, passwords, "target", timeout)
    checks: list[TopicCheck] = []
    to_create: list[str] = []
    existing: list[str] = []
    for topic in plan.topics:
        src = src_meta.get(topic.name)
        dst = dst_meta.get(topic.name)
        src_n = len(src.partitions) if src is not None and src.error is None else None
        dst_n = len(dst.partitions) if dst is not None and dst.error is None else None
        if src_n is None:
            checks.append(TopicCheck(topic.name, None, dst_n, "no-source", note="not on source"))
        elif dst_n is None:
            action = "create" if topic.create_on_target else "missing"
            checks.append(TopicCheck(topic.name, src_n, None, action))
            if topic.create_on_target:
                to_create.append(topic.name)
        elif dst_n < src_n:
            checks.append(
                TopicCheck(
                    topic.name,
                    src_n,
                    dst_n,
                    "too-few-partitions",
                    note=f"target has {dst_n} partitions, source {src_n}",
                )
            )
        else:
            checks.append(TopicCheck(topic.name, src_n, dst_n, "ok"))
            existing.append(topic.name)
    try:
        src_configs = _describe(src_admin, to_create + existing, timeout)
        dst_configs = _describe(dst_admin, existing, timeout)
    except KafkaException as exc:
        raise ClusterError(
            f"reading topic configs failed ({error_name(exc)}); the plan's users need "
            "DESCRIBE_CONFIGS on the plan's topics"
        ) from None
    out = []
    for check in checks:
        source = src_configs.get(check.name, {})
        src_max = int(source.get("max.message.bytes", 0) or 0) or None
        dst_max = int(dst_configs.get(check.name, {}).get("max.message.bytes", 0) or 0) or None
        sizes = {"source_max_bytes": src_max, "target_max_bytes": dst_max}
        if check.action == "create":
            configs = {k: source[k] for k in COPIED_CONFIGS if k in source}
            if src_max:
                configs["max.message.bytes"] = str(src_max + HEADROOM_BYTES)
            skipped = [k for k in NOT_COPIED if k in source]
            note = f"not copied: {', '.join(skipped)}" if skipped else ""
            out.append(TopicCheck(**{**check.__dict__, "configs": configs, "note": note, **sizes}))
        elif check.action == "ok":
            note = ""
            if src_max and dst_max and dst_max < src_max + HEADROOM_BYTES:
                note = (
                    f"target max.message.bytes {dst_max} < source {src_max} + "
                    f"{HEADROOM_BYTES} for the provenance header; the largest records may "
                    "not fit"
                )
            out.append(TopicCheck(**{**check.__dict__, "note": note, **sizes}))
        else:
            out.append(check)
    return out


def ensure_target_topics(
    plan: Plan,
    passwords: dict[str, str | None],
    *,
    store: Store | None = None,
    timeout: float = 30.0,
    progress: Progress = lambda _m: None,
) -> list[TopicCheck]:
    """Create the target topics the plan allows; fail naming every one that cannot be used.

    With ``store``, every creation is written to the audit log before it is attempted
    and its result after, referring back.
    """
    checks = check_topics(plan, passwords, timeout=timeout)
    problems = []
    for check in checks:
        if check.action == "no-source":
            problems.append(f"'{check.name}' is not on the source (fix the plan's topics)")
        elif check.action == "missing":
            problems.append(
                f"'{check.name}' is missing on the target and the plan does not allow creating "
                "it (create it with the source's partition count, or set create_on_target)"
            )
        elif check.action == "too-few-partitions":
            problems.append(
                f"'{check.name}' has {check.target_partitions} partitions on the target but "
                f"{check.source_partitions} on the source (add partitions on the target)"
            )
    if problems:
        raise MirrorError("cannot mirror: " + "; ".join(problems))
    creating = [c for c in checks if c.action == "create"]
    if not creating:
        return checks
    dst_admin = admin_for(plan, passwords, "target")
    client = f"{mirror_id(plan.name)}-admin"
    for check in creating:
        intent = None
        if store is not None:
            intent = store.log(
                "mirror.create_topic",
                step=STEP,
                params={
                    "topic": check.name,
                    "partitions": check.source_partitions,
                    "replication_factor": "target default",
                    "configs": check.configs,
                    "created_by": client,
                    "note": check.note,
                },
            )
        progress(f"creating {check.name} on the target ({check.source_partitions} partitions)")
        future = dst_admin.create_topics(
            [NewTopic(check.name, check.source_partitions, config=check.configs)],
            request_timeout=timeout,
        )[check.name]
        try:
            answer(future, timeout)
            outcome = "created"
        except KafkaException as exc:
            name = error_name(exc)
            outcome = "already existed" if name == "TOPIC_ALREADY_EXISTS" else f"failed: {name}"
        if store is not None and intent is not None:
            store.log("mirror.create_topic", step=STEP, ref=intent.seq, outcome=outcome)
        if outcome.startswith("failed"):
            raise MirrorError(
                f"creating '{check.name}' on the target {outcome}; the target user needs "
                "CREATE on the topic, or create it by hand with "
                f"{check.source_partitions} partitions"
            )
    wait_for_leaders(dst_admin, {c.name: c.source_partitions or 0 for c in creating}, timeout)
    return check_topics(plan, passwords, timeout=timeout)


def wait_for_leaders(admin: AdminClient, topics: dict[str, int], timeout: float) -> None:
    # A new topic is in the controller's metadata before every broker serves it; the
    # group coordinator refuses offsets for topics it does not know yet.
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(timeout=timeout).topics
        ready = all(
            name in meta
            and meta[name].error is None
            and len(meta[name].partitions) >= count
            and all(p.leader >= 0 for p in meta[name].partitions.values())
            for name, count in topics.items()
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise MirrorError(
                f"the target did not bring {', '.join(topics)} online within {timeout:g} s; "
                "check the target cluster's health and retry"
            )
        time.sleep(0.2)
