"""The MirrorMaker 2 shadow path: connectors on a Kafka Connect cluster, deployed over REST.

For ``shadow.path = "mirrormaker2"`` the console does not copy records itself. It writes
MirrorMaker 2 connector configurations from the plan, deploys them to the Connect
cluster at ``shadow.connect_url`` (``PUT /connectors/<name>/config``, idempotent), reads
their state, and removes them. Connect workers produce to the Kafka cluster that backs
them, so that Connect cluster must run on the plan's **target**; :func:`deploy` checks
this (the worker reports its ``kafka_cluster_id``) before anything is deployed.

MirrorMaker 2's offset map is coarse. Its source tasks write an *offset sync*
(upstream offset, downstream offset) only every ``offset.lag.max`` records, when the
upstream skips (transaction markers, compaction) and at offset commits; its checkpoint
connector translates a group's committed source offset with the nearest sync at or
before it, plus one. A group failed over on a checkpoint therefore re-reads up to the
gap between two syncs. :func:`collect_offset_syncs` decodes the offset-syncs and
checkpoints topics (MirrorMaker's own binary formats) into the run database's
``offset_syncs`` table, and :func:`coarseness` says how coarse the map is per partition.

For ``shadow.path = "external"`` (a vendor link or dual write the console only watches),
:func:`estimate_external_progress` compares end offsets and newest timestamps on both
sides; its result is an estimate and says so.

Secrets: cluster passwords go into the connector configs MirrorMaker 2 needs, and
travel only in the REST request body. In ``secrets="inline"`` mode Connect stores them
in its config topic and returns them from ``GET /connectors/<name>/config`` (Connect's
business, but worth knowing). ``secrets="env-provider"`` sends ``${env:NAME}`` instead,
resolved on each worker by Kafka's ``EnvVarConfigProvider`` from the variable the plan's
``password.env`` names, so the password never reaches Connect's config topic.

This module is engine code: no Textual, explicit timeouts on every network call.
"""

from __future__ import annotations

import json
import statistics
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console import redact
from console.kafka import client as kafka
from console.plan import ClusterSpec, Plan

if TYPE_CHECKING:
    from console.store import Store

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


class Mm2Error(Exception):
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


# -- Connect REST -------------------------------------------------------------------------------


def _base_url(plan: Plan, connect_url: str | None) -> str:
    url = connect_url or plan.shadow.connect_url
    if not url:
        raise Mm2Error(
            "no Kafka Connect URL: set shadow.connect_url in the plan or pass --connect-url"
        )
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise Mm2Error(
            f"'{_shown(url)}' is not an http(s) URL; set shadow.connect_url to the REST URL"
        )
    if parsed.username or parsed.password:
        raise Mm2Error(
            "shadow.connect_url carries a user name or password, and plans hold no secrets; "
            f"use {_shown(url)} and reach the Connect REST API without credentials in the URL"
        )
    return url.rstrip("/")


def _shown(url: str) -> str:
    """scheme://host:port of a URL, without any user:password@ it may carry."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        return "the configured Connect URL"
    if not parts.scheme or not parts.hostname:
        return "the configured Connect URL"
    return f"{parts.scheme}://{parts.hostname}{port}"


def _rest(
    method: str, url: str, *, body: Any = None, timeout: float, allow: tuple[int, ...] = ()
) -> tuple[int, Any]:
    """One Connect REST call: (status, parsed JSON or None). Statuses in ``allow`` come
    back; other HTTP errors and unreachable workers raise Mm2Error in one line."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 0.5)) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:
            payload = None
        if exc.code in allow:
            return exc.code, payload
        message = payload.get("message") if isinstance(payload, dict) else None
        raise _ConnectHttpError(exc.code, _joined(message or str(exc.reason or ""))) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Mm2Error(
            f"no Kafka Connect REST API answered at {_shown(url)} within "
            f"{timeout:g} s ({_one_line(str(reason))}); check shadow.connect_url in the plan "
            "and that the Connect cluster is running and reachable from this host"
        ) from None
    except ValueError as exc:  # a body that is not JSON: not a Connect REST API
        raise Mm2Error(
            f"{_shown(url)} did not answer like a Kafka Connect REST API ({exc}); "
            "check shadow.connect_url in the plan"
        ) from None


class _ConnectHttpError(Mm2Error):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"Connect answered HTTP {status}: {message}")


def _one_line(text: str, limit: int = 300) -> str:
    first = redact.text(str(text)).strip().splitlines()
    line = first[0] if first else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _joined(text: str, limit: int = 400) -> str:
    """A multi-line Connect message on one line. Validation failures put the real reason
    on the lines after "contains the following 1 error(s):"."""
    lines = [
        line.strip()
        for line in redact.text(text).splitlines()
        if line.strip() and not line.strip().startswith("You can also find the above list")
    ]
    line = " ".join(lines)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _remaining(deadline: float, cap: float = 15.0) -> float:
    return max(0.5, min(cap, deadline - time.monotonic()))


