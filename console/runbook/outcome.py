"""How a step ends, and what a step runner is: the types every runner module shares.

A runner module (``inventory``, ``shadow``, ``compare``) provides, per step, a function
that runs it and one that says what its gate shows; :mod:`console.runbook.registry`
lists them. Runners return a :class:`StepOutcome`; the console and the command line
report an :class:`Outcome`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from console.errors import Progress
from console.plan.steps import StepState
from console.store import Store


class Outcome(StrEnum):
    """How a gate and the step behind it ended, as the operator is told."""

    PASSED = "passed"
    """The step ran and passed."""
    FAILED = "failed"
    """The step ran and failed, or could not run (a cluster, a password)."""
    CANCELLED = "cancelled"
    """The operator cancelled: at the gate, or while the step ran."""
    REFUSED = "refused"
    """The gate stayed shut: what was typed did not match."""
    BLOCKED = "blocked"
    """The gate could not open: replay, a step not built yet, or already running."""


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended."""

    step: str
    state: StepState
    reason: str
    evidence_id: int | None
    detail: dict[str, Any] | None = None

    @property
    def outcome(self) -> Outcome:
        if self.state is StepState.PASSED:
            return Outcome.PASSED
        if self.state is StepState.CANCELLED:
            return Outcome.CANCELLED
        return Outcome.FAILED


Reveal = Callable[[str, str], None]
"""``reveal(what, secret)``: show a secret to the operator once (the terminal, a dialog)."""


@dataclass(frozen=True)
class StepContext:
    """What a runner or a gate preview gets: the run, which instance, and the means to
    report progress, notice cancellation and audit its sub-steps."""

    store: Store
    key: str
    """The step instance: ``inventory`` or ``move-group:billing``."""
    target: str = ""
    """The group, class, ... a targeted step runs on; '' for a step run once."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when the operator cancels; check it between requests."""
    progress: Progress = lambda _text: None
    started_seq: int | None = None
    """The ``step.started`` entry of this run (None in a gate preview)."""
    reveal: Reveal | None = None
    """Shows a secret to the operator once (a generated password), never logged or
    stored; None where nobody is there to read it, and then a step must not make one."""
    params: dict[str, Any] = field(default_factory=dict)
    """What the operator entered beside the confirmation word, for a step that takes
    more than a yes (a scorecard decision: owner and retest date, waiver reason and
    expiry). Recorded in the gate's decision entry."""

    @property
    def plan(self):
        return self.store.plan

    def log(self, action: str, **kwargs: Any):
        """Audit a sub-step of this run (intent before, result after), referring back to
        the run's start entry unless ``ref`` says otherwise."""
        kwargs.setdefault("ref", self.started_seq)
        return self.store.log(action, step=self.key, **kwargs)


Runner = Callable[[StepContext], StepOutcome]
"""Runs a step whose gate was confirmed; checks ``ctx.cancel`` between requests."""
Previewer = Callable[[StepContext], list[str]]
"""The lines its gate shows: exactly what will be read or changed."""
Reporter = Callable[[dict[str, Any]], list[str]]
"""Lines ``cutover step`` prints under the outcome, from the step's evidence."""
Checker = Callable[[StepContext], "str | None"]
"""Why this run, with what the operator entered (``ctx.params``), cannot go ahead; the
gate shows it and stays shut. None: it may."""


@dataclass(frozen=True)
class StepRunner:
    """What makes a step runnable."""

    run: Runner
    preview: Previewer
    report: Reporter | None = None
    check: Checker | None = None
