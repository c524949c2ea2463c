"""The Shadow path phase: start and stop the copy, and judge whether it keeps up.

Which copy runs depends on the plan's ``[shadow] path``: the built-in exactly-once
mirror (a process of ours), MirrorMaker 2 connectors on a Kafka Connect cluster, or
an external link the console only observes. In every case the lag sampler runs as
its own process, so the lag pane and a later replay have the same series.

Each runner is listed in :mod:`console.runbook.registry` and called by
:func:`console.runbook.execute.run` after the gate was confirmed and logged; every
change it makes is logged again just before it is made, with the result logged after,
referring back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from console import processes
from console.cutover import sampler as offsets_sampler
from console.errors import Progress
from console.plan import credentials
from console.plan.steps import StepDef, StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.shadow import lag, mirror, mm2, target_data
from console.store import Store

MIRROR = "mirror"


START_DEADLINE_S = 60.0


def _log_tail(info: processes.ProcessInfo | None, lines: int = 3) -> str:
    if info is None or not info.log_path or not Path(info.log_path).exists():
        return ""
    text = Path(info.log_path).read_text(errors="replace").strip().splitlines()
    return " | ".join(line.strip() for line in text[-lines:])


def _start_process(
    store: Store, name: str, args: list[str], cancel: threading.Event, progress: Progress
) -> processes.ProcessInfo:
    """Spawn a background process and wait until its first heartbeat says it runs."""
    current = processes.get(store, name)
    if current is not None and current.alive:
        progress(f"{name} already running (pid {current.pid}); re-attached")
        return current
    intent = store.log("process.start", step="shadow-start", params={"process": name})
    info = processes.spawn(store, name, args)
    progress(f"{name}: started pid {info.pid}, waiting for it to report")
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline and not cancel.is_set():
        info = processes.get(store, name)
        if info is None or not info.alive:
            tail = _log_tail(info)
            store.log("process.start", step="shadow-start", ref=intent.seq, outcome="failed")
            raise RuntimeError(
                f"{name} exited during start-up"
                + (f": {tail}" if tail else "")
                + (f" (log: {info.log_path})" if info and info.log_path else "")
            )
        if info.state == "running" and info.heartbeat_at:
            store.log(
                "process.start",
                step="shadow-start",
                ref=intent.seq,
                params={"pid": info.pid},
                outcome="running",
            )
            return info
        time.sleep(0.2)
    processes.stop(store, name, timeout=10)
    store.log("process.start", step="shadow-start", ref=intent.seq, outcome="no report; stopped")
    raise RuntimeError(
        f"{name} did not report within {START_DEADLINE_S:g} s"
        + (" (cancelled)" if cancel.is_set() else "")
        + f"; see {info.log_path if info else 'its log'}"
    )


def start(ctx: StepContext) -> StepOutcome:
    """Start the copy (per the plan's path) and the lag sampler."""
    store, cancel, progress = ctx.store, ctx.cancel, ctx.progress
    plan = store.plan
    # Fail before changing anything if a password is missing.
    passwords = credentials.resolve_passwords(store.plan)
    path = plan.shadow.path
    try:
        if path == "builtin":
            info = _start_process(store, MIRROR, [MIRROR, str(store.path)], cancel, progress)
            # Said as what happened then: the step detail adds what runs now.
            what = f"built-in mirror started (pid {info.pid})"
        elif path == "mirrormaker2":
            what = _deploy_mm2(store, passwords)
        else:
            what = "observing an external copy (nothing started on the clusters)"
    except RuntimeError as exc:
        return StepOutcome("shadow-start", StepState.FAILED, str(exc), None)
    try:
        sampler = _start_process(
            store, lag.SAMPLER, [lag.SAMPLER, str(store.path)], cancel, progress
        )
    except RuntimeError as exc:
        return StepOutcome("shadow-start", StepState.FAILED, str(exc), None)
    body = {"path": path, "what": what, "sampler_pid": sampler.pid}
    if plan.groups:
        # The offsets pane's figures: where each plan group stands on both sides.
        try:
            offsets = _start_process(
                store,
                offsets_sampler.PROCESS,
                ["offsets-sampler", str(store.path)],
                cancel,
                progress,
            )
        except RuntimeError as exc:
            return StepOutcome("shadow-start", StepState.FAILED, str(exc), None)
        body["offsets_sampler_pid"] = offsets.pid
    evidence = store.add_evidence("shadow-start", "shadow", body)
    return StepOutcome("shadow-start", StepState.PASSED, what, evidence, body)


def _deploy_mm2(store: Store, passwords: dict[str, str | None]) -> str:
    """Deploy the MirrorMaker 2 connectors, logging intent before and result after."""
    plan = store.plan
    intent = store.log(
        "mm2.deploy",
        step="shadow-start",
        params={"connect_url": plan.shadow.connect_url, "topics": [t.name for t in plan.topics]},
    )
    try:
        states = mm2.deploy(
            plan,
            passwords,
            plan.shadow.connect_url,
            timeout=120,
            settings=mm2.settings_from_plan(plan),
        )
    except mm2.Mm2Error as exc:
        store.log("mm2.deploy", step="shadow-start", ref=intent.seq, outcome=f"failed: {exc}")
        raise RuntimeError(str(exc)) from None
    summary = ", ".join(f"{s.name} {s.state}" for s in states)
    store.log("mm2.deploy", step="shadow-start", ref=intent.seq, outcome=summary)
    # The states at deployment are in the audit entry; the step's reason stays true after
    # the connectors are removed, and the step detail says what runs now.
    return f"MirrorMaker 2 deployed: {', '.join(s.name for s in states)}"


def stop(ctx: StepContext) -> StepOutcome:
    """Stop the sampler and the copy; what was copied stays on the target.

    The sampler stops first: left running while MirrorMaker 2's connectors are removed,
    it would record them as failed, and the pane would go on saying so.
    """
    store = ctx.store
    plan = store.plan
    results = []
    intent = store.log("process.stop", step="shadow-stop", params={"process": lag.SAMPLER})
    result = processes.stop(store, lag.SAMPLER, timeout=15)
    store.log("process.stop", step="shadow-stop", ref=intent.seq, outcome=result)
    results.append(f"sampler {result}")
    if processes.get(store, offsets_sampler.PROCESS) is not None:
        intent = store.log(
            "process.stop", step="shadow-stop", params={"process": offsets_sampler.PROCESS}
        )
        result = processes.stop(store, offsets_sampler.PROCESS, timeout=15)
        store.log("process.stop", step="shadow-stop", ref=intent.seq, outcome=result)
        results.append(f"offsets sampler {result}")
    if plan.shadow.path == "builtin":
        intent = store.log("process.stop", step="shadow-stop", params={"process": MIRROR})
        result = processes.stop(store, MIRROR, timeout=30)
        store.log("process.stop", step="shadow-stop", ref=intent.seq, outcome=result)
        results.append(f"mirror {result}")
    elif plan.shadow.path == "mirrormaker2":
        intent = store.log(
            "mm2.remove", step="shadow-stop", params={"url": plan.shadow.connect_url}
        )
        try:
            mm2.remove(plan, plan.shadow.connect_url, timeout=30)
        except Exception as exc:  # noqa: BLE001 - said in the outcome and the step reason
            store.log("mm2.remove", step="shadow-stop", ref=intent.seq, outcome=f"failed: {exc}")
            return StepOutcome("shadow-stop", StepState.FAILED, f"removing MM2 failed: {exc}", None)
        store.log("mm2.remove", step="shadow-stop", ref=intent.seq, outcome="removed")
        processes.record(store, lag.MM2, "removed", "connectors removed by Stop shadow copy")
        results.append("MirrorMaker 2 connectors removed")
    return StepOutcome("shadow-stop", StepState.PASSED, "; ".join(results), None)


def judge_lag(ctx: StepContext) -> StepOutcome:
    """Pass only when every partition's lag trend is OK or WARN on fresh samples: growing
    lag is RED whatever its size, and a partition without a full window is NO DATA."""
    store = ctx.store
    plan = store.plan
    trends = lag.latest_trends(store, plan)
    as_of = lag.last_sample_time(store)
    body = {
        "as_of": as_of,
        "partitions": [
            {k: v for k, v in lag.row_json(t).items() if k != "history"} for t in trends
        ],
    }
    if not trends:
        return StepOutcome(
            "shadow-lag",
            StepState.FAILED,
            "no lag samples yet: start the shadow path first (it starts the sampler)",
            None,
        )
    evidence = store.add_evidence("shadow-lag", "lag", body)
    sampler = processes.get(store, lag.SAMPLER)
    if sampler is None or sampler.status != "RUNNING":
        state = sampler.status if sampler else "never started"
        return StepOutcome(
            "shadow-lag",
            StepState.FAILED,
            f"the lag sampler is {state}; lag as of {as_of} is not evidence of now",
            evidence,
            body,
        )
    bad = [t for t in trends if t.verdict in ("RED", "NO_DATA")]
    if bad:
        worst = bad[0]
        return StepOutcome(
            "shadow-lag",
            StepState.FAILED,
            f"{len(bad)} partition(s) RED or without data; worst {worst.topic}/{worst.partition}: "
            f"{worst.trend}, {worst.reason}",
            evidence,
            body,
        )
    warn = sum(1 for t in trends if t.verdict == "WARN")
    reason = f"{len(trends)} partitions within thresholds" + (f", {warn} WARN" if warn else "")
    return StepOutcome("shadow-lag", StepState.PASSED, reason, evidence, body)


# -- gate previews -------------------------------------------------------------------------


def _missing_on_target(store: Store) -> list[str] | None:
    evidence = store.latest_evidence("inventory", "inventory")
    if evidence is None or not evidence.body.get("target"):
        return None
    present = {t["name"] for t in evidence.body["target"]["topics"]}
    return [t.name for t in store.plan.topics if t.name not in present]


def preview_start(ctx: StepContext) -> list[str]:
    store = ctx.store
    plan = store.plan
    topics = ", ".join(t.name for t in plan.topics)
    lines = []
    if plan.shadow.path == "builtin":
        lines += [
            "Starts the built-in mirror as its own process, exactly once:",
            f"  {plan.clusters.source.bootstrap_servers} → "
            f"{plan.clusters.target.bootstrap_servers}",
            f"  topics {topics}",
            f"Writes to target with transactional id {mirror.mirror_id(plan.name)};",
            f"  its position goes to {mirror.positions_topic(plan.name)} (created if absent)",
        ]
        lines += _topic_lines(store)
        lines += _held_lines(store)
    elif plan.shadow.path == "mirrormaker2":
        lines += [
            f"Deploys MirrorMaker 2 connectors to {plan.shadow.connect_url}",
            f"  topics {topics}, names kept (IdentityReplicationPolicy)",
            f"  exactly once: {'yes' if plan.shadow.mm2_exactly_once else 'no'}; "
            f"secrets: {plan.shadow.mm2_secrets}",
        ]
        lines += _topic_lines(store)
        lines += _held_lines(store)
    else:
        lines += ["Starts nothing on the clusters: the copy is external; the console observes."]
    lines.append("Starts the lag sampler (reads offsets from both sides).")
    if plan.groups:
        lines.append(
            "Starts the offsets sampler (reads the plan's groups on both sides; changes nothing)."
        )
    lines.append("Both keep running when the console closes.")
    return lines


def _held_lines(store: Store) -> list[str]:
    """What each target topic holds already: a copy on top of earlier records doubles them."""
    try:
        held = target_data.held_on_target(
            store.plan, credentials.resolve_passwords(store.plan), timeout=5
        )
    except Exception as exc:  # noqa: BLE001 - said at the gate; the guard decides
        return [f"(could not read what the target holds: {str(exc).splitlines()[0][:80]})"]
    if not held:
        return ["The target holds none of the plan's topics yet."]
    lines = ["Records the target already holds (offset span, at most):"]
    lines += [f"  {t.name}: {t.records:,} in {t.partitions} partitions" for t in held]
    if any(t.records for t in held) and not _copied_before(store):
        allowed = store.plan.shadow.target_may_hold_earlier_data
        lines.append(
            "  the plan allows earlier data (target_may_hold_earlier_data)"
            if allowed
            else "  earlier data: a copy on top would duplicate it (see BLOCKED below)"
        )
    return lines


def _copied_before(store: Store) -> bool:
    """Whether this run started the copy before: then what the target holds is ours."""
    return store.latest_evidence("shadow-start", "shadow") is not None


def target_data_guard(store: Store, step: StepDef, target: str) -> str | None:
    """The Start shadow copy gate stays shut while a target topic holds records this run
    did not copy, unless the plan says the target may hold earlier data (a guard of
    :data:`console.runbook.gate.GUARDS`)."""
    plan = store.plan
    if step.id != "shadow-start" or plan.shadow.path == "external":
        return None  # an external copy writes the target itself: its data is expected
    if plan.shadow.target_may_hold_earlier_data or _copied_before(store):
        return None
    try:
        held = target_data.held_on_target(plan, credentials.resolve_passwords(plan), timeout=5)
    except Exception:  # noqa: BLE001 - cannot tell: the gate says so in its lines; the
        return None  # step itself then fails on the same cluster or password
    full = [t for t in held if t.records]
    if not full:
        return None
    listed = ", ".join(f"{t.name} ({t.records:,})" for t in full)
    return (
        f"the target already holds records in {listed}; a copy on top would duplicate "
        "them: empty those topics, or re-import the plan with [shadow] "
        "target_may_hold_earlier_data = true if that data is meant to be there"
    )


def _topic_lines(store: Store) -> list[str]:
    """What happens to each plan topic on the target, read from both clusters now."""
    try:
        checks = mirror.check_topics(
            store.plan, credentials.resolve_passwords(store.plan), timeout=5
        )
    except Exception as exc:  # noqa: BLE001 - fall back to the last inventory
        missing = _missing_on_target(store)
        note = f"(could not read the clusters now: {str(exc).splitlines()[0][:80]})"
        if missing is None:
            return [note, "Target topics: unknown; run Inventory to see what would be created"]
        return [note, f"Per the last inventory, missing on target: {', '.join(missing) or 'none'}"]
    words = {
        "ok": "exists on target",
        "create": "CREATED on target",
        "missing": "MISSING on target, creation not allowed: the step will fail",
        "too-few-partitions": "has too few partitions on target: the step will fail",
        "no-source": "not on source: the step will fail",
    }
    lines = []
    for check in checks:
        parts = f"{check.source_partitions or '-'}→{check.target_partitions or '-'} partitions"
        lines.append(f"  {check.name}: {words[check.action]} ({parts})")
        if check.note:
            lines.append(f"    {check.note}")
    return lines


def preview_stop(ctx: StepContext) -> list[str]:
    store = ctx.store
    lines = []
    for name in (MIRROR, lag.SAMPLER, offsets_sampler.PROCESS):
        info = processes.get(store, name)
        state = f"{info.status} (pid {info.pid})" if info else "not started"
        lines.append(f"Stops {name}: now {state}")
    if store.plan.shadow.path == "mirrormaker2":
        lines.append(f"Removes the MirrorMaker 2 connectors from {store.plan.shadow.connect_url}")
    lines.append("Records already copied stay on the target.")
    return lines


def preview_lag(ctx: StepContext) -> list[str]:
    store = ctx.store
    t = store.plan.thresholds
    return [
        "Judges the lag samples already recorded; reads nothing from the clusters.",
        f"Limits: {t.max_shadow_lag_records:,} rec and {t.max_shadow_lag_seconds:g} s per "
        f"partition, trend over {t.lag_trend_window_samples} samples.",
        "Passes when every partition is OK or WARN over a full window (none stalled,",
        "growing or over a limit without falling) and the sampler is running.",
    ]