@dataclass(frozen=True)
class TaskState:
    """One connector task as Connect reports it."""

    id: int
    state: str
    worker_id: str = ""
    error: str = ""
    """First line of the task's failure trace (secrets masked), when it failed."""


@dataclass(frozen=True)
class ConnectorState:
    """A MirrorMaker 2 connector as Connect reports it; ``state`` is ABSENT when not deployed."""

    name: str
    role: str
    state: str
    worker_id: str = ""
    tasks: tuple[TaskState, ...] = ()
    error: str = ""

    @property
    def running(self) -> bool:
        """Connector and every task RUNNING (and it has at least one task)."""
        return (
            self.state == "RUNNING"
            and bool(self.tasks)
            and all(t.state == "RUNNING" for t in self.tasks)
        )

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or any(t.state == "FAILED" for t in self.tasks)

    def problem(self) -> str:
        """The first failure reason (connector first, then tasks), or ''."""
        if self.error:
            return self.error
        return next((f"task {t.id}: {t.error}" for t in self.tasks if t.error), "")

    def summary(self) -> str:
        """One line: name, state and task states, with the failure reason if any."""
        if self.state == "ABSENT":
            return f"{self.name}: ABSENT (not deployed)"
        ok = sum(t.state == "RUNNING" for t in self.tasks)
        line = f"{self.name}: {self.state}, {ok}/{len(self.tasks)} tasks RUNNING"
        others = sorted({t.state for t in self.tasks} - {"RUNNING"})
        if others:
            line += f" (others: {', '.join(others)})"
        problem = self.problem()
        return f"{line} — {problem}" if problem else line

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["running"] = self.running
        return data


def _parse_status(name: str, role: str, body: dict) -> ConnectorState:
    conn = body.get("connector") or {}
    tasks = tuple(
        TaskState(
            id=int(t.get("id", 0)),
            state=str(t.get("state", "UNKNOWN")),
            worker_id=str(t.get("worker_id", "")),
            error=_one_line(t.get("trace", "")) if t.get("trace") else "",
        )
        for t in sorted(body.get("tasks") or [], key=lambda t: t.get("id", 0))
    )
    return ConnectorState(
        name=name,
        role=role,
        state=str(conn.get("state", "UNKNOWN")),
        worker_id=str(conn.get("worker_id", "")),
        tasks=tasks,
        error=_one_line(conn["trace"]) if conn.get("trace") else "",
    )


def status(
    plan: Plan, connect_url: str | None = None, *, timeout: float = 10.0
) -> list[ConnectorState]:
    """State of this plan's MirrorMaker 2 connectors (one ``GET /connectors?expand=status``).

    Lists the source connector, the checkpoint connector when the plan has groups, and
    any other of the plan's connectors that happen to be deployed; missing ones are ABSENT.
    """
    base = _base_url(plan, connect_url)
    _code, body = _rest("GET", f"{base}/connectors?expand=status", timeout=timeout)
    body = body or {}
    expected = {"source"} | ({"checkpoint"} if plan.groups else set())
    states = []
    for role, name in connector_names(plan).items():
        entry = body.get(name)
        if entry and entry.get("status"):
            states.append(_parse_status(name, role, entry["status"]))
        elif role in expected:
            states.append(ConnectorState(name=name, role=role, state="ABSENT"))
    return states


def source_positions(
    plan: Plan, connect_url: str | None = None, *, timeout: float = 10.0
) -> dict[tuple[str, int], int]:
    """Next source offset to copy, per partition, from the source connector's committed
    offsets (``GET /connectors/<name>/offsets``, Kafka 3.6+).

    Connect stores the offset of the last record it copied; at exactly-once that commit
    rides in the same transaction as the records, so the position is exact. At
    at-least-once it trails the data by up to one offset-flush interval, which only
    overstates lag. Partitions not yet copied are absent.
    """
    base = _base_url(plan, connect_url)
    name = urllib.parse.quote(connector_names(plan)["source"], safe="")
    code, body = _rest("GET", f"{base}/connectors/{name}/offsets", timeout=timeout, allow=(404,))
    if code == 404 or not isinstance(body, dict):
        return {}
    positions: dict[tuple[str, int], int] = {}
    for entry in body.get("offsets", []):
        where, offset = entry.get("partition") or {}, entry.get("offset") or {}
        if "topic" in where and "partition" in where and "offset" in offset:
            positions[(where["topic"], int(where["partition"]))] = int(offset["offset"]) + 1
    return positions


def _worker_info(base: str, timeout: float) -> tuple[str, set[str]]:
    _code, root = _rest("GET", f"{base}/", timeout=timeout)
    _code, plugins = _rest("GET", f"{base}/connector-plugins", timeout=timeout)
    if not isinstance(root, dict) or not isinstance(plugins, list):
        raise Mm2Error(
            f"{_shown(base)} did not answer like a Kafka Connect REST API; check the URL"
        )
    return str(root.get("kafka_cluster_id", "")), {str(p.get("class")) for p in plugins}


