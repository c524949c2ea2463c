"""The rule of every scorecard area, in one table: which evidence it reads and how that
evidence turns into a colour.

Each :class:`Rule` reads stored evidence by its kind (the kinds every phase records,
see the README), never a particular step's private data, so evidence a later phase
records plugs in as soon as it is stored. A rule with nothing to read says GREY (no
evidence), never GREEN. An area's colour is the worst of its rules' colours; nothing is
ever averaged, within an area or across areas.

Every rule reads the evidence recorded up to the moment the scorecard is computed for
(``Facts.until``), so a replay shows the scorecard as it stood at any audit entry.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from console.compare.history import load_view
from console.compare.model import CHECK_BY_NAME
from console.cutover import view as offsets_view
from console.plan import Plan
from console.scorecard.model import (
    ChainState,
    Colour,
    EvidenceRef,
    Finding,
    parse_time,
    worst,
)
from console.store import Evidence, Store

AREA_TITLES = {
    "compatibility": "Compatibility",
    "correctness": "Correctness",
    "consumer-safety": "Consumer safety",
    "operations": "Operations",
    "rollback": "Rollback",
    "governance": "Governance",
}


@dataclass
class Facts:
    """What the rules read: the plan, the evidence up to a moment, the audit chain."""

    store: Store
    plan: Plan
    now: datetime
    """The moment judged: now, or the time of the audit entry a replay shows."""
    until: str | None
    """Evidence recorded after this (UTC) does not count yet; None: all of it."""
    chain: ChainState
    _cache: dict[str, list[Evidence]] = field(default_factory=dict)
    _samples: dict[str, tuple[int, str, dict[str, Any]]] | None = None

    def all(self, kind: str) -> list[Evidence]:
        """Every piece of evidence of a kind up to the moment, oldest first."""
        if kind not in self._cache:
            self._cache[kind] = self.store.evidence_of_kind(kind, until=self.until)
        return self._cache[kind]

    def latest(self, kind: str) -> Evidence | None:
        found = self.all(kind)
        return found[-1] if found else None

    def per_target(self, kind: str) -> dict[str, Evidence]:
        """The newest evidence of a kind for each target its body names."""
        out: dict[str, Evidence] = {}
        for evidence in self.all(kind):
            target = evidence.body.get("target")
            if not isinstance(target, str):  # an offset plan's 'target' is the group there
                target = evidence.body.get("group")
            if target:
                out[str(target)] = evidence
        return out

    def offset_samples(self) -> dict[str, tuple[int, str, dict[str, Any]]]:
        """The offsets sampler's newest figures per group, up to the moment."""
        if self._samples is None:
            self._samples = self.store.cutover.latest_samples(self.until)
        return self._samples

    def stale(self, evidence: Evidence) -> bool:
        limit = timedelta(hours=self.plan.scorecard.max_evidence_age_hours)
        return self.now - parse_time(evidence.created_at) > limit


@dataclass(frozen=True)
class Rule:
    """One rule of one area."""

    id: str
    area: str
    text: str
    """The rule in words: the README, the detail view and the export say it."""
    kinds: tuple[str, ...]
    """The evidence kinds it reads."""
    judge: Callable[[Facts], Finding]


def ref(evidence: Evidence, what: str = "") -> EvidenceRef:
    return EvidenceRef(
        evidence.kind, evidence.id, evidence.created_at, what or f"step {evidence.step}"
    )


def _records(n: int) -> str:
    return f"{n:,}"


def _aged(facts: Facts, evidence: Evidence, text: str, found: Finding) -> Finding:
    """``found`` (what the evidence says), or, when the evidence is older than the plan's
    limit, YELLOW for its age with what it said kept beside it: a reviewer decides
    whether to run it again from what it found, not from its age alone."""
    if not facts.stale(evidence):
        return found
    hours = facts.plan.scorecard.max_evidence_age_hours
    return Finding(
        found.rule,
        Colour.YELLOW,
        f"{text} is older than {hours:g} h (recorded {evidence.created_at}); run it again. "
        f"It said ({found.colour.value}): {found.text}",
        found.evidence or (ref(evidence),),
        found.details,
    )


def _missing(rule: str, what: str) -> Finding:
    return Finding(rule, Colour.GREY, what)


def _more(items: list[str], limit: int = 2) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


