"""The network and cost scope from planted measurements: rates, boundaries, prices.

Pure functions, no brokers: the figures an operator reads in the traffic pane and the
scorecard export must follow from the samples and the plan's prices exactly.
"""

from __future__ import annotations

import sqlite3

import pytest

from console.plan import parse_plan
from console.store import Store
from console.traffic.rates import Rates, compute
from console.traffic.scope import cross_zone_copies, crossings, markdown, scope
from tests.helpers import demo_plan_text

TOPOLOGY = """
[topology.source]
region = "eu-west-1"
zones = ["a", "b", "c"]
vpc = "vpc-old"
account = "111"

[topology.replication]
region = "eu-west-1"
zones = ["a"]
vpc = "vpc-new"
account = "222"

[topology.target]
region = "eu-west-1"
zones = ["a", "b", "c"]
vpc = "vpc-new"
account = "222"

[topology.object_storage]
region = "eu-west-1"
vpc = "vpc-new"
account = "222"

[[topology.consumers]]
groups = ["billing"]
region = "eu-central-1"
zones = ["x"]
vpc = "vpc-app"
account = "222"

[[topology.consumers]]
groups = ["crm-sync"]
region = "eu-west-1"
zones = ["b"]
vpc = "vpc-new"
account = "222"
fetch_from_follower = true

[topology.prices]
currency = "EUR"
cross_zone_per_gb = 0.02
cross_region_per_gb = 0.05
cross_vpc_per_gb = 0.01
cross_account_per_gb = 0.0
"""


def plan(extra: str = TOPOLOGY):
    return parse_plan(demo_plan_text(topology=False) + extra)


def ts(second: int) -> str:
    return f"2026-11-25T12:{second // 60:02d}:{second % 60:02d}.000Z"


class TestBoundaries:
    def test_zone_share_is_the_chance_two_even_spreads_differ(self):
        p = plan().topology
        found = crossings(p.target, p.consumers[1], p.prices)  # {a,b,c} -> {b}
        assert [(c.boundary, round(c.share, 4)) for c in found] == [("zone", 0.6667)]

    def test_another_region_is_priced_once_and_vpc_and_account_add(self):
        p = plan().topology
        found = crossings(p.source, p.consumers[0], p.prices)
        assert [(c.boundary, c.share, c.price_per_gb) for c in found] == [
            ("region", 1.0, 0.05),
            ("vpc", 1.0, 0.01),
            ("account", 1.0, 0.0),
        ]

    def test_a_regional_service_has_no_zone(self):
        p = plan().topology
        assert crossings(p.target, p.object_storage, p.prices) == []

    @pytest.mark.parametrize(
        ("rf", "zones", "copies"), [(3, 3, 2), (3, 1, 0), (2, 3, 1), (4, 2, 2), (1, 3, 0)]
    )
    def test_cross_zone_follower_copies(self, rf, zones, copies):
        assert cross_zone_copies(rf, zones) == copies


