"""Where each partition of a group would start on the target: translation per shadow path
and per strategy, each confirmed by reading records.

* **translate** on the built-in mirror: the exact map (:mod:`console.cutover.translate`),
  then the records: the first record at or after the committed offset on the source must
  be the first record at or after the translation on the target (the copy's provenance
  header names its original). Only then is it ``exact``; if the map and the records
  disagree, the partition is not translated and the reason says so.
* **translate** on MirrorMaker 2: its checkpoint (or its offset syncs) gives a coarse
  position; the records from the sync point on are aligned on both sides
  (:mod:`console.cutover.refine`) to the exact position, or a bound.
* **translate** on an external link: a timestamp lookup on the target gives the coarse
  position, refined the same way.
* **reset-to-timestamp**: the target's offset for the plan's time (past the newest
  record: the end); **restart-from-known-point**: the plan's offsets. Both are what the
  plan says; what they cost against the source position is shown where the map can
  count it.

A partition with no committed offset on the source is shown as such (nothing is
written; the consumers' ``auto.offset.reset`` applies there).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from console.cutover import translate
from console.cutover.clients import Side, Sides, Window, at_once
from console.cutover.model import Method, Position
from console.cutover.refine import Rec, Refinement, refine
from console.cutover.translate import Run
from console.plan import GroupSpec, Plan
from console.shadow import mm2
from console.store import Store

TP = tuple[str, int]

BUILTIN = "builtin"
ALIGNED = "aligned"
"""``offset_runs`` path of the exact pairs found by aligning records (MM2, external)."""

LOOKAHEAD = 16
"""Records read past the committed offset when aligning (records)."""
MAX_WINDOW = 20_000
"""The most records read on one side to refine one partition (records)."""
COUNT_CAP = 10_000
"""Records counted at most to say how many the copy still has to copy (records)."""


@dataclass
class Context:
    """What the positions of one group are worked out from."""

    store: Store
    plan: Plan
    group: GroupSpec
    sides: Sides
    deadline: float
    committed: dict[TP, int]
    partitions: list[TP]
    """Every partition of the group's topics on the source."""
    source_ends: dict[TP, int]
    mirrored: dict[TP, int] = field(default_factory=dict)
    """The copy's next source offset per partition (built-in mirror or MM2), if known."""
    notes: list[str] = field(default_factory=list)
    mirrored_from: str = ""
    """Where ``mirrored`` was read from (MirrorMaker 2), for the gate."""
    mm2_found: Mm2Found | None = None
    """MirrorMaker 2's state, read by the caller already (alongside its other reads)."""
    source_starts: dict[TP, int] | None = None
    """The source's log start per partition, when the caller read it already (with the
    ends, in the same round trip); read here otherwise."""


def positions(ctx: Context) -> list[Position]:
    """Every partition of the group, in topic and partition order."""
    group = ctx.group
    if group.offset_strategy == "reset-to-timestamp":
        return _reset_to_timestamp(ctx)
    if group.offset_strategy == "restart-from-known-point":
        return _known_point(ctx)
    path = ctx.plan.shadow.path
    if path == BUILTIN:
        return _builtin(ctx)
    if path == "mirrormaker2":
        return _mm2(ctx)
    return _external(ctx)


def _nothing_committed(ctx: Context, tp: TP) -> Position:
    reset = ctx.group.auto_offset_reset
    what = {
        "latest": "they start at the end of the target partition (records written on the "
        "source meanwhile and copied are not read)",
        "earliest": "they start at the beginning of the target partition (everything the "
        "copy holds is read)",
        "none": "they stop with an error there",
    }[reset]
    return Position(
        tp[0],
        tp[1],
        None,
        ctx.source_ends.get(tp),
        Method.NONE,
        None,
        False,
        reason=f"no committed offset on the source: nothing is written; the consumers' "
        f"auto.offset.reset={reset} applies, so {what}",
    )


# -- the built-in mirror ----------------------------------------------------------------------


def mirror_positions(ctx: Context) -> dict[TP, int]:
    """The built-in mirror's stored positions for the group's partitions."""
    keys = set(ctx.partitions)
    timeout = max(1.0, ctx.deadline - time.monotonic())
    found = ctx.sides.target.mirror_positions(ctx.plan, keys, timeout)
    return {k: v for k, v in found.items() if k in keys}


def _runs_around(store: Store, tp: TP, offset: int, path: str = BUILTIN) -> list[Run]:
    return sorted(store.offsets.runs_around(tp[0], tp[1], offset, path))


