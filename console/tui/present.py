"""From the run database to what the panes show: the console's presentation layer.

Everything here runs in a worker thread (it reads SQLite) and returns the view
dataclasses of :mod:`console.views`, which the panes render on the UI thread. Stored
evidence (JSON) is turned into views here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from console import processes, safe
from console.compare.history import load_view
from console.cutover import sampler as offsets_sampler
from console.cutover import view as offsets_view_of
from console.governance import evidence as governance_evidence
from console.plan.steps import BY_ID, StepState, def_of
from console.runbook import available, recover, waiting_on
from console.runbook.timeline import processes_as_of, steps_as_of
from console.scorecard.card import compute, rechain
from console.scorecard.export import area_state, label
from console.scorecard.model import AreaCard, ChainState, Colour, Scorecard
from console.shadow import lag, mirror
from console.store import Evidence, StepRow, Store
from console.store.audit import Entry, Verdict
from console.traffic.load import load as traffic_load
from console.views.audit import AuditRow
from console.views.comparison import ComparisonView
from console.views.governance import GovernanceRow, GovernanceView
from console.views.header import HeaderInfo
from console.views.inventory import GroupRow, InventoryView, TopicRow
from console.views.lag import LagRow, LagView
from console.views.offsets import OffsetsView
from console.views.runbook import StepDetail, StepView
from console.views.safe import ERROR_KINDS, SafeRow, SafeView
from console.views.scorecard import AreaRow, ScorecardView
from console.views.traffic import TrafficView

SHADOW_PROCESSES = (mirror.PROCESS, lag.SAMPLER, lag.MM2)
"""The rows of the processes table the lag pane shows: the copy, the sampler, and the
MirrorMaker 2 connectors the sampler watches."""
AUDIT_ROWS = 200
"""Audit entries the console keeps on screen."""
INVENTORY = ("inventory", "inventory")
"""The step and evidence kind the inventory pane and the header read."""


@dataclass(frozen=True)
class Position:
    """Where a replay stands on the audit timeline: the entry whose state the panes show."""

    seq: int
    head: int
    """The last entry of the log."""
    ts: str
    action: str
    step: str


@dataclass(frozen=True)
class Snapshot:
    """One read of the run database (in a replay: as of one audit entry)."""

    steps: list[StepRow]
    audit: list[Entry]
    inventory: Evidence | None
    recovered: list[str]
    lag: LagView | None = None
    comparison: ComparisonView | None = None
    shadow: tuple[tuple[str, str], ...] = ()
    """The shadow path's background work as it is now: (name, status word) each."""
    safe: SafeView | None = None
    governance: GovernanceView | None = None
    traffic: TrafficView | None = None
    offsets: OffsetsView | None = None
    scorecard: ScorecardView | None = None
    card: Scorecard | None = None
    """The scorecard the view was built from (the chain's verdict is folded in again
    when a verification ends, without reading the run database)."""
    areas: dict[str, AreaCard] = dataclasses.field(default_factory=dict)
    """The scorecard's areas, for the runbook's scorecard rows and the decision forms."""
    blocked: dict[str, str] = dataclasses.field(default_factory=dict)
    """Per step instance not yet passed: what keeps its gate shut (live only)."""
    position: Position | None = None
    """In a replay: the entry shown."""


MOVES = {
    "back": ("any", False),
    "forward": ("any", True),
    "prev-gate": ("gate", False),
    "next-gate": ("gate", True),
    "prev-failure": ("failure", False),
    "next-failure": ("failure", True),
}
"""How a replay moves along the timeline: one entry, to a gate decision, to a failure."""


def move(store: Store, seq: int, moves: list[str]) -> tuple[int, str]:
    """Apply a replay's moves to a position; the new entry and, when a move found nothing
    (no later gate), what to tell the reviewer."""
    head = store.history.head()
    note = ""
    for step in moves:
        if step == "first":
            seq = min(1, head)
        elif step == "last":
            seq = head
        elif step.isdigit():
            seq = max(1, min(int(step), head))
        else:
            kind, forward = MOVES[step]
            found = store.history.find(seq, kind, forward=forward)
            if found is None:
                where = "after" if forward else "before"
                what = {"any": "entry", "gate": "gate decision", "failure": "failure"}[kind]
                note = f"no {what} {where} entry {seq}"
            else:
                seq = found
    return seq, note


