"""What the comparison pane shows: rows per topic and check, their partitions, and a row
in full. The engine folds stored results into these (:mod:`console.compare.view`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.views.status import status


@dataclass(frozen=True)
class ResultRow:
    """One line of the pane: a topic's check, or one partition of it."""

    topic: str
    partition: int | None
    """None on a topic row (all partitions folded, or a topic-wide check)."""
    check: str
    verdict: str
    """``OK``, ``WARN``, ``RED`` or ``NO_DATA``."""
    count: int | None
    """The check's headline figure (records), None when it has none."""
    source: int | None
    """Source records in the window (records)."""
    target: int | None
    """Target records in the window (records)."""
    reason: str
    examples: tuple[str, ...] = ()
    """Offending records, one line each: partition and offset on each side, key, what."""
    partitions: int = 0
    """On a topic row: how many partition rows it folds."""
    label: str = ""
    """The check's short name, for narrow columns."""
    title: str = ""
    """The check's name in full."""
    what: str = ""
    """What the check looks at, in a sentence."""

    @property
    def key(self) -> str:
        """Stable identity, so the pane updates rows in place."""
        part = "*" if self.partition is None else str(self.partition)
        return f"{self.topic}/{self.check}/{part}"


@dataclass(frozen=True)
class WindowInfo:
    """Which comparison the rows come from."""

    id: int
    started_at: str
    finished_at: str | None
    status: str
    """``running``, ``done``, ``cancelled`` or ``failed``."""
    label: str
    """What was compared, in words (``whole log``, ``offsets 100..200``, ``live, 4 windows``)."""
    records: int
    """Source records compared (records)."""


@dataclass(frozen=True)
class ComparisonView:
    """Everything the comparison pane shows."""

    window: WindowInfo | None
    rows: tuple[ResultRow, ...] = ()
    """One per topic and check, in the checks' order."""
    detail: dict[str, tuple[ResultRow, ...]] = field(default_factory=dict)
    """Per topic row key: its partition rows (and topic-wide row)."""
    progress: str | None = None
    """A running comparison's progress, in words; None when none runs."""
    red: int = 0
    no_data: int = 0


def detail_lines(row: ResultRow, window: WindowInfo | None) -> tuple[str, list[str]]:
    """A row in full, for a detail screen: verdict, reason, then every example."""
    where = row.topic if row.partition is None else f"{row.topic}[{row.partition}]"
    title = f"{where} · {row.title or row.check}"
    verdict = status(row.verdict).word
    lines = [f"{verdict}  {row.reason}", ""]
    if row.what:
        lines.append(f"Checks: {row.what}.")
    if window is not None:
        lines.append(
            f"Window #{window.id} ({window.label}), started {window.started_at}, {window.status}"
        )
    if row.source is not None or row.target is not None:
        lines.append(f"Records: source {row.source}, target {row.target}")
    lines.append("")
    if row.examples:
        lines.append("First examples (fetch one with e.g. kafka-console-consumer")
        lines.append("  --topic T --partition P --offset O --max-messages 1):")
        lines.extend(f"  {e}" for e in row.examples)
    else:
        lines.append("No examples.")
    return title, lines
