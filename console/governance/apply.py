"""Making the selected governance items true on the TARGET: missing ACLs, differing configs.

Only the target's admin client is ever made here (the function takes the target's
spec and nothing else), so this step cannot change the source. Each change is audited
before it is made (``governance.change``, outcome ``intent``, with exactly what is
sent) and after (``applied`` or ``failed: <why>``, referring back to the intent).
Creating an ACL that already exists, or setting a config to the value it has, changes
nothing, so running the step again after a crash repeats no side effect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)

from console import redact
from console.errors import Cancelled, Progress
from console.kafka.client import admin_client, error_name
from console.plan import ClusterSpec

Log = Callable[..., Any]
"""``ctx.log``: appends an audit entry for the running step and returns it."""


def pending(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items decided 'apply' that can be applied."""
    return [
        item
        for item in body.get("items", [])
        if item.get("decision") == "apply" and item.get("fix") and item.get("change")
    ]


def describe(item: dict[str, Any]) -> str:
    """One line saying exactly what applying the item sends to the target."""
    change = item["change"]
    if "acl" in change:
        acl = change["acl"]
        return (
            f"create ACL {acl['principal']} {acl['permission']} {acl['operation']} on "
            f"{acl['resource_type'].lower()} '{acl['name']}' ({acl['pattern'].lower()}, "
            f"host {acl['host']})"
        )
    return (
        f"set topic '{change['topic']}' {change['config']}: {item['target']} -> {change['value']}"
    )


def apply_on_target(
    target: ClusterSpec,
    password: str | None,
    items: list[dict[str, Any]],
    *,
    log: Log,
    cancel: threading.Event,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Apply each item on the target, audited before and after; the result of each."""
    admin, _trap = admin_client(target, password, client_id="cutover-governance-apply")
    timeout = target.request_timeout_s
    results = []
    for n, item in enumerate(items, start=1):
        if cancel.is_set():
            raise Cancelled(f"cancelled after {n - 1} of {len(items)} changes")
        line = describe(item)
        progress(f"target: {line} ({n}/{len(items)})")
        intent = log(
            "governance.change",
            params={"item": item["key"], "cluster": "target", "change": item["change"]},
            outcome="intent",
        )
        try:
            _send(admin, item["change"], timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, then reported
            why = redact.text(f"{error_name(exc)}: {exc}")
            log(
                "governance.change",
                ref=intent.seq,
                params={"item": item["key"]},
                outcome=f"failed: {why}",
            )
            results.append({"item": item["key"], "change": line, "result": f"failed: {why}"})
            continue
        log("governance.change", ref=intent.seq, params={"item": item["key"]}, outcome="applied")
        results.append({"item": item["key"], "change": line, "result": "applied"})
    return results


def _send(admin, change: dict[str, Any], timeout: float) -> None:
    if "acl" in change:
        acl = change["acl"]
        # confluent-kafka calls Kafka's CLUSTER resource type BROKER.
        kind = "BROKER" if acl["resource_type"] == "CLUSTER" else acl["resource_type"]
        binding = AclBinding(
            ResourceType[kind],
            acl["name"],
            ResourcePatternType[acl["pattern"]],
            acl["principal"],
            acl["host"],
            AclOperation[acl["operation"]],
            AclPermissionType[acl["permission"]],
        )
        for fut in admin.create_acls([binding], request_timeout=timeout).values():
            fut.result(timeout=timeout + 1)
        return
    resource = ConfigResource(
        ResourceType.TOPIC,
        change["topic"],
        incremental_configs=[
            ConfigEntry(
                change["config"],
                change["value"],
                incremental_operation=AlterConfigOpType.SET,
            )
        ],
    )
    for fut in admin.incremental_alter_configs([resource], request_timeout=timeout).values():
        fut.result(timeout=timeout + 1)