def load_snapshot(
    store: Store,
    *,
    recover_steps: bool,
    at: int | None = None,
    verdict: Verdict | None = None,
) -> Snapshot:
    """Read everything the panes show (in a worker: SQLite is never read on the UI
    thread); ``recover_steps`` marks steps whose process died, as :func:`recover` does.

    With ``at`` (a replay) everything is as it stood right after that audit entry: step
    states derived from the log, evidence, lag samples and comparison windows recorded by
    its time, scorecard decisions taken by it. ``verdict`` is the last verification of
    the audit chain (the scorecard's governance area reads it)."""
    if at is not None:
        return _snapshot_at(store, at, verdict)
    recovered = recover(store) if recover_steps else []
    steps = store.steps()
    # The chain as last verified (in a worker of its own: a long walk never holds this
    # read); the gates verify again themselves when asked to open.
    # Judged at the wall clock: a read must not advance the run database's clock (a test's
    # ticking clock would then stamp entries differently with every read).
    card = compute(store, _chain(verdict, None), now=datetime.now(UTC))
    blocked = {}
    if not store.readonly:
        for row in steps:
            if row.state is StepState.PENDING and available(row.id):
                reason = waiting_on(store, row.key, card=card)
                if reason:
                    blocked[row.key] = reason
    return Snapshot(
        steps=steps,
        audit=store.audit_latest(AUDIT_ROWS, volume=False),
        inventory=store.latest_evidence(*INVENTORY),
        recovered=recovered,
        lag=lag_view(store),
        comparison=comparison_view(store),
        shadow=tuple(
            (p.name, p.status) for p in processes.all_processes(store) if p.name in SHADOW_PROCESSES
        ),
        safe=safe_view(store),
        governance=governance_view(store),
        traffic=traffic_load(store),
        offsets=offsets_view(store),
        scorecard=scorecard_view(card),
        card=card,
        areas={a.id: a for a in card.areas},
        blocked=blocked,
    )


def governance_view(store: Store, until: str | None = None) -> GovernanceView | None:
    """The governance pane's view of the latest diff (with its decisions; in a replay,
    as recorded by ``until``), or None."""
    found = governance_evidence.latest(store, until)
    if found is None:
        return None
    body = found.body
    rows = [
        GovernanceRow(
            n,
            i["key"],
            i["kind"],
            i["what"],
            i["source"],
            i["target"],
            i.get("decision"),
            i.get("decided_by"),
            i.get("decided_at"),
            i.get("reason") or "",
            i.get("fix"),
            i.get("why_not") or "",
        )
        for n, i in enumerate(body.get("items", []), start=1)
    ]
    return GovernanceView(
        found.created_at,
        rows,
        body.get("summary", {}),
        [f"{what}: {why}" for what, why in body.get("not_compared", {}).items()],
        list(body.get("problems", [])),
    )


def _chain(verdict: Verdict | None, upto: int | None) -> ChainState:
    if verdict is None:
        return ChainState(None)
    depth = "every entry" if verdict.since == 0 else "since the last checkpoint"
    if upto is None:
        return ChainState(verdict.ok, verdict.count, verdict.problem, depth)
    if verdict.ok or verdict.count >= upto:
        return ChainState(True, min(verdict.count, upto), None, depth)
    return ChainState(False, verdict.count, verdict.problem, depth)


