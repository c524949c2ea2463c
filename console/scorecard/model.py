"""What a scorecard is made of: colours, findings with the evidence behind them, areas,
and the state of the cutover gates. Plain frozen data; :mod:`console.scorecard.card`
builds it, the export and the console's presentation render it.

There is deliberately no field for an overall score: the six areas stand on their own
(a green for cost does not make up for a red on offset recovery).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Colour(StrEnum):
    """An area's colour. GREY is missing evidence: never green, and it shuts cutover
    gates like RED does until someone waives it."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    GREY = "GREY"
    RED = "RED"

    @property
    def rank(self) -> int:
        """Worse is higher: RED over GREY (a finding beats a gap), GREY over YELLOW."""
        return _RANK[self]

    @property
    def blocks(self) -> bool:
        """Whether it shuts the cutover gates unless waived."""
        return self in (Colour.RED, Colour.GREY)


_RANK = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.GREY: 2, Colour.RED: 3}


def worst(colours) -> Colour:
    colours = list(colours)
    return max(colours, key=lambda c: c.rank) if colours else Colour.GREY


@dataclass(frozen=True)
class EvidenceRef:
    """A piece of stored evidence a finding rests on."""

    kind: str
    id: int | None
    """The evidence row (None for what is not a row: the plan, the audit chain)."""
    at: str
    """When it was recorded (UTC)."""
    what: str
    """Where it comes from, in words: ``step compare``, ``window #4``."""


@dataclass(frozen=True)
class Finding:
    """What one rule found: a colour, a line saying why, and the evidence behind it."""

    rule: str
    colour: Colour
    text: str
    evidence: tuple[EvidenceRef, ...] = ()
    details: tuple[str, ...] = ()
    """More lines, for the detail view and the Markdown."""


@dataclass(frozen=True)
class Owner:
    """Who owns a red area and when it is tested again."""

    name: str
    retest: str
    """The retest date (UTC, ISO 8601)."""
    recorded_by: str
    """The OS user who recorded it."""
    at: str
    seq: int


@dataclass(frozen=True)
class Waiver:
    """An approver's waiver of a red or grey area, in force until it expires."""

    id: int
    """The mark's id: a second approver approves ``waiver:<id>``."""
    approver: str
    os_user: str
    reason: str
    expires: str
    at: str
    seq: int
    colour: str
    """The area's colour when it was waived."""
    approved_by: tuple[str, ...] = ()
    """The second approvers, where the plan asks for two people."""
    needs_second: bool = False
    """The plan asks for two people and no second approver has approved it yet."""


@dataclass(frozen=True)
class Judgement:
    """An approver's judgement of an area the plan has judged by hand."""

    colour: Colour
    note: str
    approver: str
    os_user: str
    at: str
    seq: int


@dataclass(frozen=True)
class HistoryItem:
    """One recorded decision on an area, as the history lists it."""

    seq: int
    at: str
    os_user: str
    ssh_client: str | None
    what: str


@dataclass(frozen=True)
class AreaCard:
    """One area of the scorecard."""

    id: str
    title: str
    colour: Colour
    """What the area is: the rules' worst, or the judgement where judged by hand."""
    rule: str
    """The rule, in words (also in the README)."""
    findings: tuple[Finding, ...]
    by_hand: bool = False
    judgement: Judgement | None = None
    owner: Owner | None = None
    waiver: Waiver | None = None
    """The waiver in force now (expired and withdrawn ones are only history)."""
    pending_waiver: Waiver | None = None
    """A waiver waiting for its second approver."""
    history: tuple[HistoryItem, ...] = ()
    lapsed_waiver: Waiver | None = None
    """With no waiver in force: the newest one that expired (never a withdrawn one), so a
    review sees that the area was waived and is no longer."""

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def blocking(self) -> bool:
        """It shuts the cutover gates: RED or GREY and not waived."""
        return self.colour.blocks and not self.waived

    @property
    def needs_owner(self) -> bool:
        """A red area without an owner and a retest date."""
        return self.colour is Colour.RED and self.owner is None

    @property
    def summary(self) -> str:
        """The line that says why, from the worst finding (or the judgement)."""
        if self.by_hand:
            if self.judgement is None:
                return "judged by hand; no approver has judged it yet"
            return f"judged by {self.judgement.approver}: {self.judgement.note}"
        bad = [f for f in self.findings if f.colour is self.colour]
        return bad[0].text if bad else (self.findings[0].text if self.findings else "")


@dataclass(frozen=True)
class ChainState:
    """What the scorecard knows of the audit chain."""

    ok: bool | None
    """None: not verified."""
    entries: int = 0
    problem: str | None = None
    depth: str = "full"
    """``full`` (every entry) or ``since checkpoint``."""


@dataclass(frozen=True)
class GateState:
    """Whether one cutover gate may open as far as the scorecard goes."""

    step: str
    open: bool
    reason: str


@dataclass(frozen=True)
class Scorecard:
    """The six areas as of one audit entry. No overall score, by design."""

    plan: str
    as_of_seq: int
    as_of: str
    """The time of that entry (UTC): evidence up to it counts, waivers are judged at it."""
    areas: tuple[AreaCard, ...]
    chain: ChainState
    gates: tuple[GateState, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    judged_at: str = ""
    """When evidence age and waiver expiry were judged (UTC): now, or the entry's time."""

    def area(self, area_id: str) -> AreaCard:
        return next(a for a in self.areas if a.id == area_id)

    @property
    def blocking(self) -> list[AreaCard]:
        """The areas that shut the cutover gates now."""
        return [a for a in self.areas if a.blocking]

    def gate_reason(self) -> str | None:
        """Why the cutover gates stay shut, naming every area; None when they may open."""
        if not self.blocking:
            return None
        parts = []
        for colour, word in ((Colour.RED, "RED"), (Colour.GREY, "GREY (no usable evidence)")):
            names = [a.id for a in self.blocking if a.colour is colour]
            if names:
                parts.append(f"{word} {', '.join(names)}")
        return f"scorecard: {'; '.join(parts)}; not waived (see 'cutover scorecard')"


# -- time ---------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """A stored or typed UTC time; ``Z`` or an offset; a naive time is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_until(text: str) -> datetime:
    """A date or time an operator types for a retest date or an expiry. A date alone
    means the end of that day (UTC): 'until 2026-12-01' includes the first of December.
    ValueError with what to type otherwise."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(milliseconds=1)
        return parse_time(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date; type YYYY-MM-DD (the end of that day, UTC) or "
            "YYYY-MM-DDTHH:MM:SSZ"
        ) from None


def iso(value: datetime) -> str:
    """A time as the run database stores it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
