"""May a group's principal read its topics and its group on the target?

Answered with the one rights reader, :func:`console.kafka.rights.effective_rights`:
asked of the broker **as the principal** when the plan says where its password lives
(``principal_password``), which is what the broker will really allow (super users and
``allow.everyone.if.no.acl.found`` included); otherwise **from the ACLs** (the bindings
for the principal and for ``User:*``), where super users and allow-everyone cannot be
seen. The answer says which way it was established, and where each right comes from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from console.cutover.clients import Side
from console.kafka.rights import GROUP, TOPIC, Login, effective_rights


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


def check_read(
    side: Side,
    principal: str,
    password: str | None,
    topics: list[str],
    group: str,
    timeout: float,
) -> Access:
    """READ on each topic and on the group, as the principal when its password is at
    hand (on a SASL listener), else from the ACLs. Read with the step's open admin client;
    the ACL bindings and broker settings are the step run's (:meth:`Side.facts`), what
    the broker allows the principal is asked now."""
    login = None
    if password and side.spec.security_protocol.startswith("SASL"):
        login = Login(user_of(principal), password)
    rights = effective_rights(
        side.name,
        side.spec,
        side.password,
        principal,
        login,
        topics=topics,
        groups=[group],
        probe_listeners=False,
        timeout=timeout,
        client=side.admin_and_trap,
        facts=side.facts(time.monotonic() + timeout),
    )
    how = "as the principal" if rights.logged_in else "from the ACLs"
    lines: list[str] = []
    if login is not None and not rights.logged_in:
        lines.append(f"{rights.login_note}; falling back to the ACLs")
    missing: list[str] = []
    wanted = [(TOPIC, t) for t in topics] + [(GROUP, group)]
    for kind, name in wanted:
        grant = rights.allows(kind, name, "READ")
        if grant is not None:
            lines.append(f"READ on {kind} {name}: {grant.source}")
        else:
            found = rights.on(kind, name)
            note = f" ({found.note})" if found is not None and found.note else ""
            missing.append(f"READ on {kind} {name}{note}")
    if not rights.logged_in:
        lines.append(
            "super users and allow.everyone.if.no.acl.found grant rights no binding names; "
            "they cannot be seen from the ACLs"
        )
    unknown = [u for u in rights.unknown if "transactional ids" not in u]
    if missing and unknown and not rights.logged_in and not rights.bindings:
        return Access(None, how, (*lines, *unknown[:2]), tuple(missing))
    return Access(not missing, how, tuple(lines), tuple(missing))
