"""What the comparison pane shows, built from stored results: plain data, no I/O.

The pane (``widgets/comparison_pane.py``) renders a :class:`ComparisonView`; the
console builds one with :func:`console.compare.load_view` in a worker thread. One row
per topic and check folds the partitions together (worst verdict wins; partitions
idle on both sides are left out unless all are); drilling down shows the partitions
of that row, then one row's reason and examples in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.compare.model import CHECK_BY_NAME, CHECK_NAMES, CheckResult, Verdict, worst

# The figure each check's row shows in its count column.
HEADLINE = {
    "counts": "matched",
    "missing": "missing",
    "duplicates": "duplicates",
    "extra": "extra",
    "order": "reordered",
    "placement": "misplaced",
    "values": "values",
    "headers": "headers",
    "timestamps": "timestamps",
    "nulls": "nulls",
    "aborted": "aborted",
    "schema_ids": "wire_records",
    "schema_registry": "pairs",
    "truncation": None,
}

SHORT = {
    "counts": "counts",
    "missing": "missing",
    "duplicates": "dups",
    "extra": "extra",
    "order": "order",
    "placement": "placement",
    "values": "values",
    "headers": "headers",
    "timestamps": "times",
    "nulls": "nulls",
    "aborted": "aborted",
    "schema_ids": "schema id",
    "schema_registry": "schemas",
    "truncation": "truncated",
}


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

    @property
    def key(self) -> str:
        """Stable identity, so the pane updates rows in place."""
        part = "*" if self.partition is None else str(self.partition)
        return f"{self.topic}/{self.check}/{part}"

    @property
    def label(self) -> str:
        return SHORT.get(self.check, self.check)


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


def _headline(check: str, counts: dict) -> int | None:
    name = HEADLINE.get(check)
    if name is None:
        return sum(v for k, v in counts.items() if k.startswith("truncated")) if counts else None
    return counts.get(name)


def result_row(r: CheckResult) -> ResultRow:
    """A stored result as a pane row (a partition row, or a topic-wide one)."""
    counts = r.counts or {}
    return ResultRow(
        r.topic,
        r.partition,
        r.check,
        r.verdict.value,
        _headline(r.check, counts),
        counts.get("source") if r.check == "counts" else None,
        counts.get("target") if r.check == "counts" else None,
        r.reason,
        tuple(e.line() for e in r.examples),
    )


def build_view(
    window: WindowInfo | None, results: list[CheckResult], progress: str | None = None
) -> ComparisonView:
    """Fold per-partition results into one row per topic and check."""
    groups: dict[tuple[str, str], list[CheckResult]] = {}
    topics: list[str] = []
    for r in results:
        if r.topic not in topics:
            topics.append(r.topic)
        groups.setdefault((r.topic, r.check), []).append(r)
    rows: list[ResultRow] = []
    detail: dict[str, tuple[ResultRow, ...]] = {}
    for topic in topics:
        for check in CHECK_NAMES:
            found = groups.get((topic, check))
            if not found:
                continue
            row = _fold(topic, check, found)
            rows.append(row)
            detail[row.key] = tuple(
                result_row(r)
                for r in sorted(found, key=lambda r: -1 if r.partition is None else r.partition)
            )
    red = sum(1 for r in rows if r.verdict == Verdict.RED.value)
    no_data = sum(
        1 for r in rows if r.verdict == Verdict.NO_DATA.value and CHECK_BY_NAME[r.check].required
    )
    return ComparisonView(window, tuple(rows), detail, progress, red, no_data)


def _fold(topic: str, check: str, found: list[CheckResult]) -> ResultRow:
    active = [r for r in found if not (r.counts or {}).get("idle")]
    judged = active or found
    verdict = worst(r.verdict for r in judged)
    headline: int | None = None
    source = target = None
    for r in judged:
        h = _headline(check, r.counts or {})
        if h is not None:
            headline = (headline or 0) + h
        if check == "counts":
            source = (source or 0) + (r.counts or {}).get("source", 0)
            target = (target or 0) + (r.counts or {}).get("target", 0)
    # The reason of the worst row speaks for the fold, with how many partitions share it.
    lead = next(r for r in judged if r.verdict == verdict)
    parts = [r for r in judged if r.partition is not None]
    bad = [r for r in parts if r.verdict == verdict]
    reason = lead.reason
    if check == "counts" and verdict is Verdict.OK and source is not None:
        matched = sum((r.counts or {}).get("matched", 0) for r in judged)
        reason = f"{source:,} source and {target:,} target records; {matched:,} matched"
    elif lead.partition is not None and len(parts) > 1 and verdict is not Verdict.OK:
        reason = f"{len(bad)} of {len(parts)} partitions: {lead.reason}"
    examples = tuple(e.line() for r in judged for e in r.examples)[:10]
    return ResultRow(
        topic, None, check, verdict.value, headline, source, target, reason, examples, len(found)
    )


def detail_lines(row: ResultRow, window: WindowInfo | None) -> tuple[str, list[str]]:
    """A row in full, for a detail screen: verdict, reason, then every example."""
    what = CHECK_BY_NAME.get(row.check)
    where = row.topic if row.partition is None else f"{row.topic}[{row.partition}]"
    title = f"{where} · {what.title if what else row.check}"
    verdict = "NO DATA" if row.verdict == Verdict.NO_DATA.value else row.verdict
    lines = [f"{verdict}  {row.reason}", ""]
    if what is not None:
        lines.append(f"Checks: {what.what}.")
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
