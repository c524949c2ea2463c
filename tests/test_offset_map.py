"""The exact offset map's pure logic (runs from offsets, translation) and its table, no Kafka."""

from __future__ import annotations

import pytest

from console.plan import parse_plan
from console.shadow.mirror import offset_map
from console.shadow.mirror.offset_map import Run
from console.store import Store
from tests.helpers import demo_plan_text


@pytest.fixture
def store(tmp_path):
    text = demo_plan_text()
    opened = Store.create(tmp_path / "run.db", text, parse_plan(text))
    yield opened
    opened.close()


class TestBuildingRuns:
    def test_contiguous_pairs_make_one_run(self):
        pairs = [(10 + i, 100 + i) for i in range(5)]
        assert offset_map.runs_from_pairs("t", 0, pairs) == [Run("t", 0, 10, 100, 5)]

    def test_a_source_gap_starts_a_new_run(self):
        # Source offset 12 is a transaction marker: 13 follows 11.
        pairs = [(10, 0), (11, 1), (13, 2), (14, 3)]
        assert offset_map.runs_from_pairs("t", 0, pairs) == [
            Run("t", 0, 10, 0, 2),
            Run("t", 0, 13, 2, 2),
        ]

    def test_a_target_gap_starts_a_new_run(self):
        # Target offset 2 is the mirror's own commit marker.
        pairs = [(0, 0), (1, 1), (2, 3), (3, 4)]
        assert offset_map.runs_from_pairs("t", 1, pairs) == [
            Run("t", 1, 0, 0, 2),
            Run("t", 1, 2, 3, 2),
        ]

    def test_offsets_that_go_back_are_refused_not_mapped(self):
        with pytest.raises(ValueError, match="do not increase"):
            offset_map.runs_from_pairs("t", 0, [(5, 0), (5, 1)])
        with pytest.raises(ValueError, match="do not increase"):
            offset_map.runs_from_pairs("t", 0, [(5, 3), (6, 2)])

    def test_no_pairs_no_runs(self):
        assert offset_map.runs_from_pairs("t", 0, []) == []
        assert offset_map.runs_from_sources("t", 0, [], 7) == []

    def test_sources_written_back_to_back_on_the_target(self):
        # Aborted records 3..5 and a compaction gap at 8 on the source.
        sources = [0, 1, 2, 6, 7, 9]
        assert offset_map.runs_from_sources("t", 2, sources, 40) == [
            Run("t", 2, 0, 40, 3),
            Run("t", 2, 6, 43, 2),
            Run("t", 2, 9, 45, 1),
        ]

    def test_both_builders_agree(self):
        sources = [3, 4, 5, 9, 10, 20]
        pairs = [(src, 50 + i) for i, src in enumerate(sources)]
        assert offset_map.runs_from_sources("t", 0, sources, 50) == offset_map.runs_from_pairs(
            "t", 0, pairs
        )

    def test_merge_joins_runs_that_continue_on_both_sides_only(self):
        runs = [
            Run("t", 0, 5, 105, 5),
            Run("t", 0, 0, 100, 5),  # continues into the one above on both sides
            Run("t", 0, 10, 111, 2),  # target skipped 110 (a marker): stays separate
            Run("t", 1, 12, 113, 1),  # another partition never joins
        ]
        assert offset_map.merge(runs) == [
            Run("t", 0, 0, 100, 10),
            Run("t", 0, 10, 111, 2),
            Run("t", 1, 12, 113, 1),
        ]


class TestTranslation:
    RUNS = [Run("t", 0, 10, 0, 3), Run("t", 0, 16, 4, 2)]  # sources 10-12 and 16-17

    def test_inside_a_run_is_exact(self):
        found = offset_map.translate_in(self.RUNS, 11)
        assert found.exact and found.target_offset == 1

    def test_a_gap_between_runs_resumes_at_the_next_copied_record(self):
        # 13..15 hold no committed record; reading resumes with source 16 = target 4.
        for offset in (13, 14, 15):
            found = offset_map.translate_in(self.RUNS, offset)
            assert found.exact and found.target_offset == 4, found
            assert "13..15" in found.reason

    def test_just_after_the_last_copied_record(self):
        found = offset_map.translate_in(self.RUNS, 18)
        assert found.exact and found.target_offset == 6

    def test_beyond_the_copy_says_by_how_much(self):
        found = offset_map.translate_in(self.RUNS, 25)
        assert not found.exact and found.target_offset is None
        assert found.distance == 7 and found.nearest_source == 18 and found.nearest_target == 6
        assert "7 offset(s) beyond" in found.reason

    def test_up_to_the_mirrors_position_is_exact(self):
        # The mirror's committed position is 20 (a trailing marker at 18..19).
        found = offset_map.translate_in(self.RUNS, 20, mirrored_to=20)
        assert found.exact and found.target_offset == 6
        assert not offset_map.translate_in(self.RUNS, 21, mirrored_to=20).exact

    def test_before_the_first_copied_record_says_by_how_much(self):
        found = offset_map.translate_in(self.RUNS, 4)
        assert not found.exact and found.distance == 6 and found.nearest_source == 10
        assert "not mirrored" in found.reason


class TestTable:
    def test_record_translate_and_list(self, store):
        runs = [Run("orders", 0, 0, 0, 100), Run("orders", 0, 101, 101, 50)]
        assert offset_map.record_runs(store, runs) == 2
        assert offset_map.runs_for(store, "orders", 0) == runs
        assert offset_map.runs_for(store, "orders", 1) == []
        assert offset_map.translate(store, "orders", 0, 120).target_offset == 120
        assert offset_map.translate(store, "orders", 0, 100).target_offset == 101
        assert offset_map.last_run(store, "orders", 0) == runs[1]
        assert offset_map.mapped_count(store) == 150
        assert offset_map.mapped_count(store, "payments") == 0

    def test_recording_the_same_run_again_replaces_it(self, store):
        offset_map.record_runs(store, [Run("orders", 0, 0, 0, 10)])
        offset_map.record_runs(store, [Run("orders", 0, 0, 0, 10)])
        assert offset_map.mapped_count(store, "orders") == 10

    def test_nothing_copied_yet_says_what_to_do(self, store):
        found = offset_map.translate(store, "orders", 0, 5)
        assert not found.exact and "start the shadow copy" in found.reason

    def test_translation_reads_only_the_neighbouring_runs(self, store):
        offset_map.record_runs(store, [Run("orders", 3, i * 10, i * 11, 10) for i in range(1000)])
        found = offset_map.translate(store, "orders", 3, 5_005)
        assert found.exact and found.target_offset == 500 * 11 + 5
        # 9_999 is the last mapped offset; 10_000 is just after it.
        assert offset_map.translate(store, "orders", 3, 10_000).target_offset == 999 * 11 + 10
