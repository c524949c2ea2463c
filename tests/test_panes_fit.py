"""Nothing in a pane's table reads as a cut-off word at 80x24.

Seen in the demo at 80x24: the offsets pane's header read "Targe" and its cells "absen",
the lag pane's "Lag s" lost its unit once a scrollbar took two cells, and the safe
consumers pane showed "billing-shado" and "NOT STA". Each pane is fed a view as the
console would feed it (widgets render view dataclasses), in the real app and layout.
"""

from __future__ import annotations

import re

from console.plan import parse_plan
from console.store import Store
from console.tui.app import CutoverApp
from console.views.inventory import InventoryView, TopicRow
from console.views.lag import LagRow, LagView
from console.views.offsets import OffsetRow, OffsetsView
from console.views.safe import SafeRow, SafeView
from console.views.traffic import FlowRow, TrafficView
from tests.helpers import demo_plan_text, fixed_clock, screen_lines
from widgets.governance_pane import GovernancePane
from widgets.inventory_pane import InventoryPane
from widgets.lag_pane import LagPane
from widgets.offsets_pane import OffsetsPane
from widgets.safe_pane import SafePane
from widgets.traffic_pane import TrafficPane


def make_app(tmp_path) -> CutoverApp:
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    return CutoverApp(store, blink=False, poll=False)


def table_lines(app, pane) -> list[str]:
    """The rows of the pane's table as drawn, header first."""
    from textual.widgets import DataTable  # noqa: PLC0415 - only this helper needs it

    region = pane.query_one(DataTable).region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]


def tokens(line: str) -> list[str]:
    """What a row shows, split where columns meet (two or more blanks)."""
    return [t for t in re.split(r"\s{2,}", line.strip(" │▁▂▃▄▅▆▇█")) if t]


def assert_whole_header(app, pane) -> list[str]:
    """The header shows the first columns, each by its whole name, and nothing after."""
    labels = [str(label) for _, label, *_ in pane.COLUMNS]
    header = tokens(table_lines(app, pane)[0])
    assert header, "the table's header is not drawn"
    assert header == labels[: len(header)], f"header shows {header}, not whole column names"
    return header


async def test_the_lag_pane_keeps_its_units_when_a_scrollbar_appears(tmp_path):
    rows = [
        LagRow("orders", p, "OK", "steady", 12, 0.4, 1_000 + p, 988 + p, history=[1, 2])
        for p in range(30)  # more rows than fit: the table grows a scrollbar
    ]
    view = LagView("12:00:00", False, "builtin", [], rows)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("2")
        await pilot.pause()
        pane = app.query_one(LagPane)
        pane.show(view)
        await pilot.pause()
        header = assert_whole_header(app, pane)
        for line in table_lines(app, pane)[1:]:
            cells = tokens(line)
            if len(header) >= 4:
                assert cells[3].endswith(" s"), f"a lag in seconds without its unit: {line}"


async def test_the_offsets_pane_shows_no_part_of_a_column(tmp_path):
    rows = [
        OffsetRow(
            "crm-sync", None, None, "WARN", "empty", "absent", None, None, "-", None, None, None, ""
        )
    ]
    rows += [
        OffsetRow(
            "crm-sync", "customers", p, "WARN", 120 + p, "absent", 3, 0, "exact", 4, None, None, ""
        )
        for p in range(20)
    ]
    view = OffsetsView("12:00:00", False, "builtin", ["builtin: 1 WARN group(s)"], rows)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("7")
        await pilot.pause()
        pane = app.query_one(OffsetsPane)
        pane.show(view)
        await pilot.pause()
        assert_whole_header(app, pane)
        shown = " ".join(" ".join(tokens(line)) for line in table_lines(app, pane))
        assert "absen " not in shown + " " and "Targe " not in shown + " "


