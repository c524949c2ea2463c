"""The Readiness review phase: decisions recorded on the scorecard, behind a gate.

One LOCAL step per scorecard area (``scorecard:correctness``); its gate's word is the
area's name, and what is recorded comes with the decision (``params``):

* ``owner``: the owner and retest date a red area needs (anyone may record them);
* ``waive``: a waiver of a red or grey area, with a reason and an expiry, by an
  approver at their own login (a red area needs its owner and retest date first); where
  the plan asks for two people, it is in force only once a second approver approved
  ``waiver:<id>``;
* ``withdraw``: an approver ends a waiver early;
* ``judge``: an approver's colour for an area the plan has judged by hand.

The record and its audit entry are written together (:mod:`console.store.scorecard`).
Changes only the run database.
"""

from __future__ import annotations

from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.scorecard.approvals import identity, not_an_approver, now_of
from console.scorecard.card import chain_state, compute, describe
from console.scorecard.model import AreaCard, Colour, iso, parse_until

ACTIONS = ("owner", "waive", "withdraw", "judge")
JUDGED = ("green", "yellow", "red")


def _area(ctx: StepContext) -> AreaCard:
    return compute(ctx.store, chain_state(ctx.store, full=False)).area(ctx.target)


def _text(ctx: StepContext, name: str) -> str:
    return str(ctx.params.get(name) or "").strip()


def _future(ctx: StepContext, name: str, what: str) -> str | None:
    """Why the date in ``params[name]`` will not do, or None."""
    text = _text(ctx, name)
    if not text:
        return f"give the {what} (YYYY-MM-DD)"
    try:
        when = parse_until(text)
    except ValueError as exc:
        return str(exc)
    if when <= now_of(ctx.store):
        return f"the {what} {text} has passed; give a later one"
    return None


def check(ctx: StepContext) -> str | None:
    """Why this decision cannot be recorded, or None."""
    action = _text(ctx, "action")
    if not action:
        return (
            "no decision entered: use the scorecard pane (o owner, w waive, m judge) or "
            "'cutover owner|waive|judge'"
        )
    if action not in ACTIONS:
        return f"'{action}' is not a decision; record one of: {', '.join(ACTIONS)}"
    plan = ctx.store.plan
    area = _area(ctx)
    if action == "owner":
        if not _text(ctx, "owner"):
            return "name the owner of this area"
        return _future(ctx, "retest", "retest date")
    ident = identity(plan)
    if ident.approver is None:
        return not_an_approver(plan, ident)
    if action == "waive":
        if not area.colour.blocks:
            return (
                f"{area.id} is {area.colour.value}: only a RED or GREY area shuts the cutover "
                "gates, so there is nothing to waive"
            )
        if area.needs_owner:
            return f"{area.id} is RED: record its owner and retest date before waiving it"
        if not _text(ctx, "reason"):
            return "give the reason for the waiver"
        return _future(ctx, "expires", "expiry")
    if action == "withdraw":
        if area.waiver is None and area.pending_waiver is None:
            return f"{area.id} has no waiver in force to withdraw"
        return None if _text(ctx, "note") else "say why the waiver is withdrawn"
    if ctx.target not in plan.scorecard.by_hand:
        return (
            f"the plan does not judge {area.id} by hand ([scorecard] by_hand); its colour "
            "comes from the evidence"
        )
    if _text(ctx, "colour").lower() not in JUDGED:
        return f"judge it one of: {', '.join(JUDGED)}"
    return None if _text(ctx, "note") else "say what the judgement rests on"


def preview(ctx: StepContext) -> list[str]:
    """What the gate shows: the area now, and exactly what will be recorded."""
    area = _area(ctx)
    ident = identity(ctx.store.plan)
    lines = [f"{area.title} is {area.colour.value}: {area.summary}"]
    if area.owner:
        lines.append(f"Owner {area.owner.name}, retest by {area.owner.retest[:10]}")
    if area.waiver:
        lines.append(f"Waived until {area.waiver.expires} by {area.waiver.approver}")
    action = _text(ctx, "action")
    if action == "owner":
        lines.append(f"Records: owner {_text(ctx, 'owner')}, retest by {_text(ctx, 'retest')}")
    elif action == "waive":
        lines.append(
            f"Records: a waiver of {area.colour.value} until {_text(ctx, 'expires')}: "
            f"{_text(ctx, 'reason')}"
        )
        lines.append("Cutover gates treat the area as open while it is in force; it stays")
        lines.append(f"{area.colour.value} on the scorecard, shown as waived.")
        if "waiver" in ctx.store.plan.people.two_person:
            lines.append("Two people: in force once a second approver approves it.")
    elif action == "withdraw":
        lines.append(f"Records: the waiver withdrawn: {_text(ctx, 'note')}")
    elif action == "judge":
        lines.append(f"Records: {_text(ctx, 'colour').upper()} by hand: {_text(ctx, 'note')}")
    lines.append(f"Recorded as: {ident.describe()}")
    lines.append("Changes only the run database.")
    return lines


def run(ctx: StepContext) -> StepOutcome:
    """Record the decision (checked again: the scorecard may have moved since the gate)."""
    problem = check(ctx)
    if problem:
        return StepOutcome(ctx.key, StepState.FAILED, problem, None)
    store = ctx.store
    action = _text(ctx, "action")
    area = _area(ctx)
    ident = identity(store.plan)
    if action == "owner":
        body = {"owner": _text(ctx, "owner"), "retest": iso(parse_until(_text(ctx, "retest")))}
    elif action == "waive":
        body = {
            "reason": _text(ctx, "reason"),
            "expires": iso(parse_until(_text(ctx, "expires"))),
            "colour": area.colour.value,
            "finding": area.summary,
        }
    elif action == "withdraw":
        waiver = area.waiver or area.pending_waiver
        body = {"waiver": waiver.id if waiver else None, "note": _text(ctx, "note")}
    else:
        body = {
            "colour": Colour(_text(ctx, "colour").upper()).value,
            "note": _text(ctx, "note"),
            "evidence_says": area.findings[0].text if area.findings else "",
        }
    # The same decision already stands (a run killed after its mark was written and run
    # again, or the same decision confirmed twice): it is not recorded a second time.
    marks = [m for m in store.scorecard.marks() if m.area == ctx.target]
    if marks and (marks[-1].action, marks[-1].body, marks[-1].approver) == (
        action,
        body,
        ident.approver,
    ):
        same = marks[-1]
        return StepOutcome(
            ctx.key,
            StepState.PASSED,
            f"{describe(same)} (already recorded by entry {same.seq}; not recorded twice)",
            None,
            {"mark": same.id},
        )
    mark = store.scorecard.add_mark(
        ctx.key,
        ctx.target,
        action,
        body,
        approver=ident.approver,
        ref=ctx.started_seq,
        outcome="recorded",
    )
    return StepOutcome(ctx.key, StepState.PASSED, describe(mark), None, {"mark": mark.id})
