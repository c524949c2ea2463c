"""A step's gate: what it shows before the operator decides, and the decision.

The order is the invariant: the decision is written to the audit log (durably) before
anything may run, whichever way it went. The console and ``cutover step`` call the
same functions, so they behave and log the same.
"""

from __future__ import annotations

from console import redact
from console.plan.steps import StepDef, StepState, step_def
from console.runbook.outcome import Outcome
from console.runbook.registry import available, runner
from console.store import Store
from console.views.gate import GateView


def preview(store: Store, step_id: str) -> GateView:
    """The gate for a step: what it will read or change, and what must be typed."""
    step = step_def(step_id)
    blocked = _blocked(store, step)
    if available(step.id):
        try:
            lines = runner(step.id).preview(store)
        except Exception as exc:  # noqa: BLE001 - a gate must open even if its preview cannot
            lines = [step.summary, f"(could not work out the details: {redact.text(str(exc))})"]
    else:
        lines = [step.summary]
    return GateView(step.id, step.title, lines, step.confirm, step.mutating, blocked)


def _blocked(store: Store, step: StepDef) -> str | None:
    if store.readonly:
        return "this run database is open read-only"
    if not available(step.id):
        return f"'{step.title}' cannot run in this version of cutover yet"
    if store.step(step.id).state is StepState.RUNNING:
        return f"'{step.title}' is already running"
    return None


class Decision(tuple):
    """``(opened, message)``, and how the gate ended when it stayed shut (``outcome``)."""

    outcome: Outcome | None

    def __new__(cls, opened: bool, message: str, outcome: Outcome | None = None) -> Decision:
        decision = super().__new__(cls, (opened, message))
        decision.outcome = outcome
        return decision

    @property
    def opened(self) -> bool:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]


def decide(store: Store, step_id: str, typed: str | None, *, via: str) -> Decision:
    """Record the operator's gate decision; returns ``(opened, message)``.

    ``typed`` is None when the operator cancelled. The decision is logged before
    the caller may run anything.
    """
    gate = preview(store, step_id)
    if store.readonly:
        return Decision(False, gate.blocked or "read-only", Outcome.BLOCKED)
    params = {"via": via, "expected": gate.confirm}
    if gate.blocked:
        store.log("gate.blocked", step=step_id, params=params, outcome=gate.blocked)
        return Decision(False, gate.blocked, Outcome.BLOCKED)
    if typed is None:
        store.log("gate.cancelled", step=step_id, params=params, outcome="cancelled")
        return Decision(False, "cancelled; nothing was run", Outcome.CANCELLED)
    if typed.strip() != gate.confirm:
        store.log(
            "gate.refused",
            step=step_id,
            params={**params, "typed": redact.text(typed.strip())[:64]},
            outcome="confirmation did not match",
        )
        return Decision(
            False,
            f"the confirmation did not match; type '{gate.confirm}' exactly to proceed",
            Outcome.REFUSED,
        )
    store.log("gate.confirmed", step=step_id, params=params, outcome="confirmed")
    return Decision(True, "confirmed")
