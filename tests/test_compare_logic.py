"""Alignment and verdict logic of the comparison, without brokers.

Records here are :class:`console.compare_align.Rec` objects, which answer the same
accessors as confluent-kafka's ``Message``; what these tests pin is the pure logic:
how two streams are paired, what an unmatched record is taken for, and how counts
become verdicts. Kafka behaviour itself is tested in test_compare.py on real brokers.
"""

from __future__ import annotations

import pytest

from console.compare.align import NEED_SOURCE, NEED_TARGET, AlignSettings, Bounds, PartitionAligner
from console.compare.history import _fold_chain
from console.compare.model import (
    Bound,
    CheckResult,
    CompareError,
    Example,
    Report,
    Verdict,
    judge_count,
    parse_bound,
    worst,
)
from console.compare.records import Rec, fingerprint, wire_id
from console.compare.resolve import PartitionWindow, TopicWindow, resolve_topic
from console.compare.schema import registry_result
from console.compare.view import build_view
from console.kafka import provenance
from console.plan import Thresholds, parse_plan
from console.views.comparison import WindowInfo, detail_lines
from tests.helpers import demo_plan_text

PROV = provenance.HEADER


def records(n: int, partition: int = 0, *, keys: int = 7, start_ts: int = 1_000) -> list[Rec]:
    return [
        Rec(
            i,
            f"k{i % keys}".encode(),
            f"v{i}".encode(),
            [("app", b"x"), ("trace", f"t{i}".encode())],
            start_ts + i,
            1,
            partition,
        )
        for i in range(n)
    ]


def copy(src: list[Rec], *, prov: bool = False, partition: int | None = None) -> list[Rec]:
    """A target copy with fresh offsets, optionally with the mirror's provenance header."""
    out = []
    for r in src:
        headers = list(r.headers() or [])
        if prov:
            headers.append((PROV, provenance.encode(r.partition(), r.offset())))
        p = r.partition() if partition is None else partition
        out.append(Rec(len(out), r.key(), r.value(), headers, r.timestamp()[1], 1, p))
    return out


def renumber(recs: list[Rec]) -> list[Rec]:
    return [
        Rec(i, r.key(), r.value(), r.headers(), r.timestamp()[1], r.timestamp()[0], r.partition())
        for i, r in enumerate(recs)
    ]


def align(src, tgt, *, partition=0, batch=5, settings=None, bounds=None):
    """Drive one aligner the way the engine does, in small uneven batches."""
    aligner = PartitionAligner("t", partition, settings or AlignSettings(lookahead=40), bounds)
    si = ti = 0
    need = aligner.run()
    while need:
        if need & NEED_SOURCE:
            chunk = src[si : si + batch]
            si += batch
            aligner.feed_source(chunk, si >= len(src))
        if need & NEED_TARGET:
            chunk = tgt[ti : ti + batch + 2]
            ti += batch + 2
            aligner.feed_target(chunk, ti >= len(tgt))
        need = aligner.run()
    return aligner.finish()


def window(tallies, *, open_end=False, source_parts=None, target_parts=None, **pw):
    parts = {
        p: PartitionWindow(
            p,
            pw.get("source_lo", 0),
            pw.get("source_hi", t.source_records),
            0,
            t.target_records,
            source_log_start=pw.get("source_log_start", 0),
            source_truncated=pw.get("source_truncated", ""),
            target_truncated=pw.get("target_truncated", ""),
        )
        for p, t in tallies.items()
    }
    n = len(tallies)
    return TopicWindow("t", source_parts or n, target_parts or n, parts, open_end=open_end)


def judge(src, tgt, *, classify=None, thresholds=None, open_end=False, **kw):
    tally = align(src, tgt, **kw)
    outcome = resolve_topic(
        window({0: tally}, open_end=open_end),
        {0: tally},
        thresholds or Thresholds(),
        classify=classify,
    )
    return outcome, tally


