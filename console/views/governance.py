"""What the governance pane shows: each difference with its decision and who made it.

Built from the latest ``governance`` evidence by :func:`console.tui.present.governance_view`;
rendered by :mod:`widgets.governance_pane`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GovernanceRow:
    """One difference between source and target."""

    number: int
    """Its number in the listing, as ``cutover governance --decide N`` takes it."""
    key: str
    kind: str
    what: str
    source: str
    target: str
    decision: str | None
    """accept, apply, skip, or None while undecided."""
    decided_by: str | None
    decided_at: str | None
    reason: str
    fix: str | None
    why_not: str


@dataclass(frozen=True)
class GovernanceView:
    """The latest governance diff."""

    as_of: str
    rows: list[GovernanceRow]
    counts: dict[str, int]
    """items, undecided, accept, apply, skip."""
    not_compared: list[str] = field(default_factory=list)
    """``quotas: why`` lines: what was not compared, said out loud."""
    problems: list[str] = field(default_factory=list)