def _builtin(ctx: Context) -> list[Position]:
    keyed = [tp for tp in ctx.partitions if ctx.committed.get(tp) is not None]
    # The records confirm (or refute) every translation: first record at or after the
    # committed offset on the source, first record at or after the translation on the
    # target, in one read per side for all partitions. The source's read needs only the
    # committed offsets, so it runs while the target side is read (the copy's positions,
    # then the records at the translations). At or past the source's end there is no
    # record to read yet: nothing to fetch there.
    src_first: dict[TP, Rec | None] = {
        tp: None for tp in keyed if ctx.committed[tp] >= ctx.source_ends.get(tp, 0)
    }
    src_wanted = {tp: ctx.committed[tp] for tp in keyed if tp not in src_first}

    def first() -> dict[TP, Rec | None]:
        return ctx.sides.source.first_records(src_wanted, ctx.deadline)

    if ctx.mirrored:  # read already (the step's checks): no second read to overlap with
        found = first()
    else:
        found, ctx.mirrored = at_once(first, lambda: mirror_positions(ctx))
    src_first.update(found)
    out: dict[TP, Position] = {}
    arith: dict[TP, translate.Arithmetic] = {}
    for tp in ctx.partitions:
        committed = ctx.committed.get(tp)
        if committed is None:
            out[tp] = _nothing_committed(ctx, tp)
            continue
        arith[tp] = translate.forward(
            _runs_around(ctx.store, tp, committed), committed, ctx.mirrored.get(tp)
        )
    targets = {tp: a.target_offset for tp, a in arith.items() if a.target_offset is not None}
    tgt_end = ctx.sides.target.ends(list(targets), ctx.deadline) if targets else {}
    readable = {tp: t for tp, t in targets.items() if t <= tgt_end.get(tp, -1)}
    tgt_first = ctx.sides.target.first_records(readable, ctx.deadline)
    for tp, a in arith.items():
        out[tp] = _confirm_builtin(
            ctx, tp, a, src_first.get(tp), tgt_first.get(tp), tp in readable, tgt_end.get(tp)
        )
    return [out[tp] for tp in ctx.partitions]


def _confirm_builtin(
    ctx: Context,
    tp: TP,
    a: translate.Arithmetic,
    src: Rec | None,
    tgt: Rec | None,
    readable: bool,
    tgt_end: int | None,
) -> Position:
    committed = ctx.committed[tp]
    mirrored = ctx.mirrored.get(tp)
    base = _base(ctx, tp, committed)
    if a.case == "beyond":
        counted = None
        if mirrored is not None:
            counted = ctx.sides.source.count_records(
                tp, mirrored, committed, COUNT_CAP, ctx.deadline
            )
        if counted == 0:
            # Nothing but markers or aborted records between the copy and the position:
            # it IS copied; the group resumes where the copy stands.
            runs = _runs_around(ctx.store, tp, committed)
            last = runs[-1] if runs else None
            a = translate.Arithmetic(
                last[1] + last[2] if last else None,
                "tail",
                f"source offsets {mirrored}..{committed - 1} hold no committed record, so the "
                "position is copied; resumes where the copy stands",
            )
            if a.target_offset is None:
                return replace(base, reason="nothing of this partition is copied yet")
            return _builtin_again(ctx, tp, a, base)
        records = "" if counted is None else f" ({counted:,} record(s))"
        return replace(
            base,
            not_copied=a.not_copied,
            not_copied_records=counted,
            reason=f"{a.reason}{records}; wait for the copy to catch up",
        )
    if a.case == "before":
        # Offsets before the first copy: only if they hold no record is the first copy
        # where the group resumes.
        if src is not None and a.first_record is not None and src.offset == a.first_record:
            first = _runs_around(ctx.store, tp, committed)[0]
            a = translate.Arithmetic(
                first[1],
                "gap",
                f"source offsets {committed}..{a.first_record - 1} hold no committed record; "
                "resumes at the first copy",
                first_record=a.first_record,
            )
            return _builtin_again(ctx, tp, a, base)
        where = src.offset if src is not None else committed
        return replace(
            base,
            skip=None,
            reason=f"{a.reason}: the source has record {where} there, which the mirror never "
            "copied (it started later); moving would skip it",
        )
    if a.case == "unmapped":
        if src is None and mirrored is not None and committed <= mirrored:
            end = tgt_end
            if end is None:
                end = ctx.sides.target.ends([tp], ctx.deadline).get(tp)
            first = (
                ctx.sides.target.first_records({tp: end}, ctx.deadline).get(tp)
                if end is not None
                else None
            )
            if end is not None and first is None:
                return replace(
                    base,
                    method=Method.EXACT,
                    target_offset=end,
                    exact=True,
                    bound_lo=end,
                    bound_hi=end,
                    replay=0,
                    replay_min=0,
                    skip=0,
                    skip_max=0,
                    reverse_source=committed,
                    reason="nothing to read on either side from here: resumes at the target's end",
                    evidence=f"no record at or after source {committed} nor target {end}",
                )
        return replace(base, reason=a.reason)
    return _judge_builtin(ctx, tp, a, src, tgt, readable, tgt_end, base)


