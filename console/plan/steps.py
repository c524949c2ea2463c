"""The runbook's phases and steps, and what each step's gate shows.

This is data, not behaviour: which steps exist, in which phase and order, what
an operator must type to open each gate, and whether the step can run in this
version. :mod:`console.runbook` runs them; a step without a runner in
:mod:`console.runbook.registry` is listed but its gate stays shut. Phases and steps are
known by id; their titles are only for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from console.plan.model import AREAS, Plan


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
    PhaseDef("review", "Readiness review"),
    PhaseDef("cutover", "Cutover and rollback"),
)
PHASE_BY_ID = {phase.id: phase for phase in PHASES}


class StepKind(StrEnum):
    """What a step may do; the gate's guards and the operator read it."""

    READ = "read"
    """Reads clusters, changes nothing on them."""
    CHANGE = "change"
    """Changes a cluster (starts a copy, creates topics, ACLs, users)."""
    CUTOVER = "cutover"
    """Moves consumer groups or producers: a change the scorecard and approvals guard too."""
    UNDO = "undo"
    """Undoes a cutover (rollback, removing a fence): never locked by a broken chain or a
    red scorecard, so a migration is never stuck half-way; the gate says why it is open."""
    LOCAL = "local"
    """Changes only the run database (decisions, waivers, closing a window)."""

    @property
    def changes_clusters(self) -> bool:
        return self in (StepKind.CHANGE, StepKind.CUTOVER, StepKind.UNDO)


@dataclass(frozen=True)
class StepDef:
    """One step of the runbook."""

    id: str
    phase: str
    """The id of its phase (see :data:`PHASES`)."""
    title: str
    summary: str
    confirm: str
    """The word that opens the gate; for a targeted step, the target's name is typed."""
    kind: StepKind
    target: str | None = None
    """None for a step run once; otherwise what it runs on, one instance per name
    (``"group"``: a consumer group of the plan)."""
    requires: tuple[str, ...] = ()
    """Steps that must have PASSED before this one's gate opens."""

    @property
    def phase_title(self) -> str:
        return PHASE_BY_ID[self.phase].title

    @property
    def mutating(self) -> bool:
        """Whether it changes a cluster (the gate says CHANGES CLUSTERS)."""
        return self.kind.changes_clusters


