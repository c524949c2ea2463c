"""Consumer cutover logic without Kafka: translating over offset maps (markers, aborted
records, compaction gaps, a copy that is behind), the reverse map, and refining a coarse
position by aligning records, exact or bounded when identical records make it ambiguous.

Each case is built so that the answer a consumer would see can be worked out by hand:
the source log is a list of offsets holding records or not, the mirror copies the
records in order, and "re-read" and "skip" are counted by replaying what a consumer at
the translated offset reads against what the source group reads next.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.cutover import translate
from console.cutover.evaluate import (
    comparison_check,
    members_check,
    replay_check,
    stored_plan_check,
)
from console.cutover.model import Check, GroupSide, Member, Method, Position
from console.cutover.move import plan_rows
from console.cutover.refine import Rec, pair_in_order, refine
from console.cutover.view import build, judge
from console.plan import parse_plan
from console.store import Store
from tests.helpers import demo_plan_text, fixed_clock

# -- a little model of a source log and its copy ------------------------------------------------


def mirror(records: list[int], *, marker_every: int = 0) -> tuple[list[translate.Run], dict]:
    """The runs the built-in mirror records for source offsets ``records`` (the offsets
    holding committed records, in order), and source -> target offset. With
    ``marker_every`` the target gets a transaction marker after every that many copies,
    as the mirror's own transactions leave."""
    mapping = {}
    target = 0
    for i, src in enumerate(records):
        if marker_every and i and i % marker_every == 0:
            target += 1  # the mirror's commit marker
        mapping[src] = target
        target += 1
    runs: list[translate.Run] = []
    for src in records:
        tgt = mapping[src]
        if runs and runs[-1][0] + runs[-1][2] == src and runs[-1][1] + runs[-1][2] == tgt:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((src, tgt, 1))
    return runs, mapping


def reads_from(target_offset: int, mapping: dict[int, int]) -> list[int]:
    """Source offsets of the copies a consumer reads starting at ``target_offset``."""
    return sorted(src for src, tgt in mapping.items() if tgt >= target_offset)


def next_from(committed: int, records: list[int]) -> list[int]:
    """What the source group reads next from its committed offset."""
    return [o for o in records if o >= committed]


# Offsets 0..29: 3 is a transaction marker, 10..14 an aborted transaction and its marker
# at 15, 20..22 compacted away; 28 and 29 are a trailing aborted record and its marker.
SOURCE = [o for o in range(30) if o != 3 and not 10 <= o <= 15 and not 20 <= o <= 22]
SOURCE = [o for o in SOURCE if o < 28]
MIRRORED_TO = 30  # the mirror read through the trailing markers


@pytest.mark.parametrize("committed", range(0, 31))
def test_every_committed_offset_translates_exactly_over_markers_aborts_and_gaps(committed):
    """For every position 0..30 the translation is where a consumer re-reads nothing and
    skips nothing: the records it reads from there are exactly what the source group
    reads next."""
    runs, mapping = mirror(SOURCE, marker_every=4)
    found = translate.forward(runs, committed, MIRRORED_TO)
    assert found.target_offset is not None, found.reason
    assert reads_from(found.target_offset, mapping) == next_from(committed, SOURCE)


def test_a_position_beyond_the_copy_is_not_translated_and_says_how_far():
    """Committed past what the mirror read: nothing is translated; the offsets still to
    copy are counted from the mirror's position, not from the last record."""
    runs, _ = mirror(SOURCE)
    found = translate.forward(runs, 40, 33)
    assert found.target_offset is None and found.case == "beyond"
    assert found.not_copied == 7
    assert "7 offset(s) still to copy" in found.reason


def test_without_the_mirror_position_the_tail_after_the_last_record_is_not_assumed():
    """Only the mirror's position proves the offsets after the last copy are not
    records; without it, a position there is beyond the copy."""
    runs, _ = mirror(SOURCE)
    assert translate.forward(runs, 29, None).target_offset is None
    assert translate.forward(runs, 28, None).target_offset is not None  # just after the last


