"""A one-row banner that keeps a broken audit chain in sight on dialogs.

The header bar says CHAIN BROKEN on the main screen; a dialog (help, a detail, a gate)
covers the header row, so each dialog shows this banner in its top row instead. It
renders the text it is given and hides itself when that is empty.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ChainBanner(Static):
    """``✗ CHAIN BROKEN: <what>`` across the top row of a dialog, or nothing."""

    DEFAULT_CSS = """
    ChainBanner {
        dock: top;
        height: 1;
        width: 100%;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, alert: str, **kwargs) -> None:
        super().__init__(Text(f"✗ {alert}", no_wrap=True, overflow="ellipsis"), **kwargs)
        self.display = bool(alert)
