"""Running a step whose gate was confirmed, and recovering steps whose process died.

After the gate's decision (:mod:`console.runbook.gate`) the step is claimed: in one
durable transaction the store checks no live process runs it, marks it RUNNING and
appends ``step.started`` (so two processes cannot both run it, and a kill can never
leave one without the other). Then the work; then the new state and ``step.finished``,
again together, referring back to the start. A step cancelled by the operator ends
CANCELLED, with an audit entry saying so.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from console import redact
from console.errors import Cancelled, CutoverError, Progress
from console.plan.steps import StepState, split_key
from console.runbook.outcome import Reveal, StepContext, StepOutcome
from console.runbook.registry import runner
from console.store import Store
from console.store.db import StepBusy


def recover(store: Store) -> list[str]:
    """Mark step instances whose process died mid-run as failed, and say so in the log."""
    messages = []
    for key, pid in store.orphaned_steps():
        reason = (
            f"interrupted: the process running it (pid {pid}) ended before it finished; "
            "run the step again"
        )
        store.finish_step(
            key,
            StepState.FAILED,
            reason,
            ref=None,
            action="step.interrupted",
            params={"pid": pid},
            outcome="failed",
        )
        messages.append(f"{key}: {reason}")
    return messages


def run(
    store: Store,
    key: str,
    *,
    cancel: threading.Event | None = None,
    progress: Progress = lambda _m: None,
    reveal: Reveal | None = None,
    notes: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> StepOutcome:
    """Run a step instance whose gate was just confirmed. Never raises for cluster
    trouble; raises :class:`StepBusy` (nothing started) when another process runs it.
    ``reveal`` shows a secret the step generated to the operator, once. ``notes`` (from
    the gate's decision, e.g. the broken chain an undo step runs under) go into its
    ``step.started`` entry; ``params`` is what the operator entered at the gate, for a
    step that takes more than a yes."""
    step, target = split_key(key)
    started = store.claim_step(key, os.getpid(), {"pid": os.getpid(), **(notes or {})})
    ctx = StepContext(
        store,
        key,
        target,
        cancel or threading.Event(),
        progress,
        started_seq=started.seq,
        reveal=reveal,
        params=dict(params or {}),
    )
    try:
        outcome = runner(step.id).run(ctx)
    except Cancelled as exc:
        outcome = StepOutcome(key, StepState.CANCELLED, f"{exc}; nothing was recorded", None)
    except CutoverError as exc:
        outcome = StepOutcome(key, StepState.FAILED, str(exc), None)
    except BaseException as exc:
        # Whatever went wrong, the step must not stay "running" and the log must say so.
        reason = redact.text(f"internal error: {type(exc).__name__}: {exc}")
        store.finish_step(
            key, StepState.FAILED, reason, ref=started.seq, outcome=f"failed: {reason}"
        )
        raise
    store.finish_step(
        key,
        outcome.state,
        outcome.reason,
        ref=started.seq,
        params={"evidence": outcome.evidence_id},
        outcome=f"{outcome.state.value}: {outcome.reason}"
        if outcome.reason
        else outcome.state.value,
    )
    return outcome


def report_lines(outcome: StepOutcome) -> list[str]:
    """What ``cutover step`` prints under a step's outcome, if its runner says more."""
    step, _target = split_key(outcome.step)
    report = runner(step.id).report
    return report(outcome.detail) if report is not None and outcome.detail else []


__all__ = ["StepBusy", "recover", "report_lines", "run"]
