"""The scorecard for people and pipelines: JSON, Markdown for the pre-cutover meeting,
and plain text for the terminal.

The Markdown reads as it is (a table of the six areas, then each area with its rule,
the evidence behind its colour, its owner, waiver and history), so the review can be
held from the file alone. No output has an overall score, a total or an average: each
area stands on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.scorecard.card import NO_AVERAGE
from console.scorecard.model import AreaCard, Colour, Finding, Scorecard
from console.views.status import status


@dataclass(frozen=True)
class Section:
    """More to say beside the scorecard (the network and cost scope): it informs the
    review and never feeds any area."""

    name: str
    """Its key in the JSON."""
    markdown: tuple[str, ...]
    """Its Markdown lines, heading included."""
    data: dict[str, Any]
    """The same as JSON."""


def label(colour: Colour) -> str:
    """Glyph and word, as everywhere else (``✗ RED``)."""
    return status(colour.value).label


def area_state(area: AreaCard) -> str:
    """The colour and whether it is waived, in words."""
    text = label(area.colour)
    if area.waived:
        text += f" (waived until {area.waiver.expires[:16]})"
    elif area.pending_waiver:
        text += " (waiver awaiting a second approver)"
    return text


def to_json(card: Scorecard, sections: tuple[Section, ...] = ()) -> dict[str, Any]:
    """One object: every area with its findings and the evidence behind them."""
    return {
        "plan": card.plan,
        "as_of": {"entry": card.as_of_seq, "time": card.as_of, "judged_at": card.judged_at},
        "audit_chain": {
            "ok": card.chain.ok,
            "entries": card.chain.entries,
            "problem": card.chain.problem,
            "verified": card.chain.depth,
        },
        "note": NO_AVERAGE,
        "areas": [_area_json(a, card.judged_at) for a in card.areas],
        "cutover_gates": [{"step": g.step, "open": g.open, "reason": g.reason} for g in card.gates],
        **{s.name: s.data for s in sections},
    }


def overdue(area: AreaCard, judged_at: str) -> bool:
    """The owner's retest date has passed (dates compared, UTC) and the area is still not
    GREEN: the retest the owner promised has not made it so."""
    if area.owner is None or not judged_at or area.colour is Colour.GREEN:
        return False
    return area.owner.retest[:10] < judged_at[:10]


def _area_json(area: AreaCard, judged_at: str = "") -> dict[str, Any]:
    return {
        "area": area.id,
        "title": area.title,
        "colour": area.colour.value,
        "blocks_cutover": area.blocking,
        "waived": area.waived,
        "by_hand": area.by_hand,
        "summary": area.summary,
        "rule": area.rule,
        "needs_owner_and_retest": area.needs_owner,
        "findings": [_finding_json(f) for f in area.findings],
        "owner": None
        if area.owner is None
        else {
            "name": area.owner.name,
            "retest": area.owner.retest,
            "recorded_by": area.owner.recorded_by,
            "at": area.owner.at,
            "retest_overdue": overdue(area, judged_at),
        },
        "waiver": _waiver_json(area.waiver),
        "pending_waiver": _waiver_json(area.pending_waiver),
        "expired_waiver": _waiver_json(area.lapsed_waiver),
        "judgement": None
        if area.judgement is None
        else {
            "colour": area.judgement.colour.value,
            "note": area.judgement.note,
            "approver": area.judgement.approver,
            "os_user": area.judgement.os_user,
            "at": area.judgement.at,
        },
        "history": [
            {
                "entry": h.seq,
                "at": h.at,
                "os_user": h.os_user,
                "ssh_client": h.ssh_client,
                "what": h.what,
            }
            for h in area.history
        ],  # fmt: skip
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "colour": finding.colour.value,
        "text": finding.text,
        "evidence": [
            {"kind": e.kind, "id": e.id, "at": e.at, "what": e.what} for e in finding.evidence
        ],
        "details": list(finding.details),
    }


def _waiver_json(waiver) -> dict[str, Any] | None:
    if waiver is None:
        return None
    return {
        "id": waiver.id,
        "approver": waiver.approver,
        "os_user": waiver.os_user,
        "reason": waiver.reason,
        "expires": waiver.expires,
        "at": waiver.at,
        "colour_waived": waiver.colour,
        "second_approvers": list(waiver.approved_by),
        "needs_second_approver": waiver.needs_second,
    }


# -- Markdown ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _evidence_line(finding: Finding) -> str:
    if not finding.evidence:
        return "no stored evidence"
    return "; ".join(
        f"{e.kind} #{e.id} ({e.what}, {e.at})" if e.id is not None else f"{e.what}"
        for e in finding.evidence
    )


def to_markdown(card: Scorecard, sections: tuple[Section, ...] = ()) -> str:
    """The scorecard as a Markdown document for the pre-cutover meeting."""
    chain = card.chain
    chain_text = (
        "not verified"
        if chain.ok is None
        else (f"intact, {chain.entries} entries ({chain.depth})" if chain.ok else "BROKEN")
    )
    out = [
        f"# Readiness scorecard: {card.plan}",
        "",
        f"As of audit entry {card.as_of_seq} ({card.as_of}). Audit chain: {chain_text}."
        + (f" {chain.problem}" if chain.problem else ""),
        "",
        f"Judged at {card.judged_at or card.as_of}: evidence older than the plan's "
        "max_evidence_age_hours by then reads YELLOW (what it found is kept beside its age), "
        "and a waiver counts only until its expiry.",
        "",
        NO_AVERAGE,
        "",
        "| Area | Colour | Why | Owner, retest | Waiver |",
        "|---|---|---|---|---|",
    ]
    for a in card.areas:
        owner = (
            f"{a.owner.name}, by {a.owner.retest[:10]}"
            + (" (**overdue**)" if overdue(a, card.judged_at) else "")
            if a.owner
            else ("**needed**" if a.needs_owner else "")
        )
        waiver = ""
        if a.waiver:
            waiver = f"{a.waiver.approver} until {a.waiver.expires[:16]}: {a.waiver.reason}"
        elif a.pending_waiver:
            waiver = f"awaiting a second approver (waiver:{a.pending_waiver.id})"
        elif a.lapsed_waiver:
            w = a.lapsed_waiver
            waiver = f"**expired** {w.expires[:16]} (was {w.approver}'s: {w.reason})"
        out.append(
            f"| {a.title} | {label(a.colour)}{' (by hand)' if a.by_hand else ''} | "
            f"{_cell(a.summary)} | {_cell(owner)} | {_cell(waiver)} |"
        )
    out += ["", "## Cutover gates", ""]
    if not card.gates:
        out.append("The plan names no group or producer class to move.")
    for g in card.gates:
        out.append(f"- `{g.step}`: {'may open' if g.open else 'SHUT'} ({_cell(g.reason)})")
    for a in card.areas:
        out += ["", f"## {a.title}: {area_state(a)}", "", f"Rule: {a.rule}", ""]
        if a.by_hand:
            if a.judgement:
                j = a.judgement
                out.append(
                    f"Judged by hand: {label(j.colour)} by {j.approver} (OS user {j.os_user}) "
                    f"at {j.at}: {j.note}"
                )
            else:
                out.append("Judged by hand: no approver has judged it yet (GREY).")
            out += ["", "What the evidence says:", ""]
        for f in a.findings:
            out.append(f"- {label(f.colour)} **{f.rule}**: {_cell(f.text)}")
            out.append(f"  - evidence: {_cell(_evidence_line(f))}")
            out.extend(f"  - {_cell(d)}" for d in f.details[:12])
            if len(f.details) > 12:
                out.append(f"  - … and {len(f.details) - 12} more")
        if a.owner:
            late = (
                f" The retest date has passed and the area is still {label(a.colour)}."
                if overdue(a, card.judged_at)
                else ""
            )
            out += [
                "",
                f"Owner: {a.owner.name}, retest by {a.owner.retest[:10]} (recorded by OS user "
                f"{a.owner.recorded_by} at {a.owner.at}).{late}",
            ]
        elif a.needs_owner:
            out += ["", "**This red area has no owner and retest date yet.**"]
        if a.waiver:
            w = a.waiver
            second = f"; second approver {', '.join(w.approved_by)}" if w.approved_by else ""
            out += [
                "",
                f"Waived: by {w.approver} (OS user {w.os_user}) at {w.at}, until {w.expires}"
                f"{second}: {w.reason}",
            ]
        if a.lapsed_waiver:  # set only when no waiver is in force
            w = a.lapsed_waiver
            out += [
                "",
                f"**Waiver expired**: by {w.approver} (OS user {w.os_user}) at {w.at}, until "
                f"{w.expires}: {w.reason}. It no longer counts"
                + (
                    ": the area shuts the cutover gates again until it is waived anew or its "
                    "evidence changes its colour."
                    if a.colour.blocks
                    else "."
                ),
            ]
        if a.history:
            out += ["", "History:", ""]
            for h in a.history:
                ssh = f" via SSH from {h.ssh_client}" if h.ssh_client else ""
                out.append(f"- entry {h.seq}, {h.at}, OS user {h.os_user}{ssh}: {_cell(h.what)}")
    for s in sections:
        out += ["", *s.markdown]
    return "\n".join(out) + "\n"


# -- terminal -----------------------------------------------------------------------------------


def to_text(card: Scorecard) -> list[str]:
    """The scorecard for a terminal: one line per area, then the gates."""
    chain = card.chain
    lines = [
        f"Scorecard {card.plan} as of entry {card.as_of_seq} ({card.as_of}); audit chain "
        + ("not verified" if chain.ok is None else ("OK" if chain.ok else "BROKEN"))
    ]
    for a in card.areas:
        extra = ""
        if a.waived:
            extra = f"  [waived until {a.waiver.expires[:10]} by {a.waiver.approver}]"
        elif a.needs_owner:
            extra = "  [needs an owner and a retest date]"
        elif a.owner and a.colour is Colour.RED:
            extra = f"  [owner {a.owner.name}, retest by {a.owner.retest[:10]}]"
        lines.append(f"  {a.id:16} {label(a.colour):9} {a.summary}{extra}")
    lines.append(NO_AVERAGE)
    reason = card.gate_reason()
    gates = f"SHUT: {reason}" if reason else "the scorecard lets them open"
    lines.append(f"Cutover gates: {gates}")
    return lines
