"""The traffic pane: the network and cost scope of the plan's topology.

One row per flow of bytes (the copy, replication, tiering, each consumer group): its
rate, the boundaries it crosses, GB and cost per day at the plan's prices; the summary
gives the measurement window and the total per day, and ``enter`` shows everything a
flow rests on (the measurements, the assumptions, per hour and per day). Figures not
measured read ``-``, never 0. It informs the review; it is no verdict.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from console.views.traffic import FlowRow, TrafficView
from widgets.style import number
from widgets.summary import Summary
from widgets.table import FitTable

EMPTY = "No topology yet: the plan's [topology] places each part and states prices."


def money(value: float | None) -> Text:
    """A cost to the cent, right-aligned: the one number formatter keeps one decimal."""
    return number(None) if value is None else Text(f"{value:,.2f}", justify="right")


def _crossed(row: FlowRow) -> str:
    parts = []
    for c in row.crossings:
        share = "" if c.share == 1.0 else f"×{c.share:.2f}"
        parts.append(f"{c.boundary}{share}")
    return ", ".join(parts) or "none"


class TrafficPane(Vertical):
    """Shows the latest traffic view."""

    BINDINGS = [Binding("enter", "detail", "Flow", id="traffic-detail", show=False)]

    # What an operator compares first comes first: at 80x24 the flow, its cost and its
    # GB per day fit; wider terminals show the rate and the boundaries too.
    COLUMNS = (
        ("flow", "Flow", 21, False),
        ("cost", "Cost/day", 8, True),
        ("gb", "GB/day", 7, True),
        ("rate", "kB/s", 7, True),
        ("crosses", "Crosses", 16, False),
    )

    class DetailRequested(Message):
        """The operator asked for what a flow rests on."""

        def __init__(self, title: str, lines: list[str]) -> None:
            super().__init__()
            self.title = title
            self.lines = lines

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._view: TrafficView | None = None

    def compose(self) -> ComposeResult:
        yield Summary(EMPTY, classes="traffic-summary summary")
        yield FitTable(id="traffic-table", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Network and cost"
        table = self.query_one(DataTable)
        for key, label, width, right in self.COLUMNS:
            table.add_column(Text(label, justify="right") if right else label, key=key, width=width)

    def show(self, view: TrafficView | None) -> None:
        self._view = view
        summary = self.query_one(Summary)
        if view is None or not view.flows:
            summary.update("\n".join(view.notes) if view and view.notes else EMPTY)
            return
        # A replay moved back before the first round has no time to show: none, not the
        # one it showed last.
        self.border_subtitle = f"as of {view.as_of[11:19]} UTC" if view.as_of else ""
        total = "-" if view.cost_per_day is None else f"{view.cost_per_day:,.2f} {view.currency}"
        head = Text(f"All flows: {total}/day at the plan's prices")
        head.append(f"\n{view.window}", style="dim")
        head.append("\nenter: what a flow rests on", style="dim")
        summary.update(head)
        table = self.query_one(FitTable)
        with self.app.batch_update():
            # The cost column says its currency: the figures are compared, not read alone.
            cost = table.columns[ColumnKey("cost")]
            label = f"{view.currency[:4]}/day" if view.currency else "Cost/day"
            if cost.label.plain != label:
                cost.label = Text(label, justify="right")
                table.refresh()
            table.sync((flow.key, _cells(flow)) for flow in view.flows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter itself (select the row); the detail follows from that.
        event.stop()
        self.action_detail()

    def action_detail(self) -> None:
        table = self.query_one(DataTable)
        if self._view is None or table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        flow = next((f for f in self._view.flows if f.key == key), None)
        if flow is None:
            return
        cur = self._view.currency

        def fig(value: float | None, digits: int, unit: str) -> str:
            return "-" if value is None else f"{value:,.{digits}f} {unit}"

        rate = None if flow.bytes_per_s is None else flow.bytes_per_s / 1000
        lines = [
            f"{flow.origin} -> {flow.destination}",
            f"rate: {fig(rate, 1, 'kB/s')}",
            f"rests on: {flow.basis}",
            "",
            "crosses:",
            *(
                f"  {c.boundary}: {c.share:.2f} of its bytes at {c.price_per_gb:g} {cur}/GB"
                for c in flow.crossings
            ),
            *([] if flow.crossings else ["  no priced boundary"]),
            "",
            f"per hour: {fig(flow.gb_per_hour, 3, 'GB')}, {fig(flow.cost_per_hour, 4, cur)}",
            f"per day:  {fig(flow.gb_per_day, 2, 'GB')}, {fig(flow.cost_per_day, 2, cur)}",
            "",
            f"measured over {self._view.window}",
            *(f"evidence: {e}" for e in self._view.evidence),
            *(f"note: {n}" for n in self._view.notes),
        ]
        self.post_message(self.DetailRequested(flow.name, lines))


def _cells(flow: FlowRow) -> tuple:
    return (
        Text(flow.name, no_wrap=True, overflow="ellipsis"),
        money(flow.cost_per_day),
        number(None if flow.gb_per_day is None else round(flow.gb_per_day, 1)),
        number(None if flow.bytes_per_s is None else round(flow.bytes_per_s / 1000, 1)),
        Text(_crossed(flow), no_wrap=True, overflow="ellipsis"),
    )
