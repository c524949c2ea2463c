"""SVG snapshots of the console at 80x24 (an SSH session) and one wide size.

The run database is built with a fixed clock and the cursor does not blink, so the
pictures only change when the screen does. Update them with
``make snapshots`` after checking the differences in the report.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime

from textual.worker import WorkerCancelled

from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store
from console.tui.app import CutoverApp
from tests.helpers import demo_plan_text, fixed_clock
from tests.recorded_run import Recorded, record
from widgets.audit_pane import AuditPane

INVENTORY_BODY = {
    "problems": [],
    "notes": ["topic 'orders' is not on target yet (the plan may create it)"],
    "risk": {"orders": "high", "payments": "high", "customers": "low"},
    "source": {
        "brokers": [{"id": 1, "host": "127.0.0.1", "port": 19093, "release": "3.9"}],
        "topics": [
            {
                "name": "orders",
                "internal": False,
                "partitions": [
                    {
                        "id": i,
                        "earliest": 0,
                        "latest": 500 + i,
                        "leader": 1,
                        "replicas": 1,
                        "isr": 1,
                    }
                    for i in range(6)
                ],
                "configs": {},
            },
            {
                "name": "customers",
                "internal": False,
                "partitions": [
                    {"id": i, "earliest": 0, "latest": 133, "leader": 1, "replicas": 1, "isr": 1}
                    for i in range(3)
                ],
                "configs": {"cleanup.policy": "compact"},
            },
        ],
        "groups": [
            {"id": "billing", "state": "EMPTY", "members": [], "offsets": {"orders:0": 250}},
        ],
    },
    "target": {
        "brokers": [{"id": 1, "host": "127.0.0.1", "port": 29093, "release": "4.1"}],
        "topics": [],
        "groups": [],
    },
}


def make_app(tmp_path, *, with_inventory=False) -> CutoverApp:
    text = demo_plan_text()
    clock = fixed_clock()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=clock)
    if with_inventory:
        store.log("gate.confirmed", step="inventory", outcome="confirmed")
        started = store.claim_step("inventory", 4242, {"pid": 4242})
        store.add_evidence("inventory", "inventory", INVENTORY_BODY)
        store.finish_step("inventory", StepState.PASSED, "", ref=started.seq, outcome="passed")
    return CutoverApp(store, blink=False, poll=False, gate_guard_s=0)


async def _settle(pilot) -> None:
    for _ in range(3):  # a read may start the next one (a verification that ended)
        with contextlib.suppress(WorkerCancelled):  # a read superseded by the next
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    # The audit pane scrolls to its newest entry after a refresh of its own; on a busy
    # machine the picture was taken before it (the scrollbar at the top, 2 runs of 3).
    audit = pilot.app.query_one(AuditPane)
    for _ in range(40):
        if audit.scroll_y >= audit.max_scroll_y:
            break
        await pilot.pause(0.05)


class TestMainScreen:
    """The main screen: runbook, step detail, inventory and audit panes."""

    def test_fresh_run_80x24(self, snap_compare, tmp_path):
        """A freshly imported plan: every step pending, one audit entry."""
        assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=_settle)

    def test_after_inventory_80x24(self, snap_compare, tmp_path):
        """Inventory passed: figures right-aligned with units, releases in the header."""
        app = make_app(tmp_path, with_inventory=True)
        assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)

    def test_after_inventory_wide(self, snap_compare, tmp_path):
        """A wide terminal shows the same essentials with more room."""
        app = make_app(tmp_path, with_inventory=True)
        assert snap_compare(app, terminal_size=(140, 40), run_before=_settle)

    def test_too_small(self, snap_compare, tmp_path):
        """Below 80x24 the console says how big it needs to be."""
        assert snap_compare(make_app(tmp_path), terminal_size=(60, 18), run_before=_settle)


class TestGate:
    """The gate modal."""

    def test_inventory_gate_80x24(self, snap_compare, tmp_path):
        """What will be read, the word to type, focus on Cancel."""

        async def open_gate(pilot):
            await _settle(pilot)
            await pilot.press("enter")
            await _settle(pilot)

        assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=open_gate)

    def test_inventory_gate_word_typed_80x24(self, snap_compare, tmp_path):
        """The confirmation field shows what was typed (here a typo) and has the focus;
        Confirm stays disabled until the word matches."""

        async def type_word(pilot):
            await _settle(pilot)
            await pilot.press("enter")
            await _settle(pilot)
            await pilot.press("tab", *"inventroy")
            await pilot.pause()

        assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=type_word)

    def test_inventory_gate_word_typed_wide(self, snap_compare, tmp_path):
        """The same at 120x40: the field's text row is not squeezed out there either."""

        async def type_word(pilot):
            await _settle(pilot)
            await pilot.press("enter")
            await _settle(pilot)
            await pilot.press("tab", *"inventory")
            await pilot.pause()

        assert snap_compare(make_app(tmp_path), terminal_size=(120, 40), run_before=type_word)

    def test_help_80x24(self, snap_compare, tmp_path):
        """Every key and command in one place, under the run database's path."""

        async def open_help(pilot):
            await _settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()

        app = make_app(tmp_path)
        app.db_shown = "/srv/cutover/runs/demo-orders.db"  # tmp_path differs each run
        assert snap_compare(app, terminal_size=(80, 24), run_before=open_help)


