"""A pane's summary lines: never cut mid-word, wrapped where the pane has room.

A line too long for the width the pane has now (80x24 or wider) is broken at a word onto
the next row, indented, while the summary stays within its height (``max-height`` in
the stylesheet, so the table below keeps its rows); a line that still does not fit is
shortened at a word, with ``…``, and the full text is a keypress away (``enter`` on a
row). Laid out when drawn, not when given, so a resize lays it out again.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from widgets.style import clip_text, wrap_text


class Summary(Static):
    """Lines of text above a pane's table."""

    def __init__(self, text: str | Text = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = Text(text) if isinstance(text, str) else text

    def update(self, text: str | Text = "") -> None:  # type: ignore[override]
        self._text = Text(text) if isinstance(text, str) else text
        self.refresh(layout=True)

    def _rows(self) -> int | None:
        """How many rows the summary may take: its fixed height, else its max-height."""
        for scalar in (self.styles.height, self.styles.max_height):
            if scalar is not None and scalar.is_cells:
                return int(scalar.value)
        return None

    def render(self) -> Text:
        width = self.content_region.width or self.size.width
        lines = self._text.split("\n", allow_blank=True)
        if not width:
            return Text("\n", no_wrap=True).join(lines)
        budget = self._rows()
        # Rows left over once every line has one: what wrapping may take.
        spare = len(lines) * 4 if budget is None else max(0, budget - len(lines))
        out: list[Text] = []
        for line in lines:
            if line.cell_len <= width or not spare:
                out.append(clip_text(line, width))
                continue
            rows = wrap_text(line, width, 1 + spare)
            spare -= len(rows) - 1
            out.extend(rows)
        return Text("\n", no_wrap=True).join(out)