def _builtin_again(ctx: Context, tp: TP, a: translate.Arithmetic, base: Position) -> Position:
    """Confirm a translation found on a second look (one partition, read on its own)."""
    committed = ctx.committed[tp]
    src = ctx.sides.source.first_records({tp: committed}, ctx.deadline).get(tp)
    end = ctx.sides.target.ends([tp], ctx.deadline).get(tp)
    readable = a.target_offset is not None and end is not None and a.target_offset <= end
    tgt = (
        ctx.sides.target.first_records({tp: a.target_offset}, ctx.deadline).get(tp)
        if readable
        else None
    )
    return _judge_builtin(ctx, tp, a, src, tgt, readable, end, base)


def _judge_builtin(
    ctx: Context,
    tp: TP,
    a: translate.Arithmetic,
    src: Rec | None,
    tgt: Rec | None,
    readable: bool,
    tgt_end: int | None,
    base: Position,
) -> Position:
    """The map's answer against the records at both ends."""
    committed = ctx.committed[tp]
    target = a.target_offset
    assert target is not None
    if not readable:
        return replace(
            base,
            reason=f"the map says target {target}, but the target partition ends at "
            f"{tgt_end}: the map does not match the target (recreated topic?)",
        )
    mirrored = ctx.mirrored.get(tp)
    if tgt is not None:
        if tgt.origin is None or tgt.origin[0] != tp[1]:
            return replace(
                base,
                reason=f"target record {tgt.offset} (the first at or after {target}) was not "
                "written by the mirror for this partition: the map cannot be confirmed",
            )
        origin = tgt.origin[1]
        if origin < committed:
            behind = 0
            if src is not None:
                behind = translate.records_between(
                    ctx.store.offsets.runs_between(tp[0], tp[1], BUILTIN, origin, committed),
                    origin,
                    committed,
                )
            return replace(
                base,
                replay=behind or None,
                reason=f"target {tgt.offset} holds the copy of source {origin}, which the group "
                "has already read: the stored map is behind the copy (restart the mirror to "
                "repair it, then look again)",
                evidence=f"target {tgt.offset} is source {origin} by provenance",
            )
        if src is not None and origin > src.offset:
            return replace(
                base,
                skip=None,
                reason=f"source record {src.offset} has no copy at or after target {target} "
                f"(the first copy there is of source {origin}): moving would skip it",
                evidence=f"target {tgt.offset} is source {origin} by provenance",
            )
        if (
            src is not None
            and origin == src.offset
            and (tgt.key, tgt.value) != (src.key, src.value)
        ):
            return replace(
                base,
                reason=f"target {tgt.offset} claims to copy source {origin} but its key or value "
                "differs",
            )
        if src is not None and origin == src.offset:
            evidence = f"source {src.offset} is target {tgt.offset} (provenance and content)"
        else:
            evidence = (
                f"target {tgt.offset} copies source {origin}, which the source no longer has "
                "(compacted or deleted after it was copied); nothing before it is re-read"
            )
    else:
        if src is not None and mirrored is not None and src.offset < mirrored:
            return replace(
                base,
                reason=f"source record {src.offset} was copied (the mirror is at {mirrored}) but "
                f"no copy is at or after target {target}: the map does not match the target",
            )
        if src is not None:
            evidence = (
                f"source record {src.offset} is not copied yet; its copy will land at or after "
                f"target {target}"
            )
        else:
            evidence = f"no record at or after source {committed} nor target {target} yet"
    reverse, _how = translate.reverse_in(
        sorted(ctx.store.offsets.runs_around_target(tp[0], tp[1], target, BUILTIN)),
        target,
        mirrored_to=mirrored,
    )
    return replace(
        base,
        method=Method.EXACT,
        target_offset=target,
        exact=True,
        bound_lo=target,
        bound_hi=target,
        replay=0,
        replay_min=0,
        skip=0,
        skip_max=0,
        reverse_source=reverse,
        reason=a.reason,
        evidence=evidence,
    )


# -- MirrorMaker 2 ------------------------------------------------------------------------------


@dataclass
class Mm2Found:
    """What one read of MirrorMaker 2's state found (Kafka and REST only, no database):
    the syncs and checkpoints not read before in this process, and the copy position."""

    syncs: mm2.SyncRead | None
    positions: dict[TP, int]
    position_from: str
    """Where the copy position came from, for the gate."""
    notes: list[str] = field(default_factory=list)