def verdict_of(outcome, check, partition=0):
    return next(r for r in outcome.results if r.check == check and r.partition == partition)


def not_ok(outcome) -> dict[str, str]:
    return {
        r.check: r.verdict.value
        for r in outcome.results
        if r.verdict is not Verdict.OK and r.partition is not None
    }


class TestAlignment:
    """Pairing two streams in order, by provenance or by content."""

    @pytest.mark.parametrize("prov", [False, True], ids=["content", "provenance"])
    def test_faithful_copy_is_all_ok(self, prov):
        src = records(200)
        outcome, tally = judge(src, copy(src, prov=prov))
        assert not_ok(outcome) == {}
        assert tally.matched == 200 and tally.late_matched == 0

    @pytest.mark.parametrize("prov", [False, True], ids=["content", "provenance"])
    def test_missing_records_are_named(self, prov):
        src = records(100)
        tgt = renumber([r for r in copy(src, prov=prov) if r.offset() not in (40, 41, 70)])
        outcome, _ = judge(src, tgt)
        assert not_ok(outcome) == {"missing": "RED"}
        found = verdict_of(outcome, "missing")
        assert [e.source_offset for e in found.examples] == [40, 41, 70]
        assert found.examples[0].key == "k5"

    def test_a_gap_longer_than_the_lookahead_is_found_by_timestamps(self):
        src = records(300)
        tgt = renumber(copy(src)[:20] + copy(src)[200:])
        outcome, tally = judge(src, tgt, settings=AlignSettings(lookahead=30))
        assert not_ok(outcome) == {"missing": "RED"}
        assert verdict_of(outcome, "missing").counts["missing"] == 180
        assert tally.late_matched == 0

    def test_a_long_gap_with_equal_timestamps_still_resolves(self):
        """Without usable timestamps both sides are set aside in step; the later records
        then claim theirs as late matches, in order, so nothing is called reordered."""
        src = [Rec(i, f"k{i % 5}".encode(), f"v{i}".encode(), None, 7) for i in range(200)]
        tgt = renumber(copy(src)[:10] + copy(src)[150:])
        outcome, tally = judge(src, tgt, settings=AlignSettings(lookahead=20))
        assert not_ok(outcome) == {"missing": "RED"}
        assert verdict_of(outcome, "missing").counts["missing"] == 140
        assert tally.late_matched == 50

    def test_extra_and_duplicate_are_told_apart_by_the_classifier(self):
        src = records(50)
        tgt = copy(src)
        tgt.insert(10, Rec(0, b"intruder", b"nope", None, 1010))
        tgt.insert(30, tgt[29])  # repeats source record 28
        tgt = renumber(tgt)

        def classify(candidates):
            dup = fingerprint(src[28].key(), src[28].value())
            return {id(e): ("duplicate", 0, 28) for e in candidates if e.fp == dup}

        outcome, _ = judge(src, tgt, classify=classify)
        assert not_ok(outcome) == {"extra": "RED", "duplicates": "RED"}
        assert [e.target_offset for e in verdict_of(outcome, "extra").examples] == [10]
        (dup,) = verdict_of(outcome, "duplicates").examples
        assert (dup.source_offset, dup.target_offset) == (28, 30)

    def test_swap_is_one_reordered_record(self):
        src = records(60)
        tgt = copy(src)
        tgt[20], tgt[21] = tgt[21], tgt[20]
        outcome, _ = judge(src, renumber(tgt))
        assert not_ok(outcome) == {"order": "RED"}
        assert verdict_of(outcome, "order").counts == {"reordered": 1, "key_order_breaks": 0}

    def test_key_order_break_is_told(self):
        src = records(60, keys=5)
        tgt = copy(src)
        moved = tgt.pop(10)  # k0; the next k0 is record 15
        tgt.insert(18, moved)
        outcome, _ = judge(src, renumber(tgt))
        order = verdict_of(outcome, "order")
        assert order.counts["key_order_breaks"] == 1
        assert order.reason.startswith("per-key order broken for 1 records")

    @pytest.mark.parametrize(
        ("change", "check"),
        [
            (lambda r: Rec(r.offset(), r.key(), b"other", r.headers(), r.timestamp()[1]), "values"),
            (
                lambda r: Rec(r.offset(), r.key(), r.value(), [("app", b"y")], r.timestamp()[1]),
                "headers",
            ),
            (lambda r: Rec(r.offset(), r.key(), r.value(), r.headers(), 5), "timestamps"),
            (
                lambda r: Rec(r.offset(), r.key(), r.value(), r.headers(), r.timestamp()[1], 2),
                "timestamps",
            ),
            (lambda r: Rec(r.offset(), r.key(), None, r.headers(), r.timestamp()[1]), "nulls"),
        ],
        ids=["value", "header", "timestamp", "timestamp-type", "tombstone"],
    )
    def test_one_changed_field_turns_one_check(self, change, check):
        src = records(80)
        tgt = copy(src)
        tgt[33] = change(tgt[33])
        outcome, _ = judge(src, tgt)
        assert not_ok(outcome) == {check: "RED"}
        assert verdict_of(outcome, check).examples[0].source_offset == 33

    def test_a_run_of_changed_values_is_values_not_gaps(self):
        src = records(80)
        tgt = copy(src)
        for i in (40, 41, 42, 43):
            r = tgt[i]
            tgt[i] = Rec(r.offset(), r.key(), b"changed", r.headers(), r.timestamp()[1])
        outcome, _ = judge(src, tgt)
        assert not_ok(outcome) == {"values": "RED"}
        assert verdict_of(outcome, "values").counts["values"] == 4

    def test_null_key_turned_empty(self):
        src = records(30)
        src[12] = Rec(12, None, b"v12", None, 1012)
        tgt = copy(src)
        tgt[12] = Rec(12, b"", b"v12", None, 1012)
        outcome, _ = judge(src, tgt)
        assert not_ok(outcome) == {"nulls": "RED"}
        assert verdict_of(outcome, "nulls").examples[0].detail == "key is null on the source only"

    def test_provenance_from_another_partition_is_placement(self):
        a, b = records(40, 0), records(40, 1, start_ts=5_000)
        moved = [r for r in a if r.key() == b"k3"]
        ta = renumber([r for r in copy(a, prov=True) if r.key() != b"k3"])
        tb = renumber(copy(b, prov=True, partition=1) + copy(moved, prov=True, partition=1))
        tallies = {0: align(a, ta), 1: align(b, tb, partition=1)}
        outcome = resolve_topic(window(tallies), tallies, Thresholds())
        bad = {(r.partition, r.check): r.verdict.value for r in outcome.results}
        assert bad[(0, "placement")] == "RED"
        assert bad[(0, "missing")] == "OK" and bad[(1, "extra")] == "OK"
        e = next(r for r in outcome.results if r.check == "placement" and r.partition == 0)
        assert {(x.source_partition, x.target_partition) for x in e.examples} == {(0, 1)}

    def test_schema_id_renumbering_is_not_a_value_difference(self):
        src = [Rec(i, b"k", b"\x00\x00\x00\x00\x01" + b"p%d" % i, None, i) for i in range(20)]
        tgt = [Rec(i, b"k", b"\x00\x00\x00\x00\x09" + b"p%d" % i, None, i) for i in range(20)]
        outcome, tally = judge(src, tgt)
        assert not_ok(outcome) == {}
        ids = next(r for r in outcome.results if r.check == "schema_ids")
        assert ids.verdict is Verdict.WARN and "1→9" in ids.reason
        assert tally.id_pairs() == {(1, 9): 20}

    def test_one_record_with_another_schema_id_splits_the_mapping(self):
        src = [Rec(i, b"k", b"\x00\x00\x00\x00\x01" + b"p%d" % i, None, i) for i in range(20)]
        tgt = copy(src)
        tgt[5] = Rec(5, b"k", b"\x00\x00\x00\x00\x02p5", None, 5)
        outcome, tally = judge(src, tgt)
        ids = next(r for r in outcome.results if r.check == "schema_ids")
        assert ids.verdict is Verdict.RED
        assert tally.id_pairs() == {(1, 1): 19, (1, 2): 1}

    def test_schema_id_examples_name_partition_and_offset_on_both_sides(self):
        """Split, merged and renumbered ids each come with records an operator can fetch."""
        src = [Rec(i, b"k", b"\x00\x00\x00\x00\x01" + b"p%d" % i, None, i) for i in range(20)]
        tgt = copy(src)
        tgt[5] = Rec(5, b"k", b"\x00\x00\x00\x00\x02p5", None, 5)
        outcome, _ = judge(src, tgt)
        ids = next(r for r in outcome.results if r.check == "schema_ids")
        assert ids.verdict is Verdict.RED
        assert [(e.where(), e.detail) for e in ids.examples] == [
            ("src p0@0 tgt p0@0", "source id 1 is 1 here; also 2 elsewhere"),
            ("src p0@5 tgt p0@5", "source id 1 is 2 here; also 1 elsewhere"),
        ]
        # Renumbered one to one (WARN): an example per renumbering, located.
        tgt = [Rec(i, b"k", b"\x00\x00\x00\x00\x09" + b"p%d" % i, None, i) for i in range(20)]
        outcome, _ = judge(src, tgt)
        ids = next(r for r in outcome.results if r.check == "schema_ids")
        assert ids.verdict is Verdict.WARN
        (e,) = ids.examples
        assert e.where() == "src p0@0 tgt p0@0" and e.detail == "source id 1 is 9 on the target"
        # Two source ids merged into one target id.
        src2 = src[:10] + [
            Rec(i, b"k", b"\x00\x00\x00\x00\x03" + b"p%d" % i, None, i) for i in range(10, 20)
        ]
        tgt2 = [Rec(i, b"k", b"\x00\x00\x00\x00\x07" + b"p%d" % i, None, i) for i in range(20)]
        outcome, _ = judge(src2, tgt2)
        ids = next(r for r in outcome.results if r.check == "schema_ids")
        assert ids.verdict is Verdict.RED and len(ids.examples) == 2
        assert all(
            None not in (x.source_partition, x.source_offset, x.target_partition, x.target_offset)
            for x in ids.examples
        )
        assert [x.source_offset for x in ids.examples] == [0, 10]

    def test_wire_id(self):
        assert wire_id(b"\x00\x00\x00\x01\x00rest") == 256
        assert wire_id(b"\x01\x00\x00\x00\x01") is None
        assert wire_id(None) is None and wire_id(b"\x00\x00") is None


