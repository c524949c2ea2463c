"""The one table every pane uses: a DataTable that never shows a cut-off word.

A pane at 80x24 has about 45 cells; its table has more columns than that and scrolls
sideways (the arrows). A plain DataTable shows whatever falls inside the window, so the
column at the edge read as another word ("Targe" for Target, "absen" for absent) and a
figure lost its unit ("Lag s" read "Lag" once a scrollbar took two cells). Here a column
only partly inside the window is left blank, on whichever edge, until it is scrolled
fully into view; and a cell wider than its column is shortened at a word with ``…``
(the whole value is a keypress away in each pane's detail).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

from widgets.style import clip_text, clip_words


class FitTable(DataTable):
    """A DataTable whose visible columns are whole and whose cells fit their column."""

    def __init__(self, *args, flex: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.flex = flex
        """The key of a text column that takes the width the others leave (a pane's
        description column), its cells shortened at a word to it and re-shortened from
        their whole text when the table is resized."""
        self._flex_values: dict[RowKey, CellType] = {}
        self._shown: dict[str, tuple] = {}
        self._shown_order: list[str] = []

    def sync(self, rows: Iterable[tuple[str, tuple]], *, order_by: str | None = None) -> None:
        """Show exactly these rows, given as (key, cells), changing the table in place: rows
        no longer given go, new ones are added, and only the cells that changed are
        rewritten. A pane refreshed every second never refills its table, so the cursor and
        the scroll stay where the operator left them.

        With ``order_by``, the rows are also put in the order given, by sorting on that
        column: its cells must carry their row's key as ``row_key`` (a label subclass).
        """
        rows = list(rows)
        wanted = {key for key, _ in rows}
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key]
        columns = [c.key.value for c in self.ordered_columns]
        for key, cells in rows:
            old = self._shown.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old != cells:
                for column, new, before in zip(columns, cells, old, strict=True):
                    if new != before:
                        self.update_cell(key, column, new)
            self._shown[key] = cells
        if order_by is None:
            return
        order = [key for key, _ in rows]
        if order != self._shown_order:
            rank = {key: i for i, key in enumerate(order)}
            self.sort(order_by, key=lambda cell: rank.get(cell.row_key, len(rank)))
            self._shown_order = order

    def on_resize(self) -> None:
        self.fit_flex()

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        # Textual moves the thumb with the scroll only while the bar is shown: a table
        # scrolled to its end before its bar appeared (rows added before its first layout)
        # drew the thumb at the top, saying "older entries below" of the newest ones, on
        # some runs and not others.
        if shown:
            self.vertical_scrollbar.position = self.scroll_y

    def fit_flex(self) -> None:
        """Give the flex column what the other columns leave inside the scrollbar."""
        key = ColumnKey(self.flex) if self.flex else None
        column = self.columns.get(key) if key else None
        if column is None or not self.size.width:
            return
        others = sum(c.get_render_width(self) for c in self.ordered_columns if c.key != key)
        scrollbar = self.styles.scrollbar_size_vertical
        width = max(8, self.size.width - others - self.cell_padding - scrollbar)
        if width == column.width:
            return
        column.width = width
        for row_key, value in self._flex_values.items():
            if row_key in self._row_locations:
                super().update_cell(row_key, key, self._fit(key, value))
        self.refresh()

    def column_spans(self) -> list[tuple[int, int]]:
        """Where each column starts and ends, in cells from the table's left edge."""
        spans, x = [], 0
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            spans.append((x, x + width))
            x += width
        return spans

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        # Inside the scrollbars: what the operator actually sees of the rows.
        width = self.scrollable_content_region.width
        left = self.scroll_offset.x
        right = left + width
        spans = self.column_spans()
        if not width or not spans or spans[-1][1] <= right and left == 0:
            return strip
        # A column is whole when its text is inside the window; its right-hand padding
        # may fall outside (it is blank anyway).
        pad = self.cell_padding
        shown = [(a, b) for a, b in spans if a >= left and b - pad <= right]
        if not shown:
            # Narrower than one column: showing part of it beats showing nothing.
            return strip
        start, end = shown[0][0] - left, min(shown[-1][1], right) - left
        total = strip.cell_length  # the rows are drawn under the scrollbar too
        if start == 0 and end >= width and len(shown) == sum(a < right for a, _ in spans):
            return strip
        # Blank, in the table's own background, what belongs to a partly shown column.
        blank = self.rich_style
        parts = []
        if start:
            parts.append(Strip([Segment(" " * start, blank)], start))
        parts.append(strip.crop(start, end))
        if end < total:
            parts.append(Strip([Segment(" " * (total - end), blank)], total - end))
        return Strip.join(parts)

    def _fit(self, column_key: ColumnKey | str, value: CellType) -> CellType:
        column = self.columns.get(
            ColumnKey(column_key) if isinstance(column_key, str) else column_key
        )
        if column is None or column.auto_width or not column.width:
            return value
        width = column.width
        if isinstance(value, str) and len(value) > width:
            return clip_words(value, width)
        # Only plain Text: a pane's own Text subclass (a label carrying its row key)
        # is shortened by the pane, which knows what the label must keep.
        if type(value) is Text and value.cell_len > width:
            return clip_text(value, width)
        return value

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: Any = None,
    ) -> RowKey:
        # More cells than columns is the DataTable's own error to raise, so keep them all.
        columns = self.ordered_columns
        fitted = [
            self._fit(columns[i].key, cell) if i < len(columns) else cell
            for i, cell in enumerate(cells)
        ]
        row_key = super().add_row(*fitted, height=height, key=key, label=label)
        if self.flex:
            flex = [i for i, c in enumerate(columns) if c.key == ColumnKey(self.flex)]
            if flex and flex[0] < len(cells):
                self._flex_values[row_key] = cells[flex[0]]
        return row_key

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        self._flex_values.pop(RowKey(row_key) if isinstance(row_key, str) else row_key, None)

    def clear(self, columns: bool = False) -> FitTable:
        self._flex_values.clear()
        self._shown.clear()
        self._shown_order = []
        super().clear(columns)
        return self

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: CellType,
        *,
        update_width: bool = False,
    ) -> None:
        if self.flex and column_key == self.flex:
            self._flex_values[RowKey(row_key) if isinstance(row_key, str) else row_key] = value
        super().update_cell(
            row_key, column_key, self._fit(column_key, value), update_width=update_width
        )