def _snapshot_at(store: Store, at: int, verdict: Verdict | None) -> Snapshot:
    head = store.history.head()
    at = max(min(at, head), 1 if head else 0)
    entry = store.history.entry(at)
    ts = entry.ts if entry else ""
    card = compute(store, _chain(verdict, at), upto=at)
    return Snapshot(
        steps=steps_as_of(store, at),
        audit=store.history.latest(AUDIT_ROWS, at),
        inventory=store.latest_evidence(*INVENTORY, until=ts),
        recovered=[],
        lag=lag_view(store, until=ts, upto=at),
        comparison=comparison_view(store, until=ts),
        offsets=offsets_view(store, until=ts),
        governance=governance_view(store, until=ts),
        safe=safe_view(store, until=ts, upto=at),
        traffic=traffic_load(store, until=ts),
        shadow=tuple(p for p in processes_as_of(store, at) if p[0] in SHADOW_PROCESSES),
        scorecard=scorecard_view(card),
        card=card,
        areas={a.id: a for a in card.areas},
        position=Position(
            at, head, ts, entry.action if entry else "", (entry.step or "") if entry else ""
        ),
    )


def with_verdict(snapshot: Snapshot, verdict: Verdict) -> Snapshot:
    """A snapshot whose scorecard takes a new verification of the audit chain into
    account (on the UI thread: no read of the run database)."""
    if snapshot.card is None:
        return snapshot
    upto = snapshot.position.seq if snapshot.position else None
    card = rechain(snapshot.card, _chain(verdict, upto))
    return dataclasses.replace(
        snapshot, card=card, scorecard=scorecard_view(card), areas={a.id: a for a in card.areas}
    )


def scorecard_view(card: Scorecard) -> ScorecardView:
    """The scorecard pane: an area a row, the gates in a line; never an overall score."""
    rows = tuple(
        AreaRow(
            a.id,
            a.title,
            a.colour.value,
            a.summary,
            flag=_flag(a),
            detail_flag=_flag_full(a),
            blocking=a.blocking,
        )
        for a in card.areas
    )
    reason = card.gate_reason()
    gates = (
        f"Cutover gates SHUT: {reason.removeprefix('scorecard: ')}"
        if reason
        else ("Cutover gates: the scorecard lets them open")
    )
    at = f"as of #{card.as_of_seq} {card.as_of[11:19]} UTC" if card.as_of else ""
    short = "cutover gates SHUT" if reason else "cutover gates may open"
    return ScorecardView(rows, gates, at, {a.id: area_lines(a) for a in card.areas}, short)


def _flag(area: AreaCard) -> str:
    if area.waived:
        return f"waived {area.waiver.expires[5:10]}"
    if area.pending_waiver:
        return "2nd approval?"
    if area.needs_owner:
        return "NEEDS OWNER"
    if area.colour is Colour.RED and area.owner:
        return f"retest {area.owner.retest[5:10]}"
    if area.by_hand:
        return "by hand"
    return ""


def _flag_full(area: AreaCard) -> str:
    if area.waived:
        return f"waived until {area.waiver.expires[:10]} by {area.waiver.approver}"
    if area.pending_waiver:
        return f"waiver:{area.pending_waiver.id} waits for a second approver"
    if area.needs_owner:
        return "needs an owner and a retest date: o"
    if area.colour is Colour.RED and area.owner:
        return f"owner {area.owner.name}, retest by {area.owner.retest[:10]}"
    return _flag(area)


def area_lines(area: AreaCard) -> tuple[str, ...]:
    """One area in full, for the detail screen."""
    lines = [f"{area_state(area)}: {area.summary}", "", f"Rule: {area.rule}", ""]
    if area.by_hand:
        j = area.judgement
        lines.append(
            f"Judged by hand: {label(j.colour)} by {j.approver} (OS user {j.os_user}), {j.at}: "
            f"{j.note}"
            if j
            else "Judged by hand: no approver has judged it yet."
        )
        lines.append("")
    for f in area.findings:
        lines.append(f"{label(f.colour)}  {f.rule}: {f.text}")
        for e in f.evidence:
            where = f"{e.kind} #{e.id}, {e.what}, {e.at}" if e.id is not None else e.what
            lines.append(f"    evidence: {where}")
        lines.extend(f"    {d}" for d in f.details[:20])
    lines.append("")
    if area.owner:
        lines.append(
            f"Owner {area.owner.name}, retest by {area.owner.retest[:10]} "
            f"(recorded by {area.owner.recorded_by}, {area.owner.at})"
        )
    elif area.needs_owner:
        lines.append("A red area needs an owner and a retest date: press o.")
    if area.waiver:
        w = area.waiver
        lines.append(f"Waived by {w.approver} (OS user {w.os_user}) until {w.expires}: {w.reason}")
    if area.pending_waiver:
        w = area.pending_waiver
        lines.append(
            f"Waiver by {w.approver} waits for a second approver: "
            f"cutover approve RUN.db waiver:{w.id} --confirm waiver:{w.id}"
        )
    lines += ["", "History" if area.history else "History: no decision recorded yet."]
    for h in area.history:
        ssh = f" (SSH {h.ssh_client})" if h.ssh_client else ""
        lines.append(f"  #{h.seq} {h.at} {h.os_user}{ssh}: {h.what}")
    return tuple(lines)