class TestEdgesOfTheWindow:
    """What the unmatched records at either end of a window are taken for."""

    def test_tail_not_yet_copied_is_lag_in_an_open_window(self):
        src = records(100)
        outcome, _ = judge(src, copy(src)[:90], open_end=True)
        assert not_ok(outcome) == {"counts": "WARN"}
        counts = verdict_of(outcome, "counts")
        assert counts.counts["not_copied"] == 10
        assert outcome.cursors[0] == (90, 90)

    def test_tail_is_missing_when_the_window_is_closed(self):
        src = records(100)
        outcome, _ = judge(src, copy(src)[:90], open_end=False)
        assert not_ok(outcome) == {"missing": "RED"}

    def test_lag_beyond_the_threshold_is_red(self):
        src = records(100)
        thresholds = Thresholds(max_shadow_lag_records=5)
        outcome, _ = judge(src, copy(src)[:80], open_end=True, thresholds=thresholds)
        assert not_ok(outcome) == {"counts": "RED"}

    def test_records_the_target_lost_but_the_source_holds_are_missing(self):
        """Whatever removed them from the target (retention, delete-records), records
        the source still holds are missing; the truncation row names the cause."""
        src = records(60)
        tgt = renumber(copy(src)[25:])
        tally = align(src, tgt)
        outcome = resolve_topic(
            window({0: tally}, target_truncated="the target log starts at offset 25"),
            {0: tally},
            Thresholds(),
        )
        assert not_ok(outcome) == {"missing": "RED", "truncation": "WARN"}
        missing = verdict_of(outcome, "missing")
        assert missing.counts["missing"] == 25 and missing.counts["removed_from_target"] == 25
        assert "the target lost (the target log starts at offset 25)" in missing.reason
        assert [e.source_offset for e in missing.examples] == [0, 1, 2, 3, 4]
        assert "the source still has it" in missing.examples[0].detail
        row = verdict_of(outcome, "truncation")
        assert row.counts["truncated_target"] == 25 and "counted as missing" in row.reason

    def test_copies_of_records_the_source_deleted(self):
        src = records(60)
        tgt = copy(src, prov=True)
        tally = align(src[20:], tgt, bounds=Bounds(source_lo=20))
        outcome = resolve_topic(
            window(
                {0: tally},
                source_lo=20,
                source_hi=60,
                source_log_start=20,
                source_truncated="the source log starts at offset 20",
            ),
            {0: tally},
            Thresholds(),
        )
        assert not_ok(outcome) == {"truncation": "WARN"}
        row = verdict_of(outcome, "truncation")
        assert row.counts["truncated_source"] == 20
        # The copy's provenance names the source record it copied, gone from the source.
        assert [e.where() for e in row.examples[:2]] == ["src p0@0 tgt p0@0", "src p0@1 tgt p0@1"]

    def test_records_before_and_after_a_time_window_are_left_out(self):
        src = records(100)
        tgt = copy(src)
        tally = align(src[30:60], tgt, bounds=Bounds(time_lo_ms=1_030, time_hi_ms=1_060))
        assert tally.before_window == 30 and tally.matched == 30
        # Past the window it stops reading; what it had read beyond it is outside too.
        assert tally.target_records < 100
        assert tally.outside_window == tally.target_records - 60

    def test_no_data_on_one_side_is_never_ok(self):
        outcome, _ = judge(records(10), [])
        assert {r.verdict for r in outcome.results if r.partition == 0} == {Verdict.NO_DATA}
        assert "the target has no records" in verdict_of(outcome, "counts").reason

    def test_pending_overflow_is_reported_not_hidden(self):
        src = records(200)
        outcome, tally = judge(
            src, [], settings=AlignSettings(lookahead=10, pending_cap=50), open_end=False
        )
        assert tally.overflow_missing == 150
        outcome, tally = judge(
            src,
            renumber(copy(src)[:5] + copy(src)[150:]),
            settings=AlignSettings(lookahead=10, pending_cap=50),
        )
        missing = verdict_of(outcome, "missing")
        assert missing.counts["missing"] == 145 and missing.counts["unresolved"] > 0
        assert "memory bound" in missing.reason

    def test_memory_stays_bounded_as_the_window_grows(self):
        """Buffers are compacted as the streams move: what is held does not grow."""
        aligner = PartitionAligner("t", 0, AlignSettings(lookahead=100))
        src = records(60_000)
        tgt = copy(src, prov=True)
        biggest = 0
        for start in range(0, 60_000, 500):
            aligner.feed_source(src[start : start + 500], start + 500 >= 60_000)
            aligner.feed_target(tgt[start : start + 500], start + 500 >= 60_000)
            aligner.run()
            biggest = max(biggest, len(aligner._s.msgs), len(aligner._t.msgs))
        assert aligner.finish().matched == 60_000
        assert biggest <= 10_000


