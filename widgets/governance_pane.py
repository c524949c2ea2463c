"""The governance pane: every difference between source and target, with its decision.

One row per item (number, decision, the difference in words); the summary says how many
are undecided and, always, what was not compared and why (client quotas without the
rights to read them, schema subjects without a registry). Keys on a row: ``a`` accept,
``y`` apply (only where cutover can make the target match), ``s`` skip, ``enter`` the
whole item. Decisions are recorded by the app (audited, with who decided); the pane
only asks.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from console.views.governance import GovernanceRow, GovernanceView
from widgets.style import status_text
from widgets.summary import Summary
from widgets.table import FitTable

EMPTY = "No governance diff yet:\nrun Compare governance."


class GovernancePane(Vertical):
    """Shows the latest governance diff and takes decisions on its rows."""

    BINDINGS = [
        Binding("enter", "detail", "Item", id="governance-detail", show=False),
        Binding("a", "decide('accept')", "Accept", id="governance-accept", show=False),
        Binding("y", "decide('apply')", "Apply", id="governance-apply", show=False),
        Binding("s", "decide('skip')", "Skip", id="governance-skip", show=False),
    ]

    COLUMNS = (
        ("n", "#", 3, True),
        ("decision", "Decision", 11, False),
        ("what", "Difference", 60, False),
    )

    class DecisionRequested(Message):
        """The operator decided an item (the app records it)."""

        def __init__(self, key: str, decision: str) -> None:
            super().__init__()
            self.key = key
            self.decision = decision

    class DetailRequested(Message):
        """The operator asked for a whole item."""

        def __init__(self, title: str, lines: list[str]) -> None:
            super().__init__()
            self.title = title
            self.lines = lines

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rows: dict[str, GovernanceRow] = {}
        self._not_compared: list[str] = []

    def compose(self) -> ComposeResult:
        yield Summary(EMPTY, classes="governance-summary summary")
        yield FitTable(id="governance-table", cursor_type="row", cell_padding=1, flex="what")

    def on_mount(self) -> None:
        self.border_title = "Governance"
        table = self.query_one(DataTable)
        for key, label, width, right in self.COLUMNS:
            table.add_column(Text(label, justify="right") if right else label, key=key, width=width)
        table.fit_flex()  # the difference takes the rest of the row, cut at a word

    def show(self, view: GovernanceView | None) -> None:
        summary = self.query_one(Summary)
        table = self.query_one(FitTable)
        if view is None:
            summary.update(EMPTY)
            return
        self.border_subtitle = f"as of {view.as_of[11:19]} UTC"
        self._not_compared = list(view.not_compared)
        c = view.counts
        head = Text(f"{c.get('items', 0)} differences, {c.get('undecided', 0)} undecided")
        head.append(
            f"\ndecided: {c.get('apply', 0)} apply, {c.get('accept', 0)} accept, "
            f"{c.get('skip', 0)} skip"
        )
        if view.not_compared:
            names = ", ".join(line.partition(":")[0] for line in view.not_compared)
            head.append(f"\nNOT COMPARED: {names} (enter: why)", style="bold")
        head.append("\na accept  y apply  s skip  enter: the item", style="dim")
        for line in view.problems:
            head.append(f"\nPROBLEM {line}", style="bold red")
        summary.update(head)
        with self.app.batch_update():
            self._apply(table, view.rows)

    def _apply(self, table: FitTable, rows: list[GovernanceRow]) -> None:
        self._rows = {row.key: row for row in rows}
        table.sync(
            (
                row.key,
                (
                    Text(str(row.number), justify="right"),
                    status_text(row.decision or "undecided", width=11),
                    Text(row.what),
                ),
            )
            for row in rows
        )

    def _current(self) -> GovernanceRow | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        return self._rows.get(key)

    def action_decide(self, decision: str) -> None:
        row = self._current()
        if row is not None:
            self.post_message(self.DecisionRequested(row.key, decision))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter itself (select the row); the detail follows from that.
        event.stop()
        self.action_detail()

    def action_detail(self) -> None:
        row = self._current()
        if row is None:
            return
        decided = (
            f"{row.decision} by {row.decided_by} at {row.decided_at}"
            + (f": {row.reason}" if row.reason else "")
            if row.decision
            else "UNDECIDED"
        )
        lines = [
            row.what,
            "",
            f"source: {row.source}",
            f"target: {row.target}",
            f"decision: {decided}",
            f"apply would: {row.fix}" if row.fix else f"cannot apply: {row.why_not}",
            "",
            f"key: {row.key}",
            f"from the command line: cutover governance RUN.db --decide {row.number} --as accept",
            *(["", "Not compared in this diff:"] if self._not_compared else []),
            *(f"  {line}" for line in self._not_compared),
        ]
        self.post_message(self.DetailRequested(f"Governance item {row.number}", lines))