def step_views(snapshot: Snapshot) -> list[StepView]:
    """The runbook pane's rows: a step run once is one row; a step run per group or class
    is a heading row with one indented row per instance."""
    views: list[StepView] = []
    for row in snapshot.steps:
        step = BY_ID[row.id]
        if step.target and not any(v.id == step.id for v in views):
            views.append(StepView(step.id, row.phase, step.title, "", available(step.id)))
        title = row.target if step.target else step.title
        views.append(
            StepView(
                row.key,
                row.phase,
                title,
                _state(snapshot, row),
                available(row.id),
                bool(step.target),
            )
        )
    for step in BY_ID.values():  # a step run per class with no class in the plan
        if step.target and not any(v.id == step.id for v in views):
            phase = step.phase_title
            views.append(StepView(step.id, phase, step.title, "", available(step.id)))
    order = {s: i for i, s in enumerate(BY_ID)}
    return sorted(views, key=lambda v: order[def_of(v.id).id])


def state_word(row: StepRow) -> str:
    """A step's state as shown: one recorded as running whose process is gone reads
    ``interrupted`` (replay may not record it; a live console records it on its next read)."""
    return "interrupted" if row.interrupted else row.state.value


def _state(snapshot: Snapshot, row: StepRow) -> str:
    """What the runbook shows for a step instance: its state (interrupted when its process
    is gone), BLOCKED while its gate is shut by what it waits for, and for a scorecard area
    the area's colour."""
    if row.id == "scorecard" and row.target in snapshot.areas:
        return snapshot.areas[row.target].colour.value
    if row.interrupted:
        return state_word(row)
    if row.state is StepState.PENDING and row.key in snapshot.blocked:
        return StepState.BLOCKED.value
    return row.state.value


def known_step(snapshot: Snapshot | None, key: str) -> bool:
    """Whether a step key names a step instance of this run."""
    return snapshot is not None and any(r.key == key for r in snapshot.steps)


def step_keys(snapshot: Snapshot | None) -> list[str]:
    return [r.key for r in snapshot.steps] if snapshot else []


def step_detail(
    snapshot: Snapshot, step_id: str, *, replay: bool, progress: str
) -> StepDetail | None:
    """The step detail pane for one step instance (or a targeted step's heading), or None
    when it is not in the snapshot."""
    d = def_of(step_id)
    row = next((r for r in snapshot.steps if r.key == step_id), None)
    if row is None:
        if step_id != d.id or not d.target:
            return None
        names = [r.target for r in snapshot.steps if r.id == d.id]
        reason = (
            f"one gate per {d.target}: {', '.join(names)}"
            if names
            else (f"the plan names no {d.target} for this step")
        )
        return StepDetail(
            d.title, d.phase_title, d.summary, "", reason, "", False, f"<{d.target} name>", ""
        )
    title = f"{d.title}: {row.target}" if row.target else d.title
    reason = row.reason
    if row.id == "scorecard" and row.target in snapshot.areas:
        area = snapshot.areas[row.target]
        reason = f"{area.summary} (s: the scorecard; o owner, w waive, m judge)"
    return StepDetail(
        title,
        d.phase_title,
        d.summary,
        _state(snapshot, row),
        f"its process (pid {row.runner_pid}) is gone" if row.interrupted else reason,
        row.updated_at,
        available(row.id) and not replay,
        row.target or d.confirm,
        progress,
        now_line(snapshot) if d.phase == "shadow" else "",
        "" if replay else snapshot.blocked.get(row.key, ""),
    )


