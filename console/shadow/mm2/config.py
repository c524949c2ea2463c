"""MirrorMaker 2 connector configurations, written from the plan.

Every knob is written into the configs explicitly (:class:`Mm2Settings`), so nothing
depends on MirrorMaker's defaults. Topic names are kept (IdentityReplicationPolicy),
the offset-syncs topic lives on the target so the source is never written to, and group
offset sync is off: moving a group is the console's gated cutover step.

Secrets: cluster passwords go into the connector configs MirrorMaker 2 needs, and
travel only in the REST request body. In ``secrets="inline"`` mode Connect stores them
in its config topic and returns them from ``GET /connectors/<name>/config`` (Connect's
business, but worth knowing). ``secrets="env-provider"`` sends ``${env:NAME}`` instead,
resolved on each worker by Kafka's ``EnvVarConfigProvider`` from the variable the plan's
``password.env`` names, so the password never reaches Connect's config topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from console import redact
from console.errors import CutoverError
from console.plan import ClusterSpec, Plan

SOURCE_ALIAS = "source"
TARGET_ALIAS = "target"
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
BYTES_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
_CONNECTOR_CLASSES = {
    "source": "org.apache.kafka.connect.mirror.MirrorSourceConnector",
    "checkpoint": "org.apache.kafka.connect.mirror.MirrorCheckpointConnector",
    "heartbeat": "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector",
}
ROLES = tuple(_CONNECTOR_CLASSES)
# MirrorMaker's internal topics under its default naming (IdentityReplicationPolicy keeps it).
# The offset-syncs topic is named after the *other* cluster of the flow: on the source it
# is mm2-offset-syncs.target.internal, on the target mm2-offset-syncs.source.internal.
OFFSET_SYNCS_TOPICS = {
    "source": f"mm2-offset-syncs.{TARGET_ALIAS}.internal",
    "target": f"mm2-offset-syncs.{SOURCE_ALIAS}.internal",
}
CHECKPOINTS_TOPIC = f"{SOURCE_ALIAS}.checkpoints.internal"
_LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class Mm2Error(CutoverError):
    """The MirrorMaker 2 path could not do its job; the message is one line saying what to do."""


# -- settings and configs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mm2Settings:
    """MirrorMaker 2 knobs the plan does not (yet) hold. Every one is written into the
    connector configs explicitly, so nothing depends on MirrorMaker's defaults, several of
    which (60 s checkpoints, 10 min refreshes, replication factor 2/3) surprise people."""

    replication_factor: int = 3
    """Replication factor of topics MirrorMaker 2 creates on the target."""
    internal_replication_factor: int = 3
    """Replication factor of its offset-syncs, checkpoints and heartbeats topics."""
    tasks_max: int = 4
    """Tasks per connector; the source connector spreads partitions over them."""
    offset_lag_max: int = 100
    """A new offset sync at least every this many records: the map's spacing (records)."""
    emit_checkpoints_interval_s: int = 10
    """How often group checkpoints are written to the target (seconds)."""
    sync_group_offsets: bool = False
    """Let MirrorMaker 2 write translated offsets into the target's groups. Off: moving a
    group is the console's gated cutover step, and a background writer would bypass it."""
    sync_group_offsets_interval_s: int = 10
    """How often translated group offsets are written, when enabled (seconds)."""
    refresh_topics_interval_s: int = 60
    """How often new partitions of the plan's topics are noticed (seconds)."""
    refresh_groups_interval_s: int = 60
    """How often the plan's groups are looked up for checkpointing (seconds)."""
    sync_topic_configs: bool = True
    """Copy topic configs to the target (MirrorMaker excludes six, min.insync.replicas too)."""
    sync_topic_configs_interval_s: int = 600
    """How often topic configs are copied (seconds)."""
    offset_syncs_location: Literal["source", "target"] = "target"
    """Where MirrorMaker keeps its offset-syncs topic. MirrorMaker's default is the source,
    which makes it create a topic on, and write to, the production cluster being migrated
    from; ``target`` keeps the source read-only (KIP-545)."""
    heartbeats: bool = False
    """Also deploy MirrorHeartbeatConnector (writes a ``heartbeats`` topic on the target).
    Off by default: the console measures shadow lag itself."""
    secrets: Literal["inline", "env-provider"] = "inline"
    """How passwords reach the connectors; see the module docstring."""
    env_provider: str = "env"
    """Name of the worker's EnvVarConfigProvider (``config.providers=<name>``)."""

    @classmethod
    def sandbox(cls, **overrides: Any) -> Mm2Settings:
        """Single-broker clusters and 1-second intervals, so tests never look hung."""
        base = cls(
            replication_factor=1,
            internal_replication_factor=1,
            emit_checkpoints_interval_s=1,
            sync_group_offsets_interval_s=1,
            refresh_topics_interval_s=1,
            refresh_groups_interval_s=1,
            sync_topic_configs_interval_s=1,
        )
        return replace(base, **overrides)


