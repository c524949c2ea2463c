"""The scorecard as of one audit entry: every area's colour from its rules, with the
decisions people recorded on it (owner and retest date, waiver, judgement by hand).

``compute`` is what the gates, the console, ``cutover scorecard`` and a replay all call;
given an audit entry it counts only the evidence recorded and the decisions taken up to
that entry, and judges waivers and evidence age at that entry's time.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from console.plan import AREAS
from console.plan.steps import StepKind, def_of
from console.scorecard.approvals import waiver_subject
from console.scorecard.model import (
    AreaCard,
    ChainState,
    Colour,
    GateState,
    HistoryItem,
    Judgement,
    Owner,
    Scorecard,
    Waiver,
    parse_time,
    worst,
)
from console.scorecard.rules import AREA_TITLES, RULES, Facts, area_rule_text, judge_area
from console.store import Store
from console.store.scorecard import Approval, Mark

NO_AVERAGE = (
    "No overall score: each area stands on its own, and a green in one never makes up "
    "for a red in another."
)


def chain_state(store: Store, *, full: bool, upto: int | None = None) -> ChainState:
    """The audit chain as the scorecard sees it: verified in full (the export, replay) or
    since the checkpoint (the gates); as of entry ``upto``, intact if every entry up to it
    verifies."""
    verdict = store.audit_verify(full=full)
    depth = "every entry" if full else "since the last checkpoint"
    if upto is None:
        return ChainState(verdict.ok, verdict.count, verdict.problem, depth)
    if verdict.ok or verdict.count >= upto:
        return ChainState(True, min(verdict.count, upto), None, depth)
    return ChainState(False, verdict.count, verdict.problem, depth)


def compute(
    store: Store, chain: ChainState, *, upto: int | None = None, now: datetime | None = None
) -> Scorecard:
    """The scorecard now, or as of audit entry ``upto`` (a replay)."""
    plan = store.plan
    head = store.history.head()
    seq = head if upto is None else min(upto, head)
    entry = store.history.entry(seq) if seq else None
    if upto is None:
        when = now or parse_time(store.clock())
        until = None
    else:
        when = parse_time(entry.ts) if entry else parse_time(store.clock())
        until = entry.ts if entry else None
    facts = Facts(store, plan, when, until, chain)
    marks = store.scorecard.marks(None if upto is None else seq)
    approvals = store.scorecard.approvals(None, None if upto is None else seq)
    areas = []
    for area in AREAS:
        colour, findings = judge_area(facts, area)
        mine = [m for m in marks if m.area == area]
        judgement = _judgement(mine)
        by_hand = area in plan.scorecard.by_hand
        if by_hand:
            colour = judgement.colour if judgement else Colour.GREY
        active, pending, lapsed = _waivers(mine, marks, approvals, when, plan.people.two_person)
        areas.append(
            AreaCard(
                area,
                AREA_TITLES[area],
                colour,
                area_rule_text(area),
                findings,
                by_hand=by_hand,
                judgement=judgement if by_hand else None,
                owner=_owner(mine),
                waiver=active,
                pending_waiver=pending,
                history=_history(mine, approvals),
                lapsed_waiver=None if active else lapsed,
            )
        )
    card = Scorecard(
        plan.name,
        seq,
        entry.ts if entry else "",
        tuple(areas),
        chain,
        notes=(NO_AVERAGE,),
        judged_at=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    reason = card.gate_reason()
    gates = tuple(
        GateState(row.key, reason is None, reason or "the scorecard lets it open")
        for row in store.steps()
        if def_of(row.key).kind is StepKind.CUTOVER
    )
    return dataclasses.replace(card, gates=gates)


def rechain(card: Scorecard, chain: ChainState) -> Scorecard:
    """The same scorecard with the audit chain judged again (a verification that ended
    after it was computed): only the chain's finding and what follows from it change."""
    chain_rule = next(r for r in RULES if r.id == "audit-chain")
    finding = chain_rule.judge(Facts(None, None, None, None, chain))  # type: ignore[arg-type]
    areas = []
    for area in card.areas:
        if area.id != chain_rule.area:
            areas.append(area)
            continue
        findings = tuple(finding if f.rule == chain_rule.id else f for f in area.findings)
        colour = area.colour if area.by_hand else worst(f.colour for f in findings)
        areas.append(dataclasses.replace(area, findings=findings, colour=colour))
    fresh = dataclasses.replace(card, areas=tuple(areas), chain=chain)
    reason = fresh.gate_reason()
    gates = tuple(
        dataclasses.replace(g, open=reason is None, reason=reason or "the scorecard lets it open")
        for g in card.gates
    )
    return dataclasses.replace(fresh, gates=gates)


