"""Gates and step execution, shared by the console and the headless ``cutover step``.

The order is the invariant: the gate decision is written to the audit log (durably)
before anything runs, whichever way it went; then ``step.started``; then the work;
then ``step.finished`` with the outcome, referring back to the start entry. The
console and the CLI call the same functions, so they behave and log the same.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console import redact
from console.errors import Cancelled, Progress
from console.kafka.inventory import take_inventory
from console.plan import credentials
from console.plan.steps import StepDef, StepState, step_def
from console.store import Store
from console.views.gate import GateView


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended."""

    step: str
    state: StepState
    reason: str
    evidence_id: int | None
    detail: dict[str, Any] | None = None


Runner = Callable[[Store, threading.Event, Progress], StepOutcome]
Previewer = Callable[[Store], list[str]]
_RUNNERS: dict[str, Runner] = {}
_PREVIEWS: dict[str, Previewer] = {}


def register(step_id: str, runner: Runner, preview: Previewer | None = None) -> None:
    """Make a step runnable. Engine modules call this at import; see ``load_runners``.

    ``preview`` returns the lines the gate shows: exactly what will be read or changed.
    """
    step_def(step_id)
    _RUNNERS[step_id] = runner
    if preview is not None:
        _PREVIEWS[step_id] = preview


def available(step_id: str) -> bool:
    """Whether this version can run the step (otherwise its gate stays shut)."""
    load_runners()
    return step_id in _RUNNERS


_LOADED = False


def load_runners() -> None:
    """Import the modules that register runners for the later phases, once."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for module in ("console.runbook.shadow", "console.runbook.compare"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but is broken: say so loudly
                raise


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


def preview(store: Store, step_id: str) -> GateView:
    """The gate for a step: what it will read or change, and what must be typed."""
    step = step_def(step_id)
    plan = store.plan
    blocked = _blocked(store, step)
    if step.id == "inventory":
        lines = [
            f"Reads source  {plan.clusters.source.bootstrap_servers} "
            f"as {_principal(plan.clusters.source)}",
            f"Reads target  {plan.clusters.target.bootstrap_servers} "
            f"as {_principal(plan.clusters.target)}",
            "Brokers and versions, topics, partitions, configs, offsets,",
            "consumer groups with members and committed offsets, ACLs.",
            f"Plan topics: {', '.join(t.name for t in plan.topics)}",
            "Changes nothing on either cluster.",
        ]
    elif available(step.id) and step.id in _PREVIEWS:
        try:
            lines = _PREVIEWS[step.id](store)
        except Exception as exc:  # noqa: BLE001 - a gate must open even if its preview cannot
            lines = [step.summary, f"(could not work out the details: {redact.text(str(exc))})"]
    else:
        lines = [step.summary]
    return GateView(step.id, step.title, lines, step.confirm, step.mutating, blocked)


def _principal(spec) -> str:
    return f"User:{spec.sasl_username}" if spec.sasl_username else "User:ANONYMOUS"


def _blocked(store: Store, step: StepDef) -> str | None:
    if store.readonly:
        return "this run database is open read-only"
    if not available(step.id):
        return f"'{step.title}' cannot run in this version of cutover yet"
    if store.step(step.id).state is StepState.RUNNING:
        return f"'{step.title}' is already running"
    return None


def decide(store: Store, step_id: str, typed: str | None, *, via: str) -> tuple[bool, str]:
    """Record the operator's gate decision; returns (opened, message).

    ``typed`` is None when the operator cancelled. The decision is logged before
    the caller may run anything.
    """
    gate = preview(store, step_id)
    if store.readonly:
        return False, gate.blocked or "read-only"
    params = {"via": via, "expected": gate.confirm}
    if gate.blocked:
        store.log("gate.blocked", step=step_id, params=params, outcome=gate.blocked)
        return False, gate.blocked
    if typed is None:
        store.log("gate.cancelled", step=step_id, params=params, outcome="cancelled")
        return False, "cancelled; nothing was run"
    if typed.strip() != gate.confirm:
        store.log(
            "gate.refused",
            step=step_id,
            params={**params, "typed": redact.text(typed.strip())[:64]},
            outcome="confirmation did not match",
        )
        return False, f"the confirmation did not match; type '{gate.confirm}' exactly to proceed"
    store.log("gate.confirmed", step=step_id, params=params, outcome="confirmed")
    return True, "confirmed"


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
        load_runners()
        outcome = _RUNNERS[step.id](store, cancel, progress)
    except Cancelled as exc:
        outcome = StepOutcome(step_id, StepState.FAILED, f"{exc}; nothing was recorded", None)
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
        outcome=f"{outcome.state.value}: {outcome.reason}" if outcome.reason else "passed",
    )
    return outcome


def _inventory(store: Store, cancel: threading.Event, progress: Progress) -> StepOutcome:
    """Read both clusters and record what is there."""
    plan = store.plan
    passwords = {name: credentials.resolve_password(plan, name) for name in ("source", "target")}
    result = take_inventory(plan, passwords, cancel=cancel, progress=progress)
    body = result.to_json()
    evidence_id = store.add_evidence("inventory", "inventory", body)
    if result.passed:
        return StepOutcome("inventory", StepState.PASSED, "", evidence_id, body)
    reason = result.problems[0]
    if len(result.problems) > 1:
        reason += f" (and {len(result.problems) - 1} more)"
    return StepOutcome("inventory", StepState.FAILED, reason, evidence_id, body)


register("inventory", _inventory)
