"""The help screen: every key and ``:`` command, drawn from the command table.

The rows come from :func:`console.tui.commands.help_rows`, so the help can never
disagree with what the keys and the command bar do, and shows the user's own keys
when a keymap rebound them.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.chain_banner import ChainBanner


class HelpScreen(ModalScreen[None]):
    """Every key and command, so the footer can stay short."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]], *, db: str = "") -> None:
        super().__init__()
        self.rows = rows
        """``(key, :command, what it does)``, in the command table's order."""
        self.db = db
        """The run database's path, so the operator knows which run this is."""

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, command, what in self.rows:
            table.add_row(key, command, what)
        yield ChainBanner(getattr(self.app, "chain_alert", ""))
        with VerticalScroll():
            if self.db:
                yield Static(Text.assemble(("Run database ", "bold"), self.db, "\n"))
            yield Static("[b]Keys and commands[/b] (commands after [b]:[/b])")
            yield Static(table)
            yield Static("\n[dim]esc closes this help[/dim]")
