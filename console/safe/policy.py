"""Is a shadow principal safe to run? Its effective rights judged against the plan.

The line is the shadow prefix (``[shadow] prefix``). On the TARGET the principal may do
anything inside it and must not be able to change anything outside it; on the SOURCE it
must be able to do nothing at all beyond what the plan declares (``source_allowed``).
Refused, each named with where the right comes from:

* WRITE, CREATE, DELETE, ALTER or ALTER_CONFIGS on a topic outside the prefix
  (``retention.ms=1`` through ALTER_CONFIGS deletes production data as surely as DELETE);
* ALTER, ALTER_CONFIGS, CREATE or CLUSTER_ACTION on the cluster (ALTER lets it grant
  itself anything; CREATE on the cluster reaches every topic name);
* READ, DELETE or ALTER_CONFIGS on a group outside the prefix (READ alone lets it join a
  production group and commit offsets for it);
* WRITE on a transactional id outside the prefix (it could fence a production producer);
* any right at all on the source that the plan does not declare, including being able to
  log in there with a credential the check cannot try.

What the check cannot see is listed beside the verdict, never counted as safe or unsafe:
see :mod:`console.kafka.rights`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.kafka.rights import CLUSTER, GROUP, TOPIC, TRANSACTIONAL_ID, Rights
from console.plan import Plan, ShadowConsumerSpec

FORBIDDEN: dict[str, frozenset[str]] = {
    TOPIC: frozenset({"WRITE", "CREATE", "DELETE", "ALTER", "ALTER_CONFIGS"}),
    CLUSTER: frozenset({"ALTER", "ALTER_CONFIGS", "CREATE", "CLUSTER_ACTION"}),
    GROUP: frozenset({"READ", "DELETE", "ALTER_CONFIGS", "ALTER"}),
    TRANSACTIONAL_ID: frozenset({"WRITE"}),
}
"""Per kind of resource outside the shadow prefix (and the cluster): the operations that
refuse a start."""

WHY: dict[tuple[str, str], str] = {
    (CLUSTER, "ALTER"): "it could grant itself any right",
    (CLUSTER, "CREATE"): "it could create any topic",
    (CLUSTER, "ALTER_CONFIGS"): "it could change broker settings",
    (CLUSTER, "CLUSTER_ACTION"): "it could act as a broker",
    (TOPIC, "ALTER_CONFIGS"): "retention.ms=1 deletes production data",
    (TOPIC, "DELETE"): "it could delete production data",
    (TOPIC, "WRITE"): "it could write into production",
    (GROUP, "READ"): "it could join the group and commit its offsets",
    (TRANSACTIONAL_ID, "WRITE"): "it could fence a production producer",
}


@dataclass(frozen=True)
class Judgement:
    """What the check found for one shadow consumer."""

    consumer: str
    principal: str
    refusals: list[str] = field(default_factory=list)
    """Each a right the principal must not have, with where it comes from."""
    warnings: list[str] = field(default_factory=list)
    """True and worth reading, but not the principal's own right (an anonymous listener),
    or something that will make the consumer fail rather than harm production."""
    unknown: list[str] = field(default_factory=list)
    """What could not be established."""
    target_rights: list[str] = field(default_factory=list)
    source_rights: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return not self.refusals

    def lines(self) -> list[str]:
        """The gate's lines for this consumer."""
        out = [f"{self.consumer} as {self.principal}:"]
        out += [f"  target: {line}" for line in self.target_rights] or [
            "  target: no rights at all"
        ]
        out += [f"  source: {line}" for line in self.source_rights]
        out += [f"  REFUSED: {line}" for line in self.refusals]
        out += [f"  WARN: {line}" for line in self.warnings]
        out += [f"  not established: {line}" for line in self.unknown]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "principal": self.principal,
            "safe": self.safe,
            "refusals": self.refusals,
            "warnings": self.warnings,
            "unknown": self.unknown,
            "target_rights": self.target_rights,
            "source_rights": self.source_rights,
        }


def outside(name: str, prefix: str) -> bool:
    """Whether a resource (or a ``prefix*`` pattern, or ``*``) reaches beyond the prefix."""
    stem = name[:-1] if name.endswith("*") else name
    return not stem.startswith(prefix)


