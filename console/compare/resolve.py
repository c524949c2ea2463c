"""From per-partition tallies to verdicts: what the unmatched records were, topic-wide.

After every partition of a topic has been aligned (:mod:`console.compare.align`), the
records still unmatched on either side are sorted out here, in this order:

1. **placement** — a source record whose copy sits in another target partition (a
   different partition count or partitioner on the target);
2. on the target: **outside the window** (the copy of a record before or after the
   source window, seen only because the target window is padded), **truncation** (the
   copy of a record the source's retention already deleted), then — by a second read
   of the source done by the engine — **duplicates** (a copy of a record already
   matched) and **aborted** (a record of an aborted source transaction), and what is
   left is **extra**;
3. on the source: **not yet copied** (the tail of a window whose end is "now", after
   the last record the copy reached), and what is left is **missing** — including
   records the target lost to retention, delete-records or re-creation while the
   source still holds them: truncation is benign only where the source lost the same
   records too (those are outside the source window, or copies on the target that
   step 2 sets aside). The truncation row names what removed them.

Then each check gets its verdict against the plan's thresholds. Pure: no Kafka here.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from console.compare.model import (
    CHECK_BY_NAME,
    CHECK_NAMES,
    CheckResult,
    Example,
    Verdict,
    display_key,
    judge_count,
    threshold,
)
from console.compare.tally import Finding, PartitionTally, Pending

# Checks judged per partition (the schema checks are judged per topic).
PARTITION_CHECKS = tuple(c for c in CHECK_NAMES if c not in ("schema_ids", "schema_registry"))


@dataclass(frozen=True)
class PartitionWindow:
    """The offsets one partition was compared over, and what the logs did meanwhile."""

    partition: int
    source_lo: int
    source_hi: int
    target_lo: int
    target_hi: int
    source_log_start: int = 0
    target_log_start: int = 0
    source_truncated: str = ""
    """Why records the window wanted were gone from the source ('' when none were)."""
    target_truncated: str = ""
    """Why records were gone from the target (retention, delete-records, re-creation)."""
    exists_on_target: bool = True
    exists_on_source: bool = True
    cutover: str = ""
    """Where the window was bounded at a producer cutover point ('' when it was not)."""


@dataclass(frozen=True)
class TopicWindow:
    """One topic's window and what is known about both sides."""

    topic: str
    source_partitions: int
    target_partitions: int
    partitions: dict[int, PartitionWindow]
    open_end: bool = True
    """The window ends "now": source records the copy has not reached yet are lag."""
    time_lo_ms: int | None = None
    time_hi_ms: int | None = None
    recreated: str = ""
    """Why the target topic counts as re-created ('' when it does not)."""
    source_recreated: str = ""
    missing_side: str = ""
    """'source' or 'target' when the topic does not exist there."""


# What the engine's second read of the source says about an unmatched target record.
Classification = tuple[str, int | None, int | None]  # ("duplicate"|"aborted", part, offset)
Classifier = Callable[[list[Pending]], dict[int, Classification]]


@dataclass
class TopicOutcome:
    """Per-partition counts after resolution, kept for the evidence summary."""

    topic: str
    results: list[CheckResult] = field(default_factory=list)
    cursors: dict[int, tuple[int, int]] = field(default_factory=dict)
    schema_pairs: dict[tuple[int, int], int] = field(default_factory=dict)


