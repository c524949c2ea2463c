"""What the lag pane shows: one row per partition (and topic totals), and the pane's view.

:class:`LagRow` is the one lag row type: the sampler's trend verdict for a partition
(:func:`console.shadow.lag.judge`) is the row the pane renders, and a topic's total is
the same type with ``partition`` None.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LagRow:
    """A partition's lag and its trend verdict, or a topic's total when ``partition`` is
    None."""

    topic: str
    partition: int | None
    verdict: str
    """``OK``, ``WARN``, ``RED`` or ``NO_DATA``."""
    trend: str
    """``steady``, ``catching up``, ``growing``, ``stalled`` or ``no data``; on a topic
    row, how many partitions it sums."""
    lag_records: int | None
    lag_seconds: float | None
    source_end: int | None
    mirrored: int | None
    history: list[int] = field(default_factory=list)
    """Recent lag samples, oldest first (records)."""
    eta_seconds: float | None = None
    """When a partition catching up will have caught up (seconds)."""
    reason: str = ""
    """Why the verdict, in words."""

    @property
    def key(self) -> str:
        """Stable identity, so the pane updates rows in place."""
        return self.topic if self.partition is None else f"{self.topic}/{self.partition}"


@dataclass(frozen=True)
class LagView:
    """Everything the lag pane shows."""

    as_of: str | None
    stale: bool
    path: str
    processes: list[str]
    rows: list[LagRow]
    exact: bool = True