def test_before_the_first_copy_only_the_records_can_tell():
    runs, _ = mirror([5, 6, 7])
    found = translate.forward(runs, 2, 8)
    assert found.target_offset is None and found.case == "before" and found.first_record == 5


@pytest.mark.parametrize("target_offset", range(0, 26))
def test_reverse_map_gives_the_source_position_a_target_position_resumes_at(target_offset):
    """Rollback's direction: a group at a target offset resumes on the source where it
    reads the originals of exactly the copies it has not read."""
    runs, mapping = mirror(SOURCE, marker_every=4)
    source, _how = translate.reverse_in(runs, target_offset, mirrored_to=MIRRORED_TO)
    assert source is not None
    assert next_from(source, SOURCE) == reads_from(target_offset, mapping)


def test_replay_and_skip_are_counted_in_records_not_offsets():
    runs, _ = mirror(SOURCE)
    # From 2 to 18 on the source: records 2, 4..9, 16..17 -> 9 records (not 16 offsets).
    assert translate.replay_skip(runs, 18, 2) == (9, 0)
    assert translate.replay_skip(runs, 2, 18) == (0, 9)


def test_mirrormaker2_coarse_translation_uses_the_newest_sync_at_or_before():
    syncs = [(0, 0), (101, 101), (202, 203)]
    assert translate.mm2_coarse(syncs, 150) == (1, 102)  # one past the synced copy
    assert translate.mm2_coarse(syncs, 202) == (2, 203)  # exactly a sync
    assert translate.mm2_coarse([(5, 5)], 2) is None


# -- refining by aligning records -------------------------------------------------------------


def recs(start: int, values: list[str], ts: int = 1000) -> list[Rec]:
    return [Rec(start + i, b"k", v.encode(), (), ts) for i, v in enumerate(values)]


def test_refinement_finds_the_exact_copy_of_the_first_unread_record():
    """MM2-style: a sync at source 100 / target 500; the group committed 104; the copy of
    source 104 is at target 504, while the checkpoint says 501 (re-reading 3)."""
    src = recs(100, [f"v{i}" for i in range(10)])
    tgt = recs(500, [f"v{i}" for i in range(10)])
    found = refine(src, tgt, 104, src_done=True, tgt_done=True, coarse=501)
    assert found.exact and found.target_offset == 504
    assert (found.replay, found.skip, found.coarse_replay) == (0, 0, 3)
    assert (104, 504) in found.pairs


def test_refinement_across_target_markers_and_source_gaps():
    """Offsets skip on both sides (markers, aborted records): pairing is by content."""
    src = [Rec(o, b"k", f"v{o}".encode()) for o in (10, 11, 15, 16, 17)]
    tgt = [Rec(o, b"k", f"v{s}".encode()) for o, s in ((40, 10), (42, 11), (43, 15), (45, 16))]
    found = refine(src, tgt, 12, src_done=True, tgt_done=True)
    # 12..14 hold no record: the group resumes at the copy of 15.
    assert found.exact and found.target_offset == 43
    # Committed 17: not copied yet; resumes just after the copy of 16, the last read.
    later = refine(src, tgt, 17, src_done=True, tgt_done=True)
    assert later.exact and later.target_offset == 46


def test_identical_records_across_the_committed_offset_give_a_bound_never_a_guess():
    """Five identical records at source 100..104, the group read three: which copies are
    the read ones cannot be told from content. Start at the first copy (re-reads 3, skips
    none) and say the exact position lies in 500..503."""
    src = recs(98, ["a", "b", "x", "x", "x", "x", "x", "c"])
    tgt = recs(498, ["a", "b", "x", "x", "x", "x", "x", "c"])
    found = refine(src, tgt, 103, src_done=True, tgt_done=True)
    assert not found.exact and "AMBIGUOUS" in found.reason
    assert (found.target_offset, found.bound_lo, found.bound_hi) == (500, 500, 503)
    assert (found.replay, found.skip, found.replay_min) == (3, 0, 0)
    # Pairs inside the identical run are not offered to the reverse map.
    assert not [p for p in found.pairs if 100 <= p[0] <= 104]


