"""A step's gate: what it shows before the operator decides, and the decision.

The order is the invariant: the decision is written to the audit log (durably) before
anything may run, whichever way it went. The console and ``cutover step`` call the
same functions, so they behave and log the same.

Whether a gate may open at all is decided by the guards in :data:`GUARDS`, in order;
the first reason wins and is shown at the gate, in ``status`` and in the audit entry.
A guard is a plain function ``(store, step, target) -> reason | None``; a feature that
shuts gates (a broken chain, a red scorecard) adds its guard to the tuple.

What the operator types is compared, never stored unless it is the expected word: a
password typed into the field by mistake must not become a permanent audit entry.

A broken audit chain (:func:`chain_problem`: the checkpointed, incremental check, so it
is fast) shuts every gate whose step changes a cluster, except undo steps (rollback,
removing a fence): a migration must never be locked half-way, so those stay open with
the broken chain named at the gate and in their audit entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console import redact
from console.plan.steps import StepDef, StepKind, StepState, split_key, step_key
from console.runbook import governance, producers, safe, shadow, witness
from console.runbook.outcome import Outcome, StepContext
from console.runbook.registry import available, runner
from console.scorecard import approvals
from console.scorecard.card import chain_state, compute
from console.scorecard.model import Scorecard
from console.store import Store
from console.views.gate import GateView

Guard = Callable[[Store, StepDef, str], str | None]


def _read_only(store: Store, step: StepDef, target: str) -> str | None:
    return "this run database is open read-only" if store.readonly else None


def _not_built(store: Store, step: StepDef, target: str) -> str | None:
    if available(step.id):
        return None
    return f"'{step.title}' cannot run in this version of cutover yet"


def _running(store: Store, step: StepDef, target: str) -> str | None:
    if store.step(step_key(step.id, target)).state is StepState.RUNNING:
        return f"'{step.title}' is already running"
    return None


def _prerequisites(store: Store, step: StepDef, target: str) -> str | None:
    waiting = [
        required
        for required in step.requires
        if not any(
            row.id == required and row.state in (StepState.PASSED, StepState.WAIVED)
            for row in store.steps()
        )
    ]
    return f"blocked by: {', '.join(waiting)} (must pass first)" if waiting else None


def chain_problem(store: Store) -> str | None:
    """What is wrong with the audit chain and what it binds, or None when intact.

    The incremental check (entries since the verified checkpoint, plus the plan, step
    states and evidence, which are always checked), so a gate opens without re-walking
    a long log; ``cutover audit verify`` walks it all.
    """
    verdict = store.audit_verify(full=False)
    return None if verdict.ok else verdict.problem


def _chain_intact(store: Store, step: StepDef, target: str) -> str | None:
    if not step.kind.changes_clusters or step.kind is StepKind.UNDO:
        return None
    problem = chain_problem(store)
    if problem is None:
        return None
    return (
        f"the audit chain is broken ({problem}); gates that change a cluster stay shut "
        "(undo steps stay open): 'cutover audit verify' names it, then restore the run "
        "database from a copy or explain it before going on"
    )


def _governance_to_apply(store: Store, step: StepDef, target: str) -> str | None:
    return governance.nothing_to_apply(store) if step.id == governance.APPLY_STEP else None


def _scorecard(store: Store, step: StepDef, target: str) -> str | None:
    """A cutover gate stays shut while any scorecard area is red or grey and not waived.

    An undo (rollback, removing a fence) is never shut by the scorecard: a migration must
    never be locked half-way; its gate says so instead (:func:`preview`)."""
    if step.kind is not StepKind.CUTOVER:
        return None
    return compute(store, chain_state(store, full=False)).gate_reason()


def _approval(store: Store, step: StepDef, target: str) -> str | None:
    """A cutover gate opens only for an approver of the plan, recognised by their OS login
    (and, where the plan asks for two people, with a second approver's approval)."""
    if step.kind is not StepKind.CUTOVER:
        return None
    return approvals.cutover_blocked(store, step_key(step.id, target))


GUARDS: tuple[Guard, ...] = (
    _read_only,
    _not_built,
    _running,
    _prerequisites,
    _governance_to_apply,
    safe.guard,
    shadow.target_data_guard,
    producers.guard,
    _chain_intact,
    witness.guard,
    _scorecard,
    _approval,
)
"""Every reason a gate stays shut, checked in this order."""


def blocked(store: Store, key: str, params: dict[str, Any] | None = None) -> str | None:
    """Why a step instance's gate cannot open (with what the operator entered, for a step
    that takes more than a yes), or None."""
    return _blocked(store, key, params, GUARDS)


def waiting_on(store: Store, key: str, *, card: Scorecard | None = None) -> str | None:
    """What keeps a step instance from running now, as ``status`` and the runbook pane say
    it: its prerequisites, the scorecard, the approvals. Not the read-only guard (``status``
    reads a run database read-only), not 'not built yet' (the step says so itself), not
    what the operator has yet to enter. With ``card`` (the console's own read) the
    scorecard is not computed again, and the audit chain not walked again."""
    skip = (_read_only, _not_built)
    guards = tuple(g for g in GUARDS if g not in skip)
    if card is not None:
        reason = card.gate_reason()

        def given(store: Store, step: StepDef, target: str) -> str | None:
            return reason if step.kind is StepKind.CUTOVER else None

        # The console verifies the chain in a worker of its own and shows the verdict in
        # its header; walking it here again held every step state back until a long
        # chain was walked (once per pending step).
        guards = tuple(given if g is _scorecard else g for g in guards if g is not _chain_intact)
    return _blocked(store, key, None, guards, check=False)


def _blocked(store: Store, key: str, params, guards, *, check: bool = True) -> str | None:
    step, target = split_key(key)
    for guard in guards:
        reason = guard(store, step, target)
        if reason:
            return reason
    if not check:
        return None
    check = runner(step.id).check if available(step.id) else None
    if check is not None:
        return check(StepContext(store, key, target, params=dict(params or {})))
    return None


def preview(store: Store, key: str, params: dict[str, Any] | None = None) -> GateView:
    """The gate for a step instance: what it will read or change, and what must be typed."""
    step, target = split_key(key)
    reason = blocked(store, key, params)
    if available(step.id):
        try:
            ctx = StepContext(store, key, target, params=dict(params or {}))
            lines = runner(step.id).preview(ctx)
        except Exception as exc:  # noqa: BLE001 - a gate must open even if its preview cannot
            lines = [step.summary, f"(could not work out the details: {redact.text(str(exc))})"]
    else:
        lines = [step.summary]
    if step.kind in (StepKind.CUTOVER, StepKind.UNDO):
        lines = [*lines, *approvals.gate_lines(store, key)]
    if step.kind is StepKind.UNDO:
        shut = compute(store, chain_state(store, full=False)).gate_reason()
        if shut:
            lines.append(f"The {shut.removeprefix('scorecard: ')}: an undo stays open.")
    title = f"{step.title}: {target}" if target else step.title
    return GateView(
        key,
        title,
        lines,
        confirm_word(key),
        step.mutating,
        reason,
        _warnings(store, step, reason),
        step.kind.value,
    )


def _warnings(store: Store, step: StepDef, reason: str | None) -> tuple[str, ...]:
    """What an open gate must say: that the chain is broken, and why it is open anyway."""
    if reason is not None:
        return ()
    problem = chain_problem(store)
    if problem is None:
        return ()
    if step.kind is StepKind.UNDO:
        why = "this undo step stays open so a migration is never locked half-way"
    else:
        why = "this step changes no cluster, so its gate stays open"
    return (f"CHAIN BROKEN: {problem}; {why} (recorded with the decision)",)


def confirm_word(key: str) -> str:
    """What the operator types: the step's word, or for a targeted step its target."""
    step, target = split_key(key)
    return target or step.confirm


@dataclass(frozen=True)
class Decision:
    """Whether the gate opened, what to tell the operator, and how it ended if shut."""

    opened: bool
    message: str
    outcome: Outcome | None = None
    notes: dict[str, str] | None = None
    """What the step's own entries must carry (e.g. the broken chain it ran under)."""
    warnings: tuple[str, ...] = ()
    """What the operator must be told now (the broken chain, an unreachable witness)."""


def decide(
    store: Store,
    key: str,
    typed: str | None,
    *,
    via: str,
    params: dict[str, Any] | None = None,
) -> Decision:
    """Record the operator's gate decision, durably, before the caller may run anything.

    ``typed`` is None when the operator cancelled. A word that does not match is
    recorded only as not matching, with its length: never the text itself. ``params``
    (what the operator entered beside the word, for a step that takes more than a yes)
    is recorded with the decision; a cutover or undo decision records the approver the
    console's login maps to.
    """
    gate = preview(store, key, params)
    if store.readonly:
        return Decision(False, gate.blocked or "read-only", Outcome.BLOCKED)
    params = {
        "via": via,
        "expected": gate.confirm,
        **({"input": params} if params else {}),
        **approvals.gate_params(store, key),
    }
    problem = chain_problem(store) if gate.warnings else None
    notes = {"chain": f"BROKEN: {problem}"} if problem else {}
    params.update(notes)
    if gate.blocked:
        store.log("gate.blocked", step=key, params=params, outcome=gate.blocked)
        return Decision(False, gate.blocked, Outcome.BLOCKED)
    if typed is None:
        store.log("gate.cancelled", step=key, params=params, outcome="cancelled")
        return Decision(False, "cancelled; nothing was run", Outcome.CANCELLED)
    if typed.strip() != gate.confirm:
        store.log(
            "gate.refused",
            step=key,
            params={**params, "matched": False, "typed_length": len(typed.strip())},
            outcome="confirmation did not match",
        )
        return Decision(
            False,
            f"the confirmation did not match; type '{gate.confirm}' exactly to proceed",
            Outcome.REFUSED,
        )
    witnessed = witness.active(store)
    if witnessed:
        params["witness"] = store.plan.audit.witness_topic
    decision = store.log("gate.confirmed", step=key, params=params, outcome="confirmed")
    warnings = gate.warnings
    if witnessed:
        # Part of the gated action: the decision is durable; its head goes out before the
        # step's work, and never between gates.
        unwitnessed = witness.at_gate(store, decision, key)
        if unwitnessed:
            warnings = (*warnings, unwitnessed)
    return Decision(True, "confirmed", notes=notes or None, warnings=warnings)