def read_mm2(plan: Plan, sides: Sides, deadline: float) -> Mm2Found:
    """Read MirrorMaker 2's offset syncs, checkpoints and copy position
    (:class:`~console.shadow.mm2.tail.Mm2Tail`, kept on ``sides`` so that moving group after
    group reads only what is new). The copy position comes from Connect's offsets topic;
    Connect's REST API is asked only when that topic cannot be read. Uses only the tail's
    own clients and REST: may run on a thread of its own (:func:`at_once`)."""
    timeout = max(2.0, min(30.0, deadline - time.monotonic()))
    notes: list[str] = []
    tail = sides.mm2_tail(plan)
    found = None
    try:
        found = tail.read(time.monotonic() + timeout)
    except mm2.Mm2Error as exc:
        notes.append(
            f"MirrorMaker 2's offset syncs could not be read now ({exc}); using those stored "
            "earlier"
        )
    if found is not None and found.positions is not None:
        return Mm2Found(found.syncs, found.positions, found.position_from, notes)
    why = found.position_note if found is not None else "its internal topics could not be read"
    try:
        positions_ = mm2.source_positions(plan, timeout=min(10.0, timeout))
    except mm2.Mm2Error as exc:
        notes.append(f"MirrorMaker 2's position could not be read ({exc})")
        return Mm2Found(found.syncs if found else None, {}, f"nowhere ({why})", notes)
    return Mm2Found(
        found.syncs if found else None,
        positions_,
        f"Connect's REST API (GET /connectors/<name>/offsets), because {why}",
        notes,
    )


def apply_mm2(ctx: Context, found: Mm2Found) -> None:
    """Store what :func:`read_mm2` found (on the calling thread: the run database's) and
    take its copy position."""
    if found.syncs is not None:
        mm2.store_offset_syncs(ctx.store, found.syncs)
    ctx.mirrored = dict(found.positions)
    ctx.mirrored_from = found.position_from
    ctx.notes += found.notes


def collect_mm2(ctx: Context) -> None:
    """Fresh offset syncs and checkpoints into the run database, and the source
    connector's position per partition (see :func:`read_mm2`)."""
    apply_mm2(ctx, read_mm2(ctx.plan, ctx.sides, ctx.deadline))


def _checkpoint(store: Store, group_id: str, tp: TP, committed: int) -> int | None:
    """MirrorMaker 2's own translation of exactly this committed offset, if it made one."""
    found = None
    for gid, upstream, downstream in store.offsets.group_syncs(tp[0], tp[1], "checkpoint"):
        if gid == group_id and upstream == committed:
            found = downstream  # arrival order: the newest wins
    return found


def _base(ctx: Context, tp: TP, committed: int) -> Position:
    return Position(
        tp[0], tp[1], committed, ctx.source_ends.get(tp), Method.UNTRANSLATED, None, False
    )


def _mm2(ctx: Context) -> list[Position]:
    """Every partition; the reads are batched across partitions (one assignment per side
    and round): what lies between the copy and the committed offset, the alignment
    windows, and what the checkpoint position would re-read."""
    if ctx.mm2_found is not None:
        apply_mm2(ctx, ctx.mm2_found)
    elif not ctx.mirrored:
        collect_mm2(ctx)
    committed = {tp: ctx.committed[tp] for tp in ctx.partitions if tp in ctx.committed}
    beyond = {
        tp: (ctx.mirrored[tp], c)
        for tp, c in committed.items()
        if ctx.mirrored.get(tp) is not None and c > ctx.mirrored[tp]
    }
    out: dict[TP, Position] = {}
    align: Align = {}
    by_time: dict[TP, int] = {}
    for tp in ctx.partitions:
        if tp not in committed:
            out[tp] = _nothing_committed(ctx, tp)
            continue
        at = committed[tp]
        syncs = ctx.store.offsets.syncs(tp[0], tp[1], "offset-sync")
        found = translate.mm2_coarse(syncs, at)
        if found is None:
            by_time[tp] = at
            continue
        index, coarse = found
        upstream, downstream = syncs[index]
        checkpoint = _checkpoint(ctx.store, ctx.group.id, tp, at)
        align[tp] = (at, upstream, downstream, checkpoint if checkpoint is not None else coarse)
    # Every read is batched across partitions (one assignment per side and round). The
    # first source read serves three purposes at once: whether a partition beyond the copy
    # holds records there (only markers or aborted records: it is copied), the timestamps
    # the timestamp-refined partitions are looked up by, and the first alignment round;
    # the checkpoint-refined partitions' first target windows are read meanwhile.
    first = _first_round(ctx, align, by_time, beyond)
    for tp, (copied_to, at) in beyond.items():
        what = first.counted.get(tp)
        if what == 0:
            continue
        records = "" if what is None else f" ({what:,} record(s))"
        out[tp] = replace(
            _base(ctx, tp, at),
            not_copied=at - copied_to,
            not_copied_records=what,
            reason=f"beyond the copy: MirrorMaker 2 has copied up to source offset "
            f"{copied_to} and has {at - copied_to} offset(s){records} still to copy; "
            "wait for it to catch up",
        )
        align.pop(tp, None)
        by_time.pop(tp, None)
    for tp, at in by_time.items():
        ctx.notes.append(
            f"{tp[0]}:{tp[1]}: no MirrorMaker 2 offset sync at or before {at}; refined "
            "from timestamps instead"
        )
    # The partitions refined from a checkpoint and those refined from timestamps are
    # aligned together: one read per side and round, one count, for all of them.
    early, by_time_align = _by_time_targets(ctx, by_time, first)
    out.update(early)
    words = {**dict.fromkeys(align, "checkpoint"), **dict.fromkeys(by_time_align, "timestamp")}
    out.update(_refined(ctx, {**align, **by_time_align}, words, (first.source, first.target)))
    return [out[tp] for tp in ctx.partitions]


