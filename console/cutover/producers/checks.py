"""What must hold before a producer class moves, each with the evidence it rests on.

Shown at the "Move producers" gate and checked again when the step starts (nothing has
changed on a cluster until they all pass):

* the shadow path is the built-in mirror, and it runs (the drain and the exact cutover
  point rest on it; see :data:`BUILTIN_ONLY`);
* the newest comparison of each of the class's topics has nothing RED;
* the copy is caught up (within ``max_shadow_lag_records`` per partition, read now);
* the rollback drill passed (evidence ``rollback-drill``);
* every consumer group that reads the class's topics has an offset plan;
* the fence can hold: no principal of the class writes as a super user, through a
  wildcard binding or an everyone-allowed cluster (asked as the principal when its
  password is at hand).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from console import processes
from console.compare.model import CHECK_BY_NAME
from console.cutover.producers import acls
from console.cutover.producers.cluster import Cluster
from console.kafka.client import ClusterError
from console.plan import Plan, ProducerClass
from console.shadow.mirror.positions import mirror_positions
from console.store import Store

BUILTIN_ONLY = (
    "producer cutover and rollback run on the built-in mirror only: its exact offset map "
    "gives the exact cutover point and moves groups back record for record, and it passes "
    "over the rollback's reverse copies by their provenance header. MirrorMaker 2 keeps no "
    "exact map (offset syncs are sparse), and a reverse copy written to the source would be "
    "copied forward again unless every connector dropped it (a Filter transform with a "
    "HasHeaderKey predicate on cutover.rev), which this version does not deploy; an external "
    "link cannot be stopped or told to skip records at all"
)

MIRROR = "mirror"


@dataclass(frozen=True)
class Precondition:
    """One thing that must hold, and what shows it."""

    name: str
    verdict: str
    """``OK``, ``WARN`` (shown, does not stop the move), ``RED`` or ``NO_DATA``."""
    summary: str
    evidence: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.verdict in ("RED", "NO_DATA")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def groups_reading(plan: Plan, cls: ProducerClass) -> list[str]:
    """The plan's consumer groups that read any of the class's topics."""
    return [g.id for g in plan.groups if set(g.topics) & set(cls.topics)]


def path_check(plan: Plan) -> Precondition:
    if plan.shadow.path == "builtin":
        return Precondition("built-in mirror", "OK", "the shadow path is the built-in mirror")
    return Precondition(
        "built-in mirror", "RED", f"the shadow path is {plan.shadow.path}", (BUILTIN_ONLY,)
    )


def mirror_check(store: Store) -> Precondition:
    info = processes.get(store, MIRROR)
    if info is not None and info.alive:
        return Precondition(
            "mirror running", "OK", f"pid {info.pid}", (info.detail,) if info.detail else ()
        )
    state = info.state if info is not None else "never started"
    return Precondition(
        "mirror running",
        "RED",
        f"the built-in mirror is not running ({state})",
        ("the drain waits for the copy to reach the fence point: start the shadow copy",),
    )


def comparison_check(store: Store, cls: ProducerClass) -> Precondition:
    """The newest finished comparison window of each topic: nothing RED, no required
    check without data."""
    evidence: list[str] = []
    verdict = "OK"
    windows = store.results.windows(200)
    for topic in cls.topics:
        found = next(
            (
                (wid, finished)
                for wid, _started, finished, status, spec in windows
                if status == "done" and topic in spec.get("ranges", {})
            ),
            None,
        )
        if found is None:
            evidence.append(f"{topic}: never compared; run Compare both sides")
            verdict = _worse(verdict, "NO_DATA")
            continue
        wid, finished = found
        rows = [r for r in store.results.results(wid) if r[0] == topic]
        red = [r for r in rows if r[3] == "RED"]
        gaps = [
            r
            for r in rows
            if r[3] == "NO_DATA" and r[2] in CHECK_BY_NAME and CHECK_BY_NAME[r[2]].required
        ]
        when = f"window #{wid}, finished {(finished or '?')[11:19]} UTC"
        if red:
            evidence.append(f"{topic}: {when}: {len(red)} RED, first {red[0][2]}: {red[0][4]}")
            verdict = _worse(verdict, "RED")
        elif gaps:
            evidence.append(f"{topic}: {when}: {gaps[0][2]} has no data ({gaps[0][4]})")
            verdict = _worse(verdict, "NO_DATA")
        else:
            evidence.append(f"{topic}: {when}: {len(rows)} result(s), none RED")
    summary = {
        "OK": "nothing RED in the newest comparison of its topics",
        "RED": "a comparison of its topics is RED",
        "NO_DATA": "no usable comparison of its topics",
    }[verdict]
    return Precondition("comparison", verdict, summary, tuple(evidence))


def lag_check(plan: Plan, cls: ProducerClass, source: Cluster, passwords) -> Precondition:
    """Read now: the mirror's stored position against the source's end (read_committed)."""
    limit = plan.thresholds.max_shadow_lag_records
    try:
        deadline = time.monotonic() + 20
        tps = source.partitions(cls.topics, deadline)
        ends = source.ends(tps, deadline, committed=True)
        mirrored = mirror_positions(plan, passwords, timeout=15)
    except ClusterError as exc:
        return Precondition("copy caught up", "NO_DATA", "could not be read", (str(exc),))
    evidence = []
    verdict = "OK"
    for topic in cls.topics:
        parts = [tp for tp in tps if tp[0] == topic]
        behind = {tp: max(0, ends[tp] - mirrored[tp]) for tp in parts if tp in mirrored}
        unknown = [tp for tp in parts if tp not in mirrored and ends[tp] > 0]
        worst = max(behind.values(), default=0)
        if unknown:
            verdict = _worse(verdict, "RED")
            evidence.append(f"{topic}: {len(unknown)} partition(s) never copied")
        elif worst > limit:
            verdict = _worse(verdict, "RED")
            evidence.append(f"{topic}: up to {worst:,} records behind (limit {limit:,})")
        else:
            total = sum(behind.values())
            evidence.append(f"{topic}: {total:,} records behind over {len(parts)} partition(s)")
    summary = (
        f"within {limit:,} records per partition"
        if verdict == "OK"
        else "the copy is behind or has not copied every partition"
    )
    return Precondition("copy caught up", verdict, summary, tuple(evidence))


def drill_check(store: Store) -> Precondition:
    found = store.latest_evidence("rollback-drill", "rollback-drill")
    if found is None:
        return Precondition(
            "rollback drill",
            "RED",
            "the rollback path was never rehearsed",
            ("run Rehearse rollback (the rollback path end to end on rehearsal topics)",),
        )
    body = found.body
    if not body.get("passed"):
        return Precondition(
            "rollback drill",
            "RED",
            f"the drill of {found.created_at[:19]} did not pass",
            (str(body.get("failed", "")),),
        )
    return Precondition(
        "rollback drill",
        "OK",
        f"passed {found.created_at[:19].replace('T', ' ')} UTC (evidence #{found.id})",
        tuple(body.get("summary_lines", ())[:3]),
    )


def groups_check(store: Store, plan: Plan, cls: ProducerClass) -> Precondition:
    """Each group that reads the class's topics has an offset plan: its strategy, and a
    translation the consumer cutover worked out (evidence ``offset-plan``)."""
    names = groups_reading(plan, cls)
    if not names:
        return Precondition("groups' offset plans", "OK", "no plan group reads its topics")
    evidence = []
    verdict = "OK"
    for name in names:
        group = next(g for g in plan.groups if g.id == name)
        found = store.latest_evidence(f"move-group:{name}", "offset-plan")
        if found is not None:
            evidence.append(
                f"{name}: {group.offset_strategy}, offset plan of "
                f"{found.created_at[:19].replace('T', ' ')} UTC (evidence #{found.id})"
            )
        elif group.offset_strategy != "translate":
            evidence.append(f"{name}: {group.offset_strategy} (the plan gives the offsets)")
        else:
            verdict = "RED"
            evidence.append(
                f"{name}: translate, but no offset plan yet: open 'Move consumer group: "
                f"{name}' (its gate works one out) before moving the producers"
            )
    summary = (
        "every group reading its topics has one"
        if verdict == "OK"
        else "a group reading its topics has no offset plan"
    )
    return Precondition("groups' offset plans", verdict, summary, tuple(evidence))


def fence_check(plan: Plan, cls: ProducerClass, source: Cluster) -> Precondition:
    """Can a DENY WRITE on the source stop the class? Asked as the principals when their
    passwords are at hand."""
    try:
        found = acls.read_rights(plan, cls, source, probe_listeners=True)
    except ClusterError as exc:
        return Precondition("fence can hold", "NO_DATA", "rights could not be read", (str(exc),))
    problems = acls.fence_problems(found, list(cls.topics))
    evidence: list[str] = []
    for pr in found:
        how = "asked as the principal" if pr.asked_as_principal else pr.note
        writes = [
            t
            for t in cls.topics
            if pr.rights is not None and pr.rights.allows("topic", t, "WRITE") is not None
        ]
        evidence.append(
            f"{pr.principal}: may WRITE {', '.join(writes) or 'none of its topics'} ({how})"
        )
        for listener in pr.rights.anonymous if pr.rights else ():
            if listener.operations:
                evidence.append(
                    f"listener {listener.listener} ({listener.address}) takes ANONYMOUS "
                    "clients with rights no DENY for the class binds: a producer connecting "
                    "there bypasses the fence (the quiet check would catch its writes)"
                )
    evidence = list(dict.fromkeys(evidence))
    if problems:
        return Precondition(
            "fence can hold", "RED", "a DENY cannot stop these writes", (*problems, *evidence)
        )
    return Precondition(
        "fence can hold", "OK", "ordinary principals: a DENY WRITE binds them", tuple(evidence)
    )


def preconditions(
    store: Store, plan: Plan, cls: ProducerClass, source: Cluster, passwords
) -> list[Precondition]:
    """Every precondition, read now (changes nothing)."""
    path = path_check(plan)
    out = [path]
    if path.verdict == "OK":
        out.append(mirror_check(store))
    out += [
        comparison_check(store, cls),
        lag_check(plan, cls, source, passwords)
        if path.verdict == "OK"
        else Precondition("copy caught up", "NO_DATA", "not read: not the built-in mirror"),
        drill_check(store),
        groups_check(store, plan, cls),
        fence_check(plan, cls, source),
    ]
    return out


def _worse(a: str, b: str) -> str:
    rank = {"OK": 0, "WARN": 1, "NO_DATA": 2, "RED": 3}
    return a if rank[a] >= rank[b] else b
