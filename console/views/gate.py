"""What a gate shows before the operator decides: the one gate preview type.

:func:`console.runbook.gate.preview` builds it and the gate dialog renders it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateView:
    """A step's gate: what it will read or change, and the word that opens it."""

    step: str
    title: str
    lines: list[str]
    """Exactly what will be read or changed, one line each."""
    confirm: str
    """What the operator must type."""
    mutating: bool
    """Whether it changes a cluster (the dialog says CHANGES CLUSTERS or READ-ONLY)."""
    blocked: str | None
    """Why the gate cannot open at all (read-only replay, not built yet, running, a
    broken audit chain for a step that changes a cluster)."""
    warnings: tuple[str, ...] = ()
    """What the operator must know before deciding a gate that stays open, e.g. that the
    audit chain is broken and this undo step is open so a migration is never stuck."""
    kind: str = ""
    """The step's kind (``read``, ``change``, ``cutover``, ``undo``, ``local``): a
    ``local`` gate changes only the run database."""