@dataclass
class _First:
    """The first round of reads of the refined partitions (see :func:`_first_round`)."""

    source: dict[TP, Window]
    """Each partition's source window from where its alignment starts."""
    target: dict[TP, Window]
    """The target windows read so far (the checkpoint-refined partitions'; the
    timestamp-refined ones' are added once their starting points are looked up)."""
    begin: dict[TP, int]
    """Where the source window of each timestamp-refined partition starts."""
    counted: dict[TP, int | None]
    """Per partition beyond the copy: committed records between the copy and the
    committed offset (None: more than ``COUNT_CAP``, or not known in time)."""


def _first_count(committed: int, src_from: int) -> int:
    """Source records read in an alignment's first round from ``src_from``: up to the
    committed offset and ``LOOKAHEAD`` past it (the target reads ``LOOKAHEAD`` more)."""
    return max(1, committed - src_from) + LOOKAHEAD


def _first_round(
    ctx: Context, align: Align, by_time: dict[TP, int], beyond: dict[TP, tuple[int, int]]
) -> _First:
    """The source windows of every refined partition (``align``: from its offset sync;
    ``by_time``: from ``BACK`` records before the committed offset), in one assignment,
    and meanwhile the checkpoint-refined partitions' target windows (from the sync's
    target offset: they need nothing from the source).

    ``beyond`` (partition -> (copy position, committed offset)): partitions committed
    past the copy, where the records in between are counted. A source window starting at
    or before the copy position covers that range (it reads past the committed offset,
    or to the partition's end), so it is counted there; any other is counted first, on
    the same reader, and its source window is read only when it is copied."""
    deadline = ctx.deadline
    source, target = ctx.sides.source, ctx.sides.target
    starts = ctx.source_starts
    if starts is None:
        starts = source.starts(list(by_time), deadline) if by_time else {}
    begin = {tp: max(starts.get(tp, 0), c - BACK) for tp, c in by_time.items()}
    src_from = {**{tp: a[1] for tp, a in align.items()}, **begin}
    committed = {**{tp: a[0] for tp, a in align.items()}, **by_time}
    apart = {tp: r for tp, r in beyond.items() if tp not in src_from or r[0] < src_from[tp]}

    def source_reads():
        counted = source.count_many(apart, COUNT_CAP, deadline) if apart else {}
        wanted = {
            tp: (f, _first_count(committed[tp], f))
            for tp, f in src_from.items()
            if tp not in apart or counted.get(tp) == 0  # not copied: nothing to align
        }
        return counted, source.windows(wanted, deadline)

    def target_reads():
        wanted = {tp: (a[2], _first_count(a[0], a[1]) + LOOKAHEAD) for tp, a in align.items()}
        return target.windows(wanted, deadline)

    (counted, src), tgt = at_once(source_reads, target_reads)
    uncovered = {}
    for tp, (copied_to, at) in beyond.items():
        if tp in apart:
            continue
        found = _count_in(src[tp], copied_to, at)
        if found is None:
            uncovered[tp] = (copied_to, at)
        else:
            counted[tp] = found if found <= COUNT_CAP else None
    if uncovered:  # a window always reaches past the committed offset; never seen
        counted.update(source.count_many(uncovered, COUNT_CAP, deadline))
    return _First(src, dict(tgt), begin, counted)


def _count_in(window: Window, start: int, end: int) -> int | None:
    """Committed records with offsets in ``[start, end)`` in a window read from at or
    before ``start``; None when the window stops before ``end`` (not read that far)."""
    records = window.records
    if not window.done and (not records or records[-1].offset < end - 1):
        return None
    return sum(1 for r in records if start <= r.offset < end)


