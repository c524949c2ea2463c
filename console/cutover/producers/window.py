"""The rollback window, read now: what a rollback would have to reconcile.

Per partition of every moved class: the records that exist only on the target (written
after the cutover point; counts and examples), the consumer groups of the plan that have
already read some of them on the target (they would read them again after a rollback,
or have already caused their side effects), and the point after which replay rather than
rollback becomes the recovery plan: the window's deadline, or earlier, the moment a
group that read target-only records writes to a system outside Kafka (its topic has
``external_side_effects``), since a rollback cannot call those effects back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from console.cutover import groups as cutover_groups
from console.cutover.clients import Side
from console.cutover.producers import checks
from console.cutover.producers import reverse as rev
from console.cutover.producers.cluster import Cluster
from console.cutover.producers.rollback import points_of
from console.kafka.client import ClusterError
from console.plan import Plan
from console.store import Store


def read(store: Store, plan: Plan, passwords, target: Cluster) -> dict[str, Any]:
    """The window as it stands (reads the target; changes nothing)."""
    window = store.producers.window()
    if window is None:
        return {"state": "none", "summary": "no class has moved: the window is not open"}
    deadline = datetime.fromisoformat(window.deadline.replace("Z", "+00:00"))
    now = datetime.now(UTC)
    topics = {t.name: t for t in plan.topics}
    classes = []
    side = Side("target", plan.clusters.target, passwords.get("target"))
    replay_now: list[str] = []
    try:
        for cls in plan.producers:
            move = store.producers.latest_run(cls.name, "move")
            if move is None or move.state != "done":
                continue
            points = points_of(store, move.id)
            tps = sorted(points)
            ends = target.ends(tps, time.monotonic() + 15, committed=True)
            only = rev.target_only(
                target, {tp: p[1] for tp, p in points.items()}, ends, time.monotonic() + 60
            )
            partitions = []
            for tp in tps:
                recs = only.records.get(tp, [])
                partitions.append(
                    {
                        "partition": f"{tp[0]}[{tp[1]}]",
                        "cutover": list(points[tp]),
                        "target_only": len(recs),
                        "examples": [r.example() for r in recs[:2]],
                    }
                )
            readers = []
            for name in checks.groups_reading(plan, cls):
                group = next(g for g in plan.groups if g.id == name)
                try:
                    committed = cutover_groups.committed_offsets(
                        side, name, group.topics, time.monotonic() + 15
                    )
                except ClusterError as exc:
                    readers.append({"group": name, "read": None, "why": str(exc)})
                    continue
                read_n = sum(
                    max(0, min(committed[tp], ends[tp]) - points[tp][1])
                    for tp in tps
                    if tp in committed
                )
                effects = any(topics[t].external_side_effects for t in group.topics if t in topics)
                readers.append(
                    {
                        "group": name,
                        "read": read_n,
                        "side_effects": effects,
                        "meaning": (
                            "has read target-only records: after a rollback it reads their "
                            "copies again on the source"
                            + (
                                " and its side effects outside Kafka cannot be undone"
                                if effects
                                else ""
                            )
                        )
                        if read_n
                        else "has read none yet",
                    }
                )
                if read_n and effects:
                    replay_now.append(name)
            classes.append(
                {
                    "class": cls.name,
                    "move": move.id,
                    "target_only": only.count,
                    "partitions": partitions,
                    "groups": readers,
                }
            )
    finally:
        side.close()
    passed = now >= deadline or window.state != "open"
    condition = (
        "replay rather than rollback becomes the recovery plan at the deadline "
        f"({window.deadline}), or as soon as a group that writes outside Kafka has read a "
        "target-only record (a rollback cannot call its effects back)"
    )
    if window.state != "open":
        verdict = f"closed {window.closed_at}: replay is the recovery plan"
    elif replay_now:
        verdict = (
            f"replay is the recovery plan now: {', '.join(replay_now)} read target-only records"
        )
    elif passed:
        verdict = "the deadline passed: replay is the recovery plan; close the window"
    else:
        left = (deadline - now).total_seconds() / 60
        verdict = f"rollback is the recovery plan for {left:.0f} more minute(s)"
    total = sum(c["target_only"] for c in classes)
    return {
        "state": window.state,
        "opened_at": window.opened_at,
        "deadline": window.deadline,
        "deadline_passed": passed,
        "replay_condition": condition,
        "replay_triggered_by": replay_now,
        "verdict": verdict,
        "classes": classes,
        "summary": f"{total:,} target-only record(s) over {len(classes)} class(es); {verdict}",
    }
