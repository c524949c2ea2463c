"""The inventory pane: both clusters side by side, topics and consumer groups, with what
does not add up. Figures are right-aligned with their units."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from widgets.state_style import number


@dataclass(frozen=True)
class TopicRow:
    """A plan topic on both sides."""

    name: str
    risk: str
    source_partitions: int | None
    target_partitions: int | None
    source_records: int | None
    target_records: int | None


@dataclass(frozen=True)
class GroupRow:
    """A consumer group on one side."""

    side: str
    id: str
    state: str
    members: int
    lag: int | None


@dataclass(frozen=True)
class InventoryView:
    """Everything the pane shows."""

    as_of: str
    clusters: list[str]
    topics: list[TopicRow]
    groups: list[GroupRow]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class InventoryPane(Vertical):
    """Shows the latest inventory, or says there is none yet."""

    DEFAULT_CSS = """
    InventoryPane {
        height: 1fr;
        border: round $primary;
        border-title-align: left;
    }
    InventoryPane > .inv-summary { height: auto; max-height: 6; padding: 0 1; }
    InventoryPane > DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("No inventory yet: run the Inventory step.", classes="inv-summary")
        yield DataTable(id="inv-topics", cursor_type="row")
        yield DataTable(id="inv-groups", cursor_type="row")

    def on_mount(self) -> None:
        self.border_title = "Inventory"
        topics = self.query_one("#inv-topics", DataTable)
        topics.add_column("Topic", key="topic", width=12)
        topics.add_column("Risk", key="risk", width=6)
        topics.add_column(Text("Parts s/t", justify="right"), key="parts", width=9)
        topics.add_column(Text("Source", justify="right"), key="src", width=11)
        topics.add_column(Text("Target", justify="right"), key="tgt", width=11)
        groups = self.query_one("#inv-groups", DataTable)
        groups.add_column("Side", key="side", width=6)
        groups.add_column("Group", key="group", width=12)
        groups.add_column("State", key="state", width=11)
        groups.add_column(Text("Memb", justify="right"), key="members", width=4)
        groups.add_column(Text("Lag", justify="right"), key="lag", width=10)
        topics.display = groups.display = False

    def show(self, view: InventoryView | None) -> None:
        summary = self.query_one(".inv-summary", Static)
        topics = self.query_one("#inv-topics", DataTable)
        groups = self.query_one("#inv-groups", DataTable)
        if view is None:
            summary.update("No inventory yet: run the Inventory step.")
            topics.display = groups.display = False
            return
        self.border_subtitle = f"as of {view.as_of[11:19]} UTC"
        text = Text("\n".join(view.clusters))
        for problem in view.problems:
            text.append(f"\nRED  {problem}", style="bold red")
        for note in view.notes:
            text.append(f"\nNOTE {note}", style="yellow")
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
                "topic": row.name,
                "risk": row.risk.upper(),
                "parts": parts,
                "src": number(row.source_records, "rec"),
                "tgt": number(row.target_records, "rec"),
            }
            _upsert(table, row.name, cells)

    @staticmethod
    def _fill_groups(table: DataTable, rows: list[GroupRow]) -> None:
        keys = {f"{r.side}/{r.id}" for r in rows}
        for key in [k.value for k in table.rows if k.value not in keys]:
            table.remove_row(key)
        for row in rows:
            cells = {
                "side": row.side,
                "group": row.id,
                "state": row.state,
                "members": number(row.members),
                "lag": number(row.lag, "rec"),
            }
            _upsert(table, f"{row.side}/{row.id}", cells)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _upsert(table: DataTable, key: str, cells: dict) -> None:
    """Update a row in place, or add it: tables are never cleared and refilled."""
    if key in table.rows:
        for column, value in cells.items():
            table.update_cell(key, column, value)
    else:
        table.add_row(*cells.values(), key=key)
