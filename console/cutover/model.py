"""What the consumer cutover works with: a partition's position, a group's two sides, a
check and a group's whole evaluation. Plain frozen dataclasses, no I/O.

A committed offset is the NEXT record a group reads. Translating it means finding the
target offset of the first *copied* source record at or after it; the result says how
it was found (:class:`Method`), whether it is exact or only bounded, and what moving now
would cost: how many records the group would read again (``replay``) or never read
(``skip``). "Now" matters: a group still consuming moves its committed offset, and a
copy still catching up has not copied every position yet (``not_copied``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

TopicPartition = tuple[str, int]


class Method(StrEnum):
    """Where a target offset comes from (the pane and the gate show the word)."""

    EXACT = "exact"
    """The built-in mirror's exact offset map, confirmed record by record."""
    CHECKPOINT = "checkpoint"
    """MirrorMaker 2's own translation (or its offset syncs): coarse, never skips."""
    REFINED = "refined"
    """A coarse position (checkpoint or timestamp) refined by aligning the records around
    it; exact unless the neighbourhood is ambiguous, then bounded."""
    TIMESTAMP = "timestamp"
    """The target's offset for a time (reset-to-timestamp, or the external path's coarse
    position when it could not be refined)."""
    KNOWN_POINT = "known point"
    """The plan's known point for the partition (restart-from-known-point)."""
    NONE = "none"
    """Nothing committed on the source and nothing the plan sets: nothing is written."""
    UNTRANSLATED = "not translated"
    """Could not be translated (beyond the copy, no map yet, ...); the reason says why."""


@dataclass(frozen=True)
class Position:
    """One partition of a group: where it stands on the source and where it would start
    on the target if it moved now."""

    topic: str
    partition: int
    source_committed: int | None
    """The group's committed offset on the source (None: nothing committed)."""
    source_end: int | None
    """The source partition's end offset (read_committed), for the lag."""
    method: Method
    target_offset: int | None
    """What a move writes on the target (None: nothing is written for this partition)."""
    exact: bool
    """Proven exact (no record re-read, none skipped); False when bounded or unknown."""
    bound_lo: int | None = None
    bound_hi: int | None = None
    """Where the exact target offset lies when it cannot be told (target offsets)."""
    replay: int | None = None
    """Records the group reads again when it starts at ``target_offset`` (None: unknown)."""
    replay_min: int | None = None
    """The fewest records it could re-read anywhere in the bound (None: unknown)."""
    skip: int | None = None
    """Records it never reads when it starts at ``target_offset`` (None: unknown)."""
    skip_max: int | None = None
    """The most records it could skip anywhere in the bound (at ``bound_hi``)."""
    not_copied: int | None = None
    """Source offsets between what the copy has copied and the committed offset: the
    position is beyond the copy and is not translated."""
    not_copied_records: int | None = None
    """Of those, records (read_committed), when they could be counted."""
    reverse_source: int | None = None
    """The source offset ``target_offset`` maps back to (the rollback's way back)."""
    coarse_offset: int | None = None
    """The coarse position before refinement (MirrorMaker 2's checkpoint, a timestamp)."""
    coarse_replay: int | None = None
    """Records the group would re-read at the coarse position."""
    reason: str = ""
    """In words: how the offset was found, or why it was not."""
    evidence: str = ""
    """What the records showed (``source 1234 is target 1240 by provenance``)."""

    @property
    def key(self) -> str:
        return f"{self.topic}:{self.partition}"

    @property
    def lag(self) -> int | None:
        """Records between the group's position and the source end (offsets)."""
        if self.source_end is None or self.source_committed is None:
            return None
        return max(0, self.source_end - self.source_committed)

    @property
    def translated(self) -> bool:
        return self.target_offset is not None

    @property
    def bounded(self) -> bool:
        return not self.exact and self.bound_lo is not None and self.bound_hi is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["method"] = self.method.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        values = dict(data)
        values["method"] = Method(values["method"])
        return cls(**values)


