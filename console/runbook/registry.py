"""Which steps this version can run: the one list, step id to runner.

A new step gets its definition in :mod:`console.plan.steps`, its runner and gate
preview in a runner module of this package, and one line here. A step listed in the
plan but not here is shown with its gate shut ("cannot run in this version yet").
"""

from __future__ import annotations

from console.plan.steps import step_def
from console.runbook import (
    compare,
    cutover,
    drill,
    governance,
    inventory,
    producers,
    review,
    safe,
    shadow,
    witness,
)
from console.runbook.outcome import StepRunner

RUNNERS: dict[str, StepRunner] = {
    "inventory": StepRunner(inventory.run, inventory.preview, inventory.report),
    "governance": StepRunner(governance.run, governance.preview, governance.report),
    "governance-apply": StepRunner(
        governance.apply_run, governance.apply_preview, governance.apply_report
    ),
    "witness": StepRunner(witness.run, witness.preview),
    "shadow-start": StepRunner(shadow.start, shadow.preview_start),
    "shadow-stop": StepRunner(shadow.stop, shadow.preview_stop),
    "shadow-lag": StepRunner(shadow.judge_lag, shadow.preview_lag),
    "ops-drill": StepRunner(drill.run, drill.preview, drill.report),
    "compare": StepRunner(compare.run, compare.preview),
    "safe-consumers": StepRunner(safe.start, safe.preview_start),
    "safe-consumers-stop": StepRunner(safe.stop, safe.preview_stop),
    "safe-identities-remove": StepRunner(safe.remove_identities, safe.preview_remove),
    "move-group": StepRunner(cutover.run, cutover.preview, cutover.report),
    "move-producers": StepRunner(producers.move_run, producers.move_preview, producers.move_report),
    "rollback-drill": StepRunner(
        producers.drill_run, producers.drill_preview, producers.drill_report
    ),
    "rollback-window": StepRunner(
        producers.window_run, producers.window_preview, producers.window_report
    ),
    "rollback": StepRunner(
        producers.rollback_run, producers.rollback_preview, producers.rollback_report
    ),
    "rollback-window-close": StepRunner(producers.close_run, producers.close_preview),
    "scorecard": StepRunner(review.run, review.preview, check=review.check),
}

for _step in RUNNERS:
    step_def(_step)  # a runner for a step the runbook does not define is a bug: fail at import


def available(step_id: str) -> bool:
    """Whether this version can run the step (otherwise its gate stays shut)."""
    return step_id in RUNNERS


def runner(step_id: str) -> StepRunner:
    return RUNNERS[step_id]
