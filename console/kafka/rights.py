"""What a principal can actually do on a cluster, not only which ACL bindings name it.

A listing of ACL bindings misses most of what matters: a super user (``super.users``
comes back from the broker as a sensitive config with no value), an authorizer set to
``allow.everyone.if.no.acl.found`` (also hidden), bindings for the wildcard principal
``User:*``, and listeners where every client is ``User:ANONYMOUS``. So the broker is
asked *as the principal* what it may do:

* ``describe_cluster``, ``describe_topics`` and ``describe_consumer_groups`` with
  ``include_authorized_operations=True``, for every topic and group on the cluster (or
  the ones given) and for probe names that exist nowhere;
* ``create_topics(..., validate_only=True)`` for a probe topic: whether it may create
  topics it was never meant to (nothing is created);

and, as the console's own user, for context: every ACL binding, the broker's
authorizer settings and listeners, and whether the principal has a SCRAM credential.
Listeners where clients are anonymous are probed as ``User:ANONYMOUS``.

The result lists, per resource, the operations allowed and where each comes from when
that can be told (an ACL binding, the wildcard principal, a super user or
``allow.everyone.if.no.acl.found``: the broker hides which of the last two), and what
could not be established. Where the broker refuses even DESCRIBE, no super user and no
allow-everyone is at work on that resource (either would grant DESCRIBE), so the ACL
bindings are the whole story there.

:func:`effective_rights` changes nothing on any cluster. The safe-consumers gate uses it
on shadow principals; the producer cutover uses it to prove a fence.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from console import redact
from console.kafka.client import (
    GROUP_NOT_READY,
    ClusterError,
    ErrorTrap,
    admin_client,
    client_config,
    connect_error,
    error_name,
    remaining,
)
from console.plan import ClusterSpec

CLUSTER = "cluster"
TOPIC = "topic"
GROUP = "group"
TRANSACTIONAL_ID = "transactional_id"

_KIND_OF = {
    ResourceType.BROKER: CLUSTER,
    ResourceType.TOPIC: TOPIC,
    ResourceType.GROUP: GROUP,
    ResourceType.TRANSACTIONAL_ID: TRANSACTIONAL_ID,
}
CLUSTER_RESOURCE = "kafka-cluster"
"""The one name the cluster resource has in ACL bindings."""

IMPLIES: dict[str, frozenset[str]] = {
    "DESCRIBE": frozenset({"READ", "WRITE", "DELETE", "ALTER", "ALL"}),
    "DESCRIBE_CONFIGS": frozenset({"ALTER_CONFIGS", "ALL"}),
}
"""Operations Kafka's authorizer grants implicitly: READ, WRITE, DELETE and ALTER each
allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS; ALL allows everything."""

OPERATIONS_BY_KIND: dict[str, tuple[str, ...]] = {
    CLUSTER: (
        "CREATE",
        "ALTER",
        "DESCRIBE",
        "CLUSTER_ACTION",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
        "IDEMPOTENT_WRITE",
    ),
    TOPIC: (
        "READ",
        "WRITE",
        "CREATE",
        "DELETE",
        "ALTER",
        "DESCRIBE",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
    ),
    GROUP: ("READ", "DELETE", "DESCRIBE"),
    TRANSACTIONAL_ID: ("WRITE", "DESCRIBE"),
}
"""The operations that mean something on each kind of resource."""

_MISSING = {"UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID", "GROUP_ID_NOT_FOUND"}

SUPER_USER = "super.users"
EVERYONE = "allow.everyone.if.no.acl.found"


@dataclass(frozen=True)
class Login:
    """Credentials to connect as the principal, on the cluster's own listener and protocol."""

    username: str
    password: str


@dataclass(frozen=True)
class Binding:
    """One ACL binding, as the broker lists it."""

    kind: str
    """``cluster``, ``topic``, ``group``, ``transactional_id`` (or the broker's word)."""
    pattern: str
    """``LITERAL`` or ``PREFIXED``."""
    name: str
    principal: str
    host: str
    operation: str
    permission: str
    """``ALLOW`` or ``DENY``."""

    def text(self) -> str:
        """How the gate and the audit log name it."""
        what = (
            "the cluster" if self.kind == CLUSTER else f"{self.kind} {self.pattern} '{self.name}'"
        )
        host = "" if self.host == "*" else f" from host {self.host}"
        return f"ACL {self.permission} {self.principal} {self.operation} on {what}{host}"

    def matches(self, kind: str, name: str) -> bool:
        """Whether the binding's resource pattern covers this resource."""
        if kind != self.kind:
            return False
        if kind == CLUSTER:
            return True
        if self.pattern == "PREFIXED":
            return name.startswith(self.name)
        return self.name in ("*", name)

    def grants(self, operation: str) -> bool:
        """Whether the binding's operation is, or implies, ``operation``."""
        return self.operation in ("ALL", operation) or self.operation in IMPLIES.get(operation, ())

    @property
    def wildcard_principal(self) -> bool:
        return self.principal == "User:*"


