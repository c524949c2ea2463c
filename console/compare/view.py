"""What the comparison pane shows, built from stored results: plain data, no I/O.

The pane (``widgets/comparison_pane.py``) renders a
:class:`~console.views.comparison.ComparisonView`; the console builds one with
:func:`console.compare.history.load_view` in a worker thread. One row
per topic and check folds the partitions together (worst verdict wins; partitions
idle on both sides are left out unless all are); drilling down shows the partitions
of that row, then one row's reason and examples in full.
"""

from __future__ import annotations

from console.compare.model import CHECK_BY_NAME, CHECK_NAMES, CheckResult, Verdict, worst
from console.views.comparison import ComparisonView, ResultRow, WindowInfo

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
        **_names(r.check),
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
        topic,
        None,
        check,
        verdict.value,
        headline,
        source,
        target,
        reason,
        examples,
        len(found),
        **_names(check),
    )


def _names(check: str) -> dict[str, str]:
    """A check's short label, full title and description, for the row."""
    found = CHECK_BY_NAME.get(check)
    return {
        "label": SHORT.get(check, check),
        "title": found.title if found else check,
        "what": found.what if found else "",
    }
