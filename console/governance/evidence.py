"""The ``governance`` evidence: the diff as read, with each item's decision and who made it.

Evidence kind ``governance`` of step ``governance`` is what the pane, ``cutover
governance`` and the scorecard read. Its body::

    {"read_at": ..., "scope": {"topics", "groups", "principals", "subjects"},
     "compared": {...counts per side...}, "not_compared": {what: why},
     "problems": [...], "items": [{key, kind, what, source, target, fix, why_not,
     change, decision, decided_by, ssh_client, decided_at, reason, applied}],
     "summary": {"items", "undecided", "accept", "apply", "skip", "applied"}}

Every decision writes a new body (the previous one with the decision folded in) and
its ``governance.decided`` audit entry in one transaction (:mod:`console.store.governance`).
A new reading keeps the decisions of items that are still there with the same values
on both sides; an item whose values changed must be decided again.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from console.errors import CutoverError, Progress
from console.governance.diff import DECISIONS, Reading, diff, scope_of
from console.governance.read import read_side
from console.kafka.client import ClusterError
from console.kafka.registry import registries
from console.plan import Plan
from console.store import Evidence, Store

STEP = "governance"
KIND = "governance"
DECISION_FIELDS = ("decision", "decided_by", "ssh_client", "decided_at", "reason")


class GovernanceError(CutoverError):
    """A decision or an apply that cannot be made as asked; the message says what to do."""


def take(
    plan: Plan,
    passwords: dict[str, str | None],
    *,
    cancel: threading.Event,
    progress: Progress,
    previous: dict[str, Any] | None,
    now: str,
) -> dict[str, Any]:
    """Read both clusters and build the evidence body, decisions carried over from
    ``previous`` where the item still reads the same."""
    topics = [t.name for t in plan.topics]
    groups = [g.id for g in plan.groups]
    clients = registries(plan)
    both_registries = all(clients.values())
    readings: dict[str, Reading] = {}
    problems: list[str] = []
    for side in ("source", "target"):
        try:
            readings[side] = read_side(
                side,
                getattr(plan.clusters, side),
                passwords.get(side),
                topics,
                _subjects(plan),
                clients[side] if both_registries else None,
                cancel=cancel,
                progress=progress,
            )
        except ClusterError as exc:
            problems.append(str(exc))
    if len(readings) < 2:
        return {"read_at": now, "problems": problems, "items": [], "summary": summary([])}
    source, target = readings["source"], readings["target"]
    scope = scope_of(
        topics, groups, list(plan.governance.principals), _subjects(plan), [source, target]
    )
    items = [item.to_json() for item in diff(source, target, scope)]
    carry(items, previous)
    not_compared = _not_compared(source, target, clients)
    return {
        "read_at": now,
        "scope": {
            "topics": scope.topics,
            "groups": scope.groups,
            "principals": scope.principals,
            "subjects": scope.subjects,
        },
        "compared": {side: _counts(r) for side, r in readings.items()},
        "not_compared": not_compared,
        "problems": problems + source.problems + target.problems,
        "items": items,
        "summary": summary(items),
    }


def _subjects(plan: Plan) -> list[str]:
    base = [f"{t.name}-{part}" for t in plan.topics for part in ("key", "value")]
    return base + [s for s in plan.governance.subjects if s not in base]


def _counts(reading: Reading) -> dict[str, int | None]:
    return {
        "acls": None if reading.acls is None else len(reading.acls),
        "scram_users": None if reading.scram is None else len(reading.scram),
        "topics": len(reading.topics),
        "quotas": None if reading.quotas is None else len(reading.quotas),
        "subjects": None if reading.subjects is None else len(reading.subjects),
    }


def _not_compared(source: Reading, target: Reading, clients) -> dict[str, str]:
    out: dict[str, str] = {}
    for what in ("acls", "quotas", "subjects"):
        reasons = [f"{r.side}: {r.not_read[what]}" for r in (source, target) if what in r.not_read]
        if what == "subjects" and not all(clients.values()):
            missing = " and ".join(s for s, c in clients.items() if c is None)
            reasons = [f"no schema_registry_url for the {missing} cluster in the plan"]
        if reasons:
            out[what] = "; ".join(reasons)
    return out


def carry(items: list[dict[str, Any]], previous: dict[str, Any] | None) -> None:
    """Keep earlier decisions on items that still read the same on both sides."""
    before = {i["key"]: i for i in (previous or {}).get("items", [])}
    for item in items:
        old = before.get(item["key"])
        same = old is not None and (old["source"], old["target"]) == (
            item["source"],
            item["target"],
        )
        for name in DECISION_FIELDS:
            item[name] = old.get(name) if same else None
        item["applied"] = None


def summary(items: list[dict[str, Any]]) -> dict[str, int]:
    """How many items, and how many of them are undecided, accepted, to apply, skipped."""
    out = {"items": len(items), "undecided": 0, "applied": 0}
    out.update({d: 0 for d in DECISIONS})
    for item in items:
        out[item.get("decision") or "undecided"] += 1
        if item.get("applied"):
            out["applied"] += 1
    return out


def latest(store: Store, until: str | None = None) -> Evidence | None:
    """The newest governance evidence (a reading, a decision or an apply), recorded by
    ``until`` (a replay's moment) when given."""
    return store.latest_evidence(STEP, KIND, until=until)


def find_item(body: dict[str, Any], ref: str) -> dict[str, Any]:
    """An item by its key or by its number in the listing (1-based)."""
    items = body.get("items", [])
    if ref.isdigit() and 1 <= int(ref) <= len(items):
        return items[int(ref) - 1]
    for item in items:
        if item["key"] == ref:
            return item
    raise GovernanceError(
        f"no governance item '{ref}'; use a number from 1 to {len(items)} or a key as "
        "'cutover governance RUN.db' lists them"
    )


def decide(store: Store, ref: str, decision: str, *, reason: str = "", via: str) -> dict:
    """Record a decision on one item: new evidence and its audit entry, together.

    Refused (nothing written) for an unknown item or decision, for ``apply`` on an item
    that cannot be applied, and in replay.
    """
    if decision not in DECISIONS:
        raise GovernanceError(f"'{decision}' is not a decision; use one of {', '.join(DECISIONS)}")
    evidence = latest(store)
    if evidence is None:
        raise GovernanceError(
            "no governance diff yet; run the 'governance' step first "
            "(cutover step RUN.db governance --confirm governance)"
        )
    body = copy.deepcopy(evidence.body)
    item = find_item(body, ref)
    if decision == "apply" and not item.get("fix"):
        raise GovernanceError(f"'{item['key']}' cannot be applied: {item['why_not']}")
    user, ssh = store.governance.actor()
    now = store.clock()
    before = item.get("decision")
    item.update(decision=decision, decided_by=user, ssh_client=ssh, decided_at=now, reason=reason)
    body["summary"] = summary(body["items"])
    store.governance.record(
        STEP,
        KIND,
        body,
        action="governance.decided",
        params={
            "item": item["key"],
            "decision": decision,
            "before": before,
            "reason": reason,
            "via": via,
        },
        outcome=decision,
    )
    return item