def resolve_topic(
    window: TopicWindow,
    tallies: dict[int, PartitionTally],
    thresholds,
    *,
    classify: Classifier | None = None,
    examples: int = 5,
    registry: CheckResult | None = None,
) -> TopicOutcome:
    """Sort out what stayed unmatched and judge every check of one topic."""
    topic = window.topic
    out = TopicOutcome(topic)
    if window.missing_side:
        out.results = _topic_absent(window)
        return out
    counts: dict[int, dict[str, int]] = {p: defaultdict(int) for p in tallies}
    # Copies of records before the source window, set aside by the aligner: the source's
    # retention explains them when it ran; otherwise the window simply starts later.
    for p, tally in tallies.items():
        pw = window.partitions.get(p)
        counts[p]["outside_window"] += tally.outside_window
        if not tally.before_window:
            continue
        if pw is not None and pw.source_truncated:
            counts[p]["truncated_source"] += tally.before_window
            found = tally.finding("truncation")
            for example in tally.before_examples:
                if len(found.examples) < examples:
                    found.examples.append(example)
        else:
            counts[p]["outside_window"] += tally.before_window

    # 1. Placement: a pending source record claimed by another partition's pending copy.
    _cross_partition(tallies, counts, examples)

    # 2. Target leftovers: outside the window, truncation, then duplicates/aborted/extra.
    candidates: list[Pending] = []
    for p, tally in tallies.items():
        pw = window.partitions.get(p)
        for e in tally.pending_target:
            if e.klass:
                continue
            if _outside_window(window, pw, tally, e):
                e.klass = "outside"
                counts[p]["outside_window"] += 1
            elif _source_truncated(pw, tally, e):
                e.klass = "truncated"
                counts[p]["truncated_source"] += 1
                _add(tally, "truncation", examples, _target_example(e, _trunc_note(pw, "source")))
            else:
                candidates.append(e)
    verdicts = classify(candidates) if (classify and candidates) else {}
    for e in candidates:
        tally = tallies[e.partition]
        found = verdicts.get(id(e))
        if found is None:
            e.klass = "extra"
            _add(tally, "extra", examples, _target_example(e, "not on the source"))
            continue
        kind, sp, so = found
        e.klass = kind
        if kind == "duplicate":
            detail = "repeats a source record already copied"
        else:
            detail = "record of an aborted source transaction"
        example = Example(sp, so, e.partition, e.offset, display_key(e.key), detail)
        _add(tally, "duplicates" if kind == "duplicate" else "aborted", examples, example)

    # 3. Source leftovers: not copied yet, truncation, else missing.
    for p, tally in tallies.items():
        pw = window.partitions.get(p)
        for e in tally.pending_source:
            if e.klass:
                continue
            # After the last record the copy reached, in a window ending now: copy lag.
            if window.open_end and tally.last_source is not None and e.offset > tally.last_source:
                e.klass = "not_copied"
                counts[p]["not_copied"] += 1
                continue
            e.klass = "missing"
            if (
                pw is not None
                and pw.target_truncated
                and (tally.first_source is None or e.offset < tally.first_source)
            ):
                # The source still holds it and the target lost it: missing, whatever
                # removed it (retention, delete-records, re-creation). Only records the
                # source lost too are benign truncation, and those are not in the window.
                counts[p]["truncated_target"] += 1
                note = f"not on the target: {_trunc_note(pw, 'target')}; the source still has it"
                _add(tally, "missing", examples, _source_example(e, note))
                _add(tally, "truncation", examples, _source_example(e, note), count=False)
                continue
            _add(tally, "missing", examples, _source_example(e, "not on the target"))

    # 4. Verdicts, partition by partition, then topic-wide rows.
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    for p in sorted(tallies):
        tally = tallies[p]
        for pair, n in tally.id_pairs().items():
            pairs[pair] += n
        out.results.extend(
            _judge_partition(window, window.partitions.get(p), tally, counts[p], thresholds)
        )
        out.cursors[p] = _cursor(window.partitions.get(p), tally, window.open_end)
    out.schema_pairs = dict(pairs)
    out.results.extend(_topic_rows(window, tallies, pairs, registry))
    return out


# -- steps of resolution ---------------------------------------------------------------------


