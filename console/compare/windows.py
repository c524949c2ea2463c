"""Where a comparison window lies in each partition, on both sides.

A window is, per partition, a source offset range and a target offset range, worked
out from what was asked (whole log, offsets, times, or live: where the last live window
stopped) and what the logs hold. Once read, :func:`recheck` looks again for retention
that ran or a topic re-created during the window, so neither is mistaken for missing
records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from console.compare.align import Bounds
from console.compare.model import CompareError
from console.compare.reader import TopicState
from console.compare.resolve import PartitionWindow, TopicWindow

# Target window padding when it is found by time: copies may carry the producer's
# timestamp (a little before) or the target's append time (after, by the copy lag).
PAD_BEFORE_MS = 5_000
PAD_AFTER_EXTRA_MS = 5_000


@dataclass
class Job:
    """One partition pair to compare: its ranges on both sides and what bounds them."""

    topic: str
    partition: int
    source: tuple[int, int]
    target: tuple[int, int]
    estimate: int
    bounds: Bounds = field(default_factory=Bounds)

    @property
    def load(self) -> int:
        """Records the job may fetch ahead on its bigger side (offsets, so a bound)."""
        return max(self.source[1] - self.source[0], self.target[1] - self.target[0], 0)


def plan_windows(
    plan, request, topics, source, target, src_states, tgt_states, previous, cutover=None
):
    """Per topic and partition, the source and target offset ranges to compare.

    Lookups by time or offset are made for every topic at once (one consumer and one
    round trip per side and kind), never topic by topic: a plan has hundreds of topics.

    ``cutover`` maps a partition to its producer cutover point ``(source offset, target
    offset, mirror stopped)``. Where every producer of the topic moved (the mirror stopped
    there), both sides end at the point: target records after it are the moved
    producers' own, expected and not extra. Where others still write the topic on the
    source, the window is not cut short; target records after the point without the
    mirror's provenance header are left out instead.

    A window that starts inside a rollback's reverse copies on the source reaches back
    on the target to their originals (:func:`_reach_originals`).
    """
    cutover = cutover or {}
    missing: dict[str, TopicWindow] = {}
    ranges: dict[str, _Ranges] = {}
    notes: dict[str, tuple[str, str]] = {}
    for topic in topics:
        src: TopicState = src_states[topic]
        tgt: TopicState = tgt_states[topic]
        for side, state in (("source", src), ("target", tgt)):
            if state.denied:
                raise CompareError(
                    f"{side}: the plan's principal may not describe topic '{topic}' "
                    f"({state.denied}); grant DESCRIBE and READ on it"
                )
        if not src.exists or not tgt.exists:
            missing[topic] = TopicWindow(
                topic,
                len(src.partitions),
                len(tgt.partitions),
                {},
                missing_side="source" if not src.exists else "target",
            )
            continue
        prev = previous.get(topic, {})
        recreated, source_recreated = _recreation(prev, src, tgt)
        notes[topic] = (recreated, source_recreated)
        r = ranges[topic] = _Ranges(src, tgt)
        if request.live:
            r.from_cursors(prev, keep_source=not source_recreated, keep_target=not recreated)
    if not request.live and (request.start is not None or request.end is not None):
        _narrow(ranges, request, source, target, plan.thresholds.max_shadow_lag_seconds)
    if not request.live and request.start is not None:
        _reach_originals(ranges, source)
    if not request.live and request.start is None:
        # Whole log: where the source's retention already ran, target records older
        # than the source's oldest one are set aside as copies of deleted records.
        trimmed = {
            (topic, p): r.s_lo[p]
            for topic, r in ranges.items()
            for p in r.parts
            if p in r.src.partitions and 0 < r.src.partitions[p].log_start == r.s_lo[p] < r.s_hi[p]
        }
        for (topic, p), ts in source.timestamps_at(trimmed).items():
            ranges[topic].first_ts[p] = ts
    windows: dict[str, TopicWindow] = {}
    jobs: list[Job] = []
    for topic in topics:
        if topic in missing:
            windows[topic] = missing[topic]
            continue
        r = ranges[topic]
        recreated, source_recreated = notes[topic]
        pws: dict[int, PartitionWindow] = {}
        for p in r.parts:
            point = cutover.get((topic, p))
            own_from = None
            if point is not None:
                src_at, tgt_at, stopped = point
                if stopped:
                    r.s_hi[p] = max(r.s_lo[p], min(r.s_hi[p], src_at))
                    r.t_hi[p] = max(r.t_lo[p], min(r.t_hi[p], tgt_at))
                    r.notes_cutover[p] = (
                        f"bounded at the cutover point (source {src_at}, target {tgt_at}): "
                        "target records after it are the moved producers' own"
                    )
                else:
                    own_from = tgt_at
                    r.notes_cutover[p] = (
                        f"target records from offset {tgt_at} on without provenance are the "
                        "moved producers' own and are left out (others still write the source)"
                    )
            pws[p] = r.window(p, recreated)
            bounds = r.bounds(p, request)
            if own_from is not None:
                bounds = replace(bounds, target_own_from=own_from)
            jobs.append(
                Job(
                    topic,
                    p,
                    (r.s_lo[p], r.s_hi[p]) if pws[p].exists_on_source else (0, 0),
                    (r.t_lo[p], r.t_hi[p]) if pws[p].exists_on_target else (0, 0),
                    max(0, r.s_hi[p] - r.s_lo[p]),
                    bounds,
                )
            )
        windows[topic] = TopicWindow(
            topic,
            len(r.src.partitions),
            len(r.tgt.partitions),
            pws,
            open_end=request.end is None,
            time_lo_ms=r.time_lo,
            time_hi_ms=r.time_hi,
            recreated=recreated,
            source_recreated=source_recreated,
        )
    return windows, jobs


def _recreation(prev: dict, src: TopicState, tgt: TopicState) -> tuple[str, str]:
    """Whether either topic was re-created since the last window (its topic id changed)."""
    ids = prev.get("topic_ids")
    notes = []
    for i, (side, state) in enumerate((("target", tgt), ("source", src))):
        before = ids[1 - i] if ids else None
        changed = before and before != state.topic_id
        notes.append(
            f"the {side} topic was re-created since window #{prev.get('window')} "
            "(its topic id changed)"
            if changed
            else ""
        )
    return notes[0], notes[1]


class _Ranges:
    """The offset ranges of one topic's partitions on both sides, being narrowed."""

    def __init__(self, src: TopicState, tgt: TopicState) -> None:
        self.src, self.tgt = src, tgt
        self.parts = sorted(set(src.partitions) | set(tgt.partitions))
        self.s_lo: dict[int, int] = {}
        self.s_hi: dict[int, int] = {}
        self.t_lo: dict[int, int] = {}
        self.t_hi: dict[int, int] = {}
        for p in self.parts:
            sp, tp = src.partitions.get(p), tgt.partitions.get(p)
            self.s_lo[p], self.s_hi[p] = (sp.log_start, sp.end) if sp else (0, 0)
            self.t_lo[p], self.t_hi[p] = (tp.log_start, tp.end) if tp else (0, 0)
        self.first_ts: dict[int, int | None] = {}
        self.last_ts: dict[int, int | None] = {}
        self.time_lo: int | None = None
        self.time_hi: int | None = None
        self.notes_src: dict[int, str] = {}
        self.notes_cutover: dict[int, str] = {}

    def from_cursors(self, prev: dict, *, keep_source: bool, keep_target: bool) -> None:
        """A live window starts where the previous live window stopped."""
        cursors = prev.get("cursors", {}) if prev.get("live") else {}
        for p in self.parts:
            cur = cursors.get(str(p))
            if cur is None:
                continue
            if keep_source:
                if cur[0] < self.s_lo[p]:
                    self.notes_src[p] = (
                        f"the source log now starts at {self.s_lo[p]}, after the previous "
                        f"window's end {cur[0]} (retention)"
                    )
                self.s_lo[p] = max(self.s_lo[p], cur[0])
            if keep_target:  # a re-created topic numbers its offsets from 0 again
                self.t_lo[p] = max(self.t_lo[p], cur[1])

    def window(self, p: int, recreated: str) -> PartitionWindow:
        sp, tp = self.src.partitions.get(p), self.tgt.partitions.get(p)
        src_note = self.notes_src.get(p, "")
        if not src_note and sp is not None and 0 < sp.log_start == self.s_lo[p]:
            # The window reaches back to the oldest record the source still has, so
            # older copies on the target are explained by the source's retention.
            src_note = (
                f"the source log starts at offset {sp.log_start}: retention or "
                "delete-records removed older records"
            )
        tgt_note = recreated
        if not tgt_note and tp is not None and 0 < tp.log_start >= self.t_lo[p]:
            tgt_note = (
                f"the target log starts at offset {tp.log_start}: retention or "
                "delete-records removed older records"
            )
        return PartitionWindow(
            p,
            self.s_lo[p],
            self.s_hi[p],
            self.t_lo[p],
            self.t_hi[p],
            source_log_start=sp.log_start if sp else 0,
            target_log_start=tp.log_start if tp else 0,
            source_truncated=src_note,
            target_truncated=tgt_note,
            exists_on_source=sp is not None,
            exists_on_target=tp is not None,
            cutover=self.notes_cutover.get(p, ""),
        )

    def bounds(self, p: int, request) -> Bounds:
        """What the aligner needs to pass over target records outside the window."""
        if request.start is not None and request.start.kind == "time":
            lo_ms = request.start.value
        else:
            lo_ms = self.first_ts.get(p)
        if request.end is not None and request.end.kind == "time":
            hi_ms = request.end.value
        else:
            hi_ms = self.last_ts[p] + 1 if self.last_ts.get(p) is not None else None
        return Bounds(
            # A live window's target may re-copy older records: duplicates, not outside.
            source_lo=0 if request.live else self.s_lo[p],
            source_hi=self.s_hi[p],
            time_lo_ms=lo_ms,
            time_hi_ms=hi_ms,
        )