def _aligned_many(
    ctx: Context,
    wanted: dict[TP, tuple[int, int, int, int | None]],
    first: tuple[dict[TP, Window], dict[TP, Window]] | None = None,
) -> dict[TP, Refinement]:
    """Read windows from each partition's source and target starting points and refine,
    growing the windows while the refinement asks for more (``wanted``: partition ->
    (committed, source from, target from, coarse)): each round reads every partition still
    refining in one assignment per side, then grows the windows of those it asks more of.
    ``first``: the first round's (source, target) windows, read already by the caller
    (from the same starting points, ``_first_count`` records on the source)."""
    counts: dict[TP, tuple[int, int]] = {}
    for tp, (committed, src_from, _tgt_from, _coarse) in wanted.items():
        src_count = _first_count(committed, src_from)
        counts[tp] = (src_count, src_count + LOOKAHEAD)
    results: dict[TP, Refinement] = {}
    pending = dict(wanted)
    while pending:
        if first is not None:
            src, tgt = first
            first = None
        else:
            # Both sides at once, each with its own reader (see clients.at_once).
            src, tgt = at_once(
                lambda p=pending: ctx.sides.source.windows(
                    {tp: (w[1], counts[tp][0]) for tp, w in p.items()}, ctx.deadline
                ),
                lambda p=pending: ctx.sides.target.windows(
                    {tp: (w[2], counts[tp][1]) for tp, w in p.items()}, ctx.deadline
                ),
            )
        again = {}
        for tp, (committed, _src_from, _tgt_from, coarse) in pending.items():
            result = refine(
                src[tp].records,
                tgt[tp].records,
                committed,
                src_done=src[tp].done,
                tgt_done=tgt[tp].done,
                coarse=coarse,
                skew_ms=ctx.plan.thresholds.max_timestamp_skew_ms,
            )
            src_count, tgt_count = counts[tp]
            if result.need is None:
                results[tp] = result
            elif result.need == "source" and not src[tp].done and src_count < MAX_WINDOW:
                src_count = min(MAX_WINDOW, src_count * 2)
                counts[tp] = (src_count, max(tgt_count, src_count + LOOKAHEAD))
                again[tp] = pending[tp]
            elif result.need == "target" and not tgt[tp].done and tgt_count < MAX_WINDOW:
                counts[tp] = (src_count, min(MAX_WINDOW, tgt_count * 2))
                again[tp] = pending[tp]
            else:
                results[tp] = replace(
                    result, need=None, reason=f"{result.reason} (window limit reached)"
                )
        pending = again
    return results


def _coarse_span(result: Refinement, coarse: int | None) -> tuple[int, int] | None:
    """The target offsets whose records the coarse position would re-read, when they lie
    before the aligned window and so must be counted; None when nothing is to count."""
    if result.target_offset is None or result.coarse_replay is not None or coarse is None:
        return None
    if coarse < result.target_offset:
        return coarse, result.target_offset
    return None


def _position_from(
    ctx: Context,
    tp: TP,
    committed: int,
    base: Position,
    result: Refinement,
    coarse: int | None,
    coarse_word: str,
    coarse_counts: dict[TP, int | None],
) -> Position:
    """A refinement as the partition's position; the coarse one when it failed.
    ``coarse_counts``: what the coarse position re-reads, counted for every partition
    whose coarse position lies before its aligned window, all at once by the caller."""
    if result.pairs:
        runs = _pairs_to_runs(result.pairs)
        ctx.store.offsets.record_runs([(tp[0], tp[1], *run) for run in runs], ALIGNED)
    if result.target_offset is not None:
        coarse_replay = result.coarse_replay
        span = _coarse_span(result, coarse)
        if span is not None:
            # The coarse position lies before the aligned window (MirrorMaker's checkpoint
            # task may translate from a much older sync): count what it would re-read.
            coarse_replay = coarse_counts.get(tp)
        elif coarse is not None and coarse >= result.target_offset and coarse_replay is None:
            coarse_replay = 0
        reverse = committed if result.exact else None
        if not result.exact and result.pairs:
            reverse = translate.reverse_in(_pairs_to_runs(result.pairs), result.target_offset)[0]
        return replace(
            base,
            method=Method.REFINED,
            target_offset=result.target_offset,
            exact=result.exact,
            bound_lo=result.bound_lo,
            bound_hi=result.bound_hi,
            replay=result.replay,
            replay_min=result.replay_min,
            skip=result.skip,
            skip_max=result.skip_max,
            reverse_source=reverse,
            coarse_offset=coarse,
            coarse_replay=coarse_replay,
            reason=result.reason,
            evidence=f"aligned {len(result.pairs)} record(s) by key, value, headers and "
            f"timestamp from the {coarse_word} position {coarse}",
        )
    if coarse is None or result.skip_max:
        return replace(
            base, skip=None, skip_max=result.skip_max, coarse_offset=coarse, reason=result.reason
        )
    # Not refinable: MirrorMaker's coarse position never skips a record it copied; how
    # many it re-reads is bounded by the distance to the committed offset.
    return replace(
        base,
        method=Method.CHECKPOINT if coarse_word == "checkpoint" else Method.TIMESTAMP,
        target_offset=coarse,
        exact=False,
        bound_lo=coarse,
        bound_hi=None,
        replay=None,
        skip=0 if coarse_word == "checkpoint" else None,
        coarse_offset=coarse,
        reason=f"could not refine ({result.reason}); the {coarse_word} position re-reads an "
        "unknown number of records",
    )