def judge(
    plan: Plan,
    consumer: ShadowConsumerSpec,
    target: Rights | None,
    source: Rights | None,
) -> Judgement:
    """The verdict on one shadow consumer's principal, from its rights on both sides (a
    side that could not be read at all is None, and says so)."""
    prefix = plan.shadow.prefix
    out = Judgement(consumer.name, consumer.kafka_principal)
    if target is None:
        out.unknown.append("the target could not be read: nothing is known of its rights")
    else:
        _judge_target(plan, consumer, target, prefix, out)
    if source is None:
        out.unknown.append("the source could not be read: nothing is known of its rights there")
    else:
        _judge_source(consumer, source, out)
    return out


def _judge_target(
    plan: Plan, consumer: ShadowConsumerSpec, rights: Rights, prefix: str, out: Judgement
) -> None:
    if rights.logged_in is False:
        out.warnings.append(
            f"{rights.login_note}: the consumer cannot run; its rights are judged from ACLs"
        )
    out.target_rights.extend(rights.summary())
    for resource in rights.resources:
        if resource.kind != CLUSTER and not outside(resource.name, prefix):
            continue
        for op in sorted(resource.operations & FORBIDDEN.get(resource.kind, frozenset())):
            grant = resource.grant(op)
            why = WHY.get((resource.kind, op))
            what = "the cluster" if resource.kind == CLUSTER else resource.label()
            if resource.kind != CLUSTER and resource.name.endswith("*"):
                what = f"every {resource.kind} named '{resource.name}'"
            out.refusals.append(
                f"{consumer.kafka_principal} may {op} {what} on the target"
                + (f" ({why})" if why else "")
                + f": {grant.source if grant else 'unknown source'}"
            )
    for topic in consumer.topics:
        if not rights.allows(TOPIC, topic, "READ") and rights.logged_in:
            out.warnings.append(
                f"{consumer.kafka_principal} may not READ '{topic}' on the target: the "
                "consumer will count authorization errors"
            )
    for listener in rights.anonymous:
        out.warnings.append(_anonymous_words("target", listener))
    out.unknown.extend(rights.unknown)


def _declared(consumer: ShadowConsumerSpec) -> set[tuple[str, str, str]]:
    allowed = set()
    for entry in consumer.source_allowed:
        kind, name, op = entry.split(":")
        allowed.add((kind, name, op))
        if op in ("READ", "WRITE", "DELETE", "ALTER"):
            allowed.add((kind, name, "DESCRIBE"))
        if op == "ALTER_CONFIGS":
            allowed.add((kind, name, "DESCRIBE_CONFIGS"))
    return allowed


def _judge_source(consumer: ShadowConsumerSpec, rights: Rights, out: Judgement) -> None:
    principal = consumer.kafka_principal
    declared = _declared(consumer)
    if rights.logged_in:
        out.source_rights.extend(rights.summary())
        for resource in rights.resources:
            name = "" if resource.kind == CLUSTER else resource.name
            for grant in resource.grants:
                if (resource.kind, name, grant.operation) in declared:
                    continue
                out.refusals.append(
                    f"{principal} may {grant.operation} {resource.label()} on the SOURCE, "
                    f"which the plan does not declare: {grant.source}"
                )
    elif rights.credential not in ("none", "unknown"):
        out.refusals.append(
            f"{principal} has a {rights.credential} credential on the SOURCE and could not be "
            "checked there with its shadow password, so what it may do there is unknown; "
            "delete that credential or run the shadow consumer as another principal"
        )
    elif rights.credential == "none":
        out.source_rights.append(
            f"cannot log in (no SCRAM credential for {principal} on the source)"
        )
        own = [b for b in rights.bindings if not b.wildcard_principal]
        if own:
            out.warnings.append(
                f"ACL bindings on the source name {principal} although it cannot log in "
                f"there ({own[0].text()}{' and more' if len(own) > 1 else ''}); they would "
                "apply if the user were created"
            )
    else:
        out.unknown.append(f"whether {principal} can log in to the source: {rights.login_note}")
    for listener in rights.anonymous:
        out.warnings.append(_anonymous_words("source", listener))
    out.unknown.extend(u for u in rights.unknown if u not in out.unknown)


def _anonymous_words(side: str, listener) -> str:
    if listener.operations is None:
        return (
            f"{side} listener {listener.listener} {listener.address} takes anonymous clients "
            f"(User:ANONYMOUS); {listener.note or 'what they may do was not established'}"
        )
    ops = ", ".join(listener.operations) or "nothing on the cluster"
    return (
        f"{side} listener {listener.listener} {listener.address}: every client there is "
        f"User:ANONYMOUS, who may {ops} on the cluster; a shadow consumer that connects there "
        "instead of the bootstrap servers it is given is not bound by its own ACLs"
    )