def _narrow(ranges: dict[str, _Ranges], request, source, target, lag_s: float) -> None:
    """--from/--to: source offsets or times; the target range follows by time, padded."""
    lag_ms = int(lag_s * 1000)
    kind = (request.start or request.end).kind
    if kind == "offset":
        filled: dict[tuple[str, int], int] = {}
        for topic, r in ranges.items():
            for p in r.parts:
                if request.start is not None:
                    r.s_lo[p] = max(r.s_lo[p], min(request.start.value, r.s_hi[p]))
                if request.end is not None:
                    r.s_hi[p] = max(r.s_lo[p], min(request.end.value, r.s_hi[p]))
                if r.s_hi[p] > r.s_lo[p]:
                    filled[(topic, p)] = r.s_lo[p]
        first = source.timestamps_at(filled)
        last = (
            source.timestamps_at({(t, p): ranges[t].s_hi[p] - 1 for t, p in filled})
            if request.end is not None
            else {}
        )
        for (topic, p), ts in first.items():
            ranges[topic].first_ts[p] = ts
        for (topic, p), ts in last.items():
            ranges[topic].last_ts[p] = ts
        for r in ranges.values():
            known_lo = [v for v in r.first_ts.values() if v is not None]
            known_hi = [v for v in r.last_ts.values() if v is not None]
            r.time_lo = min(known_lo) if known_lo else None
            r.time_hi = max(known_hi) + 1 if known_hi else None
    else:
        for r in ranges.values():
            r.time_lo = request.start.value if request.start is not None else None
            r.time_hi = request.end.value if request.end is not None else None
        _time_bounds(source, ranges, "source", 0, pad=False)
    _time_bounds(target, ranges, "target", lag_ms)


