"""The runbook's phases and steps, and what each step's gate shows.

This is data, not behaviour: which steps exist, in which phase and order, what
an operator must type to open each gate, and whether the step can run in this
version. :mod:`console.runbook` runs them; a step without a runner in
:mod:`console.runbook.registry` is listed but its gate stays shut. Phases and steps are
known by id; their titles are only for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StepState(StrEnum):
    """Where a step stands. Shown as a word as well as a colour."""

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """The operator cancelled it while it ran; nothing it would have recorded was."""
    BLOCKED = "blocked"
    WAIVED = "waived"


@dataclass(frozen=True)
class PhaseDef:
    """One phase of the runbook."""

    id: str
    title: str


PHASES: tuple[PhaseDef, ...] = (
    PhaseDef("inventory", "Inventory"),
    PhaseDef("shadow", "Shadow path"),
    PhaseDef("safe-consumers", "Safe consumers"),
    PhaseDef("comparison", "Comparison"),
    PhaseDef("cutover", "Cutover and rollback"),
)
PHASE_BY_ID = {phase.id: phase for phase in PHASES}


@dataclass(frozen=True)
class StepDef:
    """One step of the runbook."""

    id: str
    phase: str
    """The id of its phase (see :data:`PHASES`)."""
    title: str
    summary: str
    confirm: str
    mutating: bool

    @property
    def phase_title(self) -> str:
        return PHASE_BY_ID[self.phase].title


STEPS: tuple[StepDef, ...] = (
    StepDef(
        "inventory",
        "inventory",
        "Read both clusters",
        "Brokers and versions, topics, partitions, configs, ACLs, consumer groups with "
        "members and committed offsets, from source and target; read-only.",
        confirm="inventory",
        mutating=False,
    ),
    StepDef(
        "shadow-start",
        "shadow",
        "Start shadow copy",
        "Copy the plan's topics from source to target with the built-in mirror.",
        confirm="start-mirror",
        mutating=True,
    ),
    StepDef(
        "shadow-stop",
        "shadow",
        "Stop shadow copy",
        "Stop the built-in mirror or remove the MirrorMaker 2 connectors; the target keeps "
        "what was copied.",
        confirm="stop-mirror",
        mutating=True,
    ),
    StepDef(
        "shadow-lag",
        "shadow",
        "Shadow lag in bounds",
        "The copy keeps up: lag steady or catching up over the trend window.",
        confirm="shadow-lag",
        mutating=False,
    ),
    StepDef(
        "safe-consumers",
        "safe-consumers",
        "Start safe consumers",
        "Shadow-only group ids and credentials on the target, safe sinks only.",
        confirm="safe-consumers",
        mutating=True,
    ),
    StepDef(
        "compare",
        "comparison",
        "Compare both sides",
        "Counts, missing, duplicates, order, keys, values, headers, timestamps, schema ids.",
        confirm="compare",
        mutating=False,
    ),
    StepDef(
        "cutover-consumers",
        "cutover",
        "Move consumer groups",
        "Translate committed offsets source to target for one group, apply, verify.",
        confirm="<group id>",
        mutating=True,
    ),
    StepDef(
        "cutover-producers",
        "cutover",
        "Move producers",
        "Point one producer class at the target; the source stops receiving its writes.",
        confirm="<producer class>",
        mutating=True,
    ),
    StepDef(
        "rollback-window",
        "cutover",
        "Hold rollback window",
        "Reverse translation ready; target-only records listed.",
        confirm="rollback-window",
        mutating=False,
    ),
)

BY_ID = {step.id: step for step in STEPS}


def step_def(step_id: str) -> StepDef:
    """The definition of a step, or KeyError with the known ids in the message."""
    try:
        return BY_ID[step_id]
    except KeyError:
        known = ", ".join(BY_ID)
        raise KeyError(f"no step '{step_id}'; the steps are: {known}") from None