class TestRates:
    def test_log_growth_bytes_per_offset_copy_and_consumers(self):
        sizes = [
            # round, ts, side, topic, partition, log_bytes, end_offset
            (1, ts(0), "source", "orders", 0, 1_000, 10),
            (2, ts(10), "source", "orders", 0, 21_000, 110),  # 200 bytes per record
            (3, ts(20), "source", "orders", 0, 41_000, 210),
            (1, ts(0), "target", "orders", 0, 0, 0),
            (2, ts(10), "target", "orders", 0, 22_000, 100),
            (3, ts(20), "target", "orders", 0, 44_000, 200),
        ]
        lag = [
            # round, ts, topic, partition, source_end, mirrored, lag, lag_s
            (1, ts(0), "orders", 0, 10, 10, 0, 0.0),
            (3, ts(20), "orders", 0, 210, 160, 50, 1.0),
        ]
        groups = [
            (1, ts(0), "source", "billing", "orders", 0, 10),
            (3, ts(20), "source", "billing", "orders", 0, 110),
        ]
        rates = compute(sizes, lag, groups)
        assert rates.rounds == 3
        assert rates.appended[("source", "orders")] == 40_000 / 20
        assert rates.appended[("target", "orders")] == 44_000 / 20
        assert rates.bytes_per_offset[("source", "orders", 0)] == 200
        assert rates.copy_read["orders"] == 150 * 200 / 20
        assert rates.consumed[("source", "billing", "orders")] == 100 * 200 / 20

    def test_a_shrinking_log_step_is_left_out_and_counted(self):
        sizes = [
            (1, ts(0), "source", "orders", 0, 50_000, 100),
            (2, ts(10), "source", "orders", 0, 10_000, 150),  # a segment deleted
            (3, ts(20), "source", "orders", 0, 20_000, 200),
        ]
        rates = compute(sizes, [], [])
        assert rates.dropped_steps == 1
        assert rates.appended[("source", "orders")] == 10_000 / 20

    def test_no_samples_is_no_rate(self):
        assert compute([], [], []).rounds == 0


def _rates(**kw) -> Rates:
    base = dict(first_ts=ts(0), last_ts=ts(60), rounds=31)
    return Rates(**{**base, **kw})


FACTORS = {"source": {"orders": 3, "payments": 3, "customers": 3}, "target": {"orders": 3}}


class TestScope:
    def test_flows_their_crossings_and_costs(self):
        rates = _rates(
            appended={("source", "orders"): 1e6, ("target", "orders"): 1.1e6},
            copy_read={"orders": 1e6},
            consumed={
                ("source", "billing", "orders"): 5e5,
                ("source", "crm-sync", "customers"): 2e5,
            },
        )
        view = scope(plan(), rates, FACTORS)
        flows = {f.name: f for f in view.flows}
        copy = flows["copy: src -> repl"]
        # 1 MB/s; source {a,b,c} -> replication {a}: 2/3 cross a zone, all cross VPC and
        # account: (2/3 x 0.02 + 0.01 + 0) EUR/GB x 3.6 GB/hour.
        assert copy.bytes_per_s == 1e6
        assert copy.gb_per_hour == pytest.approx((2 / 3 + 1 + 1) * 3.6)
        assert copy.cost_per_hour == pytest.approx((2 / 3 * 0.02 + 0.01) * 3.6)
        assert copy.cost_per_day == pytest.approx(copy.cost_per_hour * 24)
        # replication {a} -> target {a,b,c} in the same VPC and account: zone only.
        write = flows["copy: repl -> tgt"]
        assert [c.boundary for c in write.crossings] == ["zone"]
        assert write.cost_per_day == pytest.approx(1.1e6 * (2 / 3) * 0.02 * 86400 / 1e9)
        # RF 3 over 3 zones: 2 cross-zone copies of each appended byte.
        target_repl = flows["tgt replication"]
        assert target_repl.cost_per_day == pytest.approx(1.1e6 * 2 * 0.02 * 86400 / 1e9)
        assert "RF 3" in target_repl.basis
        assert flows["tgt -> object store"].cost_per_day == 0
        # billing reads the target from another region: priced at the region rate, from
        # the rate measured where it commits today (the source).
        billing = flows["billing reads tgt"]
        assert billing.bytes_per_s == 5e5 and "on the source" in billing.basis
        assert billing.cost_per_day == pytest.approx(5e5 * (0.05 + 0.01) * 86400 / 1e9)
        # crm-sync fetches from a follower in its own zone: nothing crosses.
        assert flows["crm-sync reads tgt"].crossings == []
        assert view.cost_per_day == pytest.approx(sum(f.cost_per_day for f in view.flows))
        assert view.currency == "EUR"

    def test_unmeasured_flows_are_unknown_never_zero(self):
        view = scope(plan(), _rates(appended={("source", "orders"): 1e6}), FACTORS)
        flows = {f.name: f for f in view.flows}
        assert flows["copy: repl -> tgt"].cost_per_day is None
        assert flows["billing reads tgt"].bytes_per_s is None
        assert view.cost_per_day is None
        text = "\n".join(markdown(view))
        # Which flows are missing, and what the measured ones (source replication alone,
        # 1 MB/s) come to: a lower bound, written out, not recomputed from the view.
        assert (
            "All flows together: unknown, copy: src -> repl, copy: repl -> tgt, tgt "
            "replication, tgt -> object store, billing reads tgt, crm-sync reads tgt not "
            "measured; the measured flows come to 3.46 EUR per day (a lower bound)."
        ) in text
        assert [f.name for f in view.flows if f.cost_per_day is not None] == [
            "src replication (now)"
        ]

    def test_without_inventory_replication_is_said_not_computed(self):
        view = scope(plan(), _rates(appended={("target", "orders"): 1e6}), None)
        assert not any("replication" in f.name and "copy" not in f.name for f in view.flows)
        assert any("replication not computed: no inventory" in n for n in view.notes)

    def test_a_plan_without_topology_says_what_to_add(self):
        view = scope(plan(extra=""), _rates(), None)
        assert view.flows == [] and "[topology]" in view.notes[0]

    def test_markdown_has_the_table_and_the_evidence_and_no_score(self):
        rates = _rates(
            appended={("source", "orders"): 1e6, ("target", "orders"): 1e6},
            copy_read={"orders": 1e6},
        )
        lines = markdown(scope(plan(), rates, FACTORS))
        text = "\n".join(lines)
        assert lines[0] == "## Network and cost scope"
        assert "| Flow | Bytes/s | Crosses |" in text
        assert "| copy: src -> repl | 1,000,000 | zone x0.67 @0.02/GB" in text
        assert "Evidence:" in text and "DescribeLogDirs" in text
        assert "score" not in text.lower() and "average" not in text.lower()

    def test_consumer_groups_in_topology_must_be_plan_groups(self):
        bad = TOPOLOGY.replace('groups = ["billing"]', 'groups = ["nobody"]')
        with pytest.raises(Exception, match="topology.consumers names group nobody"):
            plan(bad)


