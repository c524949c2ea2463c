"""The safe consumers pane: each shadow consumer beside the source group it stands in for.

One row per shadow consumer and, under it, one for its source group, in the same columns
(state, rate, lag, errors per minute, records), so an operator compares like with like.
Errors per minute by kind follow on wider terminals; the summary above the table names
each consumer's principal, group and sink, and its errors so far by kind. Rows are keyed
and updated in place; ``enter`` on a row asks for that consumer's error examples.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from console.views.safe import SafeRow, SafeView
from widgets.style import number, status_text
from widgets.summary import Summary
from widgets.table import FitTable

EMPTY = "No shadow consumers running:\nopen Start safe consumers."
"""Two lines: a summary line is shortened at a word to the pane, never wrapped."""


class SafePane(Vertical):
    """Shows the latest safe consumers view."""

    BINDINGS = [
        Binding("enter", "detail", "Errors", id="safe-detail", show=False),
    ]

    COLUMNS = (
        ("who", "Consumer", 13, False),
        ("state", "State", 11, False),
        ("rate", "Rate", 7, True),
        ("lag", "Lag", 6, True),
        ("errs", "Err/m", 6, True),
        ("deserialization", "Deser", 6, True),
        ("schema", "Schema", 6, True),
        ("order", "Order", 6, True),
        ("authorization", "Auth", 5, True),
        ("records", "Records", 8, True),
    )
    """Errors are per minute (``/m``), by kind; records are so far."""

    class DetailRequested(Message):
        """The operator asked for a consumer's error examples."""

        def __init__(self, consumer: str) -> None:
            super().__init__()
            self.consumer = consumer

    def compose(self) -> ComposeResult:
        yield Summary(EMPTY, classes="safe-summary summary")
        yield FitTable(id="safe-table", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Safe consumers"
        table = self.query_one(DataTable)
        for key, label, width, right in self.COLUMNS:
            table.add_column(Text(label, justify="right") if right else label, key=key, width=width)

    def show(self, view: SafeView | None) -> None:
        summary = self.query_one(".safe-summary", Summary)
        if view is None:
            summary.update(EMPTY)
            return
        as_of = view.as_of[11:19] if view.as_of else "--:--:--"
        self.border_subtitle = f"as of {as_of} UTC" + ("  STALE" if view.stale else "")
        summary.update(Text("\n".join(view.lines)))
        table = self.query_one(FitTable)
        with self.app.batch_update():
            table.sync([(row.key, self._cells_for(row)) for row in view.rows])

    @staticmethod
    def _cells_for(row: SafeRow) -> tuple:
        shadow = row.side == "shadow"
        label = Text(row.label, style="bold" if shadow else "")
        # Eleven cells hold the longest word (NOT STARTED, REBALANCING); where glyph and word
        # do not fit, the word alone stands.
        state = status_text(row.state, width=11) if row.state != "-" else number(None)
        rate = None if row.rate is None else round(row.rate, 1)
        kinds = tuple(
            number(None if row.error_rates.get(k) is None else round(row.error_rates[k], 1))
            for k in ("deserialization", "schema", "order", "authorization")
        )
        errs = row.error_rate
        return (
            label,
            state,
            number(rate, "/s"),
            number(row.lag),
            number(None if errs is None else round(errs, 1)) if shadow else number(None),
            *(kinds if shadow else (number(None),) * 4),
            number(row.records),
        )

    def action_detail(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        self.post_message(self.DetailRequested(key.split("/")[0]))