@dataclass(frozen=True)
class Grant:
    """One operation a principal may perform on a resource, and why."""

    operation: str
    source: str
    """Where it comes from, in words: an ACL, the wildcard principal, a super user..."""
    binding: Binding | None = None
    """The ACL binding behind it, when one is."""
    implied: bool = False
    """It comes with another operation (DESCRIBE with READ), not on its own."""


@dataclass(frozen=True)
class ResourceRights:
    """What the principal may do on one resource."""

    kind: str
    name: str
    """The resource's name (``''`` for the cluster)."""
    grants: tuple[Grant, ...]
    asked: bool
    """True when the broker answered as the principal; False when only ACLs tell."""
    note: str = ""

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(g.operation for g in self.grants)

    def grant(self, operation: str) -> Grant | None:
        return next((g for g in self.grants if g.operation == operation), None)

    def label(self) -> str:
        return "the cluster" if self.kind == CLUSTER else f"{self.kind} '{self.name}'"


@dataclass(frozen=True)
class AnonymousListener:
    """A listener where every client is ``User:ANONYMOUS``, and what that principal may do
    on the cluster (None when it could not be asked)."""

    listener: str
    address: str
    operations: tuple[str, ...] | None
    note: str = ""


@dataclass(frozen=True)
class Rights:
    """What one principal can do on one cluster, as far as could be established."""

    cluster: str
    principal: str
    logged_in: bool | None
    """True: the broker was asked as the principal; False: it could not log in with the
    credentials given; None: no credentials were given (ACLs only)."""
    login_note: str
    credential: str
    """Its SCRAM credential on this cluster: the mechanisms, ``none``, or ``unknown``."""
    resources: tuple[ResourceRights, ...]
    bindings: tuple[Binding, ...]
    """Every ACL binding that names the principal or the wildcard principal."""
    anonymous: tuple[AnonymousListener, ...] = ()
    unknown: tuple[str, ...] = ()
    """What could not be established, each in words."""
    context: tuple[str, ...] = ()
    """What the broker's settings say (or hide), for the reader of the gate."""

    def on(self, kind: str, name: str = "") -> ResourceRights | None:
        return next((r for r in self.resources if r.kind == kind and r.name == name), None)

    def allows(self, kind: str, name: str, operation: str) -> Grant | None:
        """The grant of ``operation`` on a resource that was looked at, or None."""
        found = self.on(kind, name)
        return found.grant(operation) if found else None

    def summary(self) -> list[str]:
        """A line per resource the principal may do anything on, for the gate."""
        lines = []
        for r in self.resources:
            if not r.grants:
                continue
            ops = ", ".join(sorted(r.operations))
            sources = sorted({g.source for g in r.grants if not g.implied})
            how = "" if r.asked else " (from ACLs)"
            lines.append(f"{r.label()}: {ops}{how} — {'; '.join(sources)}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFacts:
    """The cluster-wide half of a rights reading, read as the console's own user: the
    brokers, the authorizer settings and every ACL binding. The same for every principal
    asked about; a caller may keep it for one operator decision (see :func:`cluster_facts`)."""

    settings: dict[str, tuple[str | None, bool]]
    bindings: tuple[Binding, ...]
    acl_error: str | None
    """Why the bindings could not be listed (None: they were)."""
    unknown: tuple[str, ...]
    """What of it could not be read, in words."""


def cluster_facts(
    cluster: str,
    spec: ClusterSpec,
    admin: AdminClient,
    trap: ErrorTrap | None,
    deadline: float,
) -> ClusterFacts:
    """Read the brokers, their authorizer settings and every ACL binding with ``admin``
    (the console's own user). The settings and the bindings are asked for at once (two
    requests in flight, not one after the other). Raises :class:`ClusterError` only when
    the cluster cannot be reached."""
    try:
        description = admin.describe_cluster(request_timeout=remaining(deadline)).result()
    except KafkaException as exc:
        raise connect_error(cluster, spec, admin, trap or ErrorTrap(), exc) from None
    nodes = tuple(node.id for node in description.nodes)
    unknown: list[str] = []
    settings_pending = _ask_settings(admin, list(nodes), deadline, unknown)
    bindings_pending = _ask_bindings(admin, deadline)
    settings = _broker_settings(settings_pending, unknown)
    bindings, acl_error = _list_bindings(bindings_pending)
    return ClusterFacts(settings, tuple(bindings), acl_error, tuple(unknown))


def effective_rights(
    cluster: str,
    spec: ClusterSpec,
    admin_password: str | None,
    principal: str,
    login: Login | None,
    *,
    topics: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    probe_topics: Sequence[str] = (),
    probe_groups: Sequence[str] = (),
    probe_listeners: bool = True,
    timeout: float = 20.0,
    client: tuple[AdminClient, ErrorTrap | None] | None = None,
    facts: ClusterFacts | None = None,
) -> Rights:
    """What ``principal`` (``User:name``) can do on a cluster, asked of the broker as that
    principal when ``login`` is given, with the ACL bindings and broker settings read as
    the console's own user for context. ``topics`` and ``groups`` default to every one on
    the cluster; probe names (that should exist nowhere) show what grants reach names
    nobody listed. ``client`` is an open admin client of the console's own user (and its
    error trap) to use instead of a new one; ``facts`` the cluster-wide half read earlier
    by :func:`cluster_facts` (read now when not given). What is asked as the principal is
    always asked now. Raises :class:`ClusterError` only when the console's own user cannot
    reach the cluster; anything else missing is listed in ``unknown``. Changes nothing."""
    deadline = time.monotonic() + timeout
    if client is None:
        admin, trap = admin_client(spec, admin_password, client_id=f"cutover-rights-{cluster}")
    else:
        admin, trap = client
    if facts is None:
        facts = cluster_facts(cluster, spec, admin, trap, deadline)
    unknown: list[str] = list(facts.unknown)
    context: list[str] = []
    settings = facts.settings
    context += _settings_context(settings)
    all_bindings, acl_error = list(facts.bindings), facts.acl_error
    if acl_error:
        unknown.append(
            f"ACL bindings: the console's own user may not list them ({acl_error}); where a "
            "right comes from cannot be told"
        )
    mine = tuple(b for b in all_bindings if b.principal in (principal, "User:*"))
    names = list(topics) if topics is not None else _all_topics(admin, deadline, unknown)
    group_ids = list(groups) if groups is not None else _all_groups(admin, deadline, unknown)
    credential = _credential(admin, spec, principal, deadline, unknown)
    anonymous = tuple(_probe_anonymous(spec, settings, deadline)) if probe_listeners else ()

    asked: dict[tuple[str, str], frozenset[str] | None] = {}
    notes: dict[tuple[str, str], str] = {}
    logged_in: bool | None = None
    login_note = "no credentials given: rights below are what ACL bindings grant"
    if login is not None:
        logged_in, login_note = _ask_as_principal(
            spec,
            login,
            names,
            group_ids,
            probe_topics,
            probe_groups,
            deadline,
            asked,
            notes,
            unknown,
        )
    else:
        unknown.append(
            f"could not ask the broker as {principal} (no credentials): a super user or "
            f"{EVERYONE} would not show here"
        )
    resources = _merge(
        principal,
        all_bindings,
        mine,
        names,
        group_ids,
        probe_topics,
        probe_groups,
        asked,
        notes,
        acl_error is None,
    )
    unknown.append(
        "transactional ids: the client library cannot list or describe them, so only ACL "
        "bindings were read for them"
    )
    return Rights(
        cluster,
        principal,
        logged_in,
        login_note,
        credential,
        tuple(resources),
        mine,
        anonymous,
        tuple(unknown),
        tuple(context),
    )


_WANTED_SETTINGS = (
    "authorizer.class.name",
    SUPER_USER,
    EVERYONE,
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "ssl.client.auth",
    "sasl.enabled.mechanisms",
)


def _ask_settings(
    admin: AdminClient, nodes: list[int], deadline: float, unknown: list[str]
) -> Future | None:
    """Send the request for one broker's configs (answered by :func:`_broker_settings`)."""
    if not nodes:
        unknown.append("broker settings: the cluster listed no brokers")
        return None
    resource = ConfigResource(ResourceType.BROKER, str(nodes[0]))
    return _sent(
        lambda: admin.describe_configs([resource], request_timeout=remaining(deadline))[resource]
    )


def _sent(send) -> Future:
    """A request's future; a request refused as it is sent (librdkafka raises at once) is a
    future that failed, answered where the others are, never an exception here."""
    try:
        return send()
    except KafkaException as exc:
        failed: Future = Future()
        failed.set_exception(exc)
        return failed


def _broker_settings(
    pending: Future | None, unknown: list[str]
) -> dict[str, tuple[str | None, bool]]:
    """The broker configs that decide who may do what: ``name -> (value, sensitive)``."""
    if pending is None:
        return {}
    try:
        entries = pending.result()
    except KafkaException as exc:
        unknown.append(f"broker settings could not be read ({error_name(exc)})")
        return {}
    return {
        name: (entries[name].value, bool(entries[name].is_sensitive))
        for name in _WANTED_SETTINGS
        if name in entries
    }


def _settings_context(settings: dict[str, tuple[str | None, bool]]) -> list[str]:
    out = []
    authorizer = settings.get("authorizer.class.name", (None, False))[0]
    if "authorizer.class.name" in settings and not authorizer:
        out.append(
            "no authorizer is configured (authorizer.class.name is empty): every client may "
            "do everything"
        )
    elif authorizer and not authorizer.endswith(("StandardAuthorizer", "AclAuthorizer")):
        out.append(f"authorizer {authorizer}: not Kafka's own; it may grant rights no ACL names")
    for name in (SUPER_USER, EVERYONE):
        if name not in settings:
            continue
        value, sensitive = settings[name]
        if value is None and sensitive:
            out.append(
                f"{name}: hidden by the broker (a sensitive config); it shows only in what "
                "the principal is allowed"
            )
        else:
            out.append(f"{name} = {value}")
    return out


def exact_filter(binding: AclBinding) -> AclBindingFilter:
    """The filter that matches exactly this binding (to find it, or to delete it alone)."""
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _ask_bindings(admin: AdminClient, deadline: float) -> Future:
    """Send the request for every ACL binding (answered by :func:`_list_bindings`)."""
    every = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    return _sent(lambda: admin.describe_acls(every, request_timeout=remaining(deadline)))


def _list_bindings(pending: Future) -> tuple[list[Binding], str | None]:
    try:
        found = pending.result()
    except KafkaException as exc:
        return [], error_name(exc)
    return [
        Binding(
            _KIND_OF.get(b.restype, b.restype.name.lower()),
            b.resource_pattern_type.name,
            b.name,
            b.principal,
            b.host,
            b.operation.name,
            b.permission_type.name,
        )
        for b in found
    ], None


def _all_topics(admin: AdminClient, deadline: float, unknown: list[str]) -> list[str]:
    try:
        metadata = admin.list_topics(timeout=remaining(deadline))
    except KafkaException as exc:
        unknown.append(f"the topic list could not be read ({error_name(exc)})")
        return []
    return sorted(metadata.topics)


def _all_groups(admin: AdminClient, deadline: float, unknown: list[str]) -> list[str]:
    try:
        listed = admin.list_consumer_groups(request_timeout=remaining(deadline)).result()
    except KafkaException as exc:
        unknown.append(f"the consumer group list could not be read ({error_name(exc)})")
        return []
    return sorted(g.group_id for g in listed.valid)


def _credential(
    admin: AdminClient, spec: ClusterSpec, principal: str, deadline: float, unknown: list[str]
) -> str:
    kind, _, user = principal.partition(":")
    if kind != "User" or user == "*":
        return "unknown"
    try:
        future = admin.describe_user_scram_credentials([user], request_timeout=remaining(deadline))[
            user
        ]
        described = future.result()
    except KafkaException as exc:
        if error_name(exc) == "RESOURCE_NOT_FOUND":
            return "none"
        unknown.append(f"whether {principal} has a SCRAM credential ({error_name(exc)})")
        return "unknown"
    mechanisms = ", ".join(
        f"{info.mechanism.name.replace('_', '-')}" for info in described.scram_credential_infos
    )
    return mechanisms or "none"


def _listeners(settings: dict[str, tuple[str | None, bool]]) -> list[tuple[str, str, str]]:
    """``(listener name, protocol, host:port)`` for each advertised listener."""
    advertised = settings.get("advertised.listeners", (None, False))[0] or ""
    mapping = dict(
        pair.split(":", 1)
        for pair in (settings.get("listener.security.protocol.map", (None, False))[0] or "").split(
            ","
        )
        if ":" in pair
    )
    out = []
    for entry in filter(None, (e.strip() for e in advertised.split(","))):
        name, _, rest = entry.partition("://")
        protocol = mapping.get(name, name)
        out.append((name, protocol, rest))
    return out


def _probe_anonymous(
    spec: ClusterSpec, settings: dict[str, tuple[str | None, bool]], deadline: float
) -> Iterable[AnonymousListener]:
    """Ask each advertised listener that takes anonymous clients what ANONYMOUS may do."""
    client_auth = (settings.get("ssl.client.auth", (None, False))[0] or "none").lower()
    for name, protocol, address in _listeners(settings):
        if protocol == "PLAINTEXT" or (protocol == "SSL" and client_auth != "required"):
            if protocol == "SSL":
                yield AnonymousListener(
                    name,
                    address,
                    None,
                    "SSL without required client certificates: clients are ANONYMOUS; not "
                    "probed (the console has no trust store settings)",
                )
                continue
            trap = ErrorTrap()
            probe = AdminClient(
                {
                    "bootstrap.servers": address,
                    "security.protocol": "PLAINTEXT",
                    "client.id": "cutover-rights-anonymous",
                    "log_level": 0,
                    "error_cb": trap,
                }
            )
            try:
                got = probe.describe_cluster(
                    include_authorized_operations=True,
                    request_timeout=remaining(deadline, cap=5.0),
                ).result()
            except KafkaException as exc:
                yield AnonymousListener(name, address, None, f"not reachable ({error_name(exc)})")
                continue
            ops = tuple(sorted(op.name for op in got.authorized_operations or ()))
            yield AnonymousListener(name, address, ops)


def _ask_as_principal(
    spec: ClusterSpec,
    login: Login,
    topics: list[str],
    groups: list[str],
    probe_topics: Sequence[str],
    probe_groups: Sequence[str],
    deadline: float,
    asked: dict[tuple[str, str], frozenset[str] | None],
    notes: dict[tuple[str, str], str],
    unknown: list[str],
) -> tuple[bool, str]:
    """Ask the broker, logged in as the principal, what it may do. Fills ``asked`` with
    ``(kind, name) -> operations`` (None: the broker would not even DESCRIBE it)."""
    redact.register(login.password)
    as_user = spec.model_copy(update={"sasl_username": login.username})
    trap = ErrorTrap()
    conf = client_config(as_user, login.password, client_id="cutover-rights-probe", trap=trap)
    admin = AdminClient(conf)
    future = admin.describe_cluster(
        include_authorized_operations=True, request_timeout=remaining(deadline, cap=10.0)
    )
    # A wrong password reaches only error_cb (through poll); the request itself would just
    # time out, so watch both.
    while not future.done() and trap.auth_failure() is None:
        admin.poll(0.1)
    if trap.auth_failure() is not None:
        return False, f"{login.username} could not log in (authentication failed)"
    try:
        cluster = future.result()
    except KafkaException as exc:
        return False, f"could not ask as {login.username}: {error_name(exc)}"
    ops = cluster.authorized_operations
    asked[(CLUSTER, "")] = None if ops is None else frozenset(op.name for op in ops)

    wanted = list(dict.fromkeys([*topics, *probe_topics]))
    if wanted:
        futures = admin.describe_topics(
            TopicCollection(wanted),
            include_authorized_operations=True,
            request_timeout=remaining(deadline),
        )
        for name, future in futures.items():
            _topic_answer(name, future, asked, notes, unknown)

    pending = list(dict.fromkeys([*groups, *probe_groups]))
    for _attempt in range(10):
        if not pending:
            break
        retry = []
        futures = admin.describe_consumer_groups(
            pending, include_authorized_operations=True, request_timeout=remaining(deadline)
        )
        for name, future in futures.items():
            try:
                group = future.result()
            except KafkaException as exc:
                code = exc.args[0].code() if exc.args else None
                if code in GROUP_NOT_READY:
                    retry.append(name)
                    continue
                _denied_or_unknown(GROUP, name, exc, asked, notes, unknown)
                continue
            ops = group.authorized_operations
            asked[(GROUP, name)] = frozenset(op.name for op in ops or ())
        pending = retry
        if pending:
            time.sleep(0.2)  # the group coordinator is loading; ask again shortly
    for name in pending:
        unknown.append(f"group '{name}': its coordinator did not answer in time")

    for name in probe_topics:
        _probe_create(admin, name, deadline, asked, notes)
    return True, f"asked the broker as {login.username}"


def _topic_answer(
    name: str,
    future: Future,
    asked: dict[tuple[str, str], frozenset[str] | None],
    notes: dict[tuple[str, str], str],
    unknown: list[str],
) -> None:
    try:
        topic = future.result()
    except KafkaException as exc:
        _denied_or_unknown(TOPIC, name, exc, asked, notes, unknown)
        return
    asked[(TOPIC, name)] = frozenset(op.name for op in topic.authorized_operations or ())


def _denied_or_unknown(
    kind: str,
    name: str,
    exc: KafkaException,
    asked: dict[tuple[str, str], frozenset[str] | None],
    notes: dict[tuple[str, str], str],
    unknown: list[str],
) -> None:
    reason = error_name(exc)
    if "AUTHORIZATION_FAILED" in reason:
        asked[(kind, name)] = None
    elif reason in _MISSING:
        # Allowed to DESCRIBE (else the answer would be a denial) but absent: the broker
        # lists no operations for what does not exist.
        asked[(kind, name)] = frozenset({"DESCRIBE"})
        notes[(kind, name)] = "does not exist; the principal may at least DESCRIBE it"
    else:
        unknown.append(f"{kind} '{name}': {reason}")


def _probe_create(
    admin: AdminClient,
    name: str,
    deadline: float,
    asked: dict[tuple[str, str], frozenset[str] | None],
    notes: dict[tuple[str, str], str],
) -> None:
    """Would the broker let the principal create this topic? ``validate_only``: nothing is
    created either way."""
    future = admin.create_topics(
        [NewTopic(name, 1)], validate_only=True, request_timeout=remaining(deadline)
    )[name]
    try:
        future.result()
    except KafkaException as exc:
        reason = error_name(exc)
        if "AUTHORIZATION_FAILED" in reason:
            return
        if reason == "TOPIC_ALREADY_EXISTS":
            notes[(TOPIC, name)] = "exists"
            return
        # Anything else (a policy, a bad replication factor) was judged after the
        # authorizer let it through.
        notes[(TOPIC, name)] = f"creation passed the authorizer, then {reason}"
    before = asked.get((TOPIC, name)) or frozenset()
    asked[(TOPIC, name)] = before | {"CREATE"}


# -- attribution --------------------------------------------------------------------------


def _merge(
    principal: str,
    all_bindings: list[Binding],
    mine: tuple[Binding, ...],
    topics: list[str],
    groups: list[str],
    probe_topics: Sequence[str],
    probe_groups: Sequence[str],
    asked: dict[tuple[str, str], frozenset[str] | None],
    notes: dict[tuple[str, str], str],
    acls_known: bool,
) -> list[ResourceRights]:
    keys: list[tuple[str, str]] = [(CLUSTER, "")]
    keys += [(TOPIC, n) for n in dict.fromkeys([*topics, *probe_topics])]
    keys += [(GROUP, n) for n in dict.fromkeys([*groups, *probe_groups])]
    # Bindings on patterns (a prefix, the literal '*') and on transactional ids reach names
    # nobody listed: each pattern is a resource of its own, named 'prefix*' or '*'.
    keys += [
        (b.kind, b.name if b.pattern == "LITERAL" else f"{b.name}*")
        for b in mine
        if b.kind == TRANSACTIONAL_ID
        or (b.kind in (TOPIC, GROUP) and (b.pattern == "PREFIXED" or b.name == "*"))
    ]
    keys = list(dict.fromkeys(keys))
    super_seen = _super_evidence(principal, all_bindings, asked)
    # For names that exist nowhere the broker says only whether it would DESCRIBE or
    # CREATE them: a lower bound, completed with what the bindings grant.
    partial = {(TOPIC, n) for n in probe_topics} | {
        key for key, note in notes.items() if note.startswith("does not exist")
    }
    out = []
    for kind, name in keys:
        answer = asked.get((kind, name))
        from_acls = _granted_by_acls(kind, name, mine)
        if (kind, name) in partial:
            ops, was_asked = set(answer or ()) | from_acls, answer is not None
        elif (kind, name) in asked and answer is not None:
            # What the broker lists for an existing resource is the truth; used as it is.
            ops, was_asked = set(answer), True
        else:
            # Denied even DESCRIBE (no super user, no allow-everyone here), or not asked:
            # the bindings are what there is.
            ops, was_asked = from_acls, False
        grants = tuple(
            Grant(
                op,
                *_source(principal, kind, name, op, all_bindings, mine, super_seen, acls_known),
                implied=any(other in ops for other in IMPLIES.get(op, ())),
            )
            for op in sorted(ops)
        )
        note = notes.get((kind, name), "")
        if name.endswith("*") and (kind, name) not in asked:
            note = f"a pattern: every {kind} whose name starts with '{name[:-1]}'"
        if (kind, name) in asked and answer is None:
            note = note or "the broker would not let it DESCRIBE this"
        out.append(ResourceRights(kind, name, grants, was_asked, note))
    return out


def _lookup_name(kind: str, name: str) -> str:
    return CLUSTER_RESOURCE if kind == CLUSTER else name.rstrip("*")


def _granted_by_acls(kind: str, name: str, mine: Iterable[Binding]) -> set[str]:
    target = _lookup_name(kind, name)
    allowed: set[str] = set()
    for op in OPERATIONS_BY_KIND.get(kind, ()):
        matching = [b for b in mine if b.matches(kind, target) and b.grants(op)]
        if any(b.permission == "DENY" for b in matching):
            continue
        if any(b.permission == "ALLOW" for b in matching):
            allowed.add(op)
    return allowed


def _super_evidence(
    principal: str,
    all_bindings: list[Binding],
    asked: dict[tuple[str, str], frozenset[str] | None],
) -> bool:
    """Whether the principal was allowed something on a resource that ACLs name but that
    no binding of its own (or of User:*) allows, or that a DENY of its own forbids: only a
    super user gets that. (allow.everyone.if.no.acl.found applies only where no ACL names
    the resource.)"""
    for (kind, name), ops in asked.items():
        if not ops:
            continue
        target = _lookup_name(kind, name)
        naming = [b for b in all_bindings if b.matches(kind, target)]
        if not naming:
            continue
        for op in ops:
            own = [b for b in naming if b.principal in (principal, "User:*") and b.grants(op)]
            if any(b.permission == "DENY" for b in own) or not any(
                b.permission == "ALLOW" for b in own
            ):
                return True
    return False


def _source(
    principal: str,
    kind: str,
    name: str,
    op: str,
    all_bindings: list[Binding],
    mine: Iterable[Binding],
    super_seen: bool,
    acls_known: bool,
) -> tuple[str, Binding | None]:
    target = _lookup_name(kind, name)
    own = [b for b in mine if b.matches(kind, target) and b.grants(op)]
    allow = [b for b in own if b.permission == "ALLOW"]
    deny = [b for b in own if b.permission == "DENY"]
    if allow and not deny:
        best = sorted(allow, key=lambda b: (b.wildcard_principal, b.operation != op))[0]
        words = best.text()
        if best.wildcard_principal:
            words += " (wildcard principal: every user)"
        if best.operation != op:
            words += f" ({best.operation} implies {op})"
        return words, best
    if not acls_known:
        return "unknown (the ACLs could not be read)", None
    if deny:
        return f"a super user ({SUPER_USER}): allowed despite {deny[0].text()}", deny[0]
    naming = [b for b in all_bindings if b.matches(kind, target)]
    if naming or super_seen:
        return f"a super user ({SUPER_USER}, hidden by the broker): no ACL grants it", None
    return (
        f"a super user ({SUPER_USER}) or {EVERYONE}=true: no ACL names this resource and "
        "the broker hides both settings",
        None,
    )


def probe_name(avoid: str, kind: str = "topic") -> str:
    """A name for a probe resource that exists nowhere and does not start with ``avoid``."""
    name = f"cutover-rights-probe-{kind}-{uuid.uuid4().hex[:10]}"
    return name if not name.startswith(avoid) else f"x{name}"


__all__ = [
    "AnonymousListener",
    "Binding",
    "ClusterError",
    "ClusterFacts",
    "Grant",
    "Login",
    "ResourceRights",
    "Rights",
    "cluster_facts",
    "effective_rights",
    "probe_name",
]
