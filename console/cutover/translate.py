"""Translating committed offsets over offset maps: pure logic, no Kafka, no SQLite.

The built-in mirror's map is a list of *runs* per partition: source offsets
``[src, src + length)`` sit at target offsets ``[tgt, tgt + length)``; every record the
mirror copied is in exactly one run, and offsets between runs are what a
read_committed reader never sees (transaction markers, aborted records, compaction gaps
on the source; the mirror's own markers on the target).

A committed offset ``C`` is the next record to read, so its translation is the target
offset of the first copied source record at or after ``C``:

* ``C`` inside a run: that record's copy.
* ``C`` in a gap between two runs: the next run's first copy (the gap holds nothing a
  consumer reads).
* ``C`` at or after the last run's end but not beyond what the mirror has read
  (``mirrored_to``, its next source offset): everything from ``C`` up to there is not a
  record, so the group resumes where the mirror's copy stands, the last run's target
  end: it neither re-reads nor skips.
* ``C`` beyond ``mirrored_to``: not translated. The mirror still has ``C - mirrored_to``
  source offsets to copy first.
* ``C`` before the first run: the records before the first copy were never mirrored
  unless they are not records at all; only the records can tell
  (:mod:`console.cutover.verify`), so the arithmetic answers "unknown".

The arithmetic is then confirmed record by record (the first record at or after ``C``
on the source must be the first record at or after the translation on the target);
nothing here claims exactness on its own for a case the records have not confirmed.

The reverse (target position to source position) works on the same runs and is what the
rollback needs: :func:`reverse_in`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Run = tuple[int, int, int]
"""``(src_start, tgt_start, length)`` of one run, as the store keeps it."""


@dataclass(frozen=True)
class Arithmetic:
    """What the map alone says about a position."""

    target_offset: int | None
    """The translation, or None when the map cannot give one."""
    case: str
    """``inside``, ``gap``, ``tail``, ``beyond``, ``before`` or ``unmapped``."""
    reason: str
    first_record: int | None = None
    """The source offset of the first copied record at or after the position, when the
    map knows it (None in the tail: the next record is not copied yet)."""
    not_copied: int | None = None
    """For ``beyond``: source offsets the mirror has still to copy before the position."""


def _src_end(run: Run) -> int:
    return run[0] + run[2]


def _tgt_end(run: Run) -> int:
    return run[1] + run[2]


def around(runs: Sequence[Run], src_offset: int) -> tuple[Run | None, Run | None]:
    """The last run starting at or before ``src_offset`` and the first one after it
    (``runs`` sorted by source start)."""
    below = above = None
    lo, hi = 0, len(runs)
    while lo < hi:  # the first run starting after the offset
        mid = (lo + hi) // 2
        if runs[mid][0] <= src_offset:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0:
        below = runs[lo - 1]
    if lo < len(runs):
        above = runs[lo]
    return below, above


def forward(runs: Sequence[Run], committed: int, mirrored_to: int | None) -> Arithmetic:
    """Translate a committed source offset with one partition's runs (sorted by source
    start; the two around the offset are enough). ``mirrored_to`` is the mirror's next
    source offset for the partition (its stored position), or None when unknown."""
    if not runs:
        if mirrored_to is not None and committed <= mirrored_to:
            return Arithmetic(
                None,
                "unmapped",
                "the mirror has read up to source offset "
                f"{mirrored_to} but copied no record of this partition yet",
            )
        return Arithmetic(None, "unmapped", "the built-in mirror has copied nothing here yet")
    below, above = around(runs, committed)
    if below is not None and committed < _src_end(below):
        return Arithmetic(
            below[1] + committed - below[0],
            "inside",
            "the copy of the record at the committed offset",
            first_record=committed,
        )
    if below is not None and above is not None:
        return Arithmetic(
            above[1],
            "gap",
            f"source offsets {_src_end(below)}..{above[0] - 1} hold no copied record "
            "(markers, aborted or compacted); resumes at the next copy",
            first_record=above[0],
        )
    if below is None:
        assert above is not None
        return Arithmetic(
            None,
            "before",
            f"the committed offset {committed} is before the first copied record "
            f"(source {above[0]}); whether offsets {committed}..{above[0] - 1} hold records "
            "only the records can tell",
            first_record=above[0],
        )
    end = _src_end(below)
    if committed == end or (mirrored_to is not None and committed <= mirrored_to):
        gap = "" if committed == end else f"; offsets {end}..{committed - 1} hold no record"
        return Arithmetic(
            _tgt_end(below),
            "tail",
            "where the copy stands: the group has read everything copied" + gap,
        )
    behind = committed - (mirrored_to if mirrored_to is not None else end)
    copied = mirrored_to if mirrored_to is not None else end
    return Arithmetic(
        None,
        "beyond",
        f"beyond the copy: the mirror has copied up to source offset {copied} and has "
        f"{behind} offset(s) still to copy before the committed offset {committed}",
        not_copied=behind,
    )


def reverse_in(
    runs: Sequence[Run], target_offset: int, *, mirrored_to: int | None = None
) -> tuple[int | None, str]:
    """The source position a target position maps back to, and how: exact inside and
    between runs (the gaps on both sides hold no record a consumer reads); at or after the
    last run's target end it is where the copy stands on the source (``mirrored_to`` when
    known, else the last run's source end); before the first run, None."""
    if not runs:
        return None, "no offset map"
    by_target = sorted(runs, key=lambda r: r[1])
    below = above = None
    for run in by_target:
        if run[1] <= target_offset:
            below = run
        else:
            above = run
            break
    if below is not None and target_offset < _tgt_end(below):
        return below[0] + target_offset - below[1], "the original of the copy there"
    if below is not None and above is not None:
        return above[0], "the original of the next copy (the target gap holds no record)"
    if below is None:
        return None, f"before the first copy (target {by_target[0][1]})"
    if mirrored_to is not None and mirrored_to >= _src_end(below):
        return mirrored_to, "where the copy stands on the source"
    return _src_end(below), "after the last copied record"


def records_between(runs: Sequence[Run], lo: int, hi: int) -> int:
    """Copied records with source offsets in ``[lo, hi)``: on the built-in path, exactly
    the committed records a read_committed consumer reads there."""
    if hi <= lo:
        return 0
    total = 0
    for start, _tgt, length in runs:
        a, b = max(lo, start), min(hi, start + length)
        if b > a:
            total += b - a
    return total


def replay_skip(
    runs: Sequence[Run], committed: int, applied_source: int
) -> tuple[int | None, int | None]:
    """Records re-read and skipped when a group at ``committed`` resumes at the target
    position that maps back to source ``applied_source``: counted over the copied records
    between the two (exact on the built-in path)."""
    if applied_source <= committed:
        return records_between(runs, applied_source, committed), 0
    return 0, records_between(runs, committed, applied_source)


def mm2_coarse(syncs: Sequence[tuple[int, int]], committed: int) -> tuple[int, int] | None:
    """MirrorMaker 2's translation of a committed offset from its offset syncs: the
    newest sync ``(upstream, downstream)`` at or before it, and the target offset MM2
    gives: ``downstream`` when the position is that sync, else ``downstream + 1`` (one
    past the synced copy, so it never skips and re-reads what lies between). None
    without a sync at or before it. Returns ``(sync index, coarse target)``."""
    best = None
    for index, (upstream, _downstream) in enumerate(syncs):
        if upstream <= committed and (best is None or upstream >= syncs[best][0]):
            best = index
    if best is None:
        return None
    upstream, downstream = syncs[best]
    return best, downstream if upstream == committed else downstream + 1
