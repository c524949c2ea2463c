"""The producer cutover's steps: "Move producers" (one class per gate), "Rehearse rollback",
"Hold rollback window", "Roll back producers" (one class per gate) and "Close rollback
window".

Thin runners over :mod:`console.cutover.producers`: each gate preview reads what it needs
now and says exactly what will change; each run records its evidence
(``producer-move``, ``rollback-drill``, ``rollback-window``, ``rollback``) with
``target``, ``passed``, ``reason`` and ``summary`` for the scorecard.
"""

from __future__ import annotations

from typing import Any

from console import redact
from console.cutover.producers import checks
from console.cutover.producers import window as window_view
from console.cutover.producers.cluster import NO_TRANSACTIONS_API
from console.cutover.producers.drill import Drill
from console.cutover.producers.move import Move, make_clusters, shared_writers, start_or_resume
from console.cutover.producers.rollback import Rollback, points_of
from console.cutover.producers.sequence import SequenceFailed, unkey
from console.errors import Cancelled
from console.plan import credentials
from console.plan.steps import StepDef, StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.store import Store
from console.views.status import status

MOVE = "move-producers"
ROLLBACK = "rollback"
DRILL = "rollback-drill"
WINDOW = "rollback-window"
CLOSE = "rollback-window-close"

SUBSTEPS = ("preflight", "fence", "transactions", "quiet", "drain", "point", "open", "switch")


def guard(store: Store, step: StepDef, target: str) -> str | None:
    """Cheap reasons (the run database and the plan only) a producer gate stays shut."""
    if step.id not in (MOVE, ROLLBACK, DRILL, WINDOW, CLOSE):
        return None
    plan = store.plan
    if step.id in (MOVE, ROLLBACK, DRILL) and plan.shadow.path != "builtin":
        return checks.BUILTIN_ONLY
    if step.id == ROLLBACK:
        latest = store.producers.latest_run(target, "move")
        if latest is None or latest.state == "undone":
            return f"class {target} has not moved to the target: there is nothing to roll back"
    if step.id in (WINDOW, CLOSE):
        found = store.producers.window()
        if found is None:
            return "no class has moved yet: the rollback window opens with the first move"
        # Closed by a run of this step that never finished (killed between the close
        # and its record): the gate opens so the step can finish; nothing closes twice.
        closer = store.step(CLOSE).state
        if step.id == CLOSE and found.state != "open" and closer is not StepState.FAILED:
            return f"the rollback window was closed at {found.closed_at}"
    return None


# -- move --------------------------------------------------------------------------------


def _go(ctx: StepContext, seq, run_id: int, target: str, kind: str) -> dict | StepOutcome:
    """Run a move or rollback sequence; the body it returns, or the FAILED outcome it
    stored (as ``kind`` evidence, with where it stopped) when a sub-step refused. A
    cancelled sequence leaves its run failed, to be resumed by the next run."""
    try:
        return seq.go()
    except SequenceFailed as exc:
        ctx.store.producers.set_run_state(run_id, "failed")
        body = {
            "target": target,
            "passed": False,
            "run": run_id,
            "reason": exc.reason,
            "summary": f"stopped: {exc.reason}",
            **exc.detail,
        }
        evidence = ctx.store.add_evidence(ctx.key, kind, body)
        return StepOutcome(ctx.key, StepState.FAILED, exc.reason, evidence, body)
    except Cancelled:
        ctx.store.producers.set_run_state(run_id, "failed")
        raise
    finally:
        seq.source.close()
        seq.target.close()