def now_line(snapshot: Snapshot) -> str:
    """What the shadow path's processes are doing now, for its steps' detail: a step's
    reason says what it did when it ran, which stops being true when they stop."""
    if not snapshot.shadow:
        return ""
    return "now: " + " · ".join(f"{name} {word}" for name, word in snapshot.shadow)


def audit_rows(snapshot: Snapshot) -> list[AuditRow]:
    """The audit pane's rows."""
    return [
        AuditRow(e.seq, e.ts[11:19], e.actor, e.action, e.step or "", e.outcome or "")
        for e in snapshot.audit
    ]


CHAIN_PENDING = "verifying the audit chain…"
CHAIN_PENDING_FULL = "verifying every audit entry…"
CHAIN_FAILED = "chain NOT VERIFIED: see the error notice"
"""What the audit footer says before a verdict, during a full walk, and when one failed."""


def verify_chain(store: Store, *, full: bool) -> tuple[Verdict, str]:
    """Verify the audit chain (in a worker); the verdict and when the walk ended (UTC).

    Live, only what is new since the last intact verification is checked, and where it
    ended is remembered; ``full`` and replay check every entry: a reviewer trusts no cache
    kept in the file under review.
    """
    verdict = store.audit_verify(full=full or store.readonly)
    if verdict.ok and not store.readonly:
        store.save_audit_checkpoint(verdict)
    return verdict, store.clock()


def audit_detail(entry: Entry) -> tuple[str, list[str]]:
    """One audit entry in full, for the detail screen: every field, parameters one a line."""
    body = dataclasses.asdict(entry)
    who = entry.actor + (f" (SSH from {entry.ssh_client})" if entry.ssh_client else "")
    lines = [
        f"When      {entry.ts}",
        f"Who       {who}",
        f"Action    {entry.action}",
        f"Step      {entry.step or '-'}",
        f"Outcome   {entry.outcome or '-'}",
    ]
    if entry.ref is not None:
        lines.append(f"Refers to #{entry.ref}")
    shown = {"seq", "ts", "actor", "ssh_client", "action", "step", "outcome", "ref", "params"}
    shown |= {"hash", "prev_hash"}
    for name, value in body.items():
        if name not in shown:
            lines.append(f"{name:<9} {value}")
    lines += ["", "Parameters" if entry.params else "Parameters: none"]
    lines += [f"  {line}" for line in json.dumps(entry.params, indent=2).splitlines()[1:-1]]
    lines += ["", f"Hash      {entry.hash}", f"Previous  {entry.prev_hash}"]
    return f"Audit entry #{entry.seq}", lines


def audit_footer(
    entries: list[Entry], verified: tuple[Verdict, str] | None, note: str | None = None
) -> str:
    """The audit pane's subtitle: how many entries there are as of the last read, and the
    chain as last verified, with when that verification ran (not when the last entry was
    written); ``note`` says a verification is under way or failed."""
    count = entries[-1].seq if entries else 0
    head = f"{count:,} entries"
    if note is not None:
        return f"{head} · {note}"
    if verified is None:
        return f"{head} · chain not verified yet"
    verdict, at = verified
    stamp = f"{at[11:19]} UTC" if at else "?"
    if not verdict.ok:
        return f"{head} · CHAIN BROKEN (verified {stamp}): {verdict.problem}"
    if verdict.count < count:
        return f"{head} · chain OK to #{verdict.count:,}, verified {stamp}"
    return f"{head} · chain OK, verified {stamp}"


_SIDE = {"source": "src", "target": "tgt"}


def comparison_view(store: Store, *, until: str | None = None) -> ComparisonView | None:
    """The comparison pane's view of the latest window (finished by ``until``, a replay's
    moment, when given), or None before any."""
    view = load_view(store, until=until)
    return view if view.window is not None else None


