"""May a group's principal read its topics and its group on the target?

Two ways to tell, and the answer says which was used:

* **as the principal**, when the plan says where its password lives
  (``principal_password``): sign in as it and ask the broker what it may do
  (``include_authorized_operations`` on the topics and the group). This is what the
  broker will really allow, super users and ``allow.everyone.if.no.acl.found``
  included.
* **from the ACLs** otherwise: the target's bindings for the principal and for
  ``User:*``, matched to each topic and the group (literal, prefixed, ``*``); a DENY
  wins over any ALLOW, as with Kafka's StandardAuthorizer. Super users and
  ``allow.everyone.if.no.acl.found`` grant rights no binding names, and cannot be seen
  this way: the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from console.cutover.clients import Side
from console.kafka import client as kafka
from console.plan import ClusterSpec


@dataclass(frozen=True)
class Access:
    """What was established, and how."""

    allowed: bool | None
    """True: may read all; False: may not (``missing`` says what); None: unknown."""
    how: str
    """``as the principal`` or ``from the ACLs``."""
    lines: tuple[str, ...]
    missing: tuple[str, ...] = ()


def user_of(principal: str) -> str:
    """The SASL user name of ``User:name``."""
    return principal.partition(":")[2]


def as_principal(
    spec: ClusterSpec, principal: str, password: str, topics: list[str], group: str, timeout: float
) -> Access:
    """Sign in as the principal and ask what it may do."""
    conf = kafka.client_config(
        spec.model_copy(update={"sasl_username": user_of(principal)}),
        password,
        client_id="cutover-shadow-rights",
    )
    admin = AdminClient(conf)
    lines: list[str] = []
    missing: list[str] = []
    try:
        described = admin.describe_topics(
            TopicCollection(topics), request_timeout=timeout, include_authorized_operations=True
        )
        for topic, future in described.items():
            try:
                ops = future.result(timeout=timeout + 1).authorized_operations or []
            except KafkaException as exc:
                missing.append(f"topic {topic} ({kafka.error_name(exc)})")
                continue
            if AclOperation.READ in ops:
                lines.append(f"READ on topic {topic}: allowed")
            else:
                missing.append(f"READ on topic {topic}")
        try:
            desc = admin.describe_consumer_groups(
                [group], request_timeout=timeout, include_authorized_operations=True
            )[group].result(timeout=timeout + 1)
            ops = desc.authorized_operations or []
            if AclOperation.READ in ops:
                lines.append(f"READ on group {group}: allowed")
            else:
                missing.append(f"READ on group {group}")
        except KafkaException as exc:
            missing.append(f"group {group} ({kafka.error_name(exc)})")
    except KafkaException as exc:
        return Access(
            None,
            "as the principal",
            (f"signing in as {principal} failed ({kafka.error_name(exc)})",),
        )
    return Access(not missing, "as the principal", tuple(lines), tuple(missing))


def _matches(binding, resource_type, name: str) -> bool:
    if binding.restype != resource_type:
        return False
    pattern = binding.resource_pattern_type
    if pattern == ResourcePatternType.LITERAL:
        return binding.name in (name, "*")
    if pattern == ResourcePatternType.PREFIXED:
        return name.startswith(binding.name)
    return False


def _grants(binding) -> bool:
    return binding.operation in (AclOperation.READ, AclOperation.ALL)


def from_acls(side: Side, principal: str, topics: list[str], group: str, timeout: float) -> Access:
    """Read the target's ACLs for the principal (and ``User:*``) and match them."""
    bindings = []
    for who in (principal, "User:*"):
        flt = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            who,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        try:
            bindings += side.admin.describe_acls(flt, request_timeout=timeout).result(
                timeout=timeout + 1
            )
        except KafkaException as exc:
            return Access(
                None,
                "from the ACLs",
                (f"the target's ACLs could not be read ({kafka.error_name(exc)})",),
            )
    lines: list[str] = []
    missing: list[str] = []
    wanted = [(ResourceType.TOPIC, "topic", t) for t in topics]
    wanted.append((ResourceType.GROUP, "group", group))
    for rtype, word, name in wanted:
        found = [b for b in bindings if _matches(b, rtype, name) and _grants(b)]
        deny = [b for b in found if b.permission_type == AclPermissionType.DENY]
        allow = [b for b in found if b.permission_type == AclPermissionType.ALLOW]
        if deny:
            missing.append(f"READ on {word} {name} (denied by {_show(deny[0])})")
        elif allow:
            lines.append(f"READ on {word} {name}: {_show(allow[0])}")
        else:
            missing.append(f"READ on {word} {name} (no binding allows it)")
    lines.append(
        "super users and allow.everyone.if.no.acl.found grant rights no binding names; they "
        "cannot be seen from the ACLs"
    )
    return Access(not missing, "from the ACLs", tuple(lines), tuple(missing))


def _show(binding) -> str:
    pattern = binding.resource_pattern_type.name
    return (
        f"{binding.permission_type.name} {binding.operation.name} {binding.principal} on "
        f"{binding.restype.name.lower()} {binding.name} ({pattern}, host {binding.host})"
    )


def check_read(
    side: Side,
    principal: str,
    password: str | None,
    topics: list[str],
    group: str,
    timeout: float,
) -> Access:
    """As the principal when its password is at hand, else from the ACLs."""
    if password and side.spec.security_protocol.startswith("SASL"):
        found = as_principal(side.spec, principal, password, topics, group, timeout)
        if found.allowed is not None:
            return found
        acl = from_acls(side, principal, topics, group, timeout)
        return Access(acl.allowed, acl.how, found.lines + acl.lines, acl.missing)
    return from_acls(side, principal, topics, group, timeout)
