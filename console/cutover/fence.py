"""Fencing a moved group on the source: a DENY READ ACL on the group for its principal.

Once a group runs on the target, an old deployment restarted by mistake against the
source must not process the same records again. Kafka cannot stop a consumer by group
alone, but an ACL can: with StandardAuthorizer a DENY wins over every ALLOW for the same
principal and resource, so ``DENY READ`` on the group makes its consumers fail to join
and to commit (``GROUP_AUTHORIZATION_FAILED``). Super users bypass ACLs, so a fence only
holds for an ordinary principal.

The fence is recorded in the run database **before** the ACL is created (state
``adding``), so a crash in between still knows the ACL is the console's; a binding that
was already there before the console is recorded as ``preexisting`` and a rollback
leaves it. Creating it again is harmless (ACL creation is idempotent), and an ACL that is
already in place is never created twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from console.cutover.access import user_of
from console.cutover.clients import Side
from console.kafka import client as kafka
from console.kafka.rights import exact_filter
from console.store import Store

SOURCE = "source"


@dataclass(frozen=True)
class FenceResult:
    """What the fence step did."""

    fence_id: int
    added: bool
    """The ACL was created now (False: it was in place already)."""
    preexisting: bool
    verified: str
    """How it was confirmed: as the principal (denied), or only that the ACL is listed."""
    holds: bool | None = None
    """Asked as the principal: True when READ is refused, False when it is still
    allowed (a super user); None when it could not be asked."""


def binding_for(group_id: str, principal: str) -> AclBinding:
    """The fence: DENY READ on the group (literal) for the principal, any host."""
    return AclBinding(
        ResourceType.GROUP,
        group_id,
        ResourcePatternType.LITERAL,
        principal,
        "*",
        AclOperation.READ,
        AclPermissionType.DENY,
    )


def binding_dict(binding: AclBinding) -> dict[str, str]:
    """How the run database keeps a binding (names, so a rollback can rebuild it)."""
    return {
        "resource_type": binding.restype.name,
        "resource_name": binding.name,
        "pattern_type": binding.resource_pattern_type.name,
        "principal": binding.principal,
        "host": binding.host,
        "operation": binding.operation.name,
        "permission": binding.permission_type.name,
    }


def present(side: Side, binding: AclBinding, timeout: float) -> bool:
    """Whether exactly this binding is in the cluster's ACLs now."""
    try:
        found = side.admin.describe_acls(exact_filter(binding), request_timeout=timeout).result(
            timeout=timeout + 1
        )
    except KafkaException as exc:
        raise side.fail("reading ACLs", exc) from None
    return bool(found)


def ensure(
    store: Store,
    side: Side,
    group_id: str,
    principal: str,
    *,
    log,
    password: str | None,
    timeout: float = 15.0,
) -> FenceResult:
    """Make sure the group is fenced on the source for its principal; converges when run
    again after a crash at any point. ``log(action, **kw)`` audits intent and result."""
    binding = binding_for(group_id, principal)
    shape = binding_dict(binding)
    recorded = [
        f
        for f in store.cutover.fences(group_id)
        if f.cluster == SOURCE and f.principal == principal and f.operation == "READ"
    ]
    in_place = present(side, binding, timeout)
    if recorded and in_place:
        fence = recorded[0]
        if fence.state != "active":
            store.cutover.set_fence_state(fence.id, "active")
        holds, verified = _verify(side, group_id, principal, password, timeout)
        return FenceResult(fence.id, False, fence.preexisting, verified, holds)
    if in_place:
        fence_id = store.cutover.add_fence(
            group_id, SOURCE, shape, preexisting=True, state="active"
        )
        log(
            "fence.found",
            params={"cluster": SOURCE, **shape},
            outcome="already in place before the console; a rollback leaves it",
        )
        holds, verified = _verify(side, group_id, principal, password, timeout)
        return FenceResult(fence_id, False, True, verified, holds)
    with store.together():  # the fence's record and the intent: one commit
        fence_id = (
            recorded[0].id
            if recorded
            else store.cutover.add_fence(group_id, SOURCE, shape, preexisting=False)
        )
        intent = log("fence.add", params={"cluster": SOURCE, "fence_id": fence_id, **shape})
    try:
        for future in side.admin.create_acls([binding], request_timeout=timeout).values():
            future.result(timeout=timeout + 1)
    except KafkaException as exc:
        log("fence.add", ref=intent.seq, outcome=f"failed: {kafka.error_name(exc)}")
        raise kafka.ClusterError(
            f"source: creating the fence (DENY READ on group {group_id} for {principal}) failed "
            f"({kafka.error_name(exc)}); the console's user needs ALTER on the cluster; "
            "run the step again to retry"
        ) from None
    # CreateAcls returns when the controller committed; the broker's authorizer applies it
    # a moment later. Listed means in force on that broker.
    deadline = time.monotonic() + timeout
    while not present(side, binding, timeout):
        if time.monotonic() > deadline:
            log("fence.add", ref=intent.seq, outcome="created but not listed in time")
            raise kafka.ClusterError(
                f"source: the fence on group {group_id} was created but is not listed yet; "
                "run the step again to check"
            )
        time.sleep(0.1)  # poll interval while the authorizer applies the new binding
    store.cutover.set_fence_state(fence_id, "active")
    holds, verified = _verify(side, group_id, principal, password, timeout)
    log("fence.add", ref=intent.seq, params={"verified": verified}, outcome="in place")
    return FenceResult(fence_id, True, False, verified, holds)


