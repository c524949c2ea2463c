"""From two sides' readings to the list of differences: pure, no Kafka, no SQLite.

Each difference is an :class:`Item` with a stable ``key`` (the same difference read
again has the same key, so a decision carries over to a new reading as long as both
sides still say the same), what each side has, and whether cutover can make the
target match (``fix``): only a missing ACL (created on the target) and a differing
topic config (set on the target) can be applied. Everything else is accepted or
skipped by a person, and the item says why it cannot be applied.

Which ACLs are in scope: those on a plan topic or group (literal names, ``*``, and
prefixes that cover one), and the cluster and transactional-id ACLs of the principals
those name, plus the principals the plan's ``[governance]`` section lists. SCRAM users
and user quotas are compared for the same principals; quotas for client ids and
defaults are compared whole (a cluster has few).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Topic configs whose difference changes what producers and consumers see.
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

DECISIONS = ("accept", "apply", "skip")
"""accept: the difference is intended; apply: make the target match the source (ACLs
and configs only); skip: not handled here (someone else's, or later)."""


@dataclass(frozen=True)
class Acl:
    """One ACL binding as both sides are compared."""

    resource_type: str
    """TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID."""
    name: str
    pattern: str
    """LITERAL or PREFIXED."""
    principal: str
    host: str
    operation: str
    permission: str

    @property
    def key(self) -> str:
        return ":".join(
            (
                self.resource_type,
                self.pattern,
                self.name,
                self.principal,
                self.host,
                self.operation,
                self.permission,
            )
        )

    def words(self) -> str:
        kind = self.resource_type.lower().replace("_", " ")
        pattern = " (prefix)" if self.pattern == "PREFIXED" else ""
        host = "" if self.host == "*" else f" from {self.host}"
        return (
            f"{self.principal} {self.permission} {self.operation} on {kind} "
            f"'{self.name}'{pattern}{host}"
        )


@dataclass(frozen=True)
class Reading:
    """What one cluster holds, as far as governance goes. ``None`` where it could not be
    read (the reason is in ``problems`` or ``not_read``)."""

    side: str
    acls: list[Acl] | None
    scram: dict[str, list[str]] | None
    """User to its credentials, each ``MECHANISM/iterations``."""
    topics: dict[str, dict[str, Any]]
    """Plan topics present: ``{"partitions": n, "configs": {name: value}}``."""
    quotas: dict[str, dict[str, float]] | None
    """Quota entity key (``user=app``) to its values."""
    subjects: dict[str, dict[str, Any]] | None
    """Subject to ``{"version", "kind", "schema", "compatibility"}``; absent: not there."""
    problems: list[str] = field(default_factory=list)
    not_read: dict[str, str] = field(default_factory=dict)
    """What was not compared on this side and why (``quotas``, ``subjects``)."""


@dataclass(frozen=True)
class Item:
    """One difference between the sides."""

    key: str
    kind: str
    """acl, scram, config, partitions, topic, quota, subject, compatibility."""
    what: str
    """The difference in words."""
    source: str
    target: str
    fix: str | None
    """What applying does on the target, in words; None when it cannot be applied."""
    why_not: str = ""
    """Why it cannot be applied, when it cannot."""
    change: dict[str, Any] | None = None
    """What apply sends to the target (an ACL binding, or a config name and value)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scope:
    """What the diff covers."""

    topics: list[str]
    groups: list[str]
    principals: list[str]
    subjects: list[str]


def covers(acl: Acl, names: list[str]) -> bool:
    """Whether an ACL's resource pattern matches any of ``names``."""
    if acl.pattern == "LITERAL":
        return acl.name == "*" or acl.name in names
    if acl.pattern == "PREFIXED":
        return any(n.startswith(acl.name) for n in names)
    return False


def scope_of(
    topics: list[str],
    groups: list[str],
    extra_principals: list[str],
    extra_subjects: list[str],
    readings: list[Reading],
) -> Scope:
    """The principals in scope: those named by ACLs on the plan's topics and groups on
    either side, and the plan's own list."""
    principals = set(extra_principals)
    for reading in readings:
        for acl in reading.acls or []:
            if (acl.resource_type == "TOPIC" and covers(acl, topics)) or (
                acl.resource_type == "GROUP" and covers(acl, groups)
            ):
                principals.add(acl.principal)
    subjects = [f"{t}-{part}" for t in topics for part in ("key", "value")]
    subjects += [s for s in extra_subjects if s not in subjects]
    return Scope(topics, groups, sorted(principals), subjects)


def in_scope(acl: Acl, scope: Scope) -> bool:
    if acl.resource_type == "TOPIC":
        return covers(acl, scope.topics)
    if acl.resource_type == "GROUP":
        return covers(acl, scope.groups)
    if acl.resource_type in ("CLUSTER", "TRANSACTIONAL_ID"):
        return acl.principal in scope.principals or acl.principal == "User:*"
    return False


def diff(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    """Every difference between the sides within ``scope``, in a stable order."""
    items: list[Item] = []
    items += _acl_items(source, target, scope)
    items += _scram_items(source, target, scope)
    items += _topic_items(source, target, scope)
    items += _quota_items(source, target, scope)
    items += _subject_items(source, target, scope)
    return items


def _acl_items(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    if source.acls is None or target.acls is None:
        return []
    src = {a.key: a for a in source.acls if in_scope(a, scope)}
    tgt = {a.key: a for a in target.acls if in_scope(a, scope)}
    items = []
    for key in sorted(src.keys() - tgt.keys()):
        acl = src[key]
        items.append(
            Item(
                f"acl:{key}",
                "acl",
                f"ACL only on source: {acl.words()}",
                "present",
                "absent",
                "create this ACL on the target",
                change={"acl": asdict(acl)},
            )
        )
    for key in sorted(tgt.keys() - src.keys()):
        acl = tgt[key]
        items.append(
            Item(
                f"acl:{key}",
                "acl",
                f"ACL only on target: {acl.words()}",
                "absent",
                "present",
                None,
                "cutover adds what the source has and never deletes an ACL; remove it with "
                "kafka-acls on the target if it must go",
            )
        )
    return items


def _scram_items(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    if source.scram is None or target.scram is None:
        return []
    users = sorted(
        p.removeprefix("User:") for p in scope.principals if p.startswith("User:") and p != "User:*"
    )
    items = []
    for user in users:
        a, b = source.scram.get(user), target.scram.get(user)
        if a == b:
            continue
        show_a = ", ".join(a) if a else "none"
        show_b = ", ".join(b) if b else "none"
        items.append(
            Item(
                f"scram:{user}",
                "scram",
                f"SCRAM credentials of user '{user}' differ",
                show_a,
                show_b,
                None,
                "Kafka keeps only salted hashes, so a password cannot be copied; set it on the "
                "target with kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]' "
                f"--entity-type users --entity-name {user}",
            )
        )
    return items


def _topic_items(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    items = []
    for topic in scope.topics:
        a, b = source.topics.get(topic), target.topics.get(topic)
        if a is None:
            continue  # the inventory says a plan topic is missing on the source
        if b is None:
            items.append(
                Item(
                    f"topic:{topic}",
                    "topic",
                    f"topic '{topic}' is not on the target",
                    "present",
                    "absent",
                    None,
                    "topics are created by the shadow path (create_on_target), with the "
                    "source's partition count and configs",
                )
            )
            continue
        if a["partitions"] != b["partitions"]:
            items.append(
                Item(
                    f"partitions:{topic}",
                    "partitions",
                    f"topic '{topic}' has {a['partitions']} partitions on source, "
                    f"{b['partitions']} on target",
                    str(a["partitions"]),
                    str(b["partitions"]),
                    None,
                    "a different partition count moves keys to other partitions; "
                    "partitions can only be added, and adding them is a decision for the "
                    "topic's owner",
                )
            )
        for name in KEY_CONFIGS:
            va, vb = a["configs"].get(name), b["configs"].get(name)
            if va == vb:
                continue
            items.append(
                Item(
                    f"config:{topic}:{name}",
                    "config",
                    f"topic '{topic}' {name}",
                    _shown(va),
                    _shown(vb),
                    f"set {name} = {_shown(va)} on the target's topic '{topic}'"
                    if va is not None
                    else None,
                    "" if va is not None else "the source's value could not be read",
                    change={"topic": topic, "config": name, "value": va}
                    if va is not None
                    else None,
                )
            )
    return items


def _quota_items(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    if source.quotas is None or target.quotas is None:
        return []
    users = {p.removeprefix("User:") for p in scope.principals if p.startswith("User:")}

    def wanted(key: str) -> bool:
        parts = dict(part.split("=", 1) for part in key.split(","))
        user = parts.get("user")
        return user is None or user == "<default>" or user in users

    items = []
    for key in sorted(k for k in source.quotas.keys() | target.quotas.keys() if wanted(k)):
        a, b = source.quotas.get(key), target.quotas.get(key)
        if a == b:
            continue
        items.append(
            Item(
                f"quota:{key}",
                "quota",
                f"client quota {key}",
                _values(a),
                _values(b),
                None,
                "confluent-kafka cannot alter client quotas; set it with kafka-configs "
                "--alter --entity-type users/clients on the target",
            )
        )
    return items


def _subject_items(source: Reading, target: Reading, scope: Scope) -> list[Item]:
    if source.subjects is None or target.subjects is None:
        return []
    why = "register schemas and set compatibility with the registry's own tooling"
    items = []
    for subject in scope.subjects:
        a, b = source.subjects.get(subject), target.subjects.get(subject)
        if a is None and b is None:
            continue
        if a is None or b is None:
            only = "target" if a is None else "source"
            items.append(
                Item(
                    f"subject:{subject}",
                    "subject",
                    f"schema subject '{subject}' is only on the {only}",
                    "absent" if a is None else f"v{a['version']}",
                    "absent" if b is None else f"v{b['version']}",
                    None,
                    why,
                )
            )
            continue
        if (a["kind"], a["schema"]) != (b["kind"], b["schema"]):
            items.append(
                Item(
                    f"subject:{subject}",
                    "subject",
                    f"schema subject '{subject}': the latest schemas differ",
                    f"v{a['version']} {a['kind']}",
                    f"v{b['version']} {b['kind']}",
                    None,
                    why,
                )
            )
        if a["compatibility"] != b["compatibility"]:
            items.append(
                Item(
                    f"compatibility:{subject}",
                    "compatibility",
                    f"schema subject '{subject}' compatibility",
                    a["compatibility"],
                    b["compatibility"],
                    None,
                    why,
                )
            )
    return items


def _shown(value: str | None) -> str:
    return "(unknown)" if value is None else (value or "(empty)")


def _values(values: dict[str, float] | None) -> str:
    if not values:
        return "none"
    return ", ".join(f"{k}={v:g}" for k, v in sorted(values.items()))