def _cross_partition(tallies, counts, examples: int) -> None:
    by_prov: dict[tuple[int, int], Pending] = {}
    by_fp: dict[int, deque[Pending]] = defaultdict(deque)
    for p in sorted(tallies):
        for e in tallies[p].pending_source:
            by_prov[(e.partition, e.offset)] = e
            by_fp[e.fp].append(e)
    if not by_prov:
        return
    for p in sorted(tallies):
        for t in tallies[p].pending_target:
            s = None
            if t.prov is not None:
                s = by_prov.get(t.prov)
                if s is not None and s.klass:
                    s = None
            else:
                # Of the waiting records with this content, the one whose timestamp and
                # headers the copy carries too (repetitive data has many), else the oldest.
                queue = by_fp.get(t.fp)
                while queue and queue[0].klass:
                    queue.popleft()
                if queue:
                    s = max(
                        (c for c in queue if not c.klass),
                        key=lambda c: (c.ts == t.ts, c.hh == t.hh),
                        default=None,
                    )
                    if s is not None:
                        queue.remove(s)
            if s is None:
                continue
            s.klass = t.klass = "matched"
            tally = tallies[s.partition]
            tally.matched += 1
            counts[s.partition]["matched_elsewhere"] += 1
            if s.hh != t.hh:
                _add(tally, "headers", examples, _pair_example(s, t, "headers differ"))
            if s.ts != t.ts:
                _add(tally, "timestamps", examples, _pair_example(s, t, "timestamp differs"))
            if s.sid is not None and t.sid is not None:
                tally.schema_pair(s.sid, t.sid, (s.partition, s.offset, t.partition, t.offset))
            if s.partition == t.partition:
                _add(tally, "order", examples, _pair_example(s, t, "far out of place"))
            elif s.key is None:
                counts[s.partition]["misplaced_null_key"] += 1
                _add(
                    tally,
                    "placement",
                    examples,
                    _pair_example(s, t, f"null-key record in target partition {t.partition}"),
                    count=False,
                )
            else:
                _add(
                    tally,
                    "placement",
                    examples,
                    _pair_example(
                        s, t, f"key in partition {s.partition} on source, {t.partition} on target"
                    ),
                )


def _outside_window(window: TopicWindow, pw: PartitionWindow | None, tally, e: Pending) -> bool:
    """A target record beyond the source window, seen because the target window is padded."""
    if e.prov is not None and pw is not None:
        _part, offset = e.prov
        return offset < pw.source_lo and offset >= pw.source_log_start or offset >= pw.source_hi
    if window.time_lo_ms is None and window.time_hi_ms is None:
        return False
    before = tally.first_target is None or e.offset < tally.first_target
    after = tally.last_target is None or e.offset > tally.last_target
    ts = e.ts[1]
    if window.time_lo_ms is not None and ts < window.time_lo_ms and before:
        return True
    return window.time_hi_ms is not None and ts >= window.time_hi_ms and after


def _source_truncated(pw: PartitionWindow | None, tally, e: Pending) -> bool:
    """The copy of a record the source no longer holds."""
    if pw is None or not pw.source_truncated:
        return False
    if e.prov is not None:
        return e.prov[1] < pw.source_log_start
    return tally.first_target is None or e.offset < tally.first_target


def _trunc_note(pw: PartitionWindow | None, side: str) -> str:
    if pw is None:
        return f"gone from the {side}"
    reason = pw.source_truncated if side == "source" else pw.target_truncated
    return reason or f"gone from the {side}"


def _cursor(pw: PartitionWindow | None, tally: PartitionTally, open_end: bool) -> tuple[int, int]:
    """Where the next incremental window starts: the first source record not yet copied."""
    if pw is None:
        return (0, 0)
    src_next = pw.source_hi
    if open_end:
        waiting = [e.offset for e in tally.pending_source if e.klass == "not_copied"]
        if waiting:
            src_next = min(waiting)
    return (src_next, pw.target_hi)


# -- verdicts --------------------------------------------------------------------------------