def test_a_duplicate_copy_in_an_identical_run_widens_the_bound():
    """At-least-once copies: six copies of five identical records. Starting at the first
    copy re-reads four (the three read, plus the duplicate) and skips none."""
    src = recs(100, ["x", "x", "x", "x", "x", "c"])
    tgt = recs(500, ["x", "x", "x", "x", "x", "x", "c"])
    found = refine(src, tgt, 103, src_done=True, tgt_done=True)
    assert not found.exact
    assert (found.target_offset, found.bound_lo, found.bound_hi, found.replay) == (
        500,
        500,
        504,
        4,
    )


def test_missing_copies_in_an_identical_run_may_skip_and_say_so():
    src = recs(100, ["x", "x", "x", "x", "c"])
    tgt = recs(500, ["x", "x", "c"])
    found = refine(src, tgt, 102, src_done=True, tgt_done=True)
    assert not found.exact and found.skip is None and found.skip_max == 2


def test_a_hole_in_the_copy_after_the_committed_offset_is_a_skip():
    src = recs(100, ["a", "b", "c", "d", "e"])
    tgt = recs(500, ["a", "b", "d", "e"])  # "c" never arrived
    found = refine(src, tgt, 101, src_done=True, tgt_done=True)
    assert found.target_offset is None and found.skip is None and "hole" in found.reason


def test_records_not_copied_yet_resume_right_after_the_last_copy():
    src = recs(100, ["a", "b", "c", "d"])
    tgt = recs(500, ["a", "b"])
    found = refine(src, tgt, 102, src_done=True, tgt_done=True)
    assert found.exact and found.target_offset == 502


def test_a_window_too_small_asks_for_more():
    src = recs(100, ["a", "b"])
    assert refine(src, recs(500, ["a"]), 105, src_done=False, tgt_done=True).need == "source"
    src = recs(100, ["a", "b", "c"])
    assert refine(src, recs(500, ["a"]), 102, src_done=True, tgt_done=False).need == "target"


def test_external_copies_are_found_after_unrelated_records_and_within_timestamp_skew():
    """A timestamp lookup lands before the copies: records of other writers come first,
    and a dual write stamps its own times (within the plan's skew)."""
    src = [Rec(10 + i, b"k", f"v{i}".encode(), (), 1000 + i) for i in range(6)]
    tgt = [Rec(70, b"z", b"other", (), 999), Rec(71, b"z", b"other2", (), 999)]
    tgt += [Rec(72 + i, b"k", f"v{i}".encode(), (), 1003 + i) for i in range(6)]
    assert refine(src, tgt, 13, src_done=True, tgt_done=True).target_offset is None
    found = refine(src, tgt, 13, src_done=True, tgt_done=True, skew_ms=5)
    assert found.exact and found.target_offset == 75


def test_pairing_in_order_separates_extras_from_holes():
    src = recs(0, ["a", "b", "c", "d"])
    tgt = recs(0, ["a", "z", "b", "d"])
    pairs, lone_src, lone_tgt = pair_in_order(src, tgt)
    assert pairs == {0: 0, 1: 2, 3: 3} and lone_src == [2] and lone_tgt == [1]


# -- what the pane says about a partition -------------------------------------------------------


def position(**kw) -> Position:
    base = dict(
        topic="orders",
        partition=0,
        source_committed=10,
        source_end=20,
        method=Method.EXACT,
        target_offset=12,
        exact=True,
        replay=0,
        skip=0,
    )
    base.update(kw)
    return Position(**base)