# -- compatibility ---------------------------------------------------------------------------

# How a difference in a topic config between the sides is judged: RED where the target
# would behave differently for the same clients, YELLOW where it is worth a look.
CONFIG_RULES: dict[str, str] = {
    "cleanup.policy": "red-if-different",
    "message.timestamp.type": "red-if-different",
    "max.message.bytes": "red-if-target-smaller",
}
"""Any other key config that differs (retention, min ISR, compression, segments) is
YELLOW."""


def _release(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def judge_inventory(facts: Facts) -> Finding:
    rule = "inventory"
    evidence = facts.latest("inventory")
    if evidence is None:
        return _missing(rule, "no inventory recorded: run 'Read both clusters'")
    body = evidence.body
    evidence_ref = (ref(evidence),)
    unread = [side for side in ("source", "target") if not body.get(side)]
    if unread:
        return Finding(
            rule,
            Colour.GREY,
            f"the inventory could not read the {' and '.join(unread)}",
            evidence_ref,
            tuple(body.get("problems", [])),
        )
    if body.get("problems"):
        problems = list(body["problems"])
        return Finding(
            rule,
            Colour.GREY,
            f"the inventory is incomplete: {_more(problems, 1)}",
            evidence_ref,
            tuple(problems),
        )
    source, target = body["source"], body["target"]
    red: list[str] = []
    yellow: list[str] = []
    src_rel = sorted({b.get("release", "?") for b in source.get("brokers", [])})
    tgt_rel = sorted({b.get("release", "?") for b in target.get("brokers", [])})
    src_v = [_release(r) for r in src_rel]
    tgt_v = [_release(r) for r in tgt_rel]
    if None in src_v or None in tgt_v or not src_v or not tgt_v:
        yellow.append(
            f"broker release not known exactly (source {'/'.join(src_rel) or '?'}, "
            f"target {'/'.join(tgt_rel) or '?'})"
        )
    elif min(tgt_v) < max(src_v):
        yellow.append(
            f"target runs an older Kafka ({'/'.join(tgt_rel)}) than the source "
            f"({'/'.join(src_rel)}): clients may use requests it does not know"
        )
    topics_src = {t["name"]: t for t in source.get("topics", [])}
    topics_tgt = {t["name"]: t for t in target.get("topics", [])}
    for spec in facts.plan.topics:
        src, tgt = topics_src.get(spec.name), topics_tgt.get(spec.name)
        if src is None:
            red.append(f"'{spec.name}' is not on the source")
            continue
        if tgt is None:
            if not spec.create_on_target:
                red.append(f"'{spec.name}' is not on the target and the plan may not create it")
            continue
        if len(src["partitions"]) != len(tgt["partitions"]):
            red.append(
                f"'{spec.name}' has {len(src['partitions'])} partitions on the source, "
                f"{len(tgt['partitions'])} on the target: per-key order breaks"
            )
        for key in sorted(set(src.get("configs", {})) | set(tgt.get("configs", {}))):
            a, b = src.get("configs", {}).get(key), tgt.get("configs", {}).get(key)
            if a == b:
                continue
            how = CONFIG_RULES.get(key, "yellow")
            line = f"'{spec.name}' {key}: {a} on the source, {b} on the target"
            if how == "red-if-different":
                red.append(line)
            elif how == "red-if-target-smaller":
                small = _int(b) is not None and _int(a) is not None and _int(b) < _int(a)
                (red if small else yellow).append(line)
            else:
                yellow.append(line)
    details = tuple(red + yellow)
    if red:
        return Finding(rule, Colour.RED, _more(red), evidence_ref, details)
    if yellow:
        found = Finding(rule, Colour.YELLOW, _more(yellow), evidence_ref, details)
    else:
        found = Finding(
            rule,
            Colour.GREEN,
            f"source Kafka {'/'.join(src_rel)}, target {'/'.join(tgt_rel)}; "
            f"{len(facts.plan.topics)} plan topics match in partitions and key configs",
            evidence_ref,
        )
    return _aged(facts, evidence, "the inventory", found)


# -- correctness -----------------------------------------------------------------------------


def judge_comparison(facts: Facts) -> Finding:
    rule = "comparison"
    wanted = [t.name for t in facts.plan.topics]
    latest: dict[str, tuple[int, str, list]] = {}
    labels: dict[int, str] = {}
    for window_id, _started, finished, status, _spec in facts.store.results.windows(
        50, until=facts.until
    ):
        if status != "done" or len(latest) == len(wanted):
            continue
        view = load_view(facts.store, window_id)
        for topic in wanted:
            rows = [r for r in view.rows if r.topic == topic]
            if topic not in latest and rows:
                latest[topic] = (window_id, finished or "", rows)
                labels[window_id] = view.window.label if view.window else ""
    refs = tuple(
        EvidenceRef("comparison", window_id, finished, f"window #{window_id}")
        for window_id, finished in sorted({(w, f) for w, f, _ in latest.values()})
    )
    never = [t for t in wanted if t not in latest]
    red: list[str] = []
    grey: list[str] = []
    yellow: list[str] = []
    details: list[str] = []
    for topic, (window_id, finished, rows) in latest.items():
        for row in rows:
            where = f"{topic} {row.check} (window #{window_id})"
            if row.verdict == "RED":
                red.append(f"{where}: {row.reason}")
            elif row.verdict == "NO_DATA" and CHECK_BY_NAME[row.check].required:
                grey.append(f"{where}: no data ({row.reason})")
            elif row.verdict == "WARN":
                yellow.append(f"{where}: {row.reason}")
        # How much the verdicts rest on: what the window covered and the records read on
        # each side (a reviewer weighs 120 records differently from 12 million).
        sizes = [r for r in rows if r.source is not None or r.target is not None]
        read = (
            f"{_records(max((r.source or 0) for r in sizes))} source / "
            f"{_records(max((r.target or 0) for r in sizes))} target records"
            if sizes
            else "records read not recorded"
        )
        covered = f" ({labels[window_id]})" if labels.get(window_id) else ""
        details.append(
            f"{topic}: window #{window_id}{covered} finished {finished}, {read}: "
            + ", ".join(f"{r.check} {r.verdict}" for r in rows)
        )
    if red:
        return Finding(rule, Colour.RED, _more(red), refs, tuple(red + details))
    if never or grey:
        text = (
            f"never compared: {', '.join(never)}; run 'Compare both sides'"
            if never
            else _more(grey)
        )
        return Finding(rule, Colour.GREY, text, refs, tuple(grey + details))
    oldest = min(finished for _w, finished, _r in latest.values())
    limit = timedelta(hours=facts.plan.scorecard.max_evidence_age_hours)
    if facts.now - parse_time(oldest) > limit:
        return Finding(
            rule,
            Colour.YELLOW,
            f"the oldest comparison used finished {oldest}, more than "
            f"{facts.plan.scorecard.max_evidence_age_hours:g} h ago; compare again",
            refs,
            tuple(details),
        )
    if yellow:
        return Finding(rule, Colour.YELLOW, _more(yellow), refs, tuple(yellow + details))
    return Finding(
        rule,
        Colour.GREEN,
        f"every check OK on the latest window of each of {len(wanted)} topics",
        refs,
        tuple(details),
    )


# -- consumer safety -------------------------------------------------------------------------


def judge_safe_consumers(facts: Facts) -> Finding:
    rule = "safe-consumers"
    evidence = facts.latest("safe-consumers")
    if evidence is None:
        return _missing(rule, "no safe-consumer evidence: run 'Start safe consumers'")
    consumers = evidence.body.get("consumers")
    if not isinstance(consumers, list):
        return Finding(
            rule,
            Colour.GREY,
            "safe-consumer evidence without a 'consumers' list: cannot tell their sinks",
            (ref(evidence),),
        )

    def sink(c: dict) -> dict:
        # {"kind", "name", "safe", "why"} as the safe-consumers step records it.
        found = c.get("sink")
        return found if isinstance(found, dict) else {"kind": found, "safe": c.get("safe")}

    def where(c: dict) -> str:
        s = sink(c)
        return f"{s.get('kind', '?')} {s.get('name') or ''}".strip()

    unsafe = [
        f"{c.get('name', '?')} writes to {where(c)}"
        + (f" ({sink(c)['why']})" if sink(c).get("why") else "")
        for c in consumers
        if sink(c).get("safe") is not True
    ]
    refusals = [str(r.get("what", r)) if isinstance(r, dict) else str(r)
                for r in evidence.body.get("refusals", [])]  # fmt: skip
    if unsafe or refusals:
        lines = [f"unsafe sink: {u}" for u in unsafe] + [
            f"principal refused: {r}" for r in refusals
        ]
        return Finding(rule, Colour.RED, _more(lines), (ref(evidence),), tuple(lines))
    if not consumers:
        return Finding(rule, Colour.GREY, "no shadow consumer has run", (ref(evidence),))
    sinks = sorted({where(c) for c in consumers})
    found = Finding(
        rule,
        Colour.GREEN,
        f"{len(consumers)} shadow consumer(s), every sink safe ({', '.join(sinks)})",
        (ref(evidence),),
    )
    return _aged(facts, evidence, "the safe-consumer evidence", found)


def judge_offset_plans(facts: Facts) -> Finding:
    """Each plan group's standing offset plan: where it would start on the target if it
    moved now (the offsets sampler's newest figures, or the evaluation a move stored,
    whichever is newer: they have the same shape), judged as the offsets pane judges
    it; a group moved and verified is done."""
    rule = "offset-plans"
    groups = [g.id for g in facts.plan.groups]
    if not groups:
        return Finding(rule, Colour.GREEN, "the plan names no consumer groups to move")
    plans = facts.per_target("offset-plan")
    moves = facts.per_target("group-move")
    samples = facts.offset_samples()
    standing: dict[str, tuple[int, str, dict[str, Any]]] = {}
    refs: dict[str, EvidenceRef] = {}
    for group in groups:
        sample, evaluation = samples.get(group), plans.get(group)
        if evaluation is not None and (sample is None or evaluation.created_at >= sample[1]):
            standing[group] = (0, evaluation.created_at, evaluation.body)
            refs[group] = ref(evaluation, f"offset-plan of {group}")
        elif sample is not None:
            standing[group] = sample
            refs[group] = EvidenceRef(
                "offsets sample", None, sample[1], f"offsets sampler round {sample[0]} ({group})"
            )
    unreadable: dict[str, str] = {}
    for group in list(standing):
        # Evidence is whatever a step stored: a body of another shape makes this group
        # GREY with the reason, never a crash of the whole scorecard (and of every gate).
        try:
            offsets_view.build(
                facts.plan, {group: standing[group]}, as_of=None, stale=False, process_lines=[]
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            del standing[group]
            unreadable[group] = (
                f"{refs[group].what} cannot be read ({type(exc).__name__}: {exc}): "
                "record it again by running the step or the offsets sampler"
            )
    view = offsets_view.build(facts.plan, standing, as_of=None, stale=False, process_lines=[])
    heads = {row.group: row for row in view.rows if row.partition is None}
    first_bad: dict[str, str] = {}
    for row in view.rows:  # worst partition first within each group
        if row.partition is not None and row.verdict != "OK" and row.note:
            first_bad.setdefault(row.group, f"{row.topic}:{row.partition} {row.note}")
    red, grey, yellow, used = [], [], [], []
    for group in groups:
        move = moves.get(group)
        if move is not None and "failed" not in move.body:
            used.append(ref(move, f"group-move of {group}"))
            continue
        if group in unreadable:
            used.append(refs[group])
            grey.append(f"{group}: {unreadable[group]}")
            continue
        if group not in standing:
            grey.append(f"{group}: no offset plan (the offsets sampler has not read it)")
            continue
        used.append(refs[group])
        head = heads[group]
        why = first_bad.get(group) or head.note
        if head.verdict == "RED":
            red.append(f"{group}: {why}")
        elif head.verdict == "NO_DATA":
            grey.append(f"{group}: {why}")
        elif head.verdict == "WARN":
            yellow.append(f"{group}: {why}")
        if move is not None and move.created_at >= standing[group][1]:
            used.append(ref(move, f"group-move of {group}"))
            yellow.append(f"{group}: the last move failed: {move.body['failed']}")
    evidence = tuple(used)
    # What each plan rests on, group by group: a review decides from these figures.
    figures = tuple(_offset_figures(view, heads[group], standing[group][1]) for group in standing)
    if red:
        return Finding(rule, Colour.RED, _more(red), evidence, tuple(red) + figures)
    if grey:
        return Finding(rule, Colour.GREY, _more(grey), evidence, tuple(grey) + figures)
    if yellow:
        return Finding(rule, Colour.YELLOW, _more(yellow), evidence, tuple(yellow) + figures)
    return Finding(
        rule,
        Colour.GREEN,
        f"every group has an exact offset plan or has moved ({', '.join(groups)})",
        evidence,
        figures,
    )


def _offset_figures(view, head, at: str) -> str:
    """One group's offset plan in a line (``head``: its heading row in the offsets view):
    partitions by method, what a move now would re-read and skip, and the lag it carries."""
    group = head.group
    parts = [r for r in view.rows if r.group == group and r.partition is not None]
    methods = Counter(r.method for r in parts)
    how = ", ".join(f"{n} {m}" for m, n in sorted(methods.items())) or "no partition read"

    def n(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    return (
        f"{group} (as of {at}): {len(parts)} partition(s), {how}; a move now re-reads "
        f"{n(head.replay)} and skips {n(head.skip)} record(s); lag {n(head.lag)} record(s); "
        f"source {head.source}, target {head.target}"
    )


# -- operations ------------------------------------------------------------------------------


def judge_lag(facts: Facts) -> Finding:
    rule = "lag"
    evidence = facts.latest("lag")
    if evidence is None:
        return _missing(rule, "no judged lag: run 'Shadow lag in bounds'")
    parts = evidence.body.get("partitions") or []
    if not parts:
        return Finding(rule, Colour.GREY, "the lag evidence has no partitions", (ref(evidence),))

    def where(p):
        return f"{p.get('topic')}/{p.get('partition')}"

    by = {v: [p for p in parts if p.get("verdict") == v] for v in ("RED", "NO_DATA", "WARN")}
    if by["RED"]:
        lines = [f"{where(p)} {p.get('trend')}: {p.get('reason', '')}" for p in by["RED"]]
        return Finding(rule, Colour.RED, _more(lines), (ref(evidence),), tuple(lines))
    if by["NO_DATA"]:
        lines = [f"{where(p)}: {p.get('reason', 'no data')}" for p in by["NO_DATA"]]
        return Finding(
            rule, Colour.GREY, f"no verdict for {_more(lines)}", (ref(evidence),), tuple(lines)
        )
    if by["WARN"]:
        lines = [f"{where(p)} {p.get('trend')}: {p.get('reason', '')}" for p in by["WARN"]]
        found = Finding(rule, Colour.YELLOW, _more(lines), (ref(evidence),), tuple(lines))
    else:
        found = Finding(
            rule, Colour.GREEN, f"{len(parts)} partitions steady or catching up", (ref(evidence),)
        )
    return _aged(facts, evidence, "the lag verdict", found)


def judge_drill(facts: Facts) -> Finding:
    rule = "ops-drill"
    evidence = facts.latest("ops-drill")
    if evidence is None:
        return _missing(rule, "no failure drill recorded: run 'Operations drill'")
    body = evidence.body
    refs = (ref(evidence),)
    lines = tuple(body.get("timeline", []))
    if not body.get("recovered"):
        return Finding(
            rule, Colour.RED, f"the copy did not recover: {body.get('reason', '')}", refs, lines
        )
    recovery = body.get("recovery_s")
    text = (
        f"{body.get('broker', 'a target broker')} restarted; lag back in "
        f"{recovery:.0f} s (limit {body.get('limit_s', 0):.0f} s), "
        f"peak {body.get('peak_lag_records', '?')} records"
    )
    if not body.get("disruption_seen", True):
        return Finding(
            rule,
            Colour.YELLOW,
            f"{text}, but the lag never moved: the restart may not have been seen",
            refs,
            lines,
        )
    return _aged(
        facts, evidence, "the failure drill", Finding(rule, Colour.GREEN, text, refs, lines)
    )


# -- rollback --------------------------------------------------------------------------------


def _passed(body: dict[str, Any]) -> bool | None:
    if "passed" in body:
        return bool(body["passed"])
    verdict = str(body.get("verdict", body.get("state", ""))).upper()
    if verdict in ("OK", "PASSED"):
        return True
    if verdict in ("RED", "FAILED"):
        return False
    return None


def judge_rollback(facts: Facts) -> Finding:
    rule = "rollback-drill"
    real = facts.latest("rollback")
    if real is not None and _passed(real.body) is False:
        return Finding(
            rule,
            Colour.RED,
            f"a rollback failed: {real.body.get('reason', '')}",
            (ref(real),),
        )
    drill = facts.latest("rollback-drill")
    if drill is None:
        return _missing(rule, "no rollback drill recorded: rehearse the rollback first")
    passed = _passed(drill.body)
    if passed is None:
        return Finding(
            rule, Colour.GREY, "the rollback drill's evidence does not say whether it passed",
            (ref(drill),),
        )  # fmt: skip
    # What each sub-step found (records written, copied back exactly once, the group's
    # place): the figures a reviewer weighs, beside the colour.
    lines = drill.body.get("summary_lines")
    figures = tuple(str(x) for x in lines) if isinstance(lines, list) else ()
    if not passed:
        return Finding(
            rule, Colour.RED, f"the rollback drill failed: {drill.body.get('reason', '')}",
            (ref(drill),), figures,
        )  # fmt: skip
    found = Finding(
        rule,
        Colour.GREEN,
        f"the rollback drill passed {drill.created_at}"
        + (f": {drill.body['summary']}" if drill.body.get("summary") else ""),
        (ref(drill),),
        figures,
    )
    return _aged(facts, drill, "the rollback drill", found)


# -- governance ------------------------------------------------------------------------------


def judge_governance_diff(facts: Facts) -> Finding:
    rule = "governance-diff"
    evidence = facts.latest("governance")
    if evidence is None:
        return _missing(rule, "no governance diff recorded: compare ACLs, users and configs")
    items = evidence.body.get("items")
    if not isinstance(items, list):
        return Finding(
            rule, Colour.GREY, "governance evidence without an 'items' list", (ref(evidence),)
        )
    problems = list(evidence.body.get("problems", []))
    if problems:
        return Finding(
            rule,
            Colour.GREY,
            f"the governance diff could not read everything: {_more(problems, 1)}",
            (ref(evidence),),
            tuple(problems),
        )
    not_compared = tuple(
        f"not compared: {what}: {why}"
        for what, why in (evidence.body.get("not_compared") or {}).items()
    )
    undecided = [str(i.get("what") or i.get("key") or "?") for i in items if not i.get("decision")]
    unapplied = [
        str(i.get("what") or i.get("key") or "?")
        + (" (applied, still differs)" if i.get("applied") is False else " (not applied yet)")
        for i in items
        if i.get("decision") == "apply" and i.get("applied") is not True
    ]
    if undecided:
        return Finding(
            rule,
            Colour.GREY,
            f"{len(undecided)} of {len(items)} difference(s) without a decision: "
            f"{_more(undecided)}",
            (ref(evidence),),
            tuple(undecided) + not_compared,
        )
    if unapplied:
        return Finding(
            rule,
            Colour.YELLOW,
            f"decided 'apply' and not on the target yet: {_more(unapplied)}",
            (ref(evidence),),
            tuple(unapplied) + not_compared,
        )
    found = Finding(
        rule,
        Colour.GREEN,
        f"{len(items)} difference(s), each with a recorded decision",
        (ref(evidence),),
        not_compared,
    )
    return _aged(facts, evidence, "the governance diff", found)


def judge_approvers(facts: Facts) -> Finding:
    rule = "approvers"
    people = facts.plan.people
    mapped = [a for a in people.approvers if people.logins.get(a)]
    unmapped = [a for a in people.approvers if not people.logins.get(a)]
    plan_ref = (EvidenceRef("plan", None, "", "the plan's [people]"),)
    if not mapped:
        return Finding(
            rule,
            Colour.RED,
            "no approver has an OS login in [people.logins]: nobody can approve a cutover",
            plan_ref,
        )
    if unmapped:
        return Finding(
            rule,
            Colour.YELLOW,
            f"approvers without a login cannot approve anything: {', '.join(unmapped)}",
            plan_ref,
        )
    two = f"; two people for {', '.join(people.two_person)}" if people.two_person else ""
    return Finding(
        rule,
        Colour.GREEN,
        f"{len(mapped)} approver(s), each with a login ({', '.join(mapped)}){two}",
        plan_ref,
    )


def judge_chain(facts: Facts) -> Finding:
    rule = "audit-chain"
    chain = facts.chain
    chain_ref = (EvidenceRef("audit", None, "", f"audit chain, {chain.depth}"),)
    if chain.ok is None:
        return Finding(rule, Colour.GREY, "the audit chain was not verified", chain_ref)
    if not chain.ok:
        return Finding(rule, Colour.RED, f"the audit chain is broken: {chain.problem}", chain_ref)
    return Finding(
        rule,
        Colour.GREEN,
        f"the audit chain verifies ({chain.entries} entries, {chain.depth})",
        chain_ref,
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "inventory",
        "compatibility",
        "From the latest inventory: both clusters read in full, every plan topic on both "
        "sides (or creatable on the target) with the same partition count; "
        "cleanup.policy, message.timestamp.type and a smaller target max.message.bytes "
        "differing are RED, other key configs differing and a target on an older or "
        "unknown Kafka release are YELLOW.",
        ("inventory",),
        judge_inventory,
    ),
    Rule(
        "comparison",
        "correctness",
        "From the latest finished comparison window of each plan topic (a live chain "
        "counts as one): any RED check is RED; a required check without data, or a topic "
        "never compared, is GREY; a WARN, or a window older than the evidence age limit, "
        "is YELLOW.",
        ("comparison",),
        judge_comparison,
    ),
    Rule(
        "safe-consumers",
        "consumer-safety",
        "From the latest safe-consumer evidence: every shadow consumer's sink is safe and "
        "no shadow principal was refused (it could touch production); otherwise RED; no "
        "shadow consumer run yet is GREY.",
        ("safe-consumers",),
        judge_safe_consumers,
    ),
    Rule(
        "offset-plans",
        "consumer-safety",
        "Every plan group has an offset plan: the offsets sampler's newest figures or the "
        "offset-plan a move stored, whichever is newer, judged as the offsets pane judges "
        "it, or a group-move that passed. A group not read yet is GREY; a position that "
        "cannot be translated, would skip records, or re-read more than its topic "
        "tolerates is RED; one not copied yet, only bounded, still active on the source, "
        "or whose last move failed is YELLOW.",
        ("offset-plan", "group-move", "offsets samples"),
        judge_offset_plans,
    ),
    Rule(
        "lag",
        "operations",
        "From the latest judged lag ('Shadow lag in bounds'): a RED partition (stalled, "
        "growing, over a limit) is RED, a partition without a verdict GREY, a WARN YELLOW.",
        ("lag",),
        judge_lag,
    ),
    Rule(
        "ops-drill",
        "operations",
        "From the latest operations drill: a target broker restarted while the copy ran; "
        "the copy not recovering within the plan's limit is RED; a restart whose effect "
        "was never seen in the lag is YELLOW.",
        ("ops-drill",),
        judge_drill,
    ),
    Rule(
        "rollback-drill",
        "rollback",
        "From the latest rollback drill: passed is GREEN, failed RED, none GREY; a real "
        "rollback that failed is RED.",
        ("rollback-drill", "rollback"),
        judge_rollback,
    ),
    Rule(
        "governance-diff",
        "governance",
        "From the latest governance diff (ACLs, users, configs, schemas): a side not "
        "read in full, or a difference without a decision, is GREY; one decided 'apply' "
        "and not on the target yet is YELLOW.",
        ("governance",),
        judge_governance_diff,
    ),
    Rule(
        "approvers",
        "governance",
        "From the plan: every approver has an OS login the console can recognise; none "
        "is RED, some missing YELLOW.",
        (),
        judge_approvers,
    ),
    Rule(
        "audit-chain",
        "governance",
        "From the audit chain: intact is GREEN, broken RED, not verified GREY.",
        (),
        judge_chain,
    ),
)


def rules_of(area: str) -> list[Rule]:
    return [rule for rule in RULES if rule.area == area]


def area_rule_text(area: str) -> str:
    """An area's rule in words: its rules' texts, and how they combine."""
    return " ".join(rule.text for rule in rules_of(area)) + " The area is its worst rule."


def judge_area(facts: Facts, area: str) -> tuple[Colour, tuple[Finding, ...]]:
    """The colour of an area from its rules (their worst) and every finding."""
    findings = tuple(rule.judge(facts) for rule in rules_of(area))
    return worst(f.colour for f in findings), findings
