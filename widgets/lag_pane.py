"""The lag pane: how far the shadow copy trails the source, per topic and partition.

Worst partitions first, topic totals above their partitions, each with a sparkline
of recent samples and a trend verdict in words. Rows are keyed and updated in place,
only where a value changed, so a thousand partitions stay responsive. When the
samples are old the pane says so.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from console.views.lag import LagRow, LagView
from widgets.style import clip_words, number, status_text
from widgets.summary import Summary
from widgets.table import FitTable

BARS = "▁▂▃▄▅▆▇█"


class _Label(Text):
    """A row label that knows its row key, so the table can be sorted by our ranking."""

    row_key: str = ""


def sparkline(values: list[int], width: int = 8) -> str:
    """Recent values as bars, scaled to their own maximum."""
    values = values[-width:]
    if not values:
        return ""
    top = max(values) or 1
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1)))] for v in values)


def verdict_text(verdict: str) -> Text:
    """A verdict as glyph plus word, from the one status table."""
    return status_text(verdict)


class LagPane(Vertical):
    """Shows the latest lag view."""

    COLUMNS = (
        ("part", "Partition", 12, False),
        ("verdict", "Verdict", 9, False),
        ("lag", "Lag", 9, True),
        ("lag_s", "Lag s", 7, True),
        ("spark", "Recent", 8, False),
        ("trend", "Trend", 11, False),
        ("end", "Source end", 12, True),
        ("mirrored", "Mirrored", 12, True),
        ("eta", "Catch-up", 8, True),
    )

    def compose(self) -> ComposeResult:
        yield Summary("No lag samples yet: start the shadow path.", classes="lag-summary summary")
        yield FitTable(id="lag-table", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Shadow lag"
        table = self.query_one(DataTable)
        for key, label, width, right in self.COLUMNS:
            table.add_column(Text(label, justify="right") if right else label, key=key, width=width)

    def show(self, view: LagView | None) -> None:
        summary = self.query_one(".lag-summary", Summary)
        table = self.query_one(FitTable)
        if view is None or not view.rows:
            summary.update(
                Text("No lag samples yet: start the shadow path.")
                if view is None
                else Text("\n".join(view.processes) or "No lag samples yet.")
            )
            return
        as_of = view.as_of[11:19] if view.as_of else "--:--:--"
        stale = "  STALE" if view.stale else ""
        self.border_subtitle = f"as of {as_of} UTC{stale}"
        counts: dict[str, int] = {}
        for row in view.rows:
            if row.partition is not None:
                counts[row.verdict] = counts.get(row.verdict, 0) + 1
        head = Text(
            f"{view.path}: "
            + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in sorted(counts.items()))
        )
        if not view.exact:
            head.append("  (lag estimated from end offsets)", style="dim")
        if view.stale:
            # The time is in the subtitle; at 80x24 this line has 43 cells.
            head.append("\nSTALE: is the sampler running?", "bold")
        for line in view.processes:
            head.append(f"\n{line}")
        summary.update(head)
        with self.app.batch_update():
            table.sync([(row.key, self._cells_for(row)) for row in view.rows], order_by="part")

    @staticmethod
    def _cells_for(row: LagRow) -> tuple:
        # Partitions sit indented under their topic's total, so the label stays short.
        if row.partition is None:
            label = _Label(clip_words(row.topic, LagPane.COLUMNS[0][2]), style="bold")
        else:
            label = _Label(f"  {row.partition}")
        label.row_key = row.key
        eta = None if row.eta_seconds is None else int(row.eta_seconds)
        return (
            label,
            verdict_text(row.verdict),
            number(row.lag_records, "rec"),
            number(None if row.lag_seconds is None else round(row.lag_seconds, 1), "s"),
            Text(sparkline(row.history)),
            Text(row.trend),
            number(row.source_end),
            number(row.mirrored),
            number(eta, "s"),
        )