def test_pane_verdicts_by_what_moving_now_would_cost():
    assert judge(position(), 0, False, 0, None)[0] == "OK"
    assert judge(position(replay=3, exact=False), 5, False, 0, None)[0] == "WARN"
    assert judge(position(replay=30), 5, False, 0, None)[0] == "RED"
    assert judge(position(skip=None), 5, False, 0, None)[0] == "RED"
    behind = position(target_offset=None, not_copied=7, method=Method.UNTRANSLATED)
    verdict, note = judge(behind, 0, False, 0, None)
    assert verdict == "WARN" and "7 offset(s)" in note
    # Something else already committed a different offset on the target before the move.
    assert judge(position(), 0, False, 0, 40)[0] == "RED"
    # After the move the target's consumers go on from there: not judged.
    assert judge(position(), 0, True, 0, 40)[0] == "OK"


def test_pane_puts_the_worst_group_first_with_its_partitions_under_it(tmp_path):
    plan = parse_plan(demo_plan_text())
    quiet = GroupSide("source", "billing", "EMPTY")
    busy = GroupSide("source", "crm-sync", "STABLE", members=(Member("m", "c", "h"),))
    absent = GroupSide("target", "x", "DEAD")
    samples = {
        "billing": (
            1,
            "2026-11-25T12:00:00Z",
            {
                "source": quiet.to_dict(),
                "target": absent.to_dict(),
                "positions": [position().to_dict()],
            },
        ),
        "crm-sync": (
            1,
            "2026-11-25T12:00:00Z",
            {
                "source": busy.to_dict(),
                "target": absent.to_dict(),
                "positions": [position(topic="customers", skip=None).to_dict()],
            },
        ),
    }
    view = build(plan, samples, as_of="2026-11-25T12:00:00Z", stale=False, process_lines=[])
    assert [(r.group, r.partition, r.verdict) for r in view.rows] == [
        ("crm-sync", None, "RED"),
        ("crm-sync", 0, "RED"),
        ("billing", None, "OK"),
        ("billing", 0, "OK"),
    ]
    assert view.rows[0].source == "1 member" and "active on the source" in view.lines[0]


def test_checks_round_trip_through_json():
    check = Check("x", "RED", "why", ("a", "b"))
    assert Check.from_dict(check.to_dict()) == check
    side = GroupSide(
        "target", "g", "EMPTY", "consumer", (Member("m", "c", "h", "i1"),), {("t", 1): 5}
    )
    assert GroupSide.from_dict(side.to_dict()) == side
    assert Position.from_dict(position().to_dict()) == position()


# -- preconditions and the run database ---------------------------------------------------------


def test_a_group_with_members_static_or_unknown_counts_as_active():
    empty = members_check("source", GroupSide("source", "g", "EMPTY"))
    assert empty.verdict == "OK"
    static = GroupSide("source", "g", "STABLE", members=(Member("m", "app", "h", "pod-1"),))
    found = members_check("source", static)
    assert found.verdict == "RED" and any("session times out" in e for e in found.evidence)
    unknown = members_check("target", GroupSide("target", "g", "UNKNOWN"))
    assert unknown.verdict == "RED" and any("consumer-protocol" in e for e in unknown.evidence)
    unreadable = members_check("source", GroupSide("source", "g", "UNKNOWN", error="DENIED"))
    assert unreadable.verdict == "NO_DATA"


def test_replay_is_judged_against_the_topics_tolerance_and_a_skip_never_passes():
    plan = parse_plan(demo_plan_text())
    billing = plan.groups[0]
    assert replay_check(plan, billing, [position(replay=0)]).verdict == "OK"
    assert replay_check(plan, billing, [position(replay=1)]).verdict == "RED"  # orders: 0
    assert replay_check(plan, billing, [position(skip=2)]).verdict == "RED"
    crm = plan.groups[1]  # reset-to-timestamp: the plan's choice, shown but not judged
    assert replay_check(plan, crm, [position(topic="customers", skip=50)]).verdict == "WARN"