def move_run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    plan = store.plan
    cls = plan.producer(ctx.target)
    latest = store.producers.latest_run(cls.name, "move")
    if latest is not None and latest.state == "done":
        body = {
            "target": cls.name,
            "passed": True,
            "run": latest.id,
            "already": True,
            "unavailability_s": latest.facts.get("unavailability_s"),
            "summary": f"moved earlier (run #{latest.id}); nothing changed",
        }
        evidence = store.add_evidence(key, "producer-move", body)
        return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)
    passwords = credentials.resolve_passwords(plan)
    source, target = make_clusters(plan, passwords)
    run_id, resumed = start_or_resume(store, cls.name)
    seq = Move(
        store,
        plan,
        cls,
        "move",
        run_id,
        source,
        target,
        ctx.log,
        passwords=passwords,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )
    if resumed:
        done = [n for n, r in store.producers.substeps(run_id).items() if r.state == "done"]
        seq.log(
            "producers.resumed",
            params={"run": run_id, "done": done},
            outcome="resuming the interrupted move where it stopped",
        )
    body = _go(ctx, seq, run_id, cls.name, "producer-move")
    if isinstance(body, StepOutcome):
        return body
    body["passed"] = True
    body["summary"] = (
        f"moved to the target: write unavailability {body['unavailability_s']:.2f} s "
        f"(fence → first write on the target; quiet {body['quiet_s']:g} s)"
    )
    body["reason"] = body["summary"]
    evidence = store.add_evidence(key, "producer-move", body)
    return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)


def move_preview(ctx: StepContext) -> list[str]:
    store = ctx.store
    plan = store.plan
    cls = plan.producer(ctx.target)
    latest = store.producers.latest_run(cls.name, "move")
    if latest is not None and latest.state == "done":
        return [
            f"Class {cls.name} was moved (run #{latest.id}, write unavailability "
            f"{latest.facts.get('unavailability_s', 0):.2f} s): running the step again changes "
            "nothing."
        ]
    lines = [
        f"Moves producer class {cls.name} (owner {cls.owner}) to the target:",
        f"  principals {', '.join(cls.principals)}; topics {', '.join(cls.topics)}",
        f"  switch: {_switch_words(cls)}",
    ]
    if latest is not None and latest.state in ("running", "failed"):
        done = [n for n, r in store.producers.substeps(latest.id).items() if r.state == "done"]
        todo = [n for n in SUBSTEPS if n not in done]
        lines += [
            f"RESUMES move #{latest.id}, stopped {latest.updated_at[:19].replace('T', ' ')} UTC:",
            f"  done: {', '.join(done) or 'nothing'}; next: {', '.join(todo[:3])}",
        ]
        if "fence" in done or "fence" in store.producers.substeps(latest.id):
            lines.append("  the source fence is in place: the class cannot write anywhere yet")
    passwords = credentials.resolve_passwords(plan)
    source, _target = make_clusters(plan, passwords)
    found = checks.preconditions(store, plan, cls, source, passwords)
    lines.append("Preconditions:")
    for check in found:
        lines.append(f"  {status(check.verdict).label:<10} {check.name}: {check.summary}")
        lines += [f"      {e}" for e in check.evidence[:4]]
    shared = shared_writers(plan, cls, set())
    for topic, others in shared.items():
        lines.append(
            f"Note: {topic} is also written by {', '.join(others)}: quiet cannot be proven from "
            "end offsets there, and the mirror keeps copying it"
        )
    quiet = plan.producer_setting(cls, "quiet_seconds")
    lines += [
        "Then, each sub-step audited before and after (resumable after a crash):",
        f"  1 fence: DENY WRITE on {', '.join(cls.topics)} for {', '.join(cls.principals)} "
        "on the source; prove it as the principals",
        "  2 let open transactions finish or time out "
        f"(up to {plan.producer_defaults.transaction_wait_seconds:g} s)",
        f"  3 quiet for {quiet:g} s (a record written meanwhile stops the move)",
        "  4 drain: the copy reaches the fence point, mirroring stops, the tail compares "
        "with 0 missing",
        "  5 record the cutover point per partition; the first move opens the rollback window",
        f"  6 open the target ({'creating' if cls.create_acls_on_target else 'checking'} "
        "WRITE ACLs"
        + (
            f", transactional ids '{cls.transactional_id_prefix}*'"
            if cls.transactional_id_prefix
            else ""
        )
        + "), switch, wait for the first write on the target",
        f"  Transactions: {NO_TRANSACTIONS_API}.",
    ]
    blocked = [c for c in found if c.blocks]
    if blocked:
        lines.append(f"The step will REFUSE: {blocked[0].name}: {blocked[0].summary}")
    return lines