def _preflight(
    plan: Plan,
    passwords: Mapping[str, str | None],
    base: str,
    settings: Mm2Settings,
    configs: dict[str, dict[str, str]],
    deadline: float,
) -> None:
    """Refuse to deploy anything that would copy to the wrong place or fail later."""
    cluster_id, plugins = _worker_info(base, _remaining(deadline))
    needed = {cfg["connector.class"] for cfg in configs.values()}
    missing = sorted(needed - plugins)
    if missing:
        short = ", ".join(c.rsplit(".", 1)[1] for c in missing)
        raise Mm2Error(
            f"the Connect cluster at {_shown(base)} lacks {short}; "
            "install connect-mirror (the Kafka release's libs) on every worker"
        )
    source_admin, source_trap = kafka.admin_client(
        plan.clusters.source, passwords.get("source"), client_id="cutover-mm2-preflight"
    )
    target_admin, target_trap = kafka.admin_client(
        plan.clusters.target, passwords.get("target"), client_id="cutover-mm2-preflight"
    )
    spec_t = plan.clusters.target
    try:
        described = target_admin.describe_cluster(
            request_timeout=_remaining(deadline, spec_t.request_timeout_s)
        ).result()
        target_meta = target_admin.list_topics(
            timeout=_remaining(deadline, spec_t.request_timeout_s)
        )
    except KafkaException as exc:
        raise Mm2Error(
            str(kafka.connect_error("target", spec_t, target_admin, target_trap, exc))
        ) from None
    if cluster_id and described.cluster_id and cluster_id != described.cluster_id:
        raise Mm2Error(
            f"the Connect cluster at {_shown(base)} runs on Kafka cluster {cluster_id}, not on the "
            f"plan's target ({described.cluster_id}); MirrorMaker 2 writes to the cluster "
            "backing its Connect workers, so point shadow.connect_url at a Connect cluster "
            "on the target"
        )
    brokers = len(described.nodes)
    need_rf = max(settings.replication_factor, settings.internal_replication_factor)
    if brokers < need_rf:
        raise Mm2Error(
            f"the target has {brokers} broker(s), fewer than replication factor {need_rf}; "
            "lower shadow.mm2_replication_factor in the plan or add brokers"
        )
    spec_s = plan.clusters.source
    try:
        source_meta = source_admin.list_topics(
            timeout=_remaining(deadline, spec_s.request_timeout_s)
        )
    except KafkaException as exc:
        raise Mm2Error(
            str(kafka.connect_error("source", spec_s, source_admin, source_trap, exc))
        ) from None
    absent = [t.name for t in plan.topics if t.name not in source_meta.topics]
    if absent:
        raise Mm2Error(
            f"not on the source: {', '.join(absent)}; MirrorMaker 2 would silently skip "
            "them, so fix the plan's topic names or create them first"
        )
    # MirrorMaker 2 creates missing topics on the target on its own; only where the
    # plan allows it.
    refused = [
        t.name for t in plan.topics if t.name not in target_meta.topics and not t.create_on_target
    ]
    if refused:
        raise Mm2Error(
            f"not on the target and the plan says create_on_target = false: "
            f"{', '.join(refused)}; create them on the target first or allow it in the plan"
        )


def deploy(
    plan: Plan,
    passwords: Mapping[str, str | None],
    connect_url: str | None = None,
    *,
    timeout: float = 120.0,
    settings: Mm2Settings | None = None,
) -> list[ConnectorState]:
    """Deploy (or update: PUT is idempotent) this plan's connectors and wait for RUNNING.

    Checks first that the Connect cluster runs on the plan's target, has the MirrorMaker
    plugins, that the topics are on the source and either on the target or allowed to be
    created there. Returns the states once every connector and task runs; raises
    :class:`Mm2Error` when one fails or ``timeout`` (seconds) passes first.
    """
    settings = settings or Mm2Settings()
    deadline = time.monotonic() + timeout
    base = _base_url(plan, connect_url)
    configs = connector_configs(plan, passwords, settings)
    _preflight(plan, passwords, base, settings, configs, deadline)
    for name, config in configs.items():
        url = f"{base}/connectors/{urllib.parse.quote(name, safe='')}/config"
        while True:
            try:
                _rest("PUT", url, body=config, timeout=_remaining(deadline, 30.0))
                break
            except _ConnectHttpError as exc:
                # 409: the Connect group is rebalancing; Connect asks clients to retry.
                if exc.status == 409 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise Mm2Error(f"deploying {name} failed: {_explain(exc, plan)}") from None
    return wait_running(plan, base, deadline=deadline, names=list(configs))


def _explain(exc: _ConnectHttpError, plan: Plan) -> str:
    text = str(exc)
    if "exactly.once" in text or "exactly-once" in text:
        return (
            f"{text}; enable exactly.once.source.support on every Connect worker, "
            "or set shadow.mm2_exactly_once = false in the plan"
        )
    return f"{text}; fix the connector config or the Connect cluster and deploy again"