def test_offset_plan_is_stored_before_applying_and_a_different_one_is_refused(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    try:
        billing = store.plan.groups[0]
        stored = [position(), position(partition=1, target_offset=30, source_committed=28)]
        plan_id = store.cutover.save_plan("billing", "translate", "builtin", plan_rows(stored))
        again = store.cutover.latest_plan("billing", live_only=True)
        assert again.id == plan_id and again.state == "planned"
        assert [r["target_offset"] for r in again.rows] == [12, 30]
        assert stored_plan_check(store, billing, stored).verdict == "OK"
        moved = [stored[0], position(partition=1, target_offset=31, source_committed=29)]
        check = stored_plan_check(store, billing, moved)
        assert check.verdict == "RED" and "stored 30, now 31" in check.evidence[0]
        store.cutover.set_plan_state(plan_id, "discarded")
        assert store.cutover.latest_plan("billing", live_only=True) is None
    finally:
        store.close()


def test_fences_are_recorded_before_they_are_added_and_samples_only_when_changed(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    try:
        shape = {
            "resource_type": "GROUP",
            "resource_name": "billing",
            "pattern_type": "LITERAL",
            "principal": "User:billing",
            "host": "*",
            "operation": "READ",
            "permission": "DENY",
        }
        fence_id = store.cutover.add_fence("billing", "source", shape, preexisting=False)
        assert store.cutover.fences("billing")[0].state == "adding"
        store.cutover.set_fence_state(fence_id, "active")
        store.cutover.set_fence_state(fence_id, "removed")
        assert store.cutover.fences("billing") == []
        assert store.cutover.fences("billing", active_only=False)[0].removed_at
        first = store.cutover.write_round("t1", {"billing": {"a": 1}})
        store.cutover.write_round("t2", {"billing": {"a": 1}})
        third = store.cutover.write_round("t3", {"billing": {"a": 2}})
        latest = store.cutover.latest_samples()
        assert latest["billing"][0] == third and latest["billing"][2] == {"a": 2}
        assert store.cutover.last_round() == (3, "t3") and first == 1
    finally:
        store.close()


def test_after_a_producer_move_only_a_comparison_bounded_at_its_cutover_point_counts(tmp_path):
    """The comparison engine bounds windows opened after a producer cutover point was
    recorded; one from before the move compared records the target no longer matches
    (the moved producers write there now): the gate says so and stays shut until the
    topic is compared again."""
    text = demo_plan_text()
    plan = parse_plan(text)
    store = Store.create(tmp_path / "run.db", text, plan)
    group = next(g for g in plan.groups if g.id == "billing")  # topics: orders

    def stamp(delta_s: float) -> str:
        at = datetime.now(UTC) + timedelta(seconds=delta_s)
        return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def compared(started: str) -> int:
        window = store.results.open_window(started, {"ranges": {"orders": {}}}, own_chain=False)
        rows = [("orders", 0, "count", "OK", "", {}, [])]
        store.results.save_results(window, rows, stamp(0), {})
        return window

    compared(stamp(-30))
    check = comparison_check(store, plan, group)
    assert check.verdict == "OK"
    assert "no producer move is recorded" in check.evidence[-1]

    run = store.producers.start_run("orders-writers", "move")
    store.producers.record_points(run, "orders-writers", [("orders", 0, 500, 520, True)])
    check = comparison_check(store, plan, group)
    assert check.verdict == "RED" and "from before a producer move" in check.summary
    assert "started before its producers moved" in check.evidence[0]

    window = compared(stamp(1))
    check = comparison_check(store, plan, group)
    assert check.verdict == "OK", check
    assert f"window #{window}" in check.evidence[0]
    assert "bounded at the cutover point" in check.evidence[0]
    assert not any("no producer move" in line for line in check.evidence)
    store.close()