class TestCommandBar:
    """The ``:`` command bar."""

    def test_command_typed_80x24(self, snap_compare, tmp_path):
        """What is typed shows on its own row above the footer."""

        async def type_command(pilot):
            await _settle(pilot)
            await pilot.press("colon", *"run compare")
            await pilot.pause()

        assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=type_command)


class TestShadowPath:
    """The lag pane beside the runbook."""

    def test_lag_pane_80x24(self, snap_compare, tmp_path):
        """Worst partitions first, totals per topic, sparkline, STALE with no sampler."""
        from console.shadow import lag

        app = make_app(tmp_path)
        store = app.store
        # A full trend window: under the limits, no verdict is given on fewer samples.
        for round_no in range(store.plan.thresholds.lag_trend_window_samples):
            rows = [
                ("orders", 0, 1000 + 100 * round_no, 1000, 100 * round_no, 2.0 * round_no),
                ("orders", 1, 800, 800, 0, 0.0),
                ("customers", 0, 500, 460 + 4 * round_no, 40 - 4 * round_no, 0.5),
            ]
            lag.write_round(store, f"2026-11-25T12:00:{10 + round_no:02d}.000Z", rows)

        async def show_lag(pilot):
            await _settle(pilot)
            await pilot.press("2")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=show_lag)


class TestSafeConsumers:
    """The safe consumers pane beside the runbook."""

    def test_safe_pane_80x24(self, snap_compare, tmp_path):
        """A running shadow consumer above the source group it shadows, errors by kind."""
        app = _safe_app(tmp_path)

        async def show_safe(pilot):
            await _settle(pilot)
            await pilot.press("4")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=show_safe)

    def test_safe_pane_wide(self, snap_compare, tmp_path):
        """Wider terminals add records and errors per minute by kind."""
        app = _safe_app(tmp_path)

        async def show_safe(pilot):
            await _settle(pilot)
            await pilot.press("4")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(120, 40), run_before=show_safe)