def _owner(marks: list[Mark]) -> Owner | None:
    owners = [m for m in marks if m.action == "owner"]
    if not owners:
        return None
    m = owners[-1]
    return Owner(m.body["owner"], m.body["retest"], m.os_user, m.ts, m.seq)


def _judgement(marks: list[Mark]) -> Judgement | None:
    judged = [m for m in marks if m.action == "judge"]
    if not judged:
        return None
    m = judged[-1]
    return Judgement(
        Colour(m.body["colour"].upper()), m.body.get("note", ""), m.approver or "", m.os_user,
        m.ts, m.seq,
    )  # fmt: skip


def _waivers(
    mine: list[Mark],
    marks: list[Mark],
    approvals: list[Approval],
    now: datetime,
    two_person: list[str],
) -> tuple[Waiver | None, Waiver | None, Waiver | None]:
    """The waiver in force (newest valid one), one waiting for a second approver, and
    the newest that expired by ``now``."""
    withdrawn = {m.body.get("waiver") for m in marks if m.action == "withdraw"}
    active = pending = lapsed = None
    for m in mine:
        if m.action != "waive" or m.id in withdrawn:
            continue
        expired = parse_time(m.body["expires"]) <= now
        seconds = tuple(
            sorted(
                {
                    a.approver
                    for a in approvals
                    if a.subject == waiver_subject(m.id) and a.approver != m.approver
                }
            )
        )
        needs = "waiver" in two_person and not seconds
        waiver = Waiver(
            m.id,
            m.approver or "",
            m.os_user,
            m.body.get("reason", ""),
            m.body["expires"],
            m.ts,
            m.seq,
            m.body.get("colour", ""),
            seconds,
            needs,
        )
        if expired:
            lapsed = waiver
        elif needs:
            pending = waiver
        else:
            active = waiver
    return active, pending, lapsed


def _history(mine: list[Mark], approvals: list[Approval]) -> tuple[HistoryItem, ...]:
    items = [HistoryItem(m.seq, m.ts, m.os_user, m.ssh_client, describe(m)) for m in mine]
    ids = {waiver_subject(m.id): m for m in mine if m.action == "waive"}
    items += [
        HistoryItem(
            a.seq,
            a.ts,
            a.os_user,
            a.ssh_client,
            f"{a.subject} approved by {a.approver} (second approver)",
        )
        for a in approvals
        if a.subject in ids
    ]
    return tuple(sorted(items, key=lambda i: i.seq))


def describe(mark: Mark) -> str:
    """A recorded decision in words, for the history."""
    body = mark.body
    if mark.action == "owner":
        return f"owner {body['owner']}, retest by {body['retest'][:10]}"
    if mark.action == "waive":
        return (
            f"waiver:{mark.id} by {mark.approver} of {body.get('colour', '?')} until "
            f"{body['expires']}: {body.get('reason', '')}"
        )
    if mark.action == "withdraw":
        return f"waiver:{body.get('waiver')} withdrawn by {mark.approver}: {body.get('note', '')}"
    if mark.action == "judge":
        return f"judged {body['colour'].upper()} by {mark.approver}: {body.get('note', '')}"
    return mark.action