def _switch_words(cls) -> str:
    if cls.switch == "demo-workload":
        return "the demo workload is told (a control file next to the run database)"
    return (
        "the team redeploys with the target's bootstrap servers: typing the class name "
        "confirms they are ready; the step waits for the first write on the target"
    )


def move_report(detail: dict[str, Any]) -> list[str]:
    lines = []
    if detail.get("unavailability_s") is not None:
        lines.append(
            f"write unavailability {detail['unavailability_s']:.2f} s (fence → first write on "
            f"the target); quiet {_seconds(detail.get('quiet_s'))}; told "
            f"{_seconds(detail.get('told_after_fence_s'))} after the fence"
        )
    for key, (src, tgt) in sorted((detail.get("points") or {}).items()):
        lines.append(f"  {key:<20} source {src:>10,} ↔ target {tgt:>10,}")
    for check in detail.get("preconditions", []):
        if check["verdict"] in ("RED", "NO_DATA"):
            lines.append(f"{status(check['verdict']).label} {check['name']}: {check['summary']}")
            lines += [f"    {e}" for e in check.get("evidence", [])[:4]]
    for line in detail.get("bypass", []):
        lines.append(f"  written after the fence: {line}")
    return lines


def _seconds(value) -> str:
    return "?" if value is None else f"{value:.2f} s"


def _offsets(at) -> str:
    """``{"orders:1": 310, ...}`` as ``orders[1] 310, ...`` (or as it is, if not that)."""
    try:
        pairs = sorted(unkey(at).items())
    except (AttributeError, ValueError, TypeError):
        return str(at)
    return ", ".join(f"{t}[{p}] {o:,}" for (t, p), o in pairs) or "no committed offset"


# -- rollback ----------------------------------------------------------------------------


def _undo_note(store: Store) -> str | None:
    """What an undo step says when the chain is broken: it stays open regardless."""
    verdict = store.audit_verify(full=False)
    if verdict.ok:
        return None
    return (
        f"the audit chain is broken ({verdict.problem}); this undo step stays open so a "
        "migration is never locked half-way"
    )


def rollback_run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    plan = store.plan
    cls = plan.producer(ctx.target)
    note = _undo_note(store)
    if note:
        ctx.log("producers.undo.open", params={"class": cls.name}, outcome=note)
    passwords = credentials.resolve_passwords(plan)
    source, target = make_clusters(plan, passwords)
    run_id, resumed = start_or_resume(store, cls.name, "rollback")
    seq = Rollback(
        store,
        plan,
        cls,
        "rollback",
        run_id,
        source,
        target,
        ctx.log,
        passwords=passwords,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )
    if resumed:
        seq.log("producers.resumed", params={"run": run_id}, outcome="resuming the rollback")
    body = _go(ctx, seq, run_id, cls.name, "rollback")
    if isinstance(body, StepOutcome):
        return body
    body["passed"] = True
    body["summary"] = (
        f"rolled back to the source in {body['duration_s']:.2f} s: "
        f"{body['target_only_records']:,} target-only record(s) "
        + ("copied back exactly once" if body["target_only"] == "copy-back" else "listed")
        + f"; {len([g for g in body['groups'] if g.get('moved')])} group(s) moved back"
    )
    body["reason"] = body["summary"]
    if note:
        body["undo_note"] = note
    evidence = store.add_evidence(key, "rollback", body)
    return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)


