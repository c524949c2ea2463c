"""The inventory pane: both clusters side by side, topics and consumer groups, with what
does not add up. Figures are right-aligned with their units.

A topic's size here is its offset span (end minus start offset, per partition, summed)
as of the inventory, labelled ``offs``: it counts transaction markers and records since
compacted away too, and grows while producers write. It is not the comparison's record
count and the pane says so, rather than put two different numbers under one name.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from console.views.inventory import GroupRow, InventoryView, TopicRow
from console.views.status import status
from widgets.style import clip_words, number
from widgets.summary import Summary
from widgets.table import FitTable

TOPIC_WIDTH, GROUP_WIDTH = 9, 10
"""Name columns at 80x24; a longer name is shortened with ``…``, never silently cut."""


class InventoryPane(Vertical):
    """Shows the latest inventory, or says there is none yet."""

    class DetailRequested(Message):
        """The operator pressed enter on a row: show everything about it."""

        def __init__(self, kind: str, key: str) -> None:
            self.kind = kind
            self.key = key
            super().__init__()

    def compose(self) -> ComposeResult:
        yield Summary("No inventory yet: run the Inventory step.", classes="inv-summary summary")
        yield FitTable(id="inv-topics", cursor_type="row", cell_padding=1)
        yield FitTable(id="inv-groups", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Inventory"
        topics = self.query_one("#inv-topics", DataTable)
        # Widths fit the 45 columns the pane has at 80x24; wider terminals add room.
        topics.add_column("Topic", key="topic", width=TOPIC_WIDTH)
        topics.add_column("R", key="risk", width=1)
        topics.add_column(Text("Parts", justify="right"), key="parts", width=5)
        topics.add_column(Text("Src offs", justify="right"), key="src", width=9)
        topics.add_column(Text("Tgt offs", justify="right"), key="tgt", width=9)
        groups = self.query_one("#inv-groups", DataTable)
        groups.add_column("On", key="side", width=3)
        groups.add_column("Group", key="group", width=GROUP_WIDTH)
        groups.add_column("State", key="state", width=8)
        groups.add_column(Text("Mb", justify="right"), key="members", width=2)
        groups.add_column(Text("Lag", justify="right"), key="lag", width=10)
        topics.display = groups.display = False

    def show(self, view: InventoryView | None) -> None:
        summary = self.query_one(".inv-summary", Summary)
        topics = self.query_one("#inv-topics", DataTable)
        groups = self.query_one("#inv-groups", DataTable)
        if view is None:
            summary.update("No inventory yet: run the Inventory step.")
            topics.display = groups.display = False
            return
        self.border_subtitle = f"as of {view.as_of[11:19]} UTC"
        text = Text("\n".join(view.clusters))
        if view.problems:
            red = status("RED")
            text.append(
                f"\n{red.label} {len(view.problems)} problem(s): {view.problems[0]}", red.style
            )
        if view.notes:
            note = status("NOTE")
            text.append(f"\n{note.label} {len(view.notes)}: {view.notes[0]}", style=note.style)
        text.append("\noffs: offset span, not records · enter: all", style="dim")
        summary.update(text)
        topics.display = groups.display = True
        with self.app.batch_update():
            self._fill_topics(topics, view.topics)
            self._fill_groups(groups, view.groups)

    @staticmethod
    def _fill_topics(table: DataTable, rows: list[TopicRow]) -> None:
        wanted = {r.name for r in rows}
        for key in [k.value for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        for row in rows:
            parts = Text(
                f"{_n(row.source_partitions)}/{_n(row.target_partitions)}", justify="right"
            )
            cells = {
                "topic": clip_words(row.name, TOPIC_WIDTH),
                "risk": row.risk[:1].upper(),
                "parts": parts,
                "src": number(row.source_offsets),
                "tgt": number(row.target_offsets),
            }
            _upsert(table, row.name, cells)

    @staticmethod
    def _fill_groups(table: DataTable, rows: list[GroupRow]) -> None:
        keys = {f"{r.side}/{r.id}" for r in rows}
        for key in [k.value for k in table.rows if k.value not in keys]:
            table.remove_row(key)
        for row in rows:
            cells = {
                "side": {"source": "src", "target": "tgt"}.get(row.side, row.side),
                "group": clip_words(row.id, GROUP_WIDTH),
                "state": row.state,
                "members": number(row.members),
                "lag": number(row.lag, "rec"),
            }
            _upsert(table, f"{row.side}/{row.id}", cells)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        kind = "topic" if event.data_table.id == "inv-topics" else "group"
        self.post_message(self.DetailRequested(kind, str(event.row_key.value)))


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _upsert(table: DataTable, key: str, cells: dict) -> None:
    """Update a row in place, or add it: tables are never cleared and refilled."""
    if key in table.rows:
        for column, value in cells.items():
            table.update_cell(key, column, value)
    else:
        table.add_row(*cells.values(), key=key)
