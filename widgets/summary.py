"""A pane's summary lines: never wrapped, never cut mid-word.

Each line too long for the width the pane has now (80x24 or wider) is shortened at a
word, with ``…``; the full text is a keypress away (``enter`` on a row). Re-clipped
whenever the pane is resized, because it is clipped when drawn, not when given.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from widgets.style import clip_text


class Summary(Static):
    """Lines of text above a pane's table."""

    def __init__(self, text: str | Text = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = Text(text) if isinstance(text, str) else text

    def update(self, text: str | Text = "") -> None:  # type: ignore[override]
        self._text = Text(text) if isinstance(text, str) else text
        self.refresh(layout=True)

    def render(self) -> Text:
        width = self.content_region.width or self.size.width
        lines = self._text.split("\n", allow_blank=True)
        clipped = [clip_text(line, width) if width else line for line in lines]
        return Text("\n", no_wrap=True).join(clipped)