def _reach_originals(ranges: dict[str, _Ranges], source) -> None:
    """A window that starts inside a rollback's reverse copies reaches back on the target
    to the originals they copy.

    A reverse copy keeps the timestamp of the target record it copies, but sits on the
    source after everything written before the rollback; its transaction markers carry the
    time of the rollback. A window by time (or by source offset) can therefore start in the
    middle of the reverse copies while the target range, found by time, starts after their
    originals: each copy would read as missing on the target. The first record of the
    source window names its original exactly; the target range starts there instead (the
    originals after it follow in the same order as their copies)."""
    starts = {
        (topic, p): r.s_lo[p]
        for topic, r in ranges.items()
        for p in r.parts
        if r.s_hi[p] > r.s_lo[p] and p in r.tgt.partitions
    }
    for (topic, p), origin in source.reverse_origins_at(starts).items():
        if origin is None or origin[0] != p:
            continue  # a reverse copy lands in its original's partition number
        r = ranges[topic]
        if origin[1] < r.t_lo[p]:
            r.t_lo[p] = max(origin[1], r.tgt.partitions[p].log_start)


def _time_bounds(side, ranges: dict[str, _Ranges], which: str, lag_ms: int, *, pad=True):
    """Narrow offset ranges to each topic's time span (padded on the target side)."""

    def sides(r: _Ranges):
        return (r.s_lo, r.s_hi) if which == "source" else (r.t_lo, r.t_hi)

    starts = {}
    for topic, r in ranges.items():
        lo, hi = sides(r)
        if r.time_lo is not None:
            start = r.time_lo - (PAD_BEFORE_MS if pad else 0)
            starts.update({(topic, p): start for p in r.parts if hi[p] > lo[p]})
    for (topic, p), offset in side.offsets_for_times(starts).items():
        lo, hi = sides(ranges[topic])
        lo[p] = hi[p] if offset is None else max(lo[p], offset)
    ends = {}
    for topic, r in ranges.items():
        lo, hi = sides(r)
        if r.time_hi is not None:
            end = r.time_hi + ((lag_ms + PAD_AFTER_EXTRA_MS) if pad else 0)
            ends.update({(topic, p): end for p in r.parts if hi[p] > lo[p]})
    for (topic, p), offset in side.offsets_for_times(ends).items():
        lo, hi = sides(ranges[topic])
        if offset is not None:
            hi[p] = max(lo[p], min(hi[p], offset))