STEPS: tuple[StepDef, ...] = (
    StepDef(
        "inventory",
        "inventory",
        "Read both clusters",
        "Brokers and versions, topics, partitions, configs, ACLs, consumer groups with "
        "members and committed offsets, from source and target; read-only.",
        confirm="inventory",
        kind=StepKind.READ,
    ),
    StepDef(
        "witness",
        "inventory",
        "Create audit witness",
        "Creates the append-only witness topic the plan names on the target (and grants the "
        "witness principal WRITE on it only); from then on every gate records the audit "
        "chain's head there.",
        confirm="witness",
        kind=StepKind.CHANGE,
    ),
    StepDef(
        "governance",
        "inventory",
        "Compare governance",
        "ACLs, SCRAM users, topic configs, partitions, client quotas and schema subjects "
        "of the plan's topics, groups and principals, source against target; read-only.",
        confirm="governance",
        kind=StepKind.READ,
    ),
    StepDef(
        "governance-apply",
        "inventory",
        "Apply governance to target",
        "Create the ACLs and set the topic configs decided 'apply' on the target; "
        "never the source.",
        confirm="apply-governance",
        kind=StepKind.CHANGE,
        requires=("governance",),
    ),
    StepDef(
        "shadow-start",
        "shadow",
        "Start shadow copy",
        "Copy the plan's topics from source to target with the built-in mirror.",
        confirm="start-mirror",
        kind=StepKind.CHANGE,
        # The gate says which topics it would create, from what the inventory found.
        requires=("inventory",),
    ),
    StepDef(
        "shadow-stop",
        "shadow",
        "Stop shadow copy",
        "Stop the built-in mirror or remove the MirrorMaker 2 connectors; the target keeps "
        "what was copied.",
        confirm="stop-mirror",
        kind=StepKind.CHANGE,
        # No prerequisite: stopping must stay possible whatever state a failed start left.
    ),
    StepDef(
        "shadow-lag",
        "shadow",
        "Shadow lag in bounds",
        "The copy keeps up: lag steady or catching up over the trend window.",
        confirm="shadow-lag",
        kind=StepKind.READ,
        requires=("shadow-start",),
    ),
    StepDef(
        "ops-drill",
        "shadow",
        "Operations drill",
        "Restart one target broker while the copy runs and record how lag and the copy "
        "recovered: the failure drill the operations area of the scorecard rests on.",
        confirm="ops-drill",
        kind=StepKind.CHANGE,
        # A drill on a copy that does not keep up measures nothing: lag first.
        requires=("shadow-lag",),
    ),
    StepDef(
        "safe-consumers",
        "safe-consumers",
        "Start safe consumers",
        "Validation consumers on the target as their own shadow principals, with shadow "
        "group ids and safe sinks only; refused if a principal could touch production.",
        confirm="safe-consumers",
        kind=StepKind.CHANGE,
        # They read the copy on the target.
        requires=("shadow-start",),
    ),
    StepDef(
        "safe-consumers-stop",
        "safe-consumers",
        "Stop safe consumers",
        "Stop every shadow consumer process and the source-group sampler; their progress "
        "and errors stay in the run database.",
        confirm="stop-safe-consumers",
        kind=StepKind.CHANGE,
    ),
    StepDef(
        "safe-identities-remove",
        "safe-consumers",
        "Remove shadow identities",
        "Delete from the target exactly the SCRAM users and ACLs the console created for "
        "the shadow consumers; sink topics and the source are left as they are.",
        confirm="remove-shadow-identities",
        kind=StepKind.CHANGE,
    ),
    StepDef(
        "compare",
        "comparison",
        "Compare both sides",
        "Counts, missing, duplicates, order, keys, values, headers, timestamps, schema ids.",
        confirm="compare",
        kind=StepKind.READ,
        requires=("inventory", "shadow-start"),
    ),
    StepDef(
        "scorecard",
        "review",
        "Scorecard decision",
        "Record a decision on one area of the readiness scorecard: the owner and retest "
        "date of a red area, a waiver by an approver, or the judgement of an area the plan "
        "has judged by hand. Changes only the run database.",
        confirm="<area>",
        kind=StepKind.LOCAL,
        target="area",
    ),
    StepDef(
        "move-group",
        "cutover",
        "Move consumer group",
        "Translate one group's committed offsets source to target, apply, verify.",
        confirm="<group id>",
        kind=StepKind.CUTOVER,
        target="group",
        requires=("compare",),
    ),
    StepDef(
        "rollback-drill",
        "cutover",
        "Rehearse rollback",
        "The rollback path end to end on rehearsal topics, a rehearsal group and a "
        "rehearsal user it creates and removes: fence, switch, target-only writes, reverse "
        "copy, group back, unfence. The producer moves need it passed.",
        confirm="rollback-drill",
        kind=StepKind.CHANGE,
    ),
    StepDef(
        "move-producers",
        "cutover",
        "Move producers",
        "Point one producer class at the target: fence it on the source, wait for quiet, "
        "drain the copy, record the cutover point, open the target, switch.",
        confirm="<producer class>",
        kind=StepKind.CUTOVER,
        target="class",
        requires=("compare", "rollback-drill"),
    ),
    StepDef(
        "rollback-window",
        "cutover",
        "Hold rollback window",
        "Reads both clusters: per partition the records that exist only on the target, "
        "which groups read them, and when replay rather than rollback becomes the plan.",
        confirm="rollback-window",
        kind=StepKind.READ,
    ),
    StepDef(
        "rollback",
        "cutover",
        "Roll back producers",
        "Fence the class on the target, bring its target-only records back to the source "
        "exactly once (or list them), move its groups back, unfence the source, switch back.",
        confirm="<producer class>",
        kind=StepKind.UNDO,
        target="class",
    ),
    StepDef(
        "rollback-window-close",
        "cutover",
        "Close rollback window",
        "Decide that replay, not rollback, is the recovery plan from now on; changes only "
        "the run database.",
        confirm="close-rollback-window",
        kind=StepKind.LOCAL,
    ),
)

BY_ID = {step.id: step for step in STEPS}

# A prerequisite that is not a step could never pass: fail at import, not at a gate.
_UNKNOWN = [(s.id, r) for s in STEPS for r in s.requires if r not in BY_ID]
if _UNKNOWN:
    raise ValueError(f"steps require steps the runbook does not define: {_UNKNOWN}")


def step_def(step_id: str) -> StepDef:
    """The definition of a step, or KeyError with the known ids in the message."""
    try:
        return BY_ID[step_id]
    except KeyError:
        known = ", ".join(BY_ID)
        raise KeyError(f"no step '{step_id}'; the steps are: {known}") from None


# A targeted step runs once per name of its target kind; the plan says which names exist.
TARGET_LISTERS: dict[str, Callable[[Plan], list[str]]] = {
    "group": lambda plan: [group.id for group in plan.groups],
    "class": lambda plan: [cls.name for cls in plan.producers],
    "area": lambda plan: list(AREAS),
}


def targets(plan: Plan, step: StepDef) -> list[str]:
    """The names a targeted step runs on, in plan order; [''] for a step run once."""
    if step.target is None:
        return [""]
    return TARGET_LISTERS[step.target](plan)


def step_key(step_id: str, target: str = "") -> str:
    """How a step instance is named in the audit log, the CLI and the console:
    ``inventory``, or ``move-group:billing`` for a targeted step."""
    return f"{step_id}:{target}" if target else step_id


def def_of(key: str) -> StepDef:
    """The definition behind a step key, or behind a targeted step's own id."""
    return step_def(key.partition(":")[0])


def split_key(key: str) -> tuple[StepDef, str]:
    """A step key's definition and target; KeyError for an unknown step, ValueError for a
    targeted step without its target or an untargeted one with one."""
    step_id, _, target = key.partition(":")
    step = step_def(step_id)
    if step.target and not target:
        raise ValueError(f"step '{step_id}' runs on one {step.target} at a time; name it")
    if not step.target and target:
        raise ValueError(f"step '{step_id}' takes no {target!r}: it runs once")
    return step, target
