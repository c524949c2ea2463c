"""What the scorecard pane shows: the six areas, each with its colour and why, whether it
is waived or needs an owner, and what that means for the cutover gates. Never an overall
score: the pane has no place for one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AreaRow:
    """One area as the pane lists it."""

    id: str
    title: str
    colour: str
    """``GREEN``, ``YELLOW``, ``GREY`` or ``RED`` (read through the one status table)."""
    why: str
    """The line that says why, from the worst finding or the judgement."""
    flag: str = ""
    """What a person did or must do, in a few words: ``waived 11-30``, ``NEEDS OWNER``,
    ``retest 11-27``, ``by hand``."""
    detail_flag: str = ""
    """The same in full: who waived it, who owns it."""
    blocking: bool = False
    """It shuts the cutover gates (red or grey, not waived)."""


@dataclass(frozen=True)
class ScorecardView:
    """Everything the scorecard pane shows."""

    rows: tuple[AreaRow, ...]
    gates: str
    """One line: whether the cutover gates may open as far as the scorecard goes."""
    as_of: str
    """Which audit entry and time it is judged at."""
    detail: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per area: everything about it, for the detail screen (rule, findings with their
    evidence, owner, waiver, history)."""
    gates_short: str = ""
    """The same in a few words, for the pane's title: ``cutover gates SHUT``."""