def recheck(windows, source, target, topics, src_states, tgt_states, vanished):
    """Look again once read: retention that ran or a topic re-created during the window."""
    tgt_now = target.topic_states(topics)
    src_now = source.topic_states(topics)
    out = {}
    for topic, window in windows.items():
        if window.missing_side:
            out[topic] = window
            continue
        recreated = window.recreated
        then, now = tgt_states[topic], tgt_now[topic]
        if not now.exists or now.topic_id != then.topic_id or topic in vanished:
            recreated = recreated or "the target topic was deleted or re-created during the window"
        source_recreated = window.source_recreated
        s_then, s_now = src_states[topic], src_now[topic]
        if not s_now.exists or s_now.topic_id != s_then.topic_id:
            source_recreated = (
                source_recreated or "the source topic was deleted or re-created during the window"
            )
        parts = {}
        for p, pw in window.partitions.items():
            src_note, tgt_note = pw.source_truncated, pw.target_truncated
            sp = s_now.partitions.get(p)
            tp = now.partitions.get(p)
            if sp is not None and sp.log_start > pw.source_lo and not src_note:
                src_note = (
                    f"source retention removed records up to offset {sp.log_start} during the "
                    "window"
                )
            if tp is not None and tp.log_start > pw.target_lo and not tgt_note:
                tgt_note = (
                    f"target retention removed records up to offset {tp.log_start} during the "
                    "window"
                )
            if recreated:
                tgt_note = recreated
            parts[p] = PartitionWindow(
                pw.partition,
                pw.source_lo,
                pw.source_hi,
                pw.target_lo,
                pw.target_hi,
                sp.log_start if sp is not None else pw.source_log_start,
                tp.log_start if tp is not None else pw.target_log_start,
                src_note,
                tgt_note,
                pw.exists_on_target,
                pw.exists_on_source,
                pw.cutover,
            )
        out[topic] = TopicWindow(
            topic,
            window.source_partitions,
            window.target_partitions,
            parts,
            window.open_end,
            window.time_lo_ms,
            window.time_hi_ms,
            recreated,
            source_recreated,
        )
    return out
