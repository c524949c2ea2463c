"""What a comparison reports: checks, verdicts, examples, and how counts become verdicts.

Plain data and pure functions, shared by the engine (:mod:`console.compare`), the
aligner (:mod:`console.compare.align`), the CLI and the view the comparison pane
renders. Nothing here touches Kafka, SQLite or Textual.

Every check ends in one of four verdicts. ``NO_DATA`` means the check could not look
at anything (one side empty, no registry configured); it is never shown or counted
as ``OK``. Count-based checks share one rule: nothing found is ``OK``; found but no
more than the plan's threshold is ``WARN`` (tolerated, still shown); more is ``RED``.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from console.errors import CutoverError, ExitCode


class Verdict(StrEnum):
    """A check's outcome. The string values are what ``--json`` and the database hold."""

    OK = "OK"
    WARN = "WARN"
    RED = "RED"
    NO_DATA = "NO_DATA"


# Worst first wins when rows are folded together: RED, then NO_DATA (nothing proven),
# then WARN, then OK. NO_DATA ranks above WARN so an unread partition never hides
# behind a tolerated difference.
SEVERITY = {Verdict.OK: 0, Verdict.WARN: 1, Verdict.NO_DATA: 2, Verdict.RED: 3}


def worst(verdicts) -> Verdict:
    """The most severe of some verdicts; NO_DATA when there are none."""
    found = [Verdict(v) for v in verdicts]
    if not found:
        return Verdict.NO_DATA
    return max(found, key=SEVERITY.__getitem__)


@dataclass(frozen=True)
class CheckDef:
    """One check the comparison makes."""

    name: str
    title: str
    required: bool
    threshold: str | None
    what: str


CHECKS: tuple[CheckDef, ...] = (
    CheckDef(
        "counts",
        "Counts",
        True,
        "max_shadow_lag_records",
        "records on each side in the window; both sides must have data",
    ),
    CheckDef(
        "missing",
        "Missing",
        True,
        "max_missing_records",
        "source records absent on the target",
    ),
    CheckDef(
        "duplicates",
        "Duplicates",
        True,
        "max_duplicate_records",
        "target records that repeat a source record already copied",
    ),
    CheckDef(
        "extra",
        "Extra",
        True,
        "max_extra_records",
        "target records the source never had",
    ),
    CheckDef(
        "order",
        "Order",
        True,
        "max_reordered_records",
        "records out of order within their partition, and within their key",
    ),
    CheckDef(
        "placement",
        "Placement",
        True,
        "max_misplaced_records",
        "keys in the same partition on both sides (partition count, partitioner)",
    ),
    CheckDef("values", "Values", True, "max_mismatched_records", "record values byte for byte"),
    CheckDef(
        "headers",
        "Headers",
        True,
        "max_mismatched_records",
        "header names, order and values (the mirror's own provenance header aside)",
    ),
    CheckDef(
        "timestamps",
        "Timestamps",
        True,
        "max_mismatched_records",
        "timestamp and timestamp type",
    ),
    CheckDef(
        "nulls",
        "Nulls",
        True,
        "max_mismatched_records",
        "null keys stay null keys, tombstones stay tombstones",
    ),
    CheckDef(
        "aborted",
        "Aborted txns",
        True,
        None,
        "records of aborted source transactions are absent on the target",
    ),
    CheckDef(
        "schema_ids",
        "Schema ids",
        True,
        None,
        "Confluent wire-format schema ids consistent between the sides",
    ),
    CheckDef(
        "schema_registry",
        "Schemas",
        False,
        None,
        "the same schema behind each id, per the plan's schema registries",
    ),
    CheckDef(
        "truncation",
        "Truncation",
        True,
        None,
        "retention truncation or topic re-creation during the window, named as such",
    ),
)

CHECK_BY_NAME = {c.name: c for c in CHECKS}
CHECK_NAMES = tuple(c.name for c in CHECKS)


def threshold(thresholds: Any, name: str | None) -> int:
    """A threshold from the plan (every one is named in ``console.plan.Thresholds``)."""
    return 0 if name is None else int(getattr(thresholds, name))


def judge_count(count: int, limit: int) -> Verdict:
    """The shared rule: 0 is OK, up to the threshold WARN, beyond it RED."""
    if count <= 0:
        return Verdict.OK
    return Verdict.WARN if count <= limit else Verdict.RED


