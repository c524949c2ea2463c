"""The comparison pane: one row per topic and check, drilled down to partitions and examples.

It renders a :class:`console.views.comparison.ComparisonView` it is given (the console
builds one in a worker with ``console.compare.history.load_view``) and never reads
Kafka or the run database. Verdicts read from the one status table (``✓ OK``,
``! WARN``, ``✗ RED``, ``? NO DATA``), colour only as a bonus; figures are right-aligned
with their unit.
Rows are updated in place by key, so a live comparison refreshing every few seconds
keeps the cursor where the operator left it.

Keys: ``enter`` on a topic row shows its partitions; ``enter`` on a partition row
posts :class:`ComparisonPane.DetailRequested` with the reason and examples in full;
``esc`` goes back up.
"""

from __future__ import annotations

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from console.views.comparison import ComparisonView, ResultRow, detail_lines
from console.views.status import status
from widgets.style import clip_words, number, status_text
from widgets.summary import Summary
from widgets.table import FitTable

# Widths that fit the 43 columns inside the pane's border at 80x24 (with one cell of
# padding each side of each column); wider panes add the two sides' record counts,
# then the reason.
_NARROW = (("topic", "Topic", 8), ("check", "Check", 9), ("verdict", "Verdict", 9))
_COUNT = ("count", "Found", 9)
_SIDES = (("source", "Source", 9), ("target", "Target", 9))
_REASON = ("reason", "Reason", 40)
WIDE_FROM = 66
REASON_FROM = 118


def verdict_text(verdict: str) -> Text:
    """A verdict as glyph plus word, padded so columns line up."""
    return status_text(verdict, width=9)


def records(value: int | None) -> Text:
    """A record count in at most 9 cells, right-aligned, with its unit."""
    return number(value, "rec")