def wait_running(
    plan: Plan, connect_url: str | None, *, deadline: float, names: list[str] | None = None
) -> list[ConnectorState]:
    """Poll status until the named connectors (default: the plan's) all run."""
    wanted = set(names or connector_names(plan).values())
    while True:
        states = [
            s for s in status(plan, connect_url, timeout=_remaining(deadline)) if s.name in wanted
        ]
        failed = next((s for s in states if s.failed), None)
        if failed is not None:
            hint = "check the credentials and ACLs MirrorMaker uses"
            if "uthenticat" in failed.problem():
                hint = (
                    "check the passwords; with secrets=env-provider every Connect worker "
                    "needs config.providers=env and the plan's password.env variables"
                )
            raise Mm2Error(f"{failed.summary()}; {hint}, then deploy again")
        if states and len(states) == len(wanted) and all(s.running for s in states):
            return states
        if time.monotonic() > deadline:
            stuck = next((s for s in states if not s.running), None)
            what = stuck.summary() if stuck else "connectors not listed yet"
            hint = "see the Connect worker log"
            if stuck is not None and stuck.state == "RUNNING" and not stuck.tasks:
                # MirrorMaker starts no task until it could list the topics, and retries
                # refused logins quietly: the usual cause is credentials or reachability.
                hint = (
                    "it has no tasks because it cannot read the clusters: check that the "
                    "workers reach both clusters and log in (with secrets=env-provider every "
                    "worker needs config.providers=env and the plan's password.env "
                    "variables exported); the Connect worker log says which"
                )
            raise Mm2Error(f"MirrorMaker 2 was not running in time ({what}); {hint}")
        time.sleep(0.5)


def remove(plan: Plan, connect_url: str | None = None, *, timeout: float = 60.0) -> list[str]:
    """Delete this plan's connectors; returns the names that existed. Waits until Connect
    no longer lists them. Their source offsets stay in Connect's offsets topic, so
    deploying again resumes where mirroring stopped."""
    deadline = time.monotonic() + timeout
    base = _base_url(plan, connect_url)
    removed = []
    for name in connector_names(plan).values():
        url = f"{base}/connectors/{urllib.parse.quote(name, safe='')}"
        while True:
            try:
                code, _ = _rest("DELETE", url, timeout=_remaining(deadline, 30.0), allow=(404,))
                break
            except _ConnectHttpError as exc:
                if exc.status == 409 and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise Mm2Error(f"removing {name} failed: {exc}; try again") from None
        if code != 404:
            removed.append(name)
    while removed:
        _code, listed = _rest("GET", f"{base}/connectors", timeout=_remaining(deadline))
        if not set(removed) & set(listed or []):
            break
        if time.monotonic() > deadline:
            raise Mm2Error(
                f"Connect still lists {', '.join(sorted(set(removed) & set(listed)))} after "
                f"{timeout:g} s; check the Connect worker log and remove again"
            )
        time.sleep(0.25)
    return removed


# -- MirrorMaker's binary formats --------------------------------------------------------------
#
# OffsetSync and Checkpoint records are written with Kafka's protocol `Struct` encoding:
# INT16/INT32/INT64 big-endian, STRING = INT16 length + UTF-8 bytes.
#   offset-sync key   (topic STRING, partition INT32)
#   offset-sync value (upstreamOffset INT64, offset INT64)
#   checkpoint key    (group STRING, topic STRING, partition INT32)
#   checkpoint value  (version INT16 = 0, upstreamOffset INT64, offset INT64, metadata STRING)


class DecodeError(ValueError):
    """A record that is not in MirrorMaker's format."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DecodeError("record is shorter than its schema")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.take(">h")
        if length < 0 or self.pos + length > len(self.data):
            raise DecodeError("bad string length")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("string is not UTF-8") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError("trailing bytes after the schema")


@dataclass(frozen=True)
class OffsetSync:
    """Upstream (source) offset ``upstream`` was written at downstream (target) ``downstream``."""

    topic: str
    partition: int
    upstream: int
    downstream: int


@dataclass(frozen=True)
class Checkpoint:
    """Group ``group`` committed ``upstream`` on the source; MirrorMaker translated it to
    ``downstream`` on the target."""

    group: str
    topic: str
    partition: int
    upstream: int
    downstream: int
    metadata: str


def decode_offset_sync(key: bytes, value: bytes) -> OffsetSync:
    k = _Reader(key)
    topic, partition = k.string(), k.take(">i")
    k.end()
    v = _Reader(value)
    upstream, downstream = v.take(">q"), v.take(">q")
    v.end()
    return OffsetSync(topic, partition, upstream, downstream)


def decode_checkpoint(key: bytes, value: bytes) -> Checkpoint:
    k = _Reader(key)
    group, topic, partition = k.string(), k.string(), k.take(">i")
    k.end()
    v = _Reader(value)
    version = v.take(">h")
    if version != 0:
        raise DecodeError(f"checkpoint value version {version} is not known (only 0)")
    upstream, downstream, metadata = v.take(">q"), v.take(">q"), v.string()
    v.end()
    return Checkpoint(group, topic, partition, upstream, downstream, metadata)


# -- reading and storing the offset map ---------------------------------------------------------


@dataclass(frozen=True)
class SyncRead:
    """What one pass over MirrorMaker's internal topics found (plan topics/groups only)."""

    syncs: list[OffsetSync] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    """Internal topics not there yet (MirrorMaker creates them once it runs)."""
    malformed: int = 0
    """Records that did not decode (skipped)."""
    offset_syncs_location: str = ""


