"""The lag pane as an operator sees it: worst first, words with the colours, in-place updates."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.views.lag import LagRow, LagView
from widgets.lag_pane import LagPane, sparkline


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield LagPane(id="lag")


def view(rows, *, stale=False):
    return LagView("2026-11-25T12:00:09.000Z", stale, "builtin", ["mirror RUNNING pid 42"], rows)


def row(p, verdict, lag, trend="steady"):
    return LagRow("orders", p, verdict, trend, lag, 0.5, 1000 + lag, 1000, [lag, lag], None)


def cells(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


def test_sparkline_scales_to_its_maximum():
    assert sparkline([0, 5, 10]) == "▁▄█"
    assert sparkline([]) == ""


async def test_rows_show_verdict_words_and_units_worst_first():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LagPane)
        pane.show(view([row(3, "RED", 9000, "stalled"), row(1, "OK", 0), row(2, "WARN", 50)]))
        await pilot.pause()
        table = pane.query_one(DataTable)
        first = cells(table, "orders/3")
        assert first[:3] == ["  3", "✗ RED", "9,000 rec"]
        order = [table.get_row_at(i)[0].row_key for i in range(3)]
        assert order == ["orders/3", "orders/1", "orders/2"]
        assert "as of 12:00:09 UTC" in pane.border_subtitle


async def test_updates_in_place_and_reorders_when_a_partition_gets_worse():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LagPane)
        pane.show(view([row(1, "OK", 0), row(2, "OK", 0)]))
        await pilot.pause()
        table = pane.query_one(DataTable)
        pane.show(view([row(2, "RED", 7000, "growing"), row(1, "OK", 0)]))
        await pilot.pause()
        assert table.row_count == 2
        assert table.get_row_at(0)[0].row_key == "orders/2"
        assert cells(table, "orders/2")[1] == "✗ RED"


async def test_stale_samples_are_announced():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LagPane)
        pane.show(view([row(1, "OK", 0)], stale=True))
        await pilot.pause()
        assert "STALE" in pane.border_subtitle
        assert "is the sampler running?" in str(pane.query_one(".lag-summary").render())


async def test_a_thousand_partitions_render_and_keys_still_answer():
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LagPane)
        rows = [row(p, "OK", p % 7) for p in range(1000)]
        pane.show(view(rows))
        await pilot.pause()
        pane.show(view([row(p, "OK", (p + 1) % 7) for p in range(1000)]))
        await pilot.pause()
        table = pane.query_one(DataTable)
        assert table.row_count == 1000
        table.focus()
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == 999
