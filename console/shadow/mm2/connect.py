"""The Kafka Connect REST API, as the MirrorMaker 2 shadow path uses it.

For ``shadow.path = "mirrormaker2"`` the console does not copy records itself. It deploys
the connector configurations (:mod:`~console.shadow.mm2.config`) to the Connect cluster
at ``shadow.connect_url`` (``PUT /connectors/<name>/config``, idempotent), reads their
state, and removes them. Connect workers produce to the Kafka cluster that backs them,
so that Connect cluster must run on the plan's **target**; :func:`deploy` checks this
(the worker reports its ``kafka_cluster_id``) before anything is deployed.

Engine code: no Textual, explicit timeouts on every network call.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException

from console import redact
from console.kafka import client as kafka
from console.plan import Plan
from console.shadow.mm2.config import Mm2Error, Mm2Settings, connector_configs, connector_names

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


REBALANCE_PAUSE_S = 0.5
"""How long to wait before asking again when Connect answers that its group rebalances."""


def _rest(
    method: str, url: str, *, body: Any = None, timeout: float, allow: tuple[int, ...] = ()
) -> tuple[int, Any]:
    """One Connect REST call: (status, parsed JSON or None). Statuses in ``allow`` come
    back; other HTTP errors and unreachable workers raise Mm2Error in one line.

    While its group rebalances (a connector's config or tasks changed a moment ago),
    Connect refuses requests with 409, or with 500 "a rebalance is expected"; the call is
    asked again until ``timeout`` has passed. Every call here is idempotent (GET, PUT of
    a whole config, DELETE), so asking again changes nothing twice."""
    deadline = time.monotonic() + timeout
    while True:
        left = kafka.remaining(deadline, timeout)
        try:
            return _rest_once(method, url, body=body, timeout=left, allow=allow)
        except _ConnectHttpError as exc:
            if not exc.rebalancing or time.monotonic() + REBALANCE_PAUSE_S >= deadline:
                raise
            time.sleep(REBALANCE_PAUSE_S)


def _rest_once(
    method: str, url: str, *, body: Any, timeout: float, allow: tuple[int, ...]
) -> tuple[int, Any]:
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
        # 409 is Connect's "retry, the group is rebalancing"; a request that reaches the
        # herder just before the rebalance gets 500 "a rebalance is expected" instead.
        self.rebalancing = status == 409 or (status >= 500 and "rebalance" in message.lower())
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


def connector_config(
    plan: Plan, role: str, connect_url: str | None = None, *, timeout: float = 10.0
) -> dict[str, str] | None:
    """The running config of one of this plan's connectors (``GET .../config``), or None
    when it is not deployed. Secrets in it are masked before it is returned."""
    base = _base_url(plan, connect_url)
    name = urllib.parse.quote(connector_names(plan)[role], safe="")
    code, body = _rest("GET", f"{base}/connectors/{name}/config", timeout=timeout, allow=(404,))
    if code == 404 or not isinstance(body, dict):
        return None
    return {str(k): redact.text(str(v)) for k, v in body.items()}


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
    cluster_id, plugins = _worker_info(base, kafka.remaining(deadline))
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
            request_timeout=kafka.remaining(deadline, spec_t.request_timeout_s)
        ).result()
        target_meta = target_admin.list_topics(
            timeout=kafka.remaining(deadline, spec_t.request_timeout_s)
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
            timeout=kafka.remaining(deadline, spec_s.request_timeout_s)
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
        try:
            _rest("PUT", url, body=config, timeout=kafka.remaining(deadline, 30.0))
        except _ConnectHttpError as exc:
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
            s
            for s in status(plan, connect_url, timeout=kafka.remaining(deadline))
            if s.name in wanted
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
        try:
            code, _ = _rest("DELETE", url, timeout=kafka.remaining(deadline, 30.0), allow=(404,))
        except _ConnectHttpError as exc:
            raise Mm2Error(f"removing {name} failed: {exc}; try again") from None
        if code != 404:
            removed.append(name)
    while removed:
        _code, listed = _rest("GET", f"{base}/connectors", timeout=kafka.remaining(deadline))
        if not set(removed) & set(listed or []):
            break
        if time.monotonic() > deadline:
            raise Mm2Error(
                f"Connect still lists {', '.join(sorted(set(removed) & set(listed)))} after "
                f"{timeout:g} s; check the Connect worker log and remove again"
            )
        time.sleep(0.25)
    return removed
