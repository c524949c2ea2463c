"""The offsets pane: per plan group, where it stands on the source and where it would
start on the target if it moved now, worst first.

Group rows (bold) carry the group's state on both sides and the sums; its partitions sit
indented under it with the source committed offset, the translated target offset, what
moving now would cost (records re-read / skipped), how the offset was found, the lag, the
target's committed offset and the drift between them, and the bound when the exact
offset cannot be told. Rows are keyed and updated in place, like the lag pane's. When the
samples are old the pane says so.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from console.views.offsets import OffsetRow, OffsetsView
from console.views.status import UNKNOWN
from widgets.style import figure, number, status_text
from widgets.summary import Summary
from widgets.table import FitTable


class _Label(Text):
    """A row label that knows its row key, so the table can be sorted by our ranking."""

    row_key: str = ""


def cost(replay: int | None, skip: int | None) -> Text:
    """``replay / skip`` right-aligned; an unknown figure reads as the one symbol."""

    def one(value: int | None) -> str:
        return UNKNOWN if value is None else figure(value)

    return Text(f"{one(replay)} / {one(skip)}", justify="right")


def _cell(value: str | int | None, unit: str = "") -> Text:
    if isinstance(value, str):
        return Text(value, justify="right")
    return number(value, unit)


EMPTY = "No offsets sampled yet:\nthe shadow copy's step starts the sampler."
"""Two lines: a summary line is shortened at a word to the pane, never wrapped."""


class OffsetsPane(Vertical):
    """Shows the latest offsets view."""

    # At 80x24 the first four columns show (as the lag pane's do); the rest scroll.
    COLUMNS = (
        ("part", "Group/part", 10, False),
        ("verdict", "Verdict", 9, False),
        ("source", "Source", 8, True),
        ("target", "Target", 8, True),
        ("cost", "Re-read/skip", 12, True),
        ("method", "Method", 12, False),
        ("lag", "Lag", 9, True),
        ("tcommit", "Tgt commit", 10, True),
        ("drift", "Drift", 8, True),
        ("bound", "Bound", 16, False),
    )

    def compose(self) -> ComposeResult:
        yield Summary(EMPTY, classes="offsets-summary summary")
        yield FitTable(id="offsets-table", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Consumer offsets"
        table = self.query_one(DataTable)
        for key, label, width, right in self.COLUMNS:
            table.add_column(Text(label, justify="right") if right else label, key=key, width=width)

    def show(self, view: OffsetsView | None) -> None:
        summary = self.query_one(".offsets-summary", Summary)
        table = self.query_one(FitTable)
        if view is None or not view.rows:
            summary.update(
                Text(EMPTY)
                if view is None
                else Text("\n".join(view.lines) or "The plan names no consumer group.")
            )
            return
        as_of = view.as_of[11:19] if view.as_of else "--:--:--"
        stale = "  STALE" if view.stale else ""
        self.border_subtitle = f"as of {as_of} UTC{stale}"
        counts: dict[str, int] = {}
        for row in view.rows:
            if row.partition is None:
                counts[row.verdict] = counts.get(row.verdict, 0) + 1
        head = Text(
            f"{view.path}: "
            + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in sorted(counts.items()))
            + " group(s); re-read/skip if moved now",
            no_wrap=True,
            overflow="ellipsis",
        )
        if view.stale:
            head.append(f"\nSTALE: newest sample {as_of} UTC; is the sampler running?", "bold")
        for line in view.lines:
            head.append(f"\n{line}")
        summary.update(head)
        with self.app.batch_update():
            table.sync([(row.key, self._cells_for(row)) for row in view.rows], order_by="part")

    @staticmethod
    def _cells_for(row: OffsetRow) -> tuple:
        # Partitions sit indented under their group's row, so the label stays short.
        width = OffsetsPane.COLUMNS[0][2]
        if row.partition is None:
            label = _Label(row.group, style="bold")
        elif len(f"  {row.topic}:{row.partition}") <= width:
            label = _Label(f"  {row.topic}:{row.partition}")
        else:
            label = _Label(f"  {row.partition}")
        label.row_key = row.key
        return (
            label,
            status_text(row.verdict),
            _cell(row.source),
            _cell(row.target),
            cost(row.replay, row.skip),
            Text(row.method),
            number(row.lag, "rec"),
            number(row.target_committed),
            number(row.drift),
            Text(row.bound),
        )