def test_a_copy_that_did_not_move_read_nothing_even_with_no_record_size():
    sizes = [(n, ts(10 * n), "source", "orders", 0, 5_000, 50) for n in (1, 2, 3)]
    lag = [(n, ts(10 * n), "orders", 0, 50, 50, 0, 0.0) for n in (1, 2, 3)]
    rates = compute(sizes, lag, [])
    assert ("source", "orders", 0) not in rates.bytes_per_offset  # nothing grew
    assert rates.copy_read == {"orders": 0.0}
    moved = [(n, ts(10 * n), "orders", 0, 50 + n, 50 + n, 0, 0.0) for n in (1, 2, 3)]
    assert compute(sizes, moved, []).copy_read == {}  # moved, but bytes unknown: not 0


def test_a_run_database_from_before_the_byte_tables_reads_as_no_samples(tmp_path):
    """An older file (no byte tables): replay reads it as 'no samples', and opening it
    for writing adds the tables."""
    text = demo_plan_text()
    Store.create(tmp_path / "run.db", text, parse_plan(text)).close()
    raw = sqlite3.connect(tmp_path / "run.db")
    raw.executescript("DROP TABLE byte_samples; DROP TABLE group_samples;")
    raw.close()
    store = Store.open(tmp_path / "run.db", readonly=True)
    assert store.traffic.recent_sizes(5) == [] and store.traffic.recent_groups(5) == []
    store.close()
    store = Store.open(tmp_path / "run.db")
    store.traffic.write_round(1, ts(0), [("source", "orders", 0, 10, 1)], [])
    assert len(store.traffic.recent_sizes(5)) == 1
    store.close()