def _pairs_to_runs(pairs) -> list[Run]:
    runs: list[Run] = []
    for s, t in pairs:
        if runs and runs[-1][0] + runs[-1][2] == s and runs[-1][1] + runs[-1][2] == t:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((s, t, 1))
    return runs


# -- external links -----------------------------------------------------------------------------

BACK = 64
"""Source records read before the committed offset when aligning by time (records)."""


def _external(ctx: Context) -> list[Position]:
    out: dict[TP, Position] = {}
    wanted: dict[TP, int] = {}
    for tp in ctx.partitions:
        committed = ctx.committed.get(tp)
        if committed is None:
            out[tp] = _nothing_committed(ctx, tp)
        else:
            wanted[tp] = committed
    out.update(_by_time_many(ctx, wanted))
    return [out[tp] for tp in ctx.partitions]


Align = dict[TP, tuple[int, int, int, int | None]]
"""Partition -> (committed, source from, target from, coarse position) to refine."""


def _by_time_many(ctx: Context, wanted: dict[TP, int]) -> dict[TP, Position]:
    """Coarse positions by timestamp, refined by aligning the records around them
    (``wanted``: partition -> committed offset). Each read is batched across partitions:
    the source windows (also the alignment's first round on the source), the two time
    lookups on the target (one round trip), the target windows, further alignment
    rounds and what the coarse position re-reads."""
    if not wanted:
        return {}
    first = _first_round(ctx, {}, wanted, {})
    out, align = _by_time_targets(ctx, wanted, first)
    words = dict.fromkeys(align, "timestamp")
    out.update(_refined(ctx, align, words, (first.source, first.target)))
    return {tp: out[tp] for tp in wanted}


def _by_time_targets(
    ctx: Context, wanted: dict[TP, int], first: _First
) -> tuple[dict[TP, Position], Align]:
    """Where aligning by timestamp starts on the target, from the source windows of the
    first round: the two time lookups (the earliest source record's time, and the time of
    the first record at or after the committed offset: the coarse position) in one round
    trip, then the first target windows from there (added to ``first.target``). Returns
    the partitions already decided (no record near the committed offset) and what to
    align."""
    if not wanted:
        return {}, {}
    deadline, skew = ctx.deadline, ctx.plan.thresholds.max_timestamp_skew_ms
    out: dict[TP, Position] = {}
    earliest: dict[TP, int] = {}
    following: dict[TP, int] = {}
    for tp, committed in wanted.items():
        records = first.source[tp].records
        if not records:
            out[tp] = replace(
                _base(ctx, tp, committed),
                reason="the source holds no record near the committed offset",
            )
            continue
        earliest[tp] = min(r.timestamp for r in records) - skew - 1
        nxt = next((r for r in records if r.offset >= committed), None)
        if nxt is not None:
            following[tp] = nxt.timestamp - skew
    tgt_from, coarse = ctx.sides.target.for_times_at_once([earliest, following], deadline)
    align = {tp: (wanted[tp], first.begin[tp], tgt_from[tp], coarse.get(tp)) for tp in earliest}
    first.target.update(
        ctx.sides.target.windows(
            {tp: (a[2], _first_count(a[0], a[1]) + LOOKAHEAD) for tp, a in align.items()},
            deadline,
        )
    )
    return out, align


def _refined(
    ctx: Context,
    align: Align,
    words: dict[TP, str],
    first: tuple[dict[TP, Window], dict[TP, Window]] | None = None,
) -> dict[TP, Position]:
    """Align every partition of ``align`` at once (``first``: the first round's windows,
    read already), count what each coarse position would re-read where it lies before
    the aligned window (one read for all), and turn each into its position; ``words``:
    per partition, what its coarse position is (``checkpoint`` or ``timestamp``)."""
    if not align:
        return {}
    results = _aligned_many(ctx, align, first)
    to_count = {
        tp: span
        for tp, result in results.items()
        if (span := _coarse_span(result, align[tp][3])) is not None
    }
    counts = ctx.sides.target.count_many(to_count, COUNT_CAP, ctx.deadline) if to_count else {}
    return {
        tp: _position_from(
            ctx,
            tp,
            align[tp][0],
            _base(ctx, tp, align[tp][0]),
            result,
            align[tp][3],
            words[tp],
            counts,
        )
        for tp, result in results.items()
    }