def _read_topic(
    spec: ClusterSpec, password: str | None, cluster: str, topic: str, deadline: float
) -> list[tuple[bytes, bytes]] | None:
    """Every (key, value) of a topic from the beginning to its current end; None if absent."""
    conf = kafka.client_config(spec, password, client_id="cutover-mm2-syncs")
    conf.update(
        {
            # Never commits: assign() only. librdkafka still insists on a group id.
            "group.id": "cutover-mm2-syncs-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # Checkpoints come from the worker's transactional producer when exactly-once
            # is on; aborted ones must not count.
            "isolation.level": "read_committed",
        }
    )
    trap = kafka.ErrorTrap()
    conf["error_cb"] = trap
    consumer = Consumer(conf)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=_remaining(deadline, spec.request_timeout_s))
        except KafkaException as exc:
            raise Mm2Error(str(kafka.connect_error(cluster, spec, consumer, trap, exc))) from None
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            if (
                tmeta is not None
                and tmeta.error is not None
                and kafka.is_denied(KafkaException(tmeta.error))
            ):
                raise Mm2Error(
                    f"{cluster}: not allowed to read {topic}; grant the console's user "
                    "READ and DESCRIBE on it"
                )
            return None
        parts = [TopicPartition(topic, p, -2) for p in sorted(tmeta.partitions)]  # -2 = beginning
        consumer.assign(parts)
        pending = {p.partition for p in parts}
        out: list[tuple[bytes, bytes]] = []
        while pending:
            if time.monotonic() > deadline:
                raise Mm2Error(
                    f"{cluster}: reading {topic} did not reach its end in time; "
                    "try again with a longer timeout"
                )
            for msg in consumer.consume(500, timeout=min(1.0, _remaining(deadline))):
                err = msg.error()
                if err is None:
                    if msg.key() is not None and msg.value() is not None:  # skip tombstones
                        out.append((msg.key(), msg.value()))
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                elif err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise Mm2Error(
                        f"{cluster}: not allowed to read {topic}; grant the console's user "
                        "READ and DESCRIBE on it"
                    )
        return out
    finally:
        consumer.close()


def read_offset_syncs(
    plan: Plan,
    passwords: Mapping[str, str | None],
    *,
    location: Literal["source", "target"] | None = None,
    timeout: float = 30.0,
) -> SyncRead:
    """Decode MirrorMaker's offset-syncs and checkpoints for the plan's topics and groups.

    ``location`` is where the offset-syncs topic lives; None looks on the target first
    (this console's default) and then on the source (MirrorMaker's default).
    """
    deadline = time.monotonic() + timeout
    topics = {t.name for t in plan.topics}
    groups = {g.id for g in plan.groups}
    missing: list[str] = []
    malformed = 0
    raw_syncs = None
    found_at = ""
    tried = [location] if location else ["target", "source"]
    for where in tried:
        spec = getattr(plan.clusters, where)
        sync_topic = OFFSET_SYNCS_TOPICS[where]
        raw_syncs = _read_topic(spec, passwords.get(where), where, sync_topic, deadline)
        if raw_syncs is not None:
            found_at = where
            break
    if raw_syncs is None:
        missing.append(" or ".join(f"{OFFSET_SYNCS_TOPICS[w]} on the {w}" for w in tried))
    syncs = []
    for key, value in raw_syncs or []:
        try:
            sync = decode_offset_sync(key, value)
        except DecodeError:
            malformed += 1
            continue
        if sync.topic in topics:
            syncs.append(sync)
    raw_cps = _read_topic(
        plan.clusters.target, passwords.get("target"), "target", CHECKPOINTS_TOPIC, deadline
    )
    if raw_cps is None:
        missing.append(f"{CHECKPOINTS_TOPIC} on the target")
    checkpoints = []
    for key, value in raw_cps or []:
        try:
            cp = decode_checkpoint(key, value)
        except DecodeError:
            malformed += 1
            continue
        if cp.topic in topics and cp.group in groups:
            checkpoints.append(cp)
    return SyncRead(syncs, checkpoints, missing, malformed, found_at)