def _judge_partition(
    window: TopicWindow,
    pw: PartitionWindow | None,
    tally: PartitionTally,
    extra_counts: dict[str, int],
    thresholds,
) -> list[CheckResult]:
    topic, p = window.topic, tally.partition
    f = tally.findings
    n_src = tally.source_records
    outside = extra_counts.get("outside_window", 0)
    n_tgt = tally.target_records - outside - extra_counts.get("truncated_source", 0)
    not_copied = extra_counts.get("not_copied", 0)
    base = {
        "source": n_src,
        "target": n_tgt,
        "matched": tally.matched,
        "not_copied": not_copied,
        "source_skipped_offsets": tally.source_skipped_offsets,
        "outside_window": outside,
    }
    if pw is not None and not (pw.exists_on_source and pw.exists_on_target):
        return _one_sided_rows(window, pw, tally, base, thresholds)
    if n_src == 0 or n_tgt <= 0:
        return _no_data_rows(window, pw, tally, base, n_tgt)

    rows: list[CheckResult] = []

    def row(check: str, verdict: Verdict, reason: str, counts: dict, found: Finding | None):
        rows.append(
            CheckResult(
                topic, p, check, verdict, reason, counts, list(found.examples) if found else []
            )
        )

    # counts
    lag_limit = threshold(thresholds, "max_shadow_lag_records")
    if not_copied:
        verdict = Verdict.WARN if not_copied <= lag_limit else Verdict.RED
        reason = (
            f"{not_copied:,} source records at the end of the window are not on the target "
            f"yet (copy lag, limit {lag_limit:,}); the next window compares them"
        )
    else:
        verdict = Verdict.OK
        reason = f"{n_src:,} source and {n_tgt:,} target records; {tally.matched:,} matched"
    if pw is not None and pw.cutover:
        reason += f"; {pw.cutover}"
    row("counts", verdict, reason, base, None)

    def counted(check: str, noun: str, ok_reason: str, limit_name: str | None = None) -> None:
        found = f.get(check)
        n = found.count if found else 0
        definition = CHECK_BY_NAME[check]
        limit = threshold(thresholds, limit_name or definition.threshold)
        verdict = judge_count(n, limit)
        reason = ok_reason if n == 0 else f"{n:,} {noun} (limit {limit:,})"
        row(check, verdict, reason, {check: n}, found)

    overflow_m, overflow_e = tally.overflow_missing, tally.overflow_extra
    missing = f.get("missing")
    n_missing = (missing.count if missing else 0) + overflow_m
    limit = threshold(thresholds, "max_missing_records")
    reason = (
        f"all {tally.matched:,} source records compared are on the target"
        if n_missing == 0
        else f"{n_missing:,} source records are not on the target (limit {limit:,})"
    )
    lost = extra_counts.get("truncated_target", 0)
    if lost:
        why = pw.target_truncated if pw is not None and pw.target_truncated else "removed"
        reason += f"; {lost:,} of them the target lost ({why}) while the source still has them"
    if overflow_m:
        reason += f"; {overflow_m:,} of them could not be matched within the memory bound"
    row(
        "missing",
        judge_count(n_missing, limit),
        reason,
        {"missing": n_missing, "unresolved": overflow_m, "removed_from_target": lost},
        missing,
    )
    counted("duplicates", "target records repeat a source record", "no duplicates on the target")
    extra = f.get("extra")
    n_extra = (extra.count if extra else 0) + overflow_e
    limit = threshold(thresholds, "max_extra_records")
    reason = (
        "no target record the source never had"
        if n_extra == 0
        else f"{n_extra:,} target records the source never had (limit {limit:,})"
    )
    if overflow_e:
        reason += f"; {overflow_e:,} of them could not be matched within the memory bound"
    row(
        "extra",
        judge_count(n_extra, limit),
        reason,
        {"extra": n_extra, "unresolved": overflow_e},
        extra,
    )
    order = f.get("order")
    n_order = order.count if order else 0
    limit = threshold(thresholds, "max_reordered_records")
    if n_order == 0:
        reason = "same order as the source, per partition and per key"
    else:
        reason = f"{n_order:,} records out of order (limit {limit:,})"
        if tally.key_order_breaks:
            reason = f"per-key order broken for {tally.key_order_breaks:,} records; " + reason
    row(
        "order",
        judge_count(n_order, limit),
        reason,
        {"reordered": n_order, "key_order_breaks": tally.key_order_breaks},
        order,
    )
    placement = f.get("placement")
    n_place = placement.count if placement else 0
    n_null = extra_counts.get("misplaced_null_key", 0)
    limit = threshold(thresholds, "max_misplaced_records")
    verdict = judge_count(n_place, limit)
    if n_place:
        reason = f"{n_place:,} keyed records in another partition on the target (limit {limit:,})"
    elif n_null:
        verdict = Verdict.WARN
        reason = f"{n_null:,} null-key records in another partition on the target"
    else:
        reason = "every record in the same partition on both sides"
    placed = {"misplaced": n_place, "misplaced_null_key": n_null}
    row("placement", verdict, reason, placed, placement)
    counted("values", "values differ", "values equal byte for byte")
    counted("headers", "records with different headers", "headers equal (names, order, values)")
    ts = f.get("timestamps")
    n_ts = ts.count if ts else 0
    limit = threshold(thresholds, "max_mismatched_records")
    skew = threshold(thresholds, "max_timestamp_skew_ms")
    if n_ts:
        reason = f"{n_ts:,} timestamps or timestamp types differ (limit {limit:,})"
    elif tally.max_skew_ms:
        reason = f"timestamps within {tally.max_skew_ms:,} ms (tolerance {skew:,} ms), same type"
    else:
        reason = "timestamps and timestamp types equal"
    row(
        "timestamps",
        judge_count(n_ts, limit),
        reason,
        {"timestamps": n_ts, "max_skew_ms": tally.max_skew_ms},
        ts,
    )
    nulls = f.get("nulls")
    n_nulls = nulls.count if nulls else 0
    limit = threshold(thresholds, "max_mismatched_records")
    reason = (
        f"{n_nulls:,} null keys or tombstones not kept as such (limit {limit:,})"
        if n_nulls
        else f"{tally.null_keys:,} null keys and {tally.tombstones:,} tombstones kept as such"
    )
    row(
        "nulls",
        judge_count(n_nulls, limit),
        reason,
        {"nulls": n_nulls, "null_keys": tally.null_keys, "tombstones": tally.tombstones},
        nulls,
    )
    aborted = f.get("aborted")
    n_ab = aborted.count if aborted else 0
    if n_ab:
        reason = f"{n_ab:,} records of aborted source transactions are on the target"
    elif tally.source_skipped_offsets:
        reason = (
            f"the source skipped {tally.source_skipped_offsets:,} offsets (transaction "
            "markers, aborted records); none of those records is on the target"
        )
    else:
        reason = "no transaction markers or aborted records on the source in this window"
    row("aborted", judge_count(n_ab, 0), reason, {"aborted": n_ab}, aborted)
    framing = f.get("schema_ids")
    n_frame = framing.count if framing else 0
    if n_frame:
        row(
            "schema_ids",
            Verdict.RED,
            f"{n_frame:,} records have a schema-id header on one side only",
            {"framing": n_frame, "wire_records": tally.wire_records},
            framing,
        )
    trunc = f.get("truncation")
    n_src_t = extra_counts.get("truncated_source", 0)
    n_tgt_t = extra_counts.get("truncated_target", 0)
    rows.append(_truncation_row(window, pw, tally, n_src_t, n_tgt_t, trunc))
    return rows