def connector_names(plan: Plan) -> dict[str, str]:
    """Role (source, checkpoint, heartbeat) to connector name, e.g. ``cutover-demo-mm2-source``."""
    return {role: f"cutover-{plan.name}-mm2-{role}" for role in ROLES}


def _topic_list(names: list[str]) -> str:
    # MirrorMaker reads `topics`/`groups` as comma-separated *regular expressions* that must
    # match the whole name, so a literal '.' in "orders.v1" would also match "ordersXv1".
    return ",".join(_literal(n) for n in names)


def _literal(name: str) -> str:
    if "," in name:
        raise Mm2Error(
            f"'{name}' contains a comma, which MirrorMaker 2 reads as a list separator; "
            "it cannot be mirrored by name"
        )
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\\" else ch for ch in name)


def _jaas(spec: ClusterSpec, password_expr: str) -> str:
    module = _LOGIN_MODULES[spec.sasl_mechanism or "PLAIN"]

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        f"{module} required username={quoted(spec.sasl_username or '')} "
        f"password={quoted(password_expr)};"
    )


def _cluster_props(
    prefix: str,
    name: str,
    spec: ClusterSpec,
    passwords: Mapping[str, str | None] | None,
    settings: Mm2Settings,
) -> dict[str, str]:
    props = {
        f"{prefix}.bootstrap.servers": spec.bootstrap_servers,
        f"{prefix}.security.protocol": spec.security_protocol,
    }
    if spec.security_protocol.startswith("SASL"):
        if settings.secrets == "env-provider":
            env = spec.password.env if spec.password else None
            if not env:
                raise Mm2Error(
                    f"secrets via the Connect env provider need password.env on "
                    f"clusters.{name} in the plan (the variable each Connect worker exports)"
                )
            secret = f"${{{settings.env_provider}:{env}}}"
        elif passwords is None:
            secret = redact.MASK  # display only: the whole jaas line is masked anyway
        else:
            secret = passwords.get(name) or ""
            if not secret:
                raise Mm2Error(
                    f"no password for the {name} cluster; run 'cutover credentials set {name}' "
                    "or export the plan's password.env variable"
                )
            redact.register(secret)
        props[f"{prefix}.sasl.mechanism"] = spec.sasl_mechanism or ""
        props[f"{prefix}.sasl.jaas.config"] = _jaas(spec, secret)
    return props


