"""The operations drill: restart one target broker while the copy runs, and record how
the lag and the copy recovered: the failure drill the scorecard's operations area rests
on.

Two ways, by the plan's ``[drill] restart``:

* ``sandbox``: the console restarts the sandbox's target broker itself (SIGTERM, down
  for ``down_s``, started again with the same data and ports) through ``cutover sandbox
  restart``, run as a child process: the sandbox is tooling that sits above the runbook,
  so the runbook reaches it the way an operator would, by its command.
* ``operator``: on real clusters the console never restarts a broker; the gate asks the
  operator to restart one (a rolling restart's single step) and the step watches.

Either way the step reads the lag samples the sampler keeps writing: the level before
the restart, the gap or rise while the broker was away, and the first round after it in
which every partition's copy has passed the source's end at the restart and the total
lag is back to its level before. The evidence (``ops-drill``) keeps that timeline.
"""

from __future__ import annotations

import subprocess
import sys
import time

from console import processes
from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.scorecard.model import parse_time
from console.shadow import lag
from console.shadow.mirror.process import PROCESS as MIRROR

STEP = "ops-drill"
EVIDENCE = "ops-drill"
RESTART_TIMEOUT_S = 180.0
"""The longest a sandbox broker restart may take, the down time included (seconds)."""
SAMPLER_LATE_S = 60.0
"""How long the drill waits for a lag sampler that runs but is late with its round
(seconds): right after a broker restart, the drill's own included, a round waits on
clients reconnecting and requests timing out, and the drill is often run again then."""


def preview(ctx: StepContext) -> list[str]:
    plan = ctx.store.plan
    drill = plan.drill
    sampler = processes.get(ctx.store, lag.SAMPLER)
    state = sampler.status if sampler else "not started"
    lines = []
    if drill.restart == "sandbox":
        lines += [
            f"Restarts the TARGET broker of the sandbox in {drill.sandbox_dir}:",
            f"  stopped (SIGTERM), down for {drill.down_s:g} s, started with the same data.",
        ]
    else:
        lines += [
            "The console does not restart brokers on real clusters. After you confirm,",
            "restart ONE target broker (one step of a rolling restart) when it says so.",
        ]
    lines += [
        "Watches the copy recover: lag back to its level before the restart and every",
        f"partition copied past the restart point within {drill.recovery_limit_s:g} s.",
        f"Lag sampler: {state}. The copy keeps running throughout.",
        "Records the timeline as evidence for the scorecard's operations area.",
    ]
    return lines


def _restart_sandbox(ctx: StepContext) -> str:
    """Restart the sandbox target broker through the command line; returns what it said."""
    drill = ctx.store.plan.drill
    command = [
        sys.executable, "-m", "console.cli", "sandbox", "restart", "--dir",
        str(drill.sandbox_dir), "--cluster", "target", "--down-for", f"{drill.down_s:g}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + RESTART_TIMEOUT_S + drill.down_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the broker restart did not finish in {RESTART_TIMEOUT_S:g} s")
        time.sleep(0.2)  # polling a child process; no event to wait on
    output = (proc.stdout.read() if proc.stdout else "").strip()
    if proc.returncode != 0:
        raise RuntimeError(output.splitlines()[-1] if output else f"exit {proc.returncode}")
    return output.splitlines()[-1] if output else "restarted"


def _rounds_after(ctx: StepContext, since: str) -> dict[int, list[tuple]]:
    """Sample rounds taken after a moment, by round number."""
    rows = ctx.store.samples.recent(10_000)
    out: dict[int, list[tuple]] = {}
    for row in rows:
        if row[1] > since:
            out.setdefault(row[0], []).append(row)
    return out


def _seconds(start: str, end: str) -> float:
    return (parse_time(end) - parse_time(start)).total_seconds()


