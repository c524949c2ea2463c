"""The comparison pane in a tiny app, driven with Pilot, asserting on what it shows.

No Kafka and no database: the pane renders views built from results, exactly as the
console hands it the output of ``console.compare.load_view``.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from console.compare.model import CheckResult, Example, Verdict
from console.compare.view import build_view
from console.views.comparison import WindowInfo
from widgets.comparison_pane import ComparisonPane, records, verdict_text

WINDOW = WindowInfo(
    7, "2026-11-25T12:00:00.000Z", "2026-11-25T12:03:14.000Z", "done", "whole log", 2400
)


def results(missing: int = 3) -> list[CheckResult]:
    rows = []
    for p in range(3):
        n = missing if p == 1 else 0
        rows.append(
            CheckResult(
                "orders",
                p,
                "counts",
                Verdict.OK,
                "fine",
                {"source": 800, "target": 800 - n, "matched": 800 - n},
            )
        )
        rows.append(
            CheckResult(
                "orders",
                p,
                "missing",
                Verdict.RED if n else Verdict.OK,
                f"{n} source records are not on the target" if n else "all there",
                {"missing": n},
                [
                    Example(p, 40 + i, None, None, f"cust-{i}", "not on the target")
                    for i in range(n)
                ],
            )
        )
    rows.append(CheckResult("orders", None, "placement", Verdict.OK, "3 partitions", {}))
    rows.append(CheckResult("orders", None, "schema_registry", Verdict.NO_DATA, "no registry", {}))
    return rows


class PaneApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.details: list[ComparisonPane.DetailRequested] = []

    def compose(self) -> ComposeResult:
        yield ComparisonPane(id="cmp")

    def on_comparison_pane_detail_requested(self, message: ComparisonPane.DetailRequested):
        self.details.append(message)


def cell(pane: ComparisonPane, key: str, column: str) -> str:
    return str(pane.query_one(DataTable).get_cell(key, column)).strip()


def keys(pane: ComparisonPane) -> list[str]:
    return [k.value for k in pane.query_one(DataTable).rows]


class TestComparisonPane:
    """What an operator sees and can do in the 45x10 cells the pane gets at 80x24."""

    async def test_no_comparison_yet_says_so(self):
        app = PaneApp()
        async with app.run_test(size=(45, 10)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(None)
            await pilot.pause()
            assert "No comparison yet" in str(pane.query_one(".cmp-summary").render())
            assert not pane.query_one(DataTable).display

    async def test_rows_per_topic_and_check_with_words_and_units(self):
        app = PaneApp()
        async with app.run_test(size=(45, 10)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(build_view(WINDOW, results()))
            await pilot.pause()
            assert keys(pane) == [
                "orders/counts/*",
                "orders/missing/*",
                "orders/placement/*",
                "orders/schema_registry/*",
            ]
            assert cell(pane, "orders/missing/*", "verdict") == "✗ RED"
            assert cell(pane, "orders/missing/*", "count") == "3 rec"
            assert cell(pane, "orders/counts/*", "count") == "2,397 rec"
            assert cell(pane, "orders/schema_registry/*", "verdict") == "? NO DATA"
            assert cell(pane, "orders/placement/*", "verdict") == "✓ OK"
            summary = str(pane.query_one(".cmp-summary").render())
            assert summary.startswith("#7 whole log · ✗ 1 RED")
            assert pane.border_subtitle == "as of 12:03:14 UTC"
            table = pane.query_one(DataTable)
            assert table.virtual_size.width <= 43  # fits inside the border at 80x24
            assert "source" not in [c.value for c in table.columns]

    async def test_updates_in_place_keep_the_cursor(self):
        app = PaneApp()
        async with app.run_test(size=(45, 10)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(build_view(WINDOW, results()))
            await pilot.pause()
            table = pane.query_one(DataTable)
            table.focus()
            await pilot.press("down")
            rows_before = dict(table.rows)
            pane.show(build_view(WINDOW, results(missing=0)))
            await pilot.pause()
            assert table.cursor_row == 1
            assert cell(pane, "orders/missing/*", "verdict") == "✓ OK"
            assert all(table.rows[k] is rows_before[k] for k in rows_before)  # not re-added

    async def test_enter_drills_to_partitions_then_examples_and_esc_backs_out(self):
        app = PaneApp()
        async with app.run_test(size=(45, 10)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(build_view(WINDOW, results()))
            await pilot.pause()
            table = pane.query_one(DataTable)
            table.focus()
            await pilot.press("down", "enter")
            await pilot.pause()
            assert pane.drilled == "orders/missing/*"
            assert keys(pane) == ["orders/missing/0", "orders/missing/1", "orders/missing/2"]
            assert cell(pane, "orders/missing/1", "topic") == "p1"
            assert cell(pane, "orders/missing/1", "verdict") == "✗ RED"
            assert "orders › missing" in str(pane.query_one(".cmp-summary").render())
            await pilot.press("down", "enter")
            await pilot.pause()
            (message,) = app.details
            assert message.row.partition == 1
            assert message.title == "orders[1] · Missing"
            assert "  src p1@40 tgt -  key=cust-0  not on the target" in message.lines
            await pilot.press("escape")
            await pilot.pause()
            assert pane.drilled is None
            assert keys(pane)[1] == "orders/missing/*"
            assert table.cursor_row == 1

    async def test_progress_shows_while_rows_stay(self):
        app = PaneApp()
        async with app.run_test(size=(45, 10)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(build_view(WINDOW, results()))
            pane.show_progress("compared 1,200 of ~2,400 source records (50%)")
            await pilot.pause()
            summary = str(pane.query_one(".cmp-summary").render())
            assert summary.startswith("▶ compared 1,200 of ~2,400")
            assert len(keys(pane)) == 4
            pane.show_progress(None)
            await pilot.pause()
            assert str(pane.query_one(".cmp-summary").render()).startswith("#7")

    async def test_wider_terminals_get_more_columns(self):
        app = PaneApp()
        async with app.run_test(size=(140, 12)) as pilot:
            pane = app.query_one(ComparisonPane)
            pane.show(build_view(WINDOW, results()))
            await pilot.pause()
            columns = [c.value for c in pane.query_one(DataTable).columns]
            assert columns == ["topic", "check", "verdict", "count", "source", "target", "reason"]
            assert cell(pane, "orders/counts/*", "source") == "2,400 rec"
            assert cell(pane, "orders/missing/*", "reason").startswith("1 of 3 partitions")

    def test_formats(self):
        assert str(records(None)) == "-"
        assert str(records(12_345)) == "12.3k rec"
        assert str(records(123_456)) == "123k rec"
        assert str(records(2_000_000)) == "2.00M rec"
        assert str(verdict_text("NO_DATA")).strip() == "? NO DATA"
        widths = [len(str(records(n))) for n in (9_999, 99_999, 999_999, 9_999_999, 99_999_999)]
        assert max(widths) <= 9 and str(records(99_999)) == "99.9k rec"