ACTIVE_STATES = frozenset(
    {"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "UNKNOWN", "ASSIGNING", "RECONCILING"}
)
"""Group states that mean consumers are (or may be) running. librdkafka 2.16 knows only
the classic states: a Kafka 4 ``consumer``-protocol group that is assigning or
reconciling comes back UNKNOWN, and counts as active."""


@dataclass(frozen=True)
class Member:
    """One member of a group as the coordinator reports it."""

    member_id: str
    client_id: str
    host: str
    instance_id: str | None = None
    """``group.instance.id``: a static member, which stays in the group after its
    process stops until its session times out."""


@dataclass(frozen=True)
class GroupSide:
    """A group on one cluster: state, members and committed offsets."""

    cluster: str
    group_id: str
    state: str
    """The coordinator's word (EMPTY, STABLE, DEAD, UNKNOWN, ...); DEAD: no such group."""
    protocol: str = ""
    """``classic`` or ``consumer`` (Kafka 4's protocol), when known."""
    members: tuple[Member, ...] = ()
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    error: str | None = None
    """Why the group could not be read (then nothing else here is known)."""

    @property
    def active(self) -> bool:
        """Consumers are or may be running: members, or a state that is not at rest."""
        return self.error is not None or bool(self.members) or self.state in ACTIVE_STATES

    @property
    def static_members(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.instance_id)

    def describe(self) -> str:
        """One line: state and members."""
        if self.error:
            return f"{self.cluster}: could not read group {self.group_id} ({self.error})"
        state = "absent" if self.state == "DEAD" else self.state.lower().replace("_", " ")
        if not self.members:
            return f"{self.cluster}: {state}, no members"
        who = ", ".join(
            f"{m.client_id}@{m.host}" + (f" (static {m.instance_id})" if m.instance_id else "")
            for m in self.members[:3]
        )
        more = f" and {len(self.members) - 3} more" if len(self.members) > 3 else ""
        return f"{self.cluster}: {state}, {len(self.members)} member(s): {who}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "group_id": self.group_id,
            "state": self.state,
            "protocol": self.protocol,
            "members": [asdict(m) for m in self.members],
            "committed": {f"{t}:{p}": o for (t, p), o in sorted(self.committed.items())},
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupSide:
        committed = {}
        for key, offset in data.get("committed", {}).items():
            topic, _, partition = key.rpartition(":")
            committed[(topic, int(partition))] = offset
        return cls(
            data["cluster"],
            data["group_id"],
            data["state"],
            data.get("protocol", ""),
            tuple(Member(**m) for m in data.get("members", [])),
            committed,
            data.get("error"),
        )


VERDICTS = ("OK", "WARN", "RED", "NO_DATA")


@dataclass(frozen=True)
class Check:
    """One precondition of a group move, with the evidence it rests on."""

    name: str
    verdict: str
    """``OK``, ``WARN`` (shown, does not block), ``RED`` or ``NO_DATA`` (both block)."""
    summary: str
    evidence: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.verdict in ("RED", "NO_DATA")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "summary": self.summary,
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(data["name"], data["verdict"], data["summary"], tuple(data.get("evidence", ())))


@dataclass(frozen=True)
class Evaluation:
    """Everything a move of one group rests on, read now: both sides, every partition's
    position, and the preconditions."""

    group_id: str
    strategy: str
    path: str
    source: GroupSide
    target: GroupSide
    positions: tuple[Position, ...]
    checks: tuple[Check, ...]
    at: str
    notes: tuple[str, ...] = ()

    @property
    def blocked(self) -> list[Check]:
        return [c for c in self.checks if c.blocks]

    @property
    def ready(self) -> bool:
        return not self.blocked

    @property
    def writes(self) -> list[Position]:
        """The partitions a move writes an offset for."""
        return [p for p in self.positions if p.target_offset is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group_id,
            "strategy": self.strategy,
            "path": self.path,
            "at": self.at,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "positions": [p.to_dict() for p in self.positions],
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            data["group"],
            data["strategy"],
            data["path"],
            GroupSide.from_dict(data["source"]),
            GroupSide.from_dict(data["target"]),
            tuple(Position.from_dict(p) for p in data["positions"]),
            tuple(Check.from_dict(c) for c in data["checks"]),
            data["at"],
            tuple(data.get("notes", ())),
        )