def lag_view(store: Store, *, until: str | None = None, upto: int | None = None) -> LagView | None:
    """The lag pane's view: topic totals over their partitions, worst first. In a replay
    (``until``, ``upto``) the samples taken by then, and the processes as the audit log
    had them."""
    if upto is not None:
        procs = []
        then = tuple(p for p in processes_as_of(store, upto) if p[0] in SHADOW_PROCESSES)
    else:
        procs = [p for p in processes.all_processes(store) if p.name in SHADOW_PROCESSES]
        then = ()
    trends = lag.latest_trends(store, store.plan, until=until)
    if not procs and not trends and not then:
        return None
    as_of = lag.last_sample_time(store, until=until)
    lines = [f"{name} {word} (as the audit log had it then)" for name, word in then]
    for p in procs:
        age = p.heartbeat_age_s
        if not p.ours:  # connectors on a Connect cluster: no process of ours
            seen = f" as of {age:.0f} s ago" if age is not None else ""
            lines.append(f"{p.name.upper()} {p.state.upper()}{seen}: {short(p.detail, 120)}")
            continue
        beat = f", heartbeat {age:.0f} s ago" if age is not None else ""
        lines.append(f"{p.name} {p.status} pid {p.pid}{beat}: {short(p.detail, 50)}")
    rank = {"RED": 0, "NO_DATA": 1, "WARN": 2, "OK": 3}
    by_topic: dict[str, list] = {}
    for t in trends:
        by_topic.setdefault(t.topic, []).append(t)
    rows: list[LagRow] = []
    for topic, parts in sorted(
        by_topic.items(), key=lambda kv: min(rank[t.verdict] for t in kv[1])
    ):
        known = [t.lag_records for t in parts if t.lag_records is not None]
        seconds = [t.lag_seconds for t in parts if t.lag_seconds is not None]
        worst = min(parts, key=lambda t: rank[t.verdict])
        rows.append(
            LagRow(
                topic,
                None,
                worst.verdict,
                f"{len(parts)} partitions",
                sum(known) if known else None,
                max(seconds) if seconds else None,
                None,
                None,
            )
        )
        rows.extend(
            LagRow(
                t.topic,
                t.partition,
                t.verdict,
                t.trend,
                t.lag_records,
                t.lag_seconds,
                t.source_end,
                t.mirrored,
                t.history,
                t.eta_seconds,
            )
            for t in parts
        )
    stale = False
    if as_of and upto is None:
        sampler = next((p for p in procs if p.name == lag.SAMPLER), None)
        stale = sampler is None or sampler.status != "RUNNING"
    return LagView(
        as_of, stale, store.plan.shadow.path, lines, rows, store.plan.shadow.path != "external"
    )


RATE_WINDOW = 15
"""Reports (of ~2 s each) that rates are measured over: about half a minute."""


def _rates(reports, kinds: tuple[str, ...]) -> tuple[float | None, dict[str, float | None]]:
    """Records per second and errors per minute by kind, over the recent reports."""
    if len(reports) < 2:
        return None, dict.fromkeys(kinds)
    first, last = reports[0], reports[-1]
    span = last.seconds - first.seconds
    if span <= 0:
        return None, dict.fromkeys(kinds)
    rate = None
    if first.processed is not None and last.processed is not None:
        rate = max(0.0, (last.processed - first.processed) / span)
    errors = {k: max(0.0, (last.errors[k] - first.errors[k]) / span * 60) for k in kinds}
    return rate, errors