class TestVerdicts:
    """Counts against thresholds; folding; NO DATA; live chains."""

    def test_judge_count_and_worst(self):
        assert judge_count(0, 0) is Verdict.OK
        assert judge_count(3, 5) is Verdict.WARN
        assert judge_count(6, 5) is Verdict.RED
        assert worst([]) is Verdict.NO_DATA
        assert worst(["OK", "WARN"]) is Verdict.WARN
        assert worst(["WARN", "NO_DATA"]) is Verdict.NO_DATA
        assert worst(["NO_DATA", "RED", "OK"]) is Verdict.RED

    def test_missing_within_the_threshold_warns(self):
        src = records(50)
        tgt = renumber([r for r in copy(src) if r.offset() != 20])
        outcome, _ = judge(src, tgt, thresholds=Thresholds(max_missing_records=2))
        assert not_ok(outcome) == {"missing": "WARN"}

    def test_fold_keeps_idle_partitions_out_unless_all_are(self):
        ok = CheckResult("t", 0, "counts", Verdict.OK, "fine", {"source": 5, "target": 5})
        idle = CheckResult("t", 1, "counts", Verdict.NO_DATA, "idle", {"idle": 1})
        view = build_view(None, [ok, idle])
        assert view.rows[0].verdict == "OK" and view.rows[0].source == 5
        view = build_view(None, [idle])
        assert view.rows[0].verdict == "NO_DATA" and view.no_data == 1

    def test_report_idle_partitions_are_not_missing_evidence(self):
        ok = CheckResult("t", 0, "counts", Verdict.OK, "fine", {"source": 5})
        idle = CheckResult("t", 1, "counts", Verdict.NO_DATA, "idle", {"idle": 1})
        quiet = CheckResult("u", 0, "counts", Verdict.NO_DATA, "idle", {"idle": 1})
        report = Report(1, "done", "", "", "", [ok, idle, quiet])
        assert report.missing_evidence == [quiet]

    def test_live_chain_adds_counts_and_judges_again(self):
        a = CheckResult("t", 0, "missing", Verdict.WARN, "1", {"missing": 1}, [])
        b = CheckResult("t", 0, "missing", Verdict.WARN, "1", {"missing": 1}, [])
        (merged,) = _fold_chain([[a], [b]], Thresholds(max_missing_records=1))
        assert merged.verdict is Verdict.RED and merged.counts["missing"] == 2
        idle = CheckResult("t", 0, "missing", Verdict.NO_DATA, "idle", {"idle": 1})
        (kept,) = _fold_chain([[a], [idle]], Thresholds(max_missing_records=1))
        assert kept.verdict is Verdict.WARN

    def test_detail_lines_locate_examples(self):
        ex = Example(2, 40, 2, 41, "cust-1", "not on the target")
        row = build_view(
            None,
            [CheckResult("orders", 2, "missing", Verdict.RED, "1 missing", {"missing": 1}, [ex])],
        ).detail["orders/missing/*"][0]
        info = WindowInfo(3, "2026-11-25T12:00:00Z", None, "done", "whole log", 10)
        title, lines = detail_lines(row, info)
        assert title == "orders[2] · Missing"
        assert lines[0] == "RED  1 missing"
        assert "  src p2@40 tgt p2@41  key=cust-1  not on the target" in lines

    def test_registry_without_urls_is_no_data(self):
        plan = parse_plan(demo_plan_text())
        result = registry_result(plan, "orders", {(1, 1): 3})
        assert result.verdict is Verdict.NO_DATA
        assert "schema_registry_url" in result.reason


class TestBounds:
    """--from/--to forms."""

    def test_forms(self):
        now = 1_800_000_000_000
        assert parse_bound("1234") == Bound("offset", 1234)
        assert parse_bound("15m", now_ms=now) == Bound("time", now - 900_000)
        assert parse_bound("2026-11-25T12:00:00Z") == Bound("time", 1_795_608_000_000)
        assert parse_bound(None) is None and parse_bound(" ") is None
        with pytest.raises(CompareError, match="neither an offset"):
            parse_bound("yesterday")
