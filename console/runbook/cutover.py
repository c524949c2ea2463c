"""The "Move consumer group" step: one group per gate, confirmed by typing its id.

A thin runner over :mod:`console.cutover`: the gate reads both sides now and shows every
precondition with its evidence and, per partition, the source committed offset, the
target offset it becomes (exact or bounded) and what the group would re-read or skip;
the run evaluates again, stores the offset plan, applies, verifies and fences
(:mod:`console.cutover.move`), each change audited before and after.
"""

from __future__ import annotations

from typing import Any

from console.cutover import evaluate as evaluating
from console.cutover.clients import Sides
from console.cutover.model import Evaluation, Position
from console.cutover.move import MoveFailed, move_group
from console.plan import credentials
from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.views.status import UNKNOWN, status

GATE_PARTITIONS = 24
"""Partitions listed one by one at a gate; the rest are summed (lines)."""


def run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    try:
        result = move_group(
            store,
            ctx.target,
            log=ctx.log,
            started_seq=ctx.started_seq,
            cancel=ctx.cancel,
            progress=ctx.progress,
        )
    except MoveFailed as exc:
        body = {"target": ctx.target, "failed": exc.reason, **exc.detail}
        evidence = store.add_evidence(key, "group-move", body)
        return StepOutcome(key, StepState.FAILED, exc.reason, evidence, body)
    body = result.to_dict()
    evidence = store.add_evidence(key, "group-move", body)
    if result.already:
        reason = f"moved earlier (offset plan #{result.plan_id}); nothing changed"
    else:
        written = len(result.applied) or len(result.verified)
        replay = body.get("replay")
        reason = (
            f"{written} offset(s) on the target verified; re-read {replay}, skipped "
            f"{body.get('skip')}; fence {result.fence.split(';')[0]}"
        )
    return StepOutcome(key, StepState.PASSED, reason, evidence, body)


def _figure(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value:,}"


def position_line(p: Position) -> str:
    """One partition at the gate: source committed -> target offset, how, cost."""
    where = f"{p.topic}:{p.partition}"
    if p.source_committed is None and p.target_offset is None:
        return f"  {where:<16} nothing committed: {p.reason.split(': ', 1)[-1]}"
    src = _figure(p.source_committed)
    if p.target_offset is None:
        return f"  {where:<16} {src:>9} → not translated: {p.reason}"
    exact = (
        p.method.value
        if p.method.value == "exact"
        else (f"{p.method.value}, {'exact' if p.exact else 'BOUNDED'}")
    )
    bound = ""
    if not p.exact and p.bound_lo is not None:
        bound = f" in {_figure(p.bound_lo)}..{_figure(p.bound_hi)}"
    return (
        f"  {where:<16} {src:>9} → {_figure(p.target_offset):>9}  {exact}"
        f"{bound}  re-read {_figure(p.replay)}, skip {_figure(p.skip)}"
    )


def gate_lines(ev: Evaluation, tolerated: dict[str, int]) -> list[str]:
    """What the gate shows for an evaluation."""
    lines = [
        f"Moves group {ev.group_id} to the target ({ev.strategy}, shadow path {ev.path}):",
        f"  {ev.source.describe()}",
        f"  {ev.target.describe()}",
        "Preconditions:",
    ]
    for check in ev.checks:
        lines.append(f"  {status(check.verdict).label:<10} {check.name}: {check.summary}")
        lines += [f"      {e}" for e in check.evidence[:4]]
    lines.append("Per partition: source committed → target offset (re-read / skip if moved now):")
    shown = ev.positions[:GATE_PARTITIONS]
    lines += [position_line(p) for p in shown]
    rest = ev.positions[GATE_PARTITIONS:]
    if rest:
        replay = sum(p.replay or 0 for p in rest)
        lines.append(f"  … and {len(rest)} more partition(s), re-reading {replay:,} in all")
    nothing = [p for p in ev.positions if p.source_committed is None and p.target_offset is None]
    if nothing:
        lines.append(
            f"{len(nothing)} partition(s) without a committed offset: nothing is written there; "
            f"the consumers' auto.offset.reset decides"
        )
    lines += [f"Note: {n}" for n in ev.notes[:4]]
    lines += [
        "Then: writes the offsets on the target (alter_consumer_group_offsets), reads them",
        "back (drift allowed: max_offset_drift_records), and fences the group on the source",
        "(DENY READ on the group for its principal; a rollback removes it).",
    ]
    if ev.blocked:
        lines.append(f"The step will REFUSE: {ev.blocked[0].name}: {ev.blocked[0].summary}")
    return lines


def preview(ctx: StepContext) -> list[str]:
    """Reads both sides now (no change) and shows what the move would do."""
    store = ctx.store
    plan = store.plan
    group = evaluating.group_spec(plan, ctx.target)
    stored = store.cutover.latest_plan(group.id, live_only=True)
    if stored is not None and stored.state == "verified":
        fenced = [f for f in store.cutover.fences(group.id) if f.state == "active"]
        if fenced:
            return [
                f"Group {group.id} was moved earlier (offset plan #{stored.id}, verified) and is "
                "fenced on the source: running the step again changes nothing."
            ]
        return [
            f"Group {group.id}'s offsets were written and verified earlier (plan #{stored.id});",
            "the step only adds the fence on the source (DENY READ on the group for "
            f"{group.principal}).",
        ]
    with Sides(plan, credentials.resolve_passwords(plan)) as sides:
        ev = evaluating.evaluate(store, plan, group, sides)
    tolerated = {t.name: t.tolerated_replay_records for t in plan.topics}
    return gate_lines(ev, tolerated)


def report(detail: dict[str, Any]) -> list[str]:
    """What ``cutover step`` prints under the outcome."""
    lines = []
    for p in detail.get("positions", []):
        lines.append(position_line(Position.from_dict(p)))
    if detail.get("fence"):
        lines.append(f"fence: {detail['fence']}")
    if detail.get("checks"):
        for c in detail["checks"]:
            if c["verdict"] in ("RED", "NO_DATA"):
                lines.append(f"{status(c['verdict']).label} {c['name']}: {c['summary']}")
                lines += [f"    {e}" for e in c.get("evidence", [])[:4]]
    return lines