def _truncation_row(window, pw, tally, n_src_t, n_tgt_t, trunc) -> CheckResult:
    topic, p = window.topic, tally.partition
    counts = {"truncated_source": n_src_t, "truncated_target": n_tgt_t}
    examples = list(trunc.examples) if trunc else []
    if window.recreated and (n_tgt_t or (pw is not None and pw.target_truncated)):
        return CheckResult(
            topic,
            p,
            "truncation",
            Verdict.RED,
            f"{window.recreated}; {n_tgt_t:,} source records before it are not there "
            "(counted as missing)",
            counts,
            examples,
        )
    parts = []
    if n_src_t:
        why = f" ({pw.source_truncated})" if pw is not None and pw.source_truncated else ""
        parts.append(
            f"{n_src_t:,} target records are copies of records the source no longer has{why}"
        )
    if n_tgt_t:
        why = f" ({pw.target_truncated})" if pw is not None and pw.target_truncated else ""
        parts.append(
            f"{n_tgt_t:,} records the source still holds were removed from the target{why}: "
            "counted as missing"
        )
    if parts:
        return CheckResult(topic, p, "truncation", Verdict.WARN, "; ".join(parts), counts, examples)
    reason = "no records removed by retention on either side during the window"
    return CheckResult(topic, p, "truncation", Verdict.OK, reason, counts, [])