def _verify(
    side: Side, group_id: str, principal: str, password: str | None, timeout: float
) -> tuple[bool | None, str]:
    """Confirm the fence as the principal when its password is at hand: the broker, asked
    which operations the principal may perform on the group, must leave READ out (joining
    and committing need READ; describing the group is still allowed, and harmless).
    Without the password, say that only the listing confirms it."""
    if not password or not side.spec.security_protocol.startswith("SASL"):
        return None, (
            "the DENY is listed in the source's ACLs (not tried as the principal: no password "
            "for it; a super user would ignore it)"
        )
    conf = kafka.client_config(
        side.spec.model_copy(update={"sasl_username": user_of(principal)}),
        password,
        client_id="cutover-shadow-fence-check",
    )
    admin = AdminClient(conf)
    deadline = time.monotonic() + timeout
    while True:
        try:
            desc = admin.describe_consumer_groups(
                [group_id], request_timeout=timeout, include_authorized_operations=True
            )[group_id].result(timeout=timeout + 1)
        except KafkaException as exc:
            if "AUTHORIZATION_FAILED" in kafka.error_name(exc):
                return True, f"as {principal}: the broker refuses even to describe the group"
            if time.monotonic() > deadline:
                return None, f"as {principal}: could not be asked ({kafka.error_name(exc)})"
            time.sleep(0.2)  # the group coordinator may be loading
            continue
        ops = {op.name for op in desc.authorized_operations or ()}
        if "READ" not in ops:
            return True, (
                f"as {principal}: the broker no longer allows READ on the group (it may "
                f"{', '.join(sorted(ops)) or 'do nothing'}): joining and committing are refused"
            )
        if time.monotonic() > deadline:
            return False, (
                f"as {principal}: READ on the group is still ALLOWED: the fence does not hold "
                "(is it a super user?)"
            )
        time.sleep(0.2)  # the authorizer may not have the new binding yet


def remove(store: Store, side: Side, fence_id: int, *, log, timeout: float = 15.0) -> str:
    """Remove a fence the console added (rollback, issue 12); a preexisting one is left."""
    fence = next((f for f in store.cutover.fences(active_only=False) if f.id == fence_id), None)
    if fence is None:
        raise ValueError(f"no fence #{fence_id} in this run database")
    if fence.preexisting:
        return "left in place: it was there before the console"
    if fence.state == "removed":
        return "already removed"
    binding = AclBinding(
        ResourceType[fence.resource_type],
        fence.resource_name,
        ResourcePatternType[fence.pattern_type],
        fence.principal,
        fence.host,
        AclOperation[fence.operation],
        AclPermissionType[fence.permission],
    )
    intent = log("fence.remove", params={"fence_id": fence_id, **binding_dict(binding)})
    try:
        for future in side.admin.delete_acls(
            [exact_filter(binding)], request_timeout=timeout
        ).values():
            future.result(timeout=timeout + 1)
    except KafkaException as exc:
        log("fence.remove", ref=intent.seq, outcome=f"failed: {kafka.error_name(exc)}")
        raise side.fail("removing the fence", exc) from None
    store.cutover.set_fence_state(fence_id, "removed")
    log("fence.remove", ref=intent.seq, outcome="removed")
    return "removed"