def connector_configs(
    plan: Plan,
    passwords: Mapping[str, str | None] | None,
    settings: Mm2Settings | None = None,
) -> dict[str, dict[str, str]]:
    """Connector name to its full config, for the connectors this plan needs.

    ``passwords`` maps ``source``/``target`` to the SASL password; pass None to render for
    display only (then show it through :func:`console.redact.value`). Always a source
    connector; a checkpoint connector when the plan has groups; a heartbeat connector when
    ``settings.heartbeats``.
    """
    settings = settings or Mm2Settings()
    names = connector_names(plan)
    topics = [t.name for t in plan.topics]
    common = {
        "source.cluster.alias": SOURCE_ALIAS,
        "target.cluster.alias": TARGET_ALIAS,
        **_cluster_props("source.cluster", "source", plan.clusters.source, passwords, settings),
        **_cluster_props("target.cluster", "target", plan.clusters.target, passwords, settings),
        # Names stay the same on the target (the default policy renames to "source.<topic>").
        "replication.policy.class": IDENTITY_POLICY,
        # Records are copied as bytes: the worker's default converters would re-encode them.
        "key.converter": BYTES_CONVERTER,
        "value.converter": BYTES_CONVERTER,
        "header.converter": BYTES_CONVERTER,
        "tasks.max": str(settings.tasks_max),
        "offset-syncs.topic.location": settings.offset_syncs_location,
    }
    source = {
        **common,
        "connector.class": _CONNECTOR_CLASSES["source"],
        "topics": _topic_list(topics),
        "replication.factor": str(settings.replication_factor),
        "offset-syncs.topic.replication.factor": str(settings.internal_replication_factor),
        "emit.offset-syncs.enabled": "true",
        "offset.lag.max": str(settings.offset_lag_max),
        "refresh.topics.enabled": "true",
        "refresh.topics.interval.seconds": str(settings.refresh_topics_interval_s),
        "sync.topic.configs.enabled": str(settings.sync_topic_configs).lower(),
        "sync.topic.configs.interval.seconds": str(settings.sync_topic_configs_interval_s),
        # ACLs are migrated as a reviewed step, not copied in the background (MirrorMaker
        # would also need ALTER on the target cluster for it).
        "sync.topic.acls.enabled": "false",
        # A `heartbeats` topic on the source (another MirrorMaker's) stays out of scope.
        "heartbeats.replication.enabled": "false",
        # Never copy records of aborted transactions, whatever the delivery guarantee.
        "source.consumer.isolation.level": "read_committed",
    }
    if plan.shadow.mm2_exactly_once:
        # KIP-618: the worker refuses the connector unless it can run it exactly-once
        # (needs exactly.once.source.support=enabled on every worker).
        source["exactly.once.support"] = "required"
        source["transaction.boundary"] = "poll"
    configs = {names["source"]: source}
    if plan.groups:
        configs[names["checkpoint"]] = {
            **common,
            "connector.class": _CONNECTOR_CLASSES["checkpoint"],
            "topics": _topic_list(topics),
            "groups": _topic_list([g.id for g in plan.groups]),
            "checkpoints.topic.replication.factor": str(settings.internal_replication_factor),
            "emit.checkpoints.enabled": "true",
            "emit.checkpoints.interval.seconds": str(settings.emit_checkpoints_interval_s),
            "sync.group.offsets.enabled": str(settings.sync_group_offsets).lower(),
            "sync.group.offsets.interval.seconds": str(settings.sync_group_offsets_interval_s),
            "refresh.groups.enabled": "true",
            "refresh.groups.interval.seconds": str(settings.refresh_groups_interval_s),
        }
    if settings.heartbeats:
        configs[names["heartbeat"]] = {
            **common,
            "connector.class": _CONNECTOR_CLASSES["heartbeat"],
            "heartbeats.topic.replication.factor": str(settings.internal_replication_factor),
            "emit.heartbeats.enabled": "true",
            "emit.heartbeats.interval.seconds": "1",
            "tasks.max": "1",
        }
    return configs


def settings_from_plan(plan: Plan) -> Mm2Settings:
    """MirrorMaker 2 settings from the plan's [shadow] section."""
    shadow = plan.shadow
    interval = shadow.mm2_interval_s
    return Mm2Settings(
        replication_factor=shadow.mm2_replication_factor,
        internal_replication_factor=shadow.mm2_replication_factor,
        tasks_max=shadow.mm2_tasks_max,
        offset_lag_max=shadow.mm2_offset_lag_max,
        emit_checkpoints_interval_s=interval,
        sync_group_offsets_interval_s=interval,
        refresh_topics_interval_s=interval,
        refresh_groups_interval_s=interval,
        secrets=shadow.mm2_secrets,
    )
