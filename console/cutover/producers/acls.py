"""The ACLs a producer cutover adds and removes, and the proof that a fence holds.

* **Fence** (source): ``DENY WRITE`` on each of the class's topics (literal) for each of
  its principals. With Kafka's StandardAuthorizer a DENY wins over every ALLOW for the
  same principal, so its producers' writes are refused (``TOPIC_AUTHORIZATION_FAILED``)
  while a removal restores what the ALLOWs grant. Transactional ids are deliberately
  *not* denied: denying WRITE on one also blocks EndTxn, so an open transaction could
  neither commit nor abort until ``transaction.timeout.ms`` ran out, and the copy (which
  reads committed records) could not reach the fence point meanwhile. With the topics
  denied, a transaction can still end; the records it already wrote are settled either
  way.
* **Open** (target): ``ALLOW WRITE`` on the topics, and for a transactional class
  ``ALLOW WRITE`` and ``DESCRIBE`` on its transactional-id prefix.
* **Target fence** (rollback): ``DENY WRITE`` on the topics on the target.

Every binding is recorded in the run database **before** it is created (``adding``), so
a crash in between still knows it is the console's; a binding already there is recorded
``preexisting`` and never removed (one an earlier run of the class added and left live,
as a move after a rollback finds the first move's, is kept as that run's). Running again
converges: a binding listed already is
never created twice, one listed as removed is not removed again.

A fence only binds an ordinary principal. :func:`fence_problems` reads the principal's
effective rights (:mod:`console.kafka.rights`, asked as the principal when its password
is at hand) and names what no DENY can stop: a super user, a right that comes from a
wildcard binding (``User:*``) or from ``allow.everyone.if.no.acl.found``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from console.cutover.producers.cluster import Cluster, binding_text
from console.kafka import rights as kafka_rights
from console.kafka.rights import EVERYONE, SUPER_USER, Login, Rights
from console.plan import Plan, ProducerClass, credentials
from console.store import Store

WRITE = "WRITE"


def binding(
    kind: str, name: str, principal: str, operation: str, permission: str, pattern: str = "LITERAL"
) -> dict[str, str]:
    """A binding as the run database keeps it (any host)."""
    return {
        "resource_type": kind,
        "resource_name": name,
        "pattern_type": pattern,
        "principal": principal,
        "host": "*",
        "operation": operation,
        "permission": permission,
    }


def fence_bindings(cls: ProducerClass) -> list[dict[str, str]]:
    """DENY WRITE on each topic for each principal: the source fence (and the target
    fence of a rollback)."""
    return [binding("TOPIC", t, p, WRITE, "DENY") for p in cls.principals for t in cls.topics]


def open_bindings(cls: ProducerClass) -> list[dict[str, str]]:
    """What the class needs on the target: WRITE on its topics, and WRITE and DESCRIBE on
    its transactional ids when it has a prefix."""
    out = [binding("TOPIC", t, p, WRITE, "ALLOW") for p in cls.principals for t in cls.topics]
    if cls.transactional_id_prefix:
        out += [
            binding("TRANSACTIONAL_ID", cls.transactional_id_prefix, p, op, "ALLOW", "PREFIXED")
            for p in cls.principals
            for op in (WRITE, "DESCRIBE")
        ]
    return out


def ensure(
    store: Store,
    run_id: int,
    cls: str,
    cluster: Cluster,
    purpose: str,
    data: dict[str, str],
    *,
    log,
    deadline: float,
) -> str:
    """Make sure one binding is in place; returns what was done, in words. Converges when
    run again after a crash at any point."""
    table = store.producers
    recorded = [
        a
        for a in table.acls(run_id=run_id, purpose=purpose, cluster=cluster.name, live_only=True)
        if a.binding() == data
    ]
    present = cluster.acl_present(data, deadline)
    text = binding_text(data)
    params = {"cluster": cluster.name, "purpose": purpose, "acl": text}
    if recorded and present:
        row = recorded[0]
        if row.state == "adding":
            table.set_acl_state(row.id, "active")
            log(
                "producers.acl",
                params=params,
                outcome="in place: created by the interrupted run, not created again",
            )
            return "in place (created by the interrupted run)"
        return "in place"
    if present and not recorded:
        # Added by an earlier run of this class and still live (a move after a rollback
        # finds the first move's target ALLOWs): the console's, kept; never recorded as
        # there before the console, which an auditor would read as someone else's.
        earlier = [
            a
            for a in table.acls(cls=cls, cluster=cluster.name, live_only=True)
            if a.binding() == data and not a.preexisting and a.run_id != run_id
        ]
        if earlier:
            log(
                "producers.acl",
                params={**params, "acl_id": earlier[0].id},
                outcome=f"in place: added by run #{earlier[0].run_id}, kept",
            )
            return f"in place (added by run #{earlier[0].run_id})"
    if present:
        table.add_acl(run_id, cls, cluster.name, purpose, data, preexisting=True, state="active")
        log("producers.acl", params=params, outcome="there before the console: never removed")
        return "there before the console"
    acl_id = (
        recorded[0].id
        if recorded
        else table.add_acl(run_id, cls, cluster.name, purpose, data, preexisting=False)
    )
    intent = log("producers.acl.add", params={**params, "acl_id": acl_id})
    try:
        cluster.create_acl(data, deadline)
    except Exception as exc:
        log("producers.acl.add", ref=intent.seq, outcome=f"failed: {exc}")
        raise
    table.set_acl_state(acl_id, "active")
    log("producers.acl.add", ref=intent.seq, outcome="in place")
    return "added"


def remove(store: Store, row, cluster: Cluster, *, log, deadline: float) -> str:
    """Remove a binding the console added; one that was there before is left alone."""
    text = binding_text(row.binding())
    if row.preexisting:
        return f"{text}: left in place (there before the console)"
    if row.state == "removed":
        return f"{text}: removed earlier"
    intent = log(
        "producers.acl.remove",
        params={"cluster": cluster.name, "purpose": row.purpose, "acl": text, "acl_id": row.id},
    )
    try:
        removed = cluster.delete_acl(row.binding(), deadline)
    except Exception as exc:
        log("producers.acl.remove", ref=intent.seq, outcome=f"failed: {exc}")
        raise
    store.producers.set_acl_state(row.id, "removed")
    outcome = "removed" if removed else "already gone (removed by the interrupted run or by hand)"
    log("producers.acl.remove", ref=intent.seq, outcome=outcome)
    return f"{text}: {outcome}"


# -- effective rights ---------------------------------------------------------------------


@dataclass(frozen=True)
class PrincipalRights:
    """What one principal of a class may do on one cluster, and how that was learnt."""

    principal: str
    rights: Rights | None
    asked_as_principal: bool
    note: str
    """Why it was not asked as the principal, or why nothing could be read."""


def logins(plan: Plan, cls: ProducerClass) -> dict[str, tuple[Login | None, str]]:
    """Per principal, credentials to ask the brokers as it (when the plan names a password
    reference that resolves), or None with why not."""
    out: dict[str, tuple[Login | None, str]] = {}
    for principal, user in zip(cls.principals, cls.users, strict=True):
        password, where = credentials.resolve_producer_password(plan, cls.name, user)
        out[principal] = (Login(user, password) if password else None, where)
    return out


def read_rights(
    plan: Plan,
    cls: ProducerClass,
    cluster: Cluster,
    *,
    timeout: float = 20.0,
    probe_listeners: bool = False,
) -> list[PrincipalRights]:
    """Each principal's effective rights on the class's topics on one cluster."""
    out = []
    for principal, (login, where) in logins(plan, cls).items():
        if login is not None and not cluster.spec.security_protocol.startswith("SASL"):
            login, where = None, f"the {cluster.name} does not use SASL"
        found = kafka_rights.effective_rights(
            cluster.name,
            cluster.spec,
            cluster.password,
            principal,
            login,
            topics=list(cls.topics),
            groups=[],
            probe_listeners=probe_listeners,
            timeout=timeout,
        )
        note = ""
        if login is None:
            note = f"not asked as {principal} ({where}): from the ACL bindings only"
        elif found.logged_in is not True:
            note = found.login_note
        out.append(PrincipalRights(principal, found, found.logged_in is True, note))
    return out


def fence_problems(found: list[PrincipalRights], topics: list[str]) -> list[str]:
    """What keeps a DENY WRITE on the source from stopping the class's writes, each in
    words; empty when a fence can hold."""
    problems = []
    for pr in found:
        if pr.rights is None:
            continue
        for topic in topics:
            grant = pr.rights.allows(kafka_rights.TOPIC, topic, WRITE)
            if grant is None:
                continue
            source = grant.source
            if SUPER_USER in source and EVERYONE not in source:
                problems.append(
                    f"{pr.principal} is a super user ({SUPER_USER}): a DENY does not bind it, "
                    f"so its writes to '{topic}' cannot be fenced; give the class an ordinary "
                    "principal"
                )
            elif EVERYONE in source:
                problems.append(
                    f"{pr.principal} may write '{topic}' as a super user or through "
                    f"{EVERYONE}=true (no ACL names the topic): a super user ignores a DENY, "
                    "and on an everyone-allowed cluster the first ACL on the topic would shut "
                    "out every other principal too; name the topic's writers in ALLOW ACLs "
                    "first"
                )
            elif grant.binding is not None and grant.binding.wildcard_principal:
                problems.append(
                    f"WRITE on '{topic}' comes from a wildcard binding ({grant.binding.text()}): "
                    f"every principal may write it, so denying {pr.principal} does not stop the "
                    "topic's writers; replace the wildcard with ALLOWs for named principals"
                )
    return list(dict.fromkeys(problems))


def write_denied(found: list[PrincipalRights], topics: list[str]) -> tuple[bool, list[str]]:
    """Whether every principal is refused WRITE on every topic (the fence holds, as far
    as could be established), and one line per principal and topic saying so."""
    holds = True
    lines = []
    for pr in found:
        how = "asked as the principal" if pr.asked_as_principal else "from the ACLs"
        for topic in topics:
            grant = pr.rights.allows(kafka_rights.TOPIC, topic, WRITE) if pr.rights else None
            if grant is None:
                lines.append(f"{pr.principal}: WRITE on '{topic}' refused ({how})")
            else:
                holds = False
                lines.append(f"{pr.principal}: WRITE on '{topic}' STILL ALLOWED — {grant.source}")
        if pr.note:
            lines.append(f"  {pr.note}")
    return holds, lines


def write_allowed(found: list[PrincipalRights], topics: list[str]) -> tuple[bool, list[str]]:
    """Whether every principal may WRITE every topic (the target is open for it)."""
    ok = True
    lines = []
    for pr in found:
        how = "asked as the principal" if pr.asked_as_principal else "from the ACLs"
        for topic in topics:
            grant = pr.rights.allows(kafka_rights.TOPIC, topic, WRITE) if pr.rights else None
            if grant is None:
                ok = False
                lines.append(f"{pr.principal}: WRITE on '{topic}' NOT allowed ({how})")
            else:
                lines.append(f"{pr.principal}: WRITE on '{topic}' allowed ({how})")
        if pr.note:
            lines.append(f"  {pr.note}")
    return ok, lines


def prove(check, attempts_s: float = 10.0):
    """Ask again until ``check()`` says it holds or ``attempts_s`` passed: the broker's
    authorizer applies a new binding a moment after the controller committed it."""
    deadline = time.monotonic() + attempts_s
    while True:
        holds, lines = check()
        if holds or time.monotonic() > deadline:
            return holds, lines
        time.sleep(0.2)  # poll interval while the authorizer catches up
