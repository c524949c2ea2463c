"""What the safe consumers pane shows: each shadow consumer, and beside it the source
group it stands in for, in the same columns so like is compared with like."""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR_KINDS = ("deserialization", "schema", "order", "authorization")


@dataclass(frozen=True)
class SafeRow:
    """A shadow consumer (``side == 'shadow'``) or its source group (``'source'``)."""

    consumer: str
    side: str
    label: str
    state: str
    """A status key: a process state (``RUNNING``, ``STALE``, ``DEAD``...) or, for a source
    group, its group state in capitals (``STABLE``, ``EMPTY``)."""
    records: int | None
    """Records processed (shadow) or committed (source) so far."""
    rate: float | None
    """Records per second over the recent reports; None until two exist."""
    lag: int | None
    error_rates: dict[str, float | None] = field(default_factory=dict)
    """Errors per minute by kind; None where the kind cannot be seen (a team's command)."""

    @property
    def key(self) -> str:
        return f"{self.consumer}/{self.side}"

    @property
    def error_rate(self) -> float | None:
        known = [v for v in self.error_rates.values() if v is not None]
        return sum(known) if known else None


@dataclass(frozen=True)
class SafeView:
    """Everything the safe consumers pane shows."""

    as_of: str | None
    lines: list[str]
    """One line per consumer: principal, group, sink; then its errors by kind."""
    rows: list[SafeRow]
    stale: bool = False