@dataclass(frozen=True)
class Example:
    """One offending record, located well enough to fetch it with any Kafka CLI."""

    source_partition: int | None
    source_offset: int | None
    target_partition: int | None
    target_offset: int | None
    key: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Example:
        return cls(
            data.get("source_partition"),
            data.get("source_offset"),
            data.get("target_partition"),
            data.get("target_offset"),
            data.get("key"),
            data.get("detail", ""),
        )

    def where(self) -> str:
        """``src p3@1234 -> tgt p3@1240``: what an operator types into a CLI."""
        src = (
            f"src p{self.source_partition}@{self.source_offset}"
            if self.source_offset is not None
            else "src -"
        )
        tgt = (
            f"tgt p{self.target_partition}@{self.target_offset}"
            if self.target_offset is not None
            else "tgt -"
        )
        return f"{src} {tgt}"

    def line(self) -> str:
        key = "key=null" if self.key is None else f"key={self.key}"
        return f"{self.where()}  {key}  {self.detail}".rstrip()


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict for one partition (or the whole topic when partition is None)."""

    topic: str
    partition: int | None
    check: str
    verdict: Verdict
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "check": self.check,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "counts": dict(self.counts),
            "examples": [e.to_json() for e in self.examples],
        }


def display_key(key: bytes | None, limit: int = 40) -> str | None:
    """A key as an operator can read and type it: text when printable, hex otherwise."""
    if key is None:
        return None
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return text if len(text) <= limit else text[: limit - 1] + "…"
    shown = key.hex()
    return "0x" + (shown if len(shown) <= limit else shown[: limit - 1] + "…")


# -- what to compare, and what a window reported -----------------------------------------


class CompareError(CutoverError):
    """The comparison could not run; the message says why and what to do (one line)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Bound:
    """One end of a window: a source offset, or a time in epoch milliseconds."""

    kind: str
    value: int

    def text(self) -> str:
        if self.kind == "offset":
            return str(self.value)
        return datetime.fromtimestamp(self.value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d)$")


def parse_bound(text: str | None, *, now_ms: int | None = None) -> Bound | None:
    """``1234`` (offset), ``2026-11-25T12:00:00Z`` (time), or ``15m``/``2h``/``1d`` ago."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text.isdigit():
        return Bound("offset", int(text))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    relative = _RELATIVE.match(text)
    if relative:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[relative.group(2)]
        return Bound("time", now_ms - int(relative.group(1)) * unit * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CompareError(
            f"'{text}' is neither an offset, a time like 2026-11-25T12:00:00Z, nor a span "
            "ago like 15m; give --from/--to as one of those"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Bound("time", int(when.timestamp() * 1000))


@dataclass(frozen=True)
class CompareRequest:
    """What to compare."""

    topics: tuple[str, ...] = ()
    """Plan topics to compare; empty means all of them."""
    start: Bound | None = None
    end: Bound | None = None
    live: bool = False
    """Continue from the previous live window (compare only what is new)."""
    workers: int | None = None
    """Partitions compared at once; default: one per core, at least 2."""
    executor: str = "auto"
    """``thread``, ``process`` (worker processes: both cores, for big windows) or
    ``auto`` (processes from about :data:`PROCESS_FROM` records on)."""

    def label(self) -> str:
        if self.live:
            return "live (what is new since the last live window)"
        if self.start is None and self.end is None:
            return "whole retained log, up to now"
        lo = self.start.text() if self.start else "log start"
        hi = self.end.text() if self.end else "now"
        kind = (self.start or self.end).kind
        return f"{'offsets' if kind == 'offset' else 'time'} {lo} .. {hi}"

    def to_json(self) -> dict[str, Any]:
        return {
            "topics": list(self.topics),
            "from": None if self.start is None else [self.start.kind, self.start.value],
            "to": None if self.end is None else [self.end.kind, self.end.value],
            "live": self.live,
            "executor": self.executor,
        }


@dataclass
class Report:
    """One comparison window's outcome."""

    window_id: int | None
    status: str
    label: str
    started_at: str
    finished_at: str
    results: list[CheckResult]
    records: int = 0
    elapsed_s: float = 0.0
    ranges: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    cursors: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    @property
    def red(self) -> list[CheckResult]:
        return [r for r in self.results if r.verdict is Verdict.RED]

    @property
    def missing_evidence(self) -> list[CheckResult]:
        """Required checks that could not look at anything. A partition idle on both
        sides is no gap while another partition of its topic had data."""
        active = {
            r.topic
            for r in self.results
            if r.check == "counts" and r.partition is not None and not r.counts.get("idle")
        }
        return [
            r
            for r in self.results
            if r.verdict is Verdict.NO_DATA
            and CHECK_BY_NAME[r.check].required
            and not (r.counts.get("idle") and r.topic in active)
        ]

    def summary(self) -> dict[str, Any]:
        tally = {v.value: 0 for v in Verdict}
        for r in self.results:
            tally[r.verdict.value] += 1
        return {
            "window_id": self.window_id,
            "status": self.status,
            "label": self.label,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "records": self.records,
            "elapsed_s": round(self.elapsed_s, 3),
            "verdicts": tally,
            "red": [f"{r.topic}[{_p(r.partition)}] {r.check}: {r.reason}" for r in self.red][:20],
            "no_data": [
                f"{r.topic}[{_p(r.partition)}] {r.check}: {r.reason}" for r in self.missing_evidence
            ][:20],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "window": {
                "id": self.window_id,
                "status": self.status,
                "label": self.label,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "records": self.records,
                "elapsed_s": round(self.elapsed_s, 3),
                "ranges": {
                    t: {str(p): r for p, r in parts.items()} for t, parts in self.ranges.items()
                },
            },
            "summary": self.summary(),
            "results": [r.to_json() for r in self.results],
        }


def _p(partition: int | None) -> str:
    return "*" if partition is None else str(partition)