def _one_sided_rows(window, pw, tally, base, thresholds) -> list[CheckResult]:
    """A partition that exists on one side only (the partition counts differ): its
    records were claimed by other partitions (placement) or are missing or extra; the
    topic-wide placement row carries the verdict on the partition count itself."""
    side = "source" if pw.exists_on_source else "target"
    rows = [
        CheckResult(
            window.topic,
            pw.partition,
            "counts",
            Verdict.WARN,
            f"partition {pw.partition} exists on the {side} only; its "
            f"{max(tally.source_records, tally.target_records):,} records are judged by the "
            "other checks",
            base,
            [],
        )
    ]
    for check, name in (
        ("missing", "max_missing_records"),
        ("extra", "max_extra_records"),
        ("duplicates", "max_duplicate_records"),
        ("aborted", None),
        ("placement", "max_misplaced_records"),
    ):
        found = tally.findings.get(check)
        if found and found.count:
            limit = threshold(thresholds, name)
            rows.append(
                CheckResult(
                    window.topic,
                    pw.partition,
                    check,
                    judge_count(found.count, limit),
                    f"{found.count:,} records (limit {limit:,})",
                    {check: found.count},
                    list(found.examples),
                )
            )
    return rows


def _no_data_rows(window, pw, tally, base, n_tgt: int) -> list[CheckResult]:
    """One side empty: nothing can be compared, and that is never OK."""
    n_src = tally.source_records
    p = tally.partition
    where = ""
    if pw is not None:
        where = f" (source {pw.source_lo}..{pw.source_hi}, target {pw.target_lo}..{pw.target_hi})"
    if n_src == 0 and n_tgt == 0 and pw is not None and pw.cutover:
        # Nothing after a producer cutover point: the window ends there by design.
        reason = f"nothing to compare after the cutover point{where}: {pw.cutover}"
        counts = {**base, "cut_over": 1}
        return [
            CheckResult(window.topic, p, check, Verdict.OK, reason, counts if i == 0 else {}, [])
            for i, check in enumerate(PARTITION_CHECKS)
        ]
    if n_src == 0 and n_tgt == 0:
        reason = f"no records on either side in this window{where}"
        base = {**base, "idle": 1}
    elif n_tgt == 0:
        reason = (
            f"the target has no records in this window{where}; start the copy or pick a "
            "window it covers"
        )
        if pw is not None and pw.target_truncated:
            reason = f"the target has no records in this window: {pw.target_truncated}"
    else:
        reason = (
            f"the source has no records in this window{where} but the target has "
            f"{n_tgt:,}; pick a window the source still holds"
        )
    rows = []
    for check in PARTITION_CHECKS:
        counts = base if check == "counts" else {}
        rows.append(CheckResult(window.topic, p, check, Verdict.NO_DATA, reason, counts, []))
    return rows


def _topic_rows(window: TopicWindow, tallies, pairs, registry) -> list[CheckResult]:
    topic = window.topic
    rows = []
    if window.source_partitions != window.target_partitions:
        rows.append(
            CheckResult(
                topic,
                None,
                "placement",
                Verdict.RED,
                f"{window.source_partitions} partitions on the source, "
                f"{window.target_partitions} on the target: keys land in other partitions "
                "and per-key order is not kept; create the target topic with "
                f"{window.source_partitions} partitions",
                {
                    "source_partitions": window.source_partitions,
                    "target_partitions": window.target_partitions,
                },
                [],
            )
        )
    else:
        rows.append(
            CheckResult(
                topic,
                None,
                "placement",
                Verdict.OK,
                f"{window.source_partitions} partitions on both sides",
                {
                    "source_partitions": window.source_partitions,
                    "target_partitions": window.target_partitions,
                },
                [],
            )
        )
    rows.append(_schema_row(topic, tallies, pairs))
    if registry is not None:
        rows.append(registry)
    if window.recreated or window.source_recreated:
        reason = "; ".join(r for r in (window.recreated, window.source_recreated) if r)
        rows.append(CheckResult(topic, None, "truncation", Verdict.RED, reason, {}, []))
    return rows