def store_offset_syncs(store: Store, read: SyncRead) -> int:
    """Add what was read to ``offset_syncs``; returns how many rows were new.

    The offset-syncs topic is compacted (one record per partition survives), so the
    history only exists in what we stored from earlier passes: rows are never deleted,
    and a row already stored is not stored twice.
    """
    now = store.clock()
    rows = [
        (s.topic, s.partition, s.upstream, s.downstream, "offset-sync", None) for s in read.syncs
    ]
    rows += [
        (c.topic, c.partition, c.upstream, c.downstream, "checkpoint", c.group)
        for c in read.checkpoints
    ]
    added = 0
    with store.lock:
        conn = store.conn
        conn.execute("BEGIN")
        try:
            for topic, partition, src, tgt, kind, group in dict.fromkeys(rows):
                cur = conn.execute(
                    "INSERT INTO offset_syncs(topic, partition, src_offset, tgt_offset, kind, "
                    "group_id, observed_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS ("
                    "SELECT 1 FROM offset_syncs WHERE topic = ? AND partition = ? AND "
                    "src_offset = ? AND tgt_offset = ? AND kind = ? AND group_id IS ?)",
                    (topic, partition, src, tgt, kind, group, now)
                    + (topic, partition, src, tgt, kind, group),
                )
                added += cur.rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return added


def collect_offset_syncs(
    store: Store,
    plan: Plan,
    passwords: Mapping[str, str | None],
    *,
    location: Literal["source", "target"] | None = None,
    timeout: float = 30.0,
) -> int:
    """Read MirrorMaker's offset-syncs and checkpoints and store them; returns new rows."""
    return store_offset_syncs(
        store, read_offset_syncs(plan, passwords, location=location, timeout=timeout)
    )


# -- how coarse the map is ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupTranslation:
    """A group's newest checkpoint on one partition and what it costs on failover."""

    group_id: str
    upstream: int
    """The offset the group committed on the source."""
    downstream: int
    """Where MirrorMaker says it should resume on the target."""
    sync_upstream: int | None
    """Source offset of the stored offset sync MirrorMaker used, when we saw it."""
    max_reread: int | None
    """Records the group would read twice at most (0: exact); None when the sync
    MirrorMaker used is not among the stored ones."""


@dataclass(frozen=True)
class Coarseness:
    """How coarse MirrorMaker 2's offset map is for one topic-partition."""

    topic: str
    partition: int
    syncs: int
    first_upstream: int | None
    last_upstream: int | None
    median_gap: float | None
    max_gap: int | None
    max_reread: int | None
    """Worst case inside the covered range: a group positioned just before a sync
    resumes one past the previous sync and re-reads up to the gap (records)."""
    source_end: int | None = None
    uncovered_tail: int | None = None
    """Records after the newest sync (needs ``source_end``): a group there re-reads up to
    this many, until MirrorMaker writes its next sync."""
    groups: tuple[GroupTranslation, ...] = ()
    conflicts: int = 0
    """Stored syncs that contradict each other (a source offset at two target offsets, or
    target offsets going backwards): MirrorMaker copied the partition again from scratch,
    e.g. after the target topic was recreated. Spacing then mixes two copies."""

    def describe(self) -> str:
        """What the map means for a failed-over group, in plain words (one line)."""
        where = f"{self.topic}[{self.partition}]"
        if not self.syncs:
            return (
                f"{where}: no offset syncs stored; groups on it cannot be translated yet "
                "(run 'cutover mm2 syncs' once MirrorMaker 2 runs)"
            )
        text = (
            f"{where}: {self.syncs} offset sync(s) stored for source offsets "
            f"{self.first_upstream}..{self.last_upstream}"
        )
        if self.max_gap is not None:
            text += (
                f" (spacing median {self.median_gap:g}, max {self.max_gap}); translated from "
                f"these, a group re-reads at most {self.max_reread} record(s)"
            )
        else:
            text += "; a single sync: only a group exactly there translates exactly"
        if self.uncovered_tail:
            text += (
                f"; the {self.uncovered_tail} record(s) after the newest sync are not covered "
                f"(a group there re-reads up to {self.uncovered_tail})"
            )
        if self.conflicts:
            text += (
                f"; WARN {self.conflicts} sync(s) contradict others (the partition was copied "
                "again from scratch): translate only from the newest copy"
            )
        if self.groups:
            # MirrorMaker's checkpoint task keeps only a few syncs far behind the newest
            # one, so its own translation can be coarser than the stored map.
            parts = []
            for g in self.groups:
                if g.max_reread is None:
                    parts.append(
                        f"{g.group_id} at {g.upstream} resumes at {g.downstream}, re-read "
                        "unknown (via a sync this run database never saw)"
                    )
                elif g.max_reread == 0:
                    parts.append(f"{g.group_id} at {g.upstream} resumes exactly at {g.downstream}")
                else:
                    parts.append(
                        f"{g.group_id} at {g.upstream} resumes at {g.downstream} and re-reads "
                        f"up to {g.max_reread}"
                    )
            text += "; MirrorMaker's checkpoints: " + ", ".join(parts)
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["describe"] = self.describe()
        return data