def rollback_preview(ctx: StepContext) -> list[str]:
    store = ctx.store
    plan = store.plan
    cls = plan.producer(ctx.target)
    move = store.producers.latest_run(cls.name, "move")
    mode = plan.producer_setting(cls, "target_only")
    lines = [f"Rolls producer class {cls.name} back to the source (an undo step)."]
    note = _undo_note(store)
    if note:
        lines.append(f"WARNING: {note}")
    if move is not None:
        points = points_of(store, move.id)
        lines.append(f"Undoes move #{move.id} ({move.state}); cutover points:")
        for (t, p), (src, tgt) in sorted(points.items())[:6]:
            lines.append(f"  {t}[{p}]  source {src:>10,} ↔ target {tgt:>10,}")
    groups = checks.groups_reading(plan, cls)
    lines += [
        "Then, each sub-step audited before and after (resumable after a crash):",
        f"  1 fence the target: DENY WRITE on {', '.join(cls.topics)} for "
        f"{', '.join(cls.principals)}; prove it as the principals",
        "  2 let open transactions on the target end",
        "  3 "
        + (
            "copy the target-only records back to the source exactly once (reverse copy "
            "with the cutover.rev header: the forward copy passes over them)"
            if mode == "copy-back"
            else "list the target-only records in a file for their owners (not copied)"
        ),
        f"  4 move groups back to the source: {', '.join(groups) or 'none reads these topics'} "
        "(reverse map; their source fences lifted)",
        "  5 remove the source fence; the mirror resumes those partitions",
        "  6 switch the class back to the source and wait for its first write there",
        "  7 verify: every target-only record on the source once",
        "Rollback runs on the built-in mirror only: " + checks.BUILTIN_ONLY.split(": ", 1)[1],
    ]
    return lines


def rollback_report(detail: dict[str, Any]) -> list[str]:
    lines = []
    if detail.get("duration_s") is not None:
        lines.append(
            f"rollback {detail['duration_s']:.2f} s (target fence → first write on the source)"
        )
    for group in detail.get("groups", []):
        if group.get("moved"):
            lines.append(
                f"  group {group['group']}: back on the source at {_offsets(group['source'])}"
            )
    if detail.get("export"):
        lines.append(f"  target-only records listed in {detail['export']}")
    return lines


# -- drill -------------------------------------------------------------------------------


def drill_run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    plan = store.plan
    passwords = credentials.resolve_passwords(plan)
    source, target = make_clusters(plan, passwords)
    run_id, resumed = _drill_run(store)
    seq = Drill(
        store,
        plan,
        None,
        "drill",
        run_id,
        source,
        target,
        ctx.log,
        passwords=passwords,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )
    try:
        body = seq.go()
    except SequenceFailed as exc:
        store.producers.set_run_state(run_id, "failed")
        body = _drill_failed(store, run_id, exc.reason)
        evidence = store.add_evidence(key, "rollback-drill", body)
        return StepOutcome(key, StepState.FAILED, exc.reason, evidence, body)
    except Cancelled:
        raise
    except Exception as exc:
        # Any other way it stopped (a refusal, a cluster gone) is a drill that did not
        # pass: recorded as such, so the scorecard and the move gate never go on reading
        # an older pass. The step fails as it would.
        store.producers.set_run_state(run_id, "failed")
        reason = redact.text(f"the drill stopped: {type(exc).__name__}: {exc}")
        store.add_evidence(key, "rollback-drill", _drill_failed(store, run_id, reason))
        raise
    body["passed"] = True
    body["summary"] = "the rollback path worked end to end on rehearsal topics"
    body["reason"] = body["summary"]
    evidence = store.add_evidence(key, "rollback-drill", body)
    return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)


def _drill_run(store: Store) -> tuple[int, bool]:
    """The drill run to go on with: an interrupted one, or a failed one that did not get
    to clean up, is resumed; a failed one that cleaned up after itself (its rehearsal
    topic, user and group are gone) cannot be, so a new one starts."""
    latest = store.producers.latest_run("drill", "drill")
    if latest is not None and latest.state == "failed":
        cleaned = store.producers.substeps(latest.id).get("cleanup")
        if cleaned is not None and cleaned.state == "done":
            return store.producers.start_run("drill", "drill"), False
    return start_or_resume(store, "drill", "drill")


