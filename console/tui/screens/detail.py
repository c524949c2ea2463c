"""A row in full: everything the pane had no room for, scrollable; esc closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.chain_banner import ChainBanner


class DetailScreen(ModalScreen[None]):
    """Everything about one row, in full, scrollable; esc closes."""

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close", id="detail.close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield ChainBanner(getattr(self.app, "chain_alert", ""))
        with VerticalScroll() as scroll:
            scroll.border_title = self.title_text
            scroll.can_focus = True
            yield Static("\n".join(self.lines), markup=False)
            yield Static("[dim]esc closes[/dim]")