def coarseness(
    store: Store, topic: str, partition: int, *, source_end: int | None = None
) -> Coarseness:
    """How coarse the stored offset-sync map is for ``topic``/``partition``.

    MirrorMaker translates a source offset with the newest sync at or before it: exactly
    when the offset *is* a sync, else to one past that sync's target offset. So a group
    between two syncs re-reads at most ``gap - 1`` records, where ``gap`` is their distance
    in source offsets (fewer where the source skips offsets for transaction markers).
    """
    with store.lock:
        sync_rows = store.conn.execute(
            "SELECT DISTINCT src_offset, tgt_offset FROM offset_syncs WHERE topic = ? AND "
            "partition = ? AND kind = 'offset-sync' ORDER BY src_offset, tgt_offset",
            (topic, partition),
        ).fetchall()
        cp_rows = store.conn.execute(
            "SELECT group_id, src_offset, tgt_offset FROM offset_syncs WHERE topic = ? AND "
            "partition = ? AND kind = 'checkpoint' ORDER BY rowid",
            (topic, partition),
        ).fetchall()
    ups = sorted({r[0] for r in sync_rows})
    gaps = [b - a for a, b in zip(ups, ups[1:], strict=False)]
    latest: dict[str, tuple[int, int]] = {}
    for group, src, tgt in cp_rows:
        latest[group] = (src, tgt)  # rows are in arrival order: the last one wins
    groups = tuple(
        _translation(group, src, tgt, sync_rows) for group, (src, tgt) in sorted(latest.items())
    )
    conflicts = sum(
        1
        for (u1, d1), (u2, d2) in zip(sync_rows, sync_rows[1:], strict=False)
        if (u1 == u2 and d1 != d2) or (u2 > u1 and d2 < d1)
    )
    tail = None
    if source_end is not None and ups:
        tail = max(0, source_end - ups[-1] - 1)
    return Coarseness(
        topic=topic,
        partition=partition,
        syncs=len(ups),
        first_upstream=ups[0] if ups else None,
        last_upstream=ups[-1] if ups else None,
        median_gap=statistics.median(gaps) if gaps else None,
        max_gap=max(gaps) if gaps else None,
        max_reread=max(gaps) - 1 if gaps else None,
        source_end=source_end,
        uncovered_tail=tail,
        groups=groups,
        conflicts=conflicts,
    )


def _translation(
    group: str, upstream: int, downstream: int, sync_rows: list[tuple[int, int]]
) -> GroupTranslation:
    # The sync MirrorMaker used is the one that reproduces the checkpoint: the same
    # offsets (exact), or the newest one at or before `upstream` whose target offset + 1
    # is `downstream`. Its in-memory store is sparser than ours for old offsets, so it may
    # have used an older sync than the newest one we stored.
    for src, tgt in reversed(sync_rows):
        if src > upstream:
            continue
        if src == upstream and tgt == downstream:
            return GroupTranslation(group, upstream, downstream, src, 0)
        if tgt + 1 == downstream:
            return GroupTranslation(group, upstream, downstream, src, max(0, upstream - src - 1))
    return GroupTranslation(group, upstream, downstream, None, None)


