"""Running a step whose gate was confirmed, and recovering steps whose process died.

After the gate's decision (:mod:`console.runbook.gate`): ``step.started``; then the
work; then ``step.finished`` with the outcome, referring back to the start entry. A
step cancelled by the operator ends CANCELLED, with an audit entry saying so.
"""

from __future__ import annotations

import os
import threading

from console import redact
from console.errors import Cancelled, Progress
from console.plan import credentials
from console.plan.steps import StepState, step_def
from console.runbook.outcome import StepOutcome
from console.runbook.registry import runner
from console.store import Store


def recover(store: Store) -> list[str]:
    """Mark steps whose process died mid-run as failed, and say so in the audit log."""
    messages = []
    for step_id, pid in store.orphaned_steps():
        reason = (
            f"interrupted: the process running it (pid {pid}) ended before it finished; "
            "run the step again"
        )
        store.log("step.interrupted", step=step_id, params={"pid": pid}, outcome="failed")
        store.set_step(step_id, StepState.FAILED, reason)
        messages.append(f"{step_id}: {reason}")
    return messages


def run(
    store: Store,
    step_id: str,
    *,
    cancel: threading.Event | None = None,
    progress: Progress = lambda _m: None,
) -> StepOutcome:
    """Run a step whose gate was just confirmed. Never raises for cluster trouble."""
    step = step_def(step_id)
    cancel = cancel or threading.Event()
    started = store.log("step.started", step=step_id, params={"pid": os.getpid()})
    store.set_step(step_id, StepState.RUNNING, "", runner_pid=os.getpid())
    try:
        outcome = runner(step.id).run(store, cancel, progress)
    except Cancelled as exc:
        outcome = StepOutcome(step_id, StepState.CANCELLED, f"{exc}; nothing was recorded", None)
    except credentials.CredentialError as exc:
        outcome = StepOutcome(step_id, StepState.FAILED, str(exc), None)
    except BaseException as exc:
        # Whatever went wrong, the step must not stay "running" and the log must say so.
        reason = redact.text(f"internal error: {type(exc).__name__}: {exc}")
        store.set_step(step_id, StepState.FAILED, reason)
        store.log("step.finished", step=step_id, ref=started.seq, outcome=f"failed: {reason}")
        raise
    store.set_step(step_id, outcome.state, outcome.reason)
    store.log(
        "step.finished",
        step=step_id,
        ref=started.seq,
        params={"evidence": outcome.evidence_id},
        outcome=f"{outcome.state.value}: {outcome.reason}"
        if outcome.reason
        else outcome.state.value,
    )
    return outcome


def report_lines(outcome: StepOutcome) -> list[str]:
    """What ``cutover step`` prints under a step's outcome, if its runner says more."""
    report = runner(outcome.step).report
    return report(outcome.detail) if report is not None and outcome.detail else []