def safe_view(
    store: Store, *, until: str | None = None, upto: int | None = None
) -> SafeView | None:
    """The safe consumers pane: each shadow consumer above the source group it shadows.
    In a replay (``until``, ``upto``) the reports made by then, and each process as the
    audit log had it (nothing is stale: the figures are those of that moment)."""
    plan = store.plan
    if not plan.shadow_consumers:
        return None
    then = dict(processes_as_of(store, upto)) if upto is not None else None
    rows: list[SafeRow] = []
    lines: list[str] = []
    as_of = None
    stale = False
    for spec in plan.shadow_consumers:
        name = safe.process_name(spec.name)
        reports = store.shadow.recent(spec.name, "shadow", RATE_WINDOW, until=until)
        last = reports[-1] if reports else None
        # A team's command is watched from outside: only refusals it prints are seen.
        seen = ERROR_KINDS if spec.run == "builtin" else ("authorization",)
        rate, errors = _rates(reports, seen)
        if then is not None:
            state = then.get(name, "not started")
        else:
            info = processes.get(store, name)
            state = info.status if info else "not started"
        stale = stale or state in ("STALE", "DEAD")
        rows.append(
            SafeRow(
                spec.name,
                "shadow",
                spec.name,
                state,
                last.processed if last else None,
                rate,
                last.lag if last else None,
                {k: errors.get(k) for k in ERROR_KINDS},
            )
        )
        if last is not None:
            as_of = max(as_of or last.ts, last.ts)
        if spec.shadows:
            source = store.shadow.recent(spec.name, "source", RATE_WINDOW, until=until)
            src_last = source[-1] if source else None
            src_rate, _ = _rates(source, ())
            rows.append(
                SafeRow(
                    spec.name,
                    "source",
                    f"  src {spec.shadows}",
                    _group_word(src_last.state if src_last else ""),
                    src_last.processed if src_last else None,
                    src_rate,
                    src_last.lag if src_last else None,
                )
            )
        sink = {"null": "no sink", "file": f"file {spec.sink_path}", "topic": spec.sink_topic}[
            spec.sink
        ]
        lines.append(f"{spec.name} as {spec.kafka_principal}")
        lines.append(f"  {spec.group_id} → {sink}")
        totals = last.errors if last else {}
        counted = ", ".join(f"{k} {totals.get(k, 0):,}" for k in seen if totals.get(k))
        if counted:
            lines.append(f"  errors so far: {counted}")
    return SafeView(as_of, lines, rows, stale)


_GROUP_WORDS = {
    "stable": "STABLE",
    "empty": "EMPTY",
    "dead": "ABSENT",
    "preparing_rebalancing": "REBALANCING",
    "completing_rebalancing": "REBALANCING",
}


def _group_word(state: str) -> str:
    """A source group's state as a status key ('-' when not read yet)."""
    if not state:
        return "-"
    return _GROUP_WORDS.get(state, state.upper())


def safe_detail(store: Store, consumer: str) -> tuple[str, list[str]]:
    """A shadow consumer's newest error examples, for its detail screen (in a worker)."""
    examples = store.shadow.errors(consumer, 50)
    lines = [f"{consumer}: the newest errors (kind, where, key, what)", ""]
    for e in examples:
        where = f"{e.topic}:{e.partition}@{e.offset}" if e.topic is not None else "-"
        lines.append(f"{e.ts[11:19]}  {e.kind:15} {where}  key {e.key or '-'}")
        lines.append(f"    {e.detail}")
    if not examples:
        lines.append("No errors recorded.")
    return f"shadow consumer {consumer}", lines


def offsets_view(store: Store, until: str | None = None) -> OffsetsView | None:
    """The offsets pane's view: every plan group from the sampler's newest figures (in a
    replay, ``until``: those recorded by the selected entry's time, and no process)."""
    plan = store.plan
    if not plan.groups:
        return None
    samples = store.cutover.latest_samples(until)
    last = store.cutover.last_round(until)
    proc = None if until is not None else processes.get(store, offsets_sampler.PROCESS)
    if not samples and proc is None:
        return None
    lines = []
    if proc is not None:
        age = proc.heartbeat_age_s
        beat = f", heartbeat {age:.0f} s ago" if age is not None else ""
        lines.append(
            f"offsets sampler {proc.status} pid {proc.pid}{beat}: {short(proc.detail, 50)}"
        )
    # A replay shows the figures as they stood: no process to be stale against.
    stale = until is None and last is not None and (proc is None or proc.status != "RUNNING")
    return offsets_view_of.build(
        plan, samples, as_of=last[1] if last else None, stale=stale, process_lines=lines
    )


