"""How a status reads, everywhere: a glyph and a word first, colour only as a bonus.

One table for step states (``pending`` ... ``cancelled``) and verdicts (``OK``, ``WARN``,
``RED``, ``NO_DATA``), so the same meaning has the same look in every pane and on the
command line. Operators on a 16-colour SSH terminal or with ``NO_COLOR=1`` read the
word; the colour (a Rich style name) is extra. Widgets render it through
:mod:`widgets.style`; the command line prints :meth:`Status.label`.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN = "-"
"""What a figure that is not known reads as, in every pane and table."""


@dataclass(frozen=True)
class Status:
    """One status as the operator reads it."""

    glyph: str
    word: str
    style: str
    """A Rich style name; never the only carrier of meaning."""

    @property
    def label(self) -> str:
        """Glyph and word, e.g. ``✗ RED``."""
        return f"{self.glyph} {self.word}" if self.glyph else self.word


STATUS: dict[str, Status] = {
    # Step states (console.plan.steps.StepState values).
    "pending": Status("·", "PENDING", "dim"),
    "running": Status("▶", "RUNNING", "bold yellow"),
    "passed": Status("✓", "PASSED", "bold green"),
    "failed": Status("✗", "FAILED", "bold red"),
    "cancelled": Status("⊘", "CANCELLED", "yellow"),
    "blocked": Status("■", "BLOCKED", "magenta"),
    "waived": Status("~", "WAIVED", "cyan"),
    # Recorded as running, but its process is gone (what read-only readers show).
    "interrupted": Status("✗", "INTERRUPTED", "bold red"),
    # Verdicts (comparison checks, lag trends). NO DATA is never OK: it draws the eye
    # like BLOCKED, because a step with a gap in its evidence does not pass.
    "OK": Status("✓", "OK", "green"),
    "WARN": Status("!", "WARN", "yellow"),
    "RED": Status("✗", "RED", "bold red"),
    "NO_DATA": Status("?", "NO DATA", "magenta"),
    # Background processes (shadow consumers, samplers) as the processes table reads them.
    "RUNNING": Status("▶", "RUNNING", "bold green"),
    "STARTING": Status("…", "STARTING", "yellow"),
    "STOPPING": Status("…", "STOPPING", "yellow"),
    "STOPPED": Status("■", "STOPPED", "dim"),
    "FAILED": Status("✗", "FAILED", "bold red"),
    "STALE": Status("!", "STALE", "bold yellow"),
    "DEAD": Status("✗", "DEAD", "bold red"),
    # Consumer group states (a source group beside the shadow consumer standing in for it).
    "STABLE": Status("●", "STABLE", "green"),
    "EMPTY": Status("○", "EMPTY", "dim"),
    "REBALANCING": Status("…", "REBALANCING", "yellow"),
    "ABSENT": Status("?", "ABSENT", "magenta"),
    # Governance decisions (console.governance): undecided draws the eye like NO DATA.
    "undecided": Status("?", "UNDECIDED", "magenta"),
    "accept": Status("✓", "ACCEPT", "green"),
    "apply": Status("→", "APPLY", "yellow"),
    "skip": Status("·", "SKIP", "dim"),
    # Scorecard areas (console.scorecard.model.Colour). GREY is missing evidence: never
    # green, and it shuts cutover gates like RED until waived.
    "GREEN": Status("✓", "GREEN", "bold green"),
    "YELLOW": Status("!", "YELLOW", "yellow"),
    "GREY": Status("?", "GREY", "magenta"),
    # Notes beside a verdict.
    "NOTE": Status("", "NOTE", "yellow"),
}


def status(key: str) -> Status:
    """The look of a step state or verdict; an unknown one still reads as its word."""
    return STATUS.get(key) or Status("?", key.upper().replace("_", " "), "")