async def test_the_safe_pane_shortens_names_and_states_at_a_word(tmp_path):
    rows = [
        SafeRow(
            "billing-shadow-validator",
            "shadow",
            "billing-shadow-validator",
            "NOT_STARTED",
            None,
            None,
            None,
        ),
        SafeRow("billing-shadow-validator", "source", "billing", "REBALANCING", 10, 1.0, 0),
    ]
    view = SafeView("12:00:00", ["1 shadow consumer"], rows)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("4")
        await pilot.pause()
        pane = app.query_one(SafePane)
        pane.show(view)
        await pilot.pause()
        assert_whole_header(app, pane)
        lines = table_lines(app, pane)
        first = tokens(lines[1])
        assert first[0].endswith("…") and "billing-shadow-validator".startswith(first[0][:-1])
        assert "NOT STARTED" in lines[1]
        assert "REBALANCING" in lines[2]


def summary_text(app, pane) -> str:
    """The pane's summary as the operator reads it: its rows joined, indents folded."""
    from widgets.summary import Summary  # noqa: PLC0415 - only this helper needs it

    region = pane.query_one(Summary).region
    rows = [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]
    return " ".join(" ".join(rows).split())


async def test_a_long_summary_line_wraps_at_a_word_where_the_pane_has_room(tmp_path):
    """Seen at 80x24: the traffic pane said "no byte samples yet: the lag sampler…" and the
    plan-without-topology note lost what to do; the governance pane said "run Compare…"."""
    window = "no byte samples yet: the lag sampler records them while the copy runs"
    flows = [
        FlowRow(f"copy: flow {n}", "source", "target", None, "", [], None, None, None, None)
        for n in range(2)
    ]
    note = (
        "The plan has no [topology] section: add where source, replication, target, "
        "object storage and consumers run, and the per-GB prices."
    )
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("5")
        await pilot.pause()
        assert "No governance diff yet: run Compare governance." in summary_text(
            app, app.query_one(GovernancePane)
        )
        await pilot.press("6")
        await pilot.pause()
        pane = app.query_one(TrafficPane)
        pane.show(TrafficView(None, window, "EUR", flows))
        await pilot.pause()
        assert window in summary_text(app, pane)
        assert "copy: flow 1" in " ".join(table_lines(app, pane))  # the table kept its rows
        pane.show(TrafficView(None, "", "EUR", [], notes=[note]))
        await pilot.pause()
        assert note in summary_text(app, pane)


async def test_a_summary_without_room_to_wrap_shortens_at_a_word(tmp_path):
    """Five long lines fill the summary's five rows: none is wrapped at the cost of the
    ones below it, each ends in … at a word, never mid-word."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("6")
        await pilot.pause()
        pane = app.query_one(TrafficPane)
        lines = [f"line {n} " + " ".join(f"word{k}" for k in range(12)) for n in range(5)]
        pane.show(TrafficView(None, "", "EUR", [], notes=lines))
        await pilot.pause()
        shown = summary_text(app, pane)
        assert "line 4" in shown, "a line lost to wrapping the ones above it"
        for piece in re.findall(r"(\S+)…", shown):
            assert re.fullmatch(r"word\d+", piece), f"cut mid-word: {piece}…"


async def test_inventory_sizes_say_they_are_offset_spans_not_records(tmp_path):
    """Seen: orders 12,570 in the inventory beside 16,963 records compared with 0 missing.
    The inventory counts offsets, not records; at 80x24 the pane says so, whole."""
    view = InventoryView(
        "2026-12-01T12:00:00",
        ["src 3.9: 1 broker(s)", "tgt 4.1: 1 broker(s)"],
        [TopicRow("orders", "high", 6, 6, 12_570, 16_963)],
        [],
        notes=["topic 'orders' has more partitions on target than the plan states"],
    )
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        pane = app.query_one(InventoryPane)
        pane.show(view)
        await pilot.pause()
        assert "offs: offset span, not records" in summary_text(app, pane)
        header = " ".join(table_lines(app, pane)[0].split())
        assert "Src offs" in header and "Tgt offs" in header
