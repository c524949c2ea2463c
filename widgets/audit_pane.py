"""The audit pane: the newest audit entries, appended in place as they arrive.

Action and step columns are as wide as their longest entry, so an action name is never
cut (``step.interrupted``, ``mirror.create_topic``); the outcome gets the rest of the
row and is shortened at a word, with ``…``. ``enter`` on a row asks for the whole entry.
The cursor follows new entries while it is on the newest one; moved up to read an older
entry, it stays there.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from console.views.audit import AuditRow
from widgets.style import clip_words
from widgets.table import FitTable

_FIXED = ("seq", "time", "action", "step")


class AuditPane(FitTable):
    """Keeps the last ``keep`` entries; new rows are added, old ones dropped, never refilled."""

    class EntryChosen(Message):
        """The operator pressed enter on an entry: show all of it."""

        def __init__(self, seq: int) -> None:
            self.seq = seq
            super().__init__()

    def __init__(self, *, keep: int = 200, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.keep = keep
        self._last_seq = 0
        self._outcomes: dict[str, str] = {}
        self._outcome_width = 0

    def on_mount(self) -> None:
        self.border_title = "Audit log"
        for key, label in (("seq", "#"), ("time", "UTC"), ("action", "Action"), ("step", "Step")):
            self.add_column(
                Text(label, justify="right") if key == "seq" else label, key=key, width=len(label)
            )
        self.add_column("Outcome", key="outcome", width=20)
        self.columns["time"].width = 8

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def append(self, rows: list[AuditRow], *, footer: str | None = None) -> None:
        """Add entries newer than what is shown; follow them if the cursor was on the newest."""
        new = [r for r in rows if r.seq > self._last_seq]
        following = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        with self.app.batch_update():
            for row in new:
                key = str(row.seq)
                self._outcomes[key] = row.outcome
                self._widen("seq", len(key))
                self._widen("action", len(row.action))
                self._widen("step", len(row.step))
                self.add_row(
                    Text(key, justify="right"),
                    row.time,
                    row.action,
                    row.step,
                    clip_words(row.outcome, self._outcome_width or 20),
                    key=key,
                )
                self._last_seq = row.seq
            while self.row_count > self.keep:
                oldest = self.coordinate_to_cell_key((0, 0)).row_key
                self._outcomes.pop(str(oldest.value), None)
                self.remove_row(oldest)
        if new:
            self._fit_outcome()
            if following:
                self.move_cursor(row=self.row_count - 1, animate=False)
                # The first rows arrive before the table has its size, when the cursor
                # cannot be scrolled into view: scroll once it is laid out, or the pane
                # opens on the oldest entries under a footer counting the newest.
                self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)
        if footer is not None:
            self.border_subtitle = footer

    def show_upto(self, rows: list[AuditRow], *, footer: str | None = None) -> None:
        """A replay's view: exactly these entries (up to the one replayed), the cursor on
        the last. Moving back a step rebuilds the table; moving on appends."""
        last = rows[-1].seq if rows else 0
        if last < self._last_seq:
            with self.app.batch_update():
                self.clear()
                self._outcomes.clear()
                self._last_seq = 0
        self.append(rows, footer=footer)
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def _widen(self, key: str, width: int) -> None:
        # Columns as wide as their longest entry so far: widths set here, not measured
        # by the table later, so the outcome's share is known when rows are added.
        column = self.columns[key]
        column.width = max(column.width, width)

    def on_resize(self) -> None:
        self._fit_outcome()

    def _fit_outcome(self, force: bool = False) -> None:
        """Give the outcome what the other columns leave, and shorten outcomes to it."""
        if not self.columns or not self.size.width:
            return
        padding = 2 * self.cell_padding
        used = sum(self.columns[k].width + padding for k in _FIXED)
        # The outcome's own padding, and a cell for the vertical scrollbar.
        width = max(10, self.size.width - used - padding - 1)
        if width == self._outcome_width and not force:
            return
        self._outcome_width = width
        self.columns["outcome"].width = width
        with self.app.batch_update():
            for key, outcome in self._outcomes.items():
                self.update_cell(key, "outcome", clip_words(outcome, width))
        self.refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.EntryChosen(int(str(event.row_key.value))))
