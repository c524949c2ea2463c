"""Bytes per second from sampled series: pure functions over rows, no Kafka, no SQLite.

* **Appended** (per side and topic): the sum over partitions of each step's growth of
  the leader's log size, over the window's time span. A step in which the size fell
  (retention deleted a segment) is left out: its appends are not known, so the rate is
  then a lower bound, and the notes say how many steps were left out.
* **Bytes per offset** (per side and partition): log growth over end-offset growth, on
  steps where both grew. It turns record positions into bytes.
* **Copy read** (per topic): the copy's source position (the lag samples' ``mirrored``)
  advancing, times the source's bytes per offset: what the copy fetched from the source.
* **Consumed** (per side, group and topic): committed offsets advancing, times that
  side's bytes per offset. A group that commits after processing reads at least this.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Rates:
    """Measured byte rates over one window of sampling rounds."""

    first_ts: str | None
    last_ts: str | None
    rounds: int
    appended: dict[tuple[str, str], float] = field(default_factory=dict)
    """(side, topic) -> bytes/s appended to the log."""
    bytes_per_offset: dict[tuple[str, str, int], float] = field(default_factory=dict)
    copy_read: dict[str, float] = field(default_factory=dict)
    """topic -> bytes/s the copy read from the source."""
    consumed: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """(side, group, topic) -> bytes/s the group's committed position advanced by; absent
    when any of its partitions could not be turned into bytes."""
    dropped_steps: int = 0
    """Steps left out because a log shrank (retention) in them."""


def seconds(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _span(first: str, last: str) -> float:
    return max(0.0, seconds(last) - seconds(first))


def compute(
    sizes: list[tuple],
    lag: list[tuple],
    groups: list[tuple],
) -> Rates:
    """Rates from ``byte_samples`` rows ``(round, ts, side, topic, partition, log_bytes,
    end_offset)``, lag rows ``(round, ts, topic, partition, source_end, mirrored, ...)``
    and ``group_samples`` rows ``(round, ts, side, group, topic, partition, committed)``."""
    if not sizes:
        return Rates(None, None, 0)
    stamps = sorted({(r[0], r[1]) for r in sizes})
    first_round, first_ts = stamps[0]
    last_round, last_ts = stamps[-1]
    span = _span(first_ts, last_ts)
    series: dict[tuple[str, str, int], list[tuple]] = defaultdict(list)
    for row in sorted(sizes, key=lambda r: r[0]):
        series[(row[2], row[3], row[4])].append(row)
    appended: dict[tuple[str, str], float] = defaultdict(float)
    per_offset: dict[tuple[str, str, int], float] = {}
    dropped = 0
    for key, rows in series.items():
        grown = 0
        paired_bytes = paired_offsets = 0
        for before, after in zip(rows, rows[1:], strict=False):
            delta = after[5] - before[5]
            if delta < 0:
                dropped += 1
                continue
            grown += delta
            if before[6] is not None and after[6] is not None and after[6] > before[6] and delta:
                paired_bytes += delta
                paired_offsets += after[6] - before[6]
        if span > 0:
            appended[(key[0], key[1])] += grown / span
        if paired_offsets:
            per_offset[key] = paired_bytes / paired_offsets
    copy_read: dict[str, float] = defaultdict(float)
    window_lag = [r for r in lag if first_round <= r[0] <= last_round and r[5] is not None]
    lag_series: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    for row in sorted(window_lag, key=lambda r: r[0]):
        lag_series[(row[2], row[3])].append(row)
    unknown_copy: set[str] = set()
    for (topic, partition), rows in lag_series.items():
        ratio = per_offset.get(("source", topic, partition))
        lag_span = _span(rows[0][1], rows[-1][1]) if len(rows) > 1 else 0.0
        moved = max(0, rows[-1][5] - rows[0][5])
        if lag_span <= 0 or (moved and ratio is None):
            unknown_copy.add(topic)  # unknown, never counted as zero
            continue
        # A copy that did not move read nothing, whatever a record weighs.
        copy_read[topic] += moved * (ratio or 0.0) / lag_span
    consumed: dict[tuple[str, str, str], float] = defaultdict(float)
    partial: set[tuple[str, str, str]] = set()
    group_series: dict[tuple[str, str, str, int], list[tuple]] = defaultdict(list)
    for row in sorted(groups, key=lambda r: r[0]):
        if first_round <= row[0] <= last_round:
            group_series[(row[2], row[3], row[4], row[5])].append(row)
    for (side, group, topic, partition), rows in group_series.items():
        # The same records sit on both sides; the other side's size per record will do
        # where this side's log did not grow in the window.
        other = "target" if side == "source" else "source"
        ratio = per_offset.get((side, topic, partition), per_offset.get((other, topic, partition)))
        group_span = _span(rows[0][1], rows[-1][1]) if len(rows) > 1 else 0.0
        moved = max(0, rows[-1][6] - rows[0][6])
        if group_span <= 0 or (moved and ratio is None):
            partial.add((side, group, topic))  # unknown, never counted as zero
            continue
        consumed[(side, group, topic)] += moved * (ratio or 0.0) / group_span
    return Rates(
        first_ts,
        last_ts,
        len(stamps),
        dict(appended),
        per_offset,
        {k: v for k, v in copy_read.items() if k not in unknown_copy},
        {k: v for k, v in consumed.items() if k not in partial},
        dropped,
    )