def short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def inventory_view(evidence: Evidence | None) -> InventoryView | None:
    """Turn stored inventory evidence into what the pane shows."""
    if evidence is None:
        return None
    body = evidence.body
    sides = {name: body.get(name) for name in ("source", "target")}
    clusters = []
    for name, inv in sides.items():
        if not inv:
            clusters.append(f"{name}: not read")
            continue
        releases = sorted({b["release"] for b in inv["brokers"]})
        topics = sum(1 for t in inv["topics"] if not t["internal"])
        clusters.append(
            f"{_SIDE[name]} {'/'.join(releases)}: {len(inv['brokers'])} broker(s), "
            f"{topics} topics, {len(inv['groups'])} groups"
        )

    def topic(side, name):
        inv = sides.get(side)
        return next((t for t in inv["topics"] if t["name"] == name), None) if inv else None

    def span(t):
        if t is None or any(p["latest"] is None or p["earliest"] is None for p in t["partitions"]):
            return None
        return sum(p["latest"] - p["earliest"] for p in t["partitions"])

    topic_rows = []
    for name, risk in body.get("risk", {}).items():
        s, t = topic("source", name), topic("target", name)
        topic_rows.append(
            TopicRow(
                name,
                risk,
                len(s["partitions"]) if s else None,
                len(t["partitions"]) if t else None,
                span(s),
                span(t),
            )
        )
    group_rows = []
    for side, inv in sides.items():
        if not inv:
            continue
        ends = {
            f"{t['name']}:{p['id']}": p["latest"]
            for t in inv["topics"]
            for p in t["partitions"]
            if p["latest"] is not None
        }
        for g in inv["groups"]:
            lags = [ends[k] - v for k, v in g["offsets"].items() if k in ends]
            group_rows.append(
                GroupRow(side, g["id"], g["state"], len(g["members"]), sum(lags) if lags else None)
            )
    return InventoryView(
        evidence.created_at, clusters, topic_rows, group_rows, body["problems"], body["notes"]
    )


def inventory_detail(evidence: Evidence, kind: str, key: str) -> tuple[str, list[str]]:
    """All problems and notes, then everything known about one topic or group."""
    body = evidence.body
    lines = [f"Inventory as of {evidence.created_at}", ""]
    lines += [f"RED   {p}" for p in body["problems"]] or ["No problems."]
    lines += [f"NOTE  {n}" for n in body["notes"]]
    lines.append("")
    for side in ("source", "target"):
        inv = body.get(side)
        if not inv:
            lines.append(f"{side}: not read")
            continue
        if kind == "topic":
            topic = next((t for t in inv["topics"] if t["name"] == key), None)
            if topic is None:
                lines.append(f"{side}: topic '{key}' is not there")
                continue
            spans = [
                p["latest"] - p["earliest"]
                for p in topic["partitions"]
                if p["latest"] is not None and p["earliest"] is not None
            ]
            lines.append(
                f"{side}: {len(topic['partitions'])} partitions, offset span {sum(spans):,} "
                "(end minus start offset: records, plus transaction markers and records "
                "compacted away; the comparison counts records)"
            )
            for p in topic["partitions"]:
                lines.append(
                    f"  p{p['id']:<3} leader {p['leader']}  replicas {p['replicas']}  "
                    f"isr {p['isr']}  offsets {p['earliest']}..{p['latest']}"
                )
            for name, value in sorted(topic["configs"].items()):
                lines.append(f"  {name} = {value}")
        else:
            side_name, _, group_id = key.partition("/")
            if side != side_name:
                continue
            group = next((g for g in inv["groups"] if g["id"] == group_id), None)
            if group is None:
                continue
            lines.append(f"{side}: group {group_id}, {group['state']}")
            for m in group["members"]:
                lines.append(
                    f"  member {m['client_id']} on {m['host']}: {', '.join(m['partitions'])}"
                )
            for tp, offset in group["offsets"].items():
                lines.append(f"  committed {tp} = {offset}")
    return f"{kind} {key}", lines


def with_releases(info: HeaderInfo, evidence: Evidence) -> HeaderInfo:
    def release(side):
        inv = evidence.body.get(side)
        if not inv or not inv["brokers"]:
            return "?"
        return "/".join(sorted({b["release"] for b in inv["brokers"]}))

    return replace(info, source_release=release("source"), target_release=release("target"))