class ComparisonPane(Vertical):
    """Shows a comparison window's verdicts, or says there is none yet."""

    BINDINGS = [
        Binding("escape", "back", "Back", show=False, id="comparison.back"),
    ]

    class DetailRequested(Message):
        """The operator pressed enter on a partition row: show it in full."""

        def __init__(self, row: ResultRow, title: str, lines: list[str]) -> None:
            self.row = row
            self.title = title
            self.lines = lines
            super().__init__()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.view: ComparisonView | None = None
        self.progress: str | None = None
        self.drilled: str | None = None
        """The topic row key whose partitions are shown, or None at the top."""
        self._wide = False
        self._reason = False

    def compose(self) -> ComposeResult:
        yield Summary("No comparison yet: run the Comparison step.", classes="cmp-summary summary")
        yield FitTable(id="cmp-table", cursor_type="row", cell_padding=1)

    def on_mount(self) -> None:
        self.border_title = "Comparison"
        table = self.query_one(DataTable)
        for key, label, width in (*_NARROW, _COUNT):
            table.add_column(_label(key, label), key=key, width=width)
        table.display = False

    # -- feeding ---------------------------------------------------------------------------

    def show(self, view: ComparisonView | None) -> None:
        """Render a view; rows are matched by key and updated where they stand."""
        self.view = view
        if view is not None and view.progress is not None:
            self.progress = view.progress
        table = self.query_one(DataTable)
        if view is None or view.window is None:
            table.display = False
            self._summary()
            return
        table.display = True
        stamp = (view.window.finished_at or view.window.started_at or "")[11:19]
        self.border_subtitle = f"as of {stamp} UTC" if stamp else ""
        if self.drilled is not None and self.drilled not in view.detail:
            self.drilled = None
        with self.app.batch_update():
            self._fill(table)
        self._summary()

    def show_progress(self, text: str | None) -> None:
        """A running comparison's progress (None once it ended); rows stay as they are."""
        self.progress = text
        self._summary()

    # -- rendering -------------------------------------------------------------------------

    def _rows(self) -> tuple[ResultRow, ...]:
        if self.view is None:
            return ()
        if self.drilled is None:
            return self.view.rows
        return self.view.detail.get(self.drilled, ())

    def _fill(self, table: DataTable) -> None:
        rows = self._rows()
        wanted = {r.key for r in rows}
        for key in [k.value for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        for row in rows:
            cells = self._cells(row)
            if row.key in table.rows:
                for column, value in cells.items():
                    table.update_cell(row.key, column, value)
            else:
                table.add_row(*cells.values(), key=row.key)
        # A row that appears later (a check a new partition needed) goes to the end:
        # moving rows under the operator's cursor is worse than a slightly odd order.

    def _cells(self, row: ResultRow) -> dict:
        if self.drilled is None:
            topic = row.topic
        elif row.partition is None:
            topic = "(topic)"
        else:
            topic = f"p{row.partition}"
        cells = {
            "topic": clip_words(topic, _NARROW[0][2]),
            "check": row.label,
            "verdict": verdict_text(row.verdict),
            "count": records(row.count),
        }
        if self._wide:
            cells["source"] = records(row.source)
            cells["target"] = records(row.target)
        if self._reason:
            cells["reason"] = Text(row.reason, no_wrap=True, overflow="ellipsis")
        return cells

    def _summary(self) -> None:
        line = Text()
        view = self.view
        if self.progress:
            line.append("▶ ", style="bold yellow")
            line.append(self.progress)
        elif view is None or view.window is None:
            line.append("No comparison yet: run the Comparison step.")
        elif self.drilled is not None:
            topic, check, _ = self.drilled.split("/", 2)
            line.append(f"{topic} › {check}: partitions · enter: examples · esc: back")
        else:
            w = view.window
            state = "" if w.status == "done" else f" {w.status.upper()}"
            line.append(f"#{w.id}{state} {w.label} · ")
            if view.red:
                red = status("RED")
                line.append(f"{red.glyph} {view.red} {red.word}", style=red.style)
            elif view.no_data:
                gap = status("NO_DATA")
                line.append(f"{gap.glyph} {view.no_data} {gap.word}", style=gap.style)
            else:
                ok = status("OK")
                line.append(f"{ok.glyph} no RED", style=ok.style)
        self.query_one(".cmp-summary", Summary).update(line)

    def on_resize(self, event) -> None:
        inner = event.size.width - 2
        wide, reason = inner >= WIDE_FROM, inner >= REASON_FROM
        table = self.query_one(DataTable)
        # Whatever the other columns leave (each column has a cell of padding each side).
        others = sum(w for _k, _l, w in (*_NARROW, _COUNT, *_SIDES)) + 2 * 7
        reason_width = max(_REASON[2], inner - others - 1)
        if reason and self._reason:
            table.columns[_REASON[0]].width = reason_width
            table.refresh()
        if (wide, reason) == (self._wide, self._reason):
            return
        if wide != self._wide:
            for key, label, width in _SIDES:
                if wide:
                    table.add_column(_label(key, label), key=key, width=width)
                else:
                    table.remove_column(key)
        if reason != self._reason:
            key, label, width = _REASON
            if reason:
                table.add_column(label, key=key, width=reason_width)
            else:
                table.remove_column(key)
        self._wide, self._reason = wide, reason
        if self.view is not None:
            self._fill(table)

    # -- keys ------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.view is None:
            return
        key = str(event.row_key.value)
        if self.drilled is None:
            self.drilled = key
            table = self.query_one(DataTable)
            self._fill(table)
            table.move_cursor(row=0)
            self._summary()
            return
        row = next((r for r in self._rows() if r.key == key), None)
        if row is not None:
            title, lines = detail_lines(row, self.view.window)
            self.post_message(self.DetailRequested(row, title, lines))

    def action_back(self) -> None:
        if self.drilled is None:
            raise SkipAction()  # nothing to back out of here: let the app have esc
        back_to = self.drilled
        self.drilled = None
        table = self.query_one(DataTable)
        self._fill(table)
        if back_to in table.rows:
            table.move_cursor(row=table.get_row_index(back_to))
        self._summary()


def _label(key: str, label: str) -> Text | str:
    return Text(label, justify="right") if key in ("count", "source", "target") else label