# -- the plan's own strategies -----------------------------------------------------------------


def _target_partitions(ctx: Context) -> list[TP]:
    return list(ctx.partitions)


def _cost(ctx: Context, tp: TP, target: int, base: Position) -> Position:
    """What starting at ``target`` costs against the source position, counted on the
    built-in mirror's map (exact); unknown on other paths."""
    committed = ctx.committed.get(tp)
    if ctx.plan.shadow.path != BUILTIN:
        return base
    rows = sorted(ctx.store.offsets.runs_around_target(tp[0], tp[1], target, BUILTIN))
    reverse, _how = translate.reverse_in(rows, target, mirrored_to=ctx.mirrored.get(tp))
    if reverse is None or committed is None:
        return replace(base, reverse_source=reverse)
    lo, hi = min(reverse, committed), max(reverse, committed)
    runs = ctx.store.offsets.runs_between(tp[0], tp[1], BUILTIN, lo, hi)
    replay, skip = translate.replay_skip(runs, committed, reverse)
    return replace(
        base,
        reverse_source=reverse,
        replay=replay,
        replay_min=replay,
        skip=skip,
        skip_max=skip,
    )


def _reset_to_timestamp(ctx: Context) -> list[Position]:
    when = ctx.group.reset_timestamp
    assert when is not None
    ms = int(when.timestamp() * 1000)
    tps = _target_partitions(ctx)
    found = ctx.sides.target.for_time(tps, ms, ctx.deadline)
    if ctx.plan.shadow.path == BUILTIN and not ctx.mirrored:
        ctx.mirrored = mirror_positions(ctx)
    out = []
    for tp in tps:
        target = found.get(tp)
        base = Position(
            tp[0],
            tp[1],
            ctx.committed.get(tp),
            ctx.source_ends.get(tp),
            Method.TIMESTAMP,
            target,
            target is not None,
            bound_lo=target,
            bound_hi=target,
            reason=f"the target's first offset at or after {when.isoformat()} (the plan's "
            "reset_timestamp; a time past the newest record gives the end)",
        )
        out.append(_cost(ctx, tp, target, base) if target is not None else base)
    return out


def _known_point(ctx: Context) -> list[Position]:
    points = ctx.group.known_point or {}
    tps = _target_partitions(ctx)
    starts = ctx.sides.target.starts(tps, ctx.deadline)
    ends = ctx.sides.target.ends(tps, ctx.deadline)
    if ctx.plan.shadow.path == BUILTIN and not ctx.mirrored:
        ctx.mirrored = mirror_positions(ctx)
    out = []
    for tp in tps:
        offset = points.get(f"{tp[0]}:{tp[1]}")
        if offset is None:
            out.append(
                replace(
                    _nothing_committed(ctx, tp),
                    source_committed=ctx.committed.get(tp),
                    reason="the plan's known_point names no offset for this partition: nothing "
                    f"is written; the consumers' auto.offset.reset={ctx.group.auto_offset_reset}"
                    " applies",
                )
            )
            continue
        low, high = starts.get(tp), ends.get(tp)
        if low is None or high is None or not low <= offset <= high:
            out.append(
                Position(
                    tp[0],
                    tp[1],
                    ctx.committed.get(tp),
                    ctx.source_ends.get(tp),
                    Method.UNTRANSLATED,
                    None,
                    False,
                    reason=f"the plan's known point {offset} is outside the target partition "
                    f"({low}..{high}); fix known_point",
                )
            )
            continue
        base = Position(
            tp[0],
            tp[1],
            ctx.committed.get(tp),
            ctx.source_ends.get(tp),
            Method.KNOWN_POINT,
            offset,
            True,
            bound_lo=offset,
            bound_hi=offset,
            reason="the plan's known_point for this partition",
        )
        out.append(_cost(ctx, tp, offset, base))
    return out


def source_ends(side: Side, partitions: list[TP], deadline: float) -> dict[TP, int]:
    return side.ends(partitions, deadline)


def totals(positions_: list[Position]) -> Mapping[str, int | None]:
    """Replay and skip summed over the partitions a move writes (None when any is
    unknown)."""
    written = [p for p in positions_ if p.target_offset is not None]
    replay = None if any(p.replay is None for p in written) else sum(p.replay or 0 for p in written)
    skip = None if any(p.skip is None for p in written) else sum(p.skip or 0 for p in written)
    return {"replay": replay, "skip": skip}
