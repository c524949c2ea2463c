"""What the runbook pane and the step detail pane show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepView:
    """One step as the runbook pane shows it."""

    id: str
    phase: str
    """The phase's title, shown as a heading."""
    title: str
    state: str
    """'' for the heading of a step run per group or class."""
    available: bool
    instance: bool = False
    """One group's or class's instance of a targeted step: indented under its heading."""


@dataclass(frozen=True)
class StepDetail:
    """What the step detail pane shows for the highlighted step."""

    title: str
    phase: str
    summary: str
    state: str
    reason: str
    updated_at: str
    available: bool
    confirm: str
    progress: str = ""
    now: str = ""
    """What the step's background work is doing now (its reason is what it did when it
    ran): e.g. ``now: mirror STOPPED · sampler STOPPED``."""
    blocked: str = ""
    """What keeps its gate shut now: ``blocked by: inventory (must pass first)``, the
    scorecard, the approvals."""