def _schema_row(topic: str, tallies, pairs: dict[tuple[int, int], int]) -> CheckResult:
    wire = sum(t.wire_records for t in tallies.values())
    ids = sorted(set().union(*(t.schema_ids for t in tallies.values())) if tallies else set())
    counts = {"wire_records": wire, "schema_ids": len(ids)}
    if not wire and not pairs:
        return CheckResult(
            topic,
            None,
            "schema_ids",
            Verdict.OK,
            "no record in the Confluent wire format (magic byte 0 + schema id); nothing to map",
            counts,
            [],
        )
    forward: dict[int, set[int]] = defaultdict(set)
    backward: dict[int, set[int]] = defaultdict(set)
    for (sid, tid), _n in pairs.items():
        forward[sid].add(tid)
        backward[tid].add(sid)
    split = {s: sorted(t) for s, t in forward.items() if len(t) > 1}
    merged = {t: sorted(s) for t, s in backward.items() if len(s) > 1}
    changed = sorted((s, next(iter(t))) for s, t in forward.items() if len(t) == 1 and s not in t)
    where = schema_locations(tallies)

    def located(pair: tuple[int, int], detail: str) -> Example | None:
        # Only pairs read one by one carry a location; a pair whose ids differ always is.
        at = where.get(pair)
        return None if at is None else Example(at[0], at[1], at[2], at[3], None, detail)

    candidates = [
        located(
            (s, t),
            f"source id {s} is {t} here; also {', '.join(str(x) for x in ts if x != t)} elsewhere",
        )
        for s, ts in split.items()
        for t in ts
    ] + [
        located(
            (s, t),
            f"source id {s} is target id {t}, which also stands for source ids "
            f"{', '.join(str(x) for x in ss if x != s)}",
        )
        for t, ss in merged.items()
        for s in ss
    ]
    examples = [e for e in candidates if e is not None][:5]
    if split or merged:
        return CheckResult(
            topic,
            None,
            "schema_ids",
            Verdict.RED,
            "schema ids do not map one to one between the sides; consumers would decode "
            "records with the wrong schema",
            {**counts, "split": len(split), "merged": len(merged)},
            examples,
        )
    if changed:
        shown = ", ".join(f"{s}→{t}" for s, t in changed[:4])
        return CheckResult(
            topic,
            None,
            "schema_ids",
            Verdict.WARN,
            f"schema ids are renumbered one to one ({shown}); set schema_registry_url on "
            "both clusters to prove the same schema is behind them",
            {**counts, "renumbered": len(changed)},
            [
                e
                for e in (
                    located((s, t), f"source id {s} is {t} on the target") for s, t in changed
                )
                if e is not None
            ][:5],
        )
    return CheckResult(
        topic,
        None,
        "schema_ids",
        Verdict.OK,
        f"{wire:,} records in the wire format; the same {len(ids)} schema id(s) on both sides",
        counts,
        [],
    )


def schema_locations(tallies) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """Topic-wide, a record for each (source id, target id) pair: (source partition,
    source offset, target partition, target offset), for examples an operator can fetch."""
    where: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for p in sorted(tallies):
        for pair, at in tallies[p].schema_locations().items():
            where.setdefault(pair, at)
    return where


def _topic_absent(window: TopicWindow) -> list[CheckResult]:
    side = window.missing_side
    fix = (
        "start the copy (or create it on the target) and compare again"
        if side == "target"
        else "check the plan's topic name and the source cluster"
    )
    reason = f"topic '{window.topic}' does not exist on the {side}; {fix}"
    return [
        CheckResult(window.topic, None, c, Verdict.NO_DATA, reason, {}, [])
        for c in CHECK_NAMES
        if c != "schema_registry"
    ]


# -- examples --------------------------------------------------------------------------------


def _add(tally: PartitionTally, check: str, limit: int, example: Example, count=True) -> None:
    found = tally.finding(check)
    if count:
        found.add(example, limit)
    elif len(found.examples) < limit:
        found.examples.append(example)


def _source_example(e: Pending, detail: str) -> Example:
    return Example(e.partition, e.offset, None, None, display_key(e.key), detail)


def _target_example(e: Pending, detail: str) -> Example:
    """A target record without a partner; the source record its provenance names, if any
    (the copy of a record the source no longer has, or claims to be)."""
    sp, so = e.prov if e.prov is not None else (None, None)
    return Example(sp, so, e.partition, e.offset, display_key(e.key), detail)


def _pair_example(s: Pending, t: Pending, detail: str) -> Example:
    return Example(s.partition, s.offset, t.partition, t.offset, display_key(s.key), detail)
