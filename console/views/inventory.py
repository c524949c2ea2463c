"""What the inventory pane shows: both clusters, the plan's topics, the consumer groups."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicRow:
    """A plan topic on both sides."""

    name: str
    risk: str
    source_partitions: int | None
    target_partitions: int | None
    source_offsets: int | None
    """Offset span (end minus start offset, over its partitions) when read: not a record
    count (transaction markers and compacted records take offsets too)."""
    target_offsets: int | None


@dataclass(frozen=True)
class GroupRow:
    """A consumer group on one side."""

    side: str
    id: str
    state: str
    members: int
    lag: int | None


@dataclass(frozen=True)
class InventoryView:
    """Everything the inventory pane shows."""

    as_of: str
    clusters: list[str]
    topics: list[TopicRow]
    groups: list[GroupRow]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