def _stall_limit(stamps: list[str], interval: float) -> float:
    """How far apart two sampler rounds may start before the gap counts as a stall: three
    times the usual spacing before the restart (a busy machine spaces rounds out), and at
    least two seconds."""
    gaps = sorted(_seconds(a, b) for a, b in zip(stamps, stamps[1:], strict=False))
    usual = gaps[len(gaps) // 2] if gaps else interval
    return max(2.0, 3 * max(usual, interval))


def _disruption(unknown: bool, total: int, level: int, gap: float, stall_s: float) -> str | None:
    """What in a sampler round shows the restart, in words; None when nothing does."""
    if unknown or total > level:
        return f"lag {total:,} records (disrupted)"
    if gap > stall_s:
        # The sampler reads the target's end offsets every round: a round held up across
        # the restart is a client that could not reach the target.
        return f"lag sampler held up {gap:.1f} s reading the target (disrupted)"
    return None


def run(ctx: StepContext) -> StepOutcome:
    store, plan = ctx.store, ctx.store.plan
    drill = plan.drill
    sampler = processes.reporting(
        store, lag.SAMPLER, wait_s=SAMPLER_LATE_S, cancel=ctx.cancel, progress=ctx.progress
    )
    if sampler is not None and sampler.status == "STALE":
        return StepOutcome(
            STEP, StepState.FAILED,
            f"the lag sampler runs but has not reported for {sampler.heartbeat_age_s:.0f} s "
            f"(last: {sampler.detail or 'nothing'}): see {sampler.log_path} and the "
            "clusters it reads, and run the drill again once it reports",
            None,
        )  # fmt: skip
    if sampler is None or sampler.status != "RUNNING":
        state = sampler.status if sampler else "never started"
        return StepOutcome(
            STEP, StepState.FAILED,
            f"the lag sampler is {state}: start the shadow copy first, the drill watches it",
            None,
        )  # fmt: skip
    window = plan.thresholds.lag_trend_window_samples
    before = store.samples.recent(window)
    if not before:
        return StepOutcome(STEP, StepState.FAILED, "no lag samples yet to compare with", None)
    by_round: dict[int, list[tuple]] = {}
    for row in before:
        by_round.setdefault(row[0], []).append(row)
    totals = [sum(r[6] or 0 for r in rows) for rows in by_round.values()]
    level = max(totals)
    last = by_round[max(by_round)]
    restart_point = {(r[2], r[3]): r[4] for r in last if r[4] is not None}
    mirror_before = processes.get(store, MIRROR)
    events = [(last[0][1], f"before: lag up to {level:,} records over {len(totals)} rounds")]
    started = store.clock()
    if drill.restart == "sandbox":
        intent = ctx.log("drill.restart", params={"cluster": "target", "dir": drill.sandbox_dir})
        ctx.progress(f"restarting the sandbox target broker (down {drill.down_s:g} s)…")
        try:
            said = _restart_sandbox(ctx)
        except RuntimeError as exc:
            ctx.log("drill.restart", ref=intent.seq, outcome=f"failed: {exc}")
            return StepOutcome(STEP, StepState.FAILED, f"the restart failed: {exc}", None)
        back = store.clock()
        ctx.log("drill.restart", ref=intent.seq, outcome=said)
        events.append((started, "target broker stopped"))
        events.append((back, f"target broker answers again ({said})"))
    else:
        ctx.log("drill.await-restart", params={"cluster": "target"})
        ctx.progress("restart ONE target broker now; watching the lag")
        back = started
        events.append((started, "operator asked to restart one target broker"))
    deadline = parse_time(back).timestamp() + drill.recovery_limit_s
    interval = plan.shadow.sample_interval_s
    stall_s = _stall_limit(sorted({r[1] for r in before}), interval)
    previous = last[0][1]
    peak, disrupted, recovered_at = level, False, None
    seen: set[int] = set()
    while recovered_at is None and time.time() < deadline:
        if ctx.cancel.is_set():
            break
        for number, rows in sorted(_rounds_after(ctx, started).items()):
            if number in seen:
                continue
            seen.add(number)
            unknown = any(r[6] is None for r in rows)
            total = sum(r[6] or 0 for r in rows)
            peak = max(peak, total)
            gap = _seconds(previous, rows[0][1])
            previous = rows[0][1]
            seen_now = _disruption(unknown, total, level, gap, stall_s)
            if seen_now and not disrupted:
                events.append((rows[0][1], seen_now))
            disrupted = disrupted or seen_now is not None
            passed = all((r[5] or 0) >= restart_point.get((r[2], r[3]), 0) for r in rows) and len(
                rows
            ) >= len(restart_point)
            if rows[0][1] >= back and passed and not unknown and total <= level:
                recovered_at = rows[0][1]
                events.append(
                    (
                        recovered_at,
                        f"lag {total:,} records, every partition copied past the restart "
                        "point: recovered",
                    )
                )
                break
        if recovered_at is None:
            ctx.cancel.wait(interval / 2)
    # In the order things happened (the restart's end is known before the rounds that
    # straddled it are read).
    timeline = [f"{ts[11:19]} {text}" for ts, text in sorted(events, key=lambda e: e[0])]
    mirror_after = processes.get(store, MIRROR)
    copy_note = ""
    if plan.shadow.path == "builtin" and mirror_before is not None:
        alive = mirror_after is not None and mirror_after.alive
        copy_note = (
            f"built-in mirror pid {mirror_after.pid} {'running' if alive else 'NOT running'}"
            if mirror_after
            else "built-in mirror not recorded"
        )
        timeline.append(copy_note)
    recovery = _seconds(back, recovered_at) if recovered_at else None
    body = {
        "mode": drill.restart,
        "broker": "the sandbox target broker" if drill.restart == "sandbox" else "a target broker",
        "restarted_at": started,
        "back_at": back,
        "recovered": recovered_at is not None,
        "recovered_at": recovered_at,
        "recovery_s": recovery,
        "limit_s": drill.recovery_limit_s,
        "baseline_lag_records": level,
        "peak_lag_records": peak,
        "disruption_seen": disrupted,
        "copy": copy_note,
        "timeline": timeline,
        "verdict": "OK" if recovered_at else "RED",
    }
    if ctx.cancel.is_set() and recovered_at is None:
        body["reason"] = "cancelled before the copy recovered"
        evidence = store.add_evidence(STEP, EVIDENCE, body)
        return StepOutcome(STEP, StepState.CANCELLED, body["reason"], evidence, body)
    if recovered_at is None:
        body["reason"] = (
            f"not recovered within {drill.recovery_limit_s:g} s of the broker's return "
            f"(peak lag {peak:,} records, level before {level:,})"
        )
        evidence = store.add_evidence(STEP, EVIDENCE, body)
        return StepOutcome(STEP, StepState.FAILED, body["reason"], evidence, body)
    body["reason"] = f"recovered in {recovery:.0f} s, peak lag {peak:,} records"
    evidence = store.add_evidence(STEP, EVIDENCE, body)
    return StepOutcome(STEP, StepState.PASSED, body["reason"], evidence, body)


def report(body: dict) -> list[str]:
    """What ``cutover step ops-drill`` prints under the outcome: the timeline."""
    return [f"  {line}" for line in body.get("timeline", [])]
