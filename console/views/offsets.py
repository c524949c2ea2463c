"""What the offsets pane shows: per plan group a heading row, and under it one row per
partition: where the group stands on the source, where it would start on the target if
it moved now (and how that was found), what is committed on the target, and what moving
now would cost.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetRow:
    """A partition of a group, or the group's heading row when ``partition`` is None."""

    group: str
    topic: str | None
    partition: int | None
    verdict: str
    """``OK``, ``WARN``, ``RED`` or ``NO_DATA``."""
    source: str | int | None
    """Partition: the source committed offset; group: its state on the source."""
    target: str | int | None
    """Partition: the translated target offset; group: its state on the target."""
    replay: int | None
    """Records re-read if the group moved now (the group row: their sum)."""
    skip: int | None
    """Records skipped if the group moved now (the group row: their sum)."""
    method: str
    """Partition: exact, checkpoint, refined, timestamp, known point, none, not
    translated; group: the plan's strategy."""
    lag: int | None
    """Records between the committed offset and the source end (the group row: sum)."""
    target_committed: int | None
    drift: int | None
    """Target committed minus the translation (records)."""
    bound: str
    """``lo..hi`` when the exact offset is only bounded; '' when exact."""
    note: str = ""
    """In words: the reason, what is not copied yet, the members."""

    @property
    def key(self) -> str:
        if self.partition is None:
            return self.group
        return f"{self.group}/{self.topic}/{self.partition}"


@dataclass(frozen=True)
class OffsetsView:
    """Everything the offsets pane shows."""

    as_of: str | None
    stale: bool
    path: str
    lines: list[str]
    """Above the table: the sampler's state, and per group what stops it moving."""
    rows: list[OffsetRow]