def _drill_failed(store: Store, run_id: int, reason: str) -> dict[str, Any]:
    """A failed drill's evidence: why, and how far it got (the sub-steps it finished with
    what each found, then the one that stopped), for the review."""
    lines = []
    for name, sub in store.producers.substeps(run_id).items():
        if sub.state == "done":
            lines.append(f"{name}: {(sub.result or {}).get('summary', 'done')}")
        else:
            lines.append(f"{name}: stopped here")
    return {
        "passed": False,
        "run": run_id,
        "failed": reason,
        "reason": reason,
        "summary_lines": lines,
    }


def drill_preview(ctx: StepContext) -> list[str]:
    return [
        "Rehearses the rollback path end to end on things it creates and removes:",
        "  a topic cutover-rehearsal-<db>-<run>.orders and a SCRAM user of that name on "
        "both clusters (a throwaway password held in memory), its ACLs, a rehearsal group",
        "  writes on the source, copy, DENY WRITE fence on the source (proven as the user),",
        "  writes on the target, the group reads some there, target fence, reverse copy",
        "  exactly once, group back on the source, fence removed, verified, cleaned up.",
        "The Move producers gates need it passed.",
    ]


def drill_report(detail: dict[str, Any]) -> list[str]:
    return [f"  {line}" for line in detail.get("summary_lines", [])]


# -- window ------------------------------------------------------------------------------


def window_run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    passwords = credentials.resolve_passwords(store.plan)
    _source, target = make_clusters(store.plan, passwords)
    body = window_view.read(store, store.plan, passwords, target)
    body["target"] = ""
    body["passed"] = True
    evidence = store.add_evidence(key, "rollback-window", body)
    return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)


def window_preview(ctx: StepContext) -> list[str]:
    found = ctx.store.producers.window()
    lines = [
        "Reads the target (changes nothing): per partition of every moved class the "
        "records that exist only on the target, the groups that read them, and when replay "
        "rather than rollback becomes the recovery plan."
    ]
    if found is not None:
        lines.append(f"Window {found.state}, opened {found.opened_at}, deadline {found.deadline}")
    return lines


def window_report(detail: dict[str, Any]) -> list[str]:
    lines = [f"window {detail.get('state')}: deadline {detail.get('deadline')}"]
    lines.append(f"  {detail.get('verdict', '')}")
    lines.append(f"  {detail.get('replay_condition', '')}")
    for cls in detail.get("classes", []):
        lines.append(f"  class {cls['class']}: {cls['target_only']:,} target-only record(s)")
        for part in cls["partitions"]:
            lines.append(f"    {part['partition']:<30} {part['target_only']:>8,} only on target")
            lines += [f"      e.g. {e}" for e in part["examples"][:1]]
        for group in cls["groups"]:
            lines.append(f"    group {group['group']}: {group.get('meaning') or group.get('why')}")
    return lines


def close_run(ctx: StepContext) -> StepOutcome:
    store, key = ctx.store, ctx.key
    found = store.producers.close_window("closed at the gate: replay is the recovery plan")
    body = {
        "target": "",
        "passed": True,
        "state": found.state if found else "none",
        "closed_at": found.closed_at if found else None,
        "summary": "rollback window closed: replay, not rollback, is the recovery plan",
    }
    ctx.log("rollback_window.closed", params={"deadline": found.deadline if found else None})
    evidence = store.add_evidence(key, "rollback-window", body)
    return StepOutcome(key, StepState.PASSED, body["summary"], evidence, body)


def close_preview(ctx: StepContext) -> list[str]:
    found = ctx.store.producers.window()
    lines = [
        "Closes the rollback window (changes only the run database): from now on replay, "
        "not rollback, is the recovery plan."
    ]
    if found is not None:
        lines.append(f"Opened {found.opened_at}; deadline {found.deadline}")
    return lines