def _safe_app(tmp_path) -> CutoverApp:
    app = make_app(tmp_path)
    store = app.store
    # Alive (this test's own process) with a fresh heartbeat, so it reads RUNNING.
    store.processes.upsert(
        "safe-consumer:billing-shadow",
        pid=os.getpid(),
        state="running",
        heartbeat_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        detail="group shadow.billing",
    )
    for i in range(5):
        store.shadow.report(
            "billing-shadow",
            "shadow",
            processed=1000 + 50 * i,
            lag=120 - 10 * i,
            state="running",
            errors={"schema": i // 2, "order": 1 if i > 2 else 0},
        )
        store.shadow.report(
            "billing-shadow", "source", processed=900 + 48 * i, lag=100, state="empty"
        )
    return app


GOVERNANCE_BODY = {
    "read_at": "2026-11-25T12:00:09.000Z",
    "scope": {"topics": ["orders"], "groups": ["billing"], "principals": ["User:app"]},
    "not_compared": {
        "subjects": "no schema_registry_url for the source and target cluster in the plan",
        "quotas": "target: 127.0.0.1:29093 refused to list client quotas "
        "(CLUSTER_AUTHORIZATION_FAILED); it needs DESCRIBE_CONFIGS on the cluster",
    },
    "problems": [],
    "items": [
        {
            "key": "acl:GROUP:LITERAL:billing:User:app:*:READ:ALLOW",
            "kind": "acl",
            "what": "ACL only on source: User:app ALLOW READ on group 'billing'",
            "source": "present",
            "target": "absent",
            "fix": "create this ACL on the target",
            "why_not": "",
            "decision": "apply",
            "decided_by": "alice",
            "decided_at": "2026-11-25T12:00:10.000Z",
            "reason": "",
        },
        {
            "key": "config:orders:retention.ms",
            "kind": "config",
            "what": "topic 'orders' retention.ms",
            "source": "86400000",
            "target": "604800000",
            "fix": "set retention.ms = 86400000 on the target's topic 'orders'",
            "why_not": "",
            "decision": "accept",
            "decided_by": "alice",
            "decided_at": "2026-11-25T12:00:11.000Z",
            "reason": "target keeps a week on purpose",
        },
        {
            "key": "scram:app",
            "kind": "scram",
            "what": "SCRAM credentials of user 'app' differ",
            "source": "SCRAM-SHA-512/8192",
            "target": "SCRAM-SHA-512/4096",
            "fix": None,
            "why_not": "Kafka keeps only salted hashes, so a password cannot be copied",
        },
        {
            "key": "partitions:orders",
            "kind": "partitions",
            "what": "topic 'orders' has 6 partitions on source, 3 on target",
            "source": "6",
            "target": "3",
            "fix": None,
            "why_not": "a different partition count moves keys to other partitions",
            "decision": "skip",
            "decided_by": "bob",
            "decided_at": "2026-11-25T12:00:12.000Z",
            "reason": "",
        },
    ],
    "summary": {"items": 4, "undecided": 1, "accept": 1, "apply": 1, "skip": 1, "applied": 0},
}

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
[[topology.consumers]]
groups = ["billing"]
region = "eu-central-1"
zones = ["x"]
vpc = "vpc-app"
account = "222"
[topology.prices]
currency = "EUR"
cross_zone_per_gb = 0.02
cross_region_per_gb = 0.05
cross_vpc_per_gb = 0.01
"""


class TestGovernanceAndTraffic:
    """The governance pane (5) and the network and cost pane (6)."""

    def test_governance_pane_80x24(self, snap_compare, tmp_path):
        """Decisions as glyph and word, undecided items, what was not compared, said."""
        app = make_app(tmp_path)
        app.store.add_evidence("governance", "governance", GOVERNANCE_BODY)

        async def show(pilot):
            await _settle(pilot)
            await pilot.press("5")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=show)

    def test_traffic_pane_80x24(self, snap_compare, tmp_path):
        """Flows with cost and GB per day first; an unmeasured figure reads '-'."""
        text = demo_plan_text(topology=False) + TOPOLOGY
        store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
        store.add_evidence("inventory", "inventory", INVENTORY_BODY)
        for n in range(3):
            ts = f"2026-11-25T12:00:{10 * n:02d}.000Z"
            rows = [("orders", 0, 1000 * (n + 1), 900 * (n + 1), 100, 0.5)]
            number = store.samples.write_round(ts, rows)
            store.traffic.write_round(
                number,
                ts,
                [
                    ("source", "orders", 0, 2_000_000 * (n + 1), 1000 * (n + 1)),
                    ("target", "orders", 0, 1_800_000 * (n + 1), 900 * (n + 1)),
                ],
                [("source", "billing", "orders", 0, 800 * (n + 1))],
            )
        app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)

        async def show(pilot):
            await _settle(pilot)
            await pilot.press("6")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=show)


def _offset_position(**kw) -> dict:
    from console.cutover.model import Method, Position

    base = dict(
        topic="orders",
        partition=0,
        source_committed=250,
        source_end=260,
        method=Method.EXACT,
        target_offset=263,
        exact=True,
        bound_lo=263,
        bound_hi=263,
        replay=0,
        replay_min=0,
        skip=0,
        skip_max=0,
        reverse_source=250,
    )
    base.update(kw)
    return Position(**base).to_dict()


class TestConsumerOffsets:
    """The offsets pane (7): where each plan group stands and what moving it now costs."""

    def test_offsets_pane_80x24(self, snap_compare, tmp_path):
        """A group still consuming on the source comes first (WARN: it cannot move yet), with a
        partition the copy has not reached; the quiet group's partitions translate exactly;
        samples with no running sampler read STALE."""
        from console.cutover.model import GroupSide, Member, Method

        app = make_app(tmp_path)
        busy = GroupSide("source", "crm-sync", "STABLE", members=(Member("m-1", "crm", "h"),))
        quiet = GroupSide("source", "billing", "EMPTY")
        absent = GroupSide("target", "-", "DEAD")
        app.store.cutover.write_round(
            "2026-11-25T12:00:10.000Z",
            {
                "billing": {
                    "source": quiet.to_dict(),
                    "target": absent.to_dict(),
                    "positions": [
                        _offset_position(partition=p, target_offset=263 + 2 * p) for p in range(3)
                    ],
                    "notes": [],
                    "moved": None,
                    "moved_plan": None,
                },
                "crm-sync": {
                    "source": busy.to_dict(),
                    "target": absent.to_dict(),
                    "positions": [
                        _offset_position(
                            topic="customers",
                            partition=0,
                            source_committed=120,
                            source_end=133,
                            method=Method.TIMESTAMP,
                            target_offset=0,
                            exact=True,
                            bound_lo=0,
                            bound_hi=0,
                            replay=120,
                            replay_min=120,
                            reverse_source=0,
                        ),
                        _offset_position(
                            topic="customers",
                            partition=1,
                            source_committed=130,
                            source_end=133,
                            method=Method.UNTRANSLATED,
                            target_offset=None,
                            exact=False,
                            bound_lo=None,
                            bound_hi=None,
                            replay=None,
                            replay_min=None,
                            skip=None,
                            skip_max=None,
                            reverse_source=None,
                            not_copied=9,
                            not_copied_records=6,
                        ),
                    ],
                    "notes": [],
                    "moved": None,
                    "moved_plan": None,
                },
            },
        )

        async def show(pilot):
            await _settle(pilot)
            await pilot.press("7")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=show)


def _replay_app(tmp_path) -> tuple[CutoverApp, Recorded]:
    recorded = record(tmp_path / "recorded.db")
    store = Store.open(recorded.path, readonly=True, clock=fixed_clock("2026-11-26T09:00:00"))
    return CutoverApp(store, blink=False, poll=False, gate_guard_s=0), recorded


def _at(seq: int, *keys: str):
    async def go(pilot):
        await _settle(pilot)
        await pilot.press("colon", *f"at {seq}", "enter")
        await _settle(pilot)
        await pilot.press(*keys)
        await _settle(pilot)

    return go


class TestReplay:
    """A recorded run replayed: each point of the timeline shows what the panes showed
    then (tests/recorded_run.py)."""

    def test_after_inventory_80x24(self, snap_compare, tmp_path):
        """Right after the inventory: it passed, nothing else ran; the inventory pane."""
        app, recorded = _replay_app(tmp_path)
        run_before = _at(recorded.after_inventory)
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)

    def test_red_comparison_80x24(self, snap_compare, tmp_path):
        """Right after the first comparison: the step FAILED, orders RED in the pane."""
        app, recorded = _replay_app(tmp_path)
        run_before = _at(recorded.red_comparison, "3")
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)

    def test_end_scorecard_80x24(self, snap_compare, tmp_path):
        """The last entry: the scorecard with correctness green again, rollback waived."""
        app, recorded = _replay_app(tmp_path)
        run_before = _at(recorded.end, "8")
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


class TestScorecard:
    """The scorecard pane in a live console."""

    def test_red_area_needs_an_owner_80x24(self, snap_compare, tmp_path):
        """A red comparison: correctness RED and flagged NEEDS OWNER, the gates SHUT."""
        app = make_app(tmp_path, with_inventory=True)
        store = app.store
        window = store.results.open_window(store.clock(), {"label": "planted"}, own_chain=False)
        store.results.save_results(
            window,
            [("orders", 2, "missing", "RED", "3 source records absent on target", {}, [])],
            store.clock(),
            {"records": 30},
        )

        async def show(pilot):
            await _settle(pilot)
            await pilot.press("8")
            await _settle(pilot)

        assert snap_compare(app, terminal_size=(80, 24), run_before=show)