def partitions_with_syncs(store: Store, topic: str) -> list[int]:
    """Partitions of ``topic`` that have any stored sync or checkpoint."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT DISTINCT partition FROM offset_syncs WHERE topic = ? ORDER BY partition",
            (topic,),
        ).fetchall()
    return [r[0] for r in rows]


# -- external path: progress estimated from both ends --------------------------------------------


@dataclass(frozen=True)
class ExternalProgress:
    """ESTIMATE of how far an external copy (vendor link, dual write) trails the source on
    one partition. Offsets need not correspond across clusters, so ``records_behind``
    compares record counts (end minus start offset); ``seconds_behind`` compares the
    newest record timestamps. Both are estimates and are labelled so everywhere."""

    topic: str
    partition: int
    source_records: int
    target_records: int | None
    records_behind: int | None
    source_newest_ms: int | None
    target_newest_ms: int | None
    seconds_behind: float | None
    note: str = ""
    estimate: bool = True

    def describe(self) -> str:
        where = f"{self.topic}[{self.partition}]"
        if self.target_records is None:
            return f"{where}: ESTIMATE — not on the target ({self.note})"
        secs = "n/a" if self.seconds_behind is None else f"{self.seconds_behind:.1f} s"
        text = f"{where}: ESTIMATE {self.records_behind} record(s), {secs} behind"
        return f"{text} ({self.note})" if self.note else text


def _partition_ends(
    name: str,
    spec: ClusterSpec,
    password: str | None,
    topics: list[str],
    deadline: float,
    *,
    with_timestamps: bool = True,
) -> dict[tuple[str, int], tuple[int, int, int | None]]:
    """(topic, partition) -> (earliest, latest, newest timestamp ms or None)."""
    admin, trap = kafka.admin_client(spec, password, client_id="cutover-mm2-external")
    try:
        meta = admin.list_topics(timeout=_remaining(deadline, spec.request_timeout_s))
    except KafkaException as exc:
        raise Mm2Error(str(kafka.connect_error(name, spec, admin, trap, exc))) from None
    tps = [
        TopicPartition(t, p)
        for t in topics
        if t in meta.topics and meta.topics[t].error is None
        for p in meta.topics[t].partitions
    ]
    if not tps:
        return {}
    result: dict[tuple[str, int], list] = {(tp.topic, tp.partition): [0, 0, None] for tp in tps}
    lookups = [(0, OffsetSpec.earliest), (1, OffsetSpec.latest)]
    if with_timestamps:
        lookups.append((2, OffsetSpec.max_timestamp))
    for slot, spec_fn in lookups:
        request = {tp: spec_fn() for tp in tps}
        futures = admin.list_offsets(
            request, request_timeout=_remaining(deadline, spec.request_timeout_s)
        )
        for tp, future in futures.items():
            try:
                info = future.result()
            except KafkaException as exc:
                raise Mm2Error(
                    f"{name}: listing offsets of {tp.topic}[{tp.partition}] failed "
                    f"({kafka.error_name(exc)}); check the console user's DESCRIBE rights"
                ) from None
            key = (tp.topic, tp.partition)
            if slot < 2:
                result[key][slot] = info.offset
            elif info.offset >= 0 and info.timestamp >= 0:
                result[key][2] = info.timestamp
    return {k: (v[0], v[1], v[2]) for k, v in result.items()}


def source_end_offsets(
    plan: Plan, passwords: Mapping[str, str | None], *, timeout: float = 20.0
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset on the source, for the plan's topics."""
    deadline = time.monotonic() + timeout
    ends = _partition_ends(
        "source",
        plan.clusters.source,
        passwords.get("source"),
        [t.name for t in plan.topics],
        deadline,
        with_timestamps=False,
    )
    return {key: latest for key, (_earliest, latest, _ts) in ends.items()}


def estimate_external_progress(
    plan: Plan, passwords: Mapping[str, str | None], *, timeout: float = 20.0
) -> list[ExternalProgress]:
    """ESTIMATE per partition of how far the target trails the source, for a copy the
    console does not run. Counts come from end offsets, times from the newest record
    timestamp (Kafka's max-timestamp lookup) on each side."""
    deadline = time.monotonic() + timeout
    topics = [t.name for t in plan.topics]
    src = _partition_ends("source", plan.clusters.source, passwords.get("source"), topics, deadline)
    tgt = _partition_ends("target", plan.clusters.target, passwords.get("target"), topics, deadline)
    out = []
    for (topic, part), (s_lo, s_hi, s_ts) in sorted(src.items()):
        s_count = s_hi - s_lo
        if (topic, part) not in tgt:
            out.append(
                ExternalProgress(
                    topic,
                    part,
                    s_count,
                    None,
                    None,
                    s_ts,
                    None,
                    None,
                    "topic or partition missing there",
                )
            )
            continue
        t_lo, t_hi, t_ts = tgt[(topic, part)]
        t_count = t_hi - t_lo
        notes = []
        if s_lo != t_lo:
            notes.append("retention or start offsets differ, counts are rougher")
        behind = s_count - t_count
        if behind < 0:
            # Offsets, not records, are counted: transaction markers written by a
            # transactional copier (or duplicates, or older data) inflate the target side.
            notes.append(f"target holds {-behind} more offsets than the source")
            behind = 0
        if s_ts is not None and t_ts is not None:
            seconds = max(0.0, (s_ts - t_ts) / 1000)
        else:
            seconds = None
            notes.append("no timestamps on one side")
        out.append(
            ExternalProgress(
                topic,
                part,
                s_count,
                t_count,
                behind,
                s_ts,
                t_ts,
                seconds,
                "; ".join(notes),
            )
        )
    return out


def resolve_passwords(plan: Plan) -> dict[str, str | None]:
    """Both clusters' passwords, from the environment or keyring (see console.plan.credentials)."""
    from console.plan import credentials

    return {name: credentials.resolve_password(plan, name) for name in ("source", "target")}


__all__ = [
    "CHECKPOINTS_TOPIC",
    "OFFSET_SYNCS_TOPICS",
    "Checkpoint",
    "Coarseness",
    "ConnectorState",
    "DecodeError",
    "ExternalProgress",
    "GroupTranslation",
    "Mm2Error",
    "Mm2Settings",
    "OffsetSync",
    "SyncRead",
    "TaskState",
    "coarseness",
    "collect_offset_syncs",
    "connector_configs",
    "connector_names",
    "decode_checkpoint",
    "decode_offset_sync",
    "deploy",
    "estimate_external_progress",
    "partitions_with_syncs",
    "read_offset_syncs",
    "remove",
    "resolve_passwords",
    "source_end_offsets",
    "status",
    "store_offset_syncs",
    "wait_running",
]
