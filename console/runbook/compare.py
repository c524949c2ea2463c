"""The runbook's Comparison step: compare the plan's last window, pass only on evidence.

Listed in :mod:`console.runbook.registry`. The step compares the last
``comparison_window_minutes`` of every plan topic, records the per-check rows and a
summary as evidence, and passes only when no check is RED and no required check is NO
DATA. Read-only on Kafka; the gate and the audit entries around it belong to
:mod:`console.runbook.gate` and :func:`console.runbook.execute.run`.
"""

from __future__ import annotations

from console.compare.engine import compare, step_window
from console.compare.model import CompareError
from console.plan import credentials
from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome

STEP = "compare"


def run(ctx: StepContext) -> StepOutcome:
    """Compare the plan's window and judge it; never raises for cluster trouble."""
    store, cancel, progress = ctx.store, ctx.cancel, ctx.progress
    plan = store.plan
    passwords = credentials.resolve_passwords(plan)
    request = step_window(plan)
    try:
        report = compare(plan, passwords, request, store=store, cancel=cancel, progress=progress)
    except CompareError as exc:
        return StepOutcome(STEP, StepState.FAILED, str(exc), None)
    summary = report.summary()
    evidence_id = store.add_evidence(STEP, "comparison", summary)
    red, gaps = report.red, report.missing_evidence
    if not red and not gaps:
        return StepOutcome(STEP, StepState.PASSED, "", evidence_id, summary)
    first = red[0] if red else gaps[0]
    word = "RED" if red else "NO DATA"
    where = first.topic if first.partition is None else f"{first.topic}[{first.partition}]"
    reason = f"{word} {where} {first.check}: {first.reason}"
    more = len(red) + len(gaps) - 1
    if more:
        reason += f" (and {more} more; see window #{report.window_id})"
    return StepOutcome(STEP, StepState.FAILED, reason, evidence_id, summary)


def preview(ctx: StepContext) -> list[str]:
    """What the gate shows: the window, the topics, the limits; nothing changes."""
    store = ctx.store
    plan = store.plan
    t = plan.thresholds
    return [
        f"Reads the last {t.comparison_window_minutes} minutes of "
        f"{', '.join(x.name for x in plan.topics)}",
        "from source and target, partition by partition, with read_committed consumers",
        "(no consumer group is joined or committed on either side).",
        "Checks counts, missing, duplicates, extra, order, key placement, values, headers,",
        "timestamps, aborted transactions, schema ids, truncation and re-creation.",
        f"Limits: missing {t.max_missing_records}, duplicates {t.max_duplicate_records}, "
        f"extra {t.max_extra_records}, reordered {t.max_reordered_records} records.",
        "Passes when nothing is RED and no required check lacks data.",
        "Changes nothing on either cluster.",
    ]
