"""Reading one cluster's governance: ACLs, SCRAM users, plan topics, quotas, subjects.

Read-only, with the plan's credentials and timeouts; the cancel event is checked
between requests. What cannot be read is said, never guessed: an unreadable ACL list
is a problem (the step does not pass), while client quotas and schema subjects that
cannot be compared are listed under ``not_read`` with the reason, and the pane says
so. Client quotas come through :mod:`console.kafka.wire` (confluent-kafka has no
DescribeClientQuotas); subjects through confluent-kafka's ``SchemaRegistryClient``.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import TopicCollection
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)

from console.errors import Cancelled, Progress
from console.governance.diff import KEY_CONFIGS, Acl, Reading
from console.kafka import wire
from console.kafka.client import admin_client, connect_error, error_name
from console.kafka.registry import Registry, RegistryError
from console.plan import ClusterSpec

ACL_TYPES = ("TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID")
# confluent-kafka names Kafka's CLUSTER resource type (4) BROKER; we say CLUSTER, as Kafka does.
_KAFKA_NAME = {"BROKER": "CLUSTER"}


def read_side(
    side: str,
    spec: ClusterSpec,
    password: str | None,
    topics: list[str],
    subjects: list[str],
    registry: Registry | None,
    *,
    cancel: threading.Event,
    progress: Progress,
) -> Reading:
    """Read one cluster. Raises ClusterError when it cannot be reached or logged into."""
    timeout = spec.request_timeout_s
    admin, trap = admin_client(spec, password, client_id=f"cutover-governance-{side}")
    problems: list[str] = []
    not_read: dict[str, str] = {}
    who = spec.sasl_username or "ANONYMOUS"

    def step(message: str) -> None:
        if cancel.is_set():
            raise Cancelled(f"cancelled while reading {side}")
        progress(f"{side}: {message}")

    step("reading ACLs")
    try:
        acls = _acls(admin, timeout)
    except _Refused as exc:
        if "SECURITY_DISABLED" in exc.name:
            acls = []
            not_read["acls"] = "no authorizer on this cluster: every principal may do anything"
        else:
            acls = None
            problems.append(
                f"{side}: user '{who}' may not read ACLs ({exc.name}); grant DESCRIBE on the "
                "cluster"
            )
    except Exception as exc:  # noqa: BLE001 - the first request: reachable at all?
        raise connect_error(side, spec, admin, trap, exc) from None

    step("reading SCRAM users")
    scram: dict[str, list[str]] | None
    try:
        described = admin.describe_user_scram_credentials(request_timeout=timeout).result(
            timeout=timeout + 1
        )
        scram = {
            user: sorted(
                f"{info.mechanism.name.replace('_', '-')}/{info.iterations}"
                for info in (desc.scram_credential_infos or [])
            )
            for user, desc in described.items()
        }
    except Exception as exc:  # noqa: BLE001
        scram = None
        problems.append(
            f"{side}: user '{who}' may not describe SCRAM users ({error_name(exc)}); grant "
            "DESCRIBE on the cluster"
        )

    step(f"reading {len(topics)} plan topics")
    found = _topics(admin, topics, timeout, problems, side)

    step("reading client quotas")
    quotas: dict[str, dict[str, float]] | None = None
    try:
        with wire.connect(spec, password) as conn:
            quotas = {e.key: e.values for e in wire.describe_client_quotas(conn)}
    except wire.WireError as exc:
        not_read["quotas"] = str(exc)

    subjects_read: dict[str, dict[str, Any]] | None = None
    if registry is None:
        not_read["subjects"] = f"no schema_registry_url for the {side} cluster in the plan"
    else:
        step("reading schema subjects")
        try:
            subjects_read = {}
            for subject in subjects:
                info = registry.subject(subject)
                if info is not None:
                    subjects_read[subject] = {
                        "version": info.version,
                        "kind": info.kind,
                        "schema": info.schema,
                        "compatibility": info.compatibility,
                        "scope": info.compatibility_scope,
                    }
        except RegistryError as exc:
            subjects_read = None
            not_read["subjects"] = str(exc)
    return Reading(side, acls, scram, found, quotas, subjects_read, problems, not_read)


class _Refused(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _acls(admin, timeout: float) -> list[Acl]:
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
        name = error_name(exc)
        if "AUTHORIZATION" in name or "SECURITY_DISABLED" in name:
            raise _Refused(name) from None
        raise
    return sorted(
        (
            Acl(
                _KAFKA_NAME.get(b.restype.name, b.restype.name),
                b.name,
                b.resource_pattern_type.name,
                b.principal,
                b.host,
                b.operation.name,
                b.permission_type.name,
            )
            for b in bindings
            if _KAFKA_NAME.get(b.restype.name, b.restype.name) in ACL_TYPES
        ),
        key=lambda a: a.key,
    )


def _topics(admin, topics: list[str], timeout: float, problems: list[str], side: str) -> dict:
    if not topics:
        return {}
    found: dict[str, dict[str, Any]] = {}
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=timeout)
    for topic, fut in futures.items():
        try:
            desc = fut.result(timeout=timeout + 1)
        except Exception as exc:  # noqa: BLE001
            name = error_name(exc)
            if "UNKNOWN_TOPIC" not in name:
                problems.append(f"{side}: cannot describe topic '{topic}' ({name})")
            continue
        found[topic] = {"partitions": len(desc.partitions), "configs": {}}
    if not found:
        return found
    configs = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, t) for t in found], request_timeout=timeout
    )
    for resource, fut in configs.items():
        try:
            entries = fut.result(timeout=timeout + 1)
        except Exception as exc:  # noqa: BLE001
            problems.append(
                f"{side}: cannot read the configs of topic '{resource.name}' "
                f"({error_name(exc)}); grant DESCRIBE_CONFIGS on it"
            )
            continue
        found[resource.name]["configs"] = {
            k: ("" if e.value is None else str(e.value))
            for k, e in entries.items()
            if k in KEY_CONFIGS
        }
    return found
