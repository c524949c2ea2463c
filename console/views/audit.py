"""What the audit pane shows: the newest entries of the chain."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the audit pane shows it."""

    seq: int
    time: str
    actor: str
    action: str
    step: str
    outcome: str
