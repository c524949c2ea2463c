"""Screens of the console other than the main one: help."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

COMMANDS = (
    ("run STEP", "open the gate of a step (e.g. run inventory)"),
    ("runbook | audit", "jump to that pane"),
    ("inventory | lag | comparison", "show that pane beside the runbook (also 1, 2, 3)"),
    ("live", "toggle live comparison of what is new (also l; x stops it)"),
    ("refresh", "re-read the run database now"),
    ("pause | resume", "stop or restart live refresh"),
    ("verify", "verify the audit chain now"),
    ("q | quit", "leave the console (running work is recorded)"),
)


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

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        names = {"question_mark": "?", "colon": ":", "escape": "esc"}
        keys.add_row("enter", "open the gate of the highlighted step, or a row's detail")
        for binding in self.app.BINDINGS:
            if isinstance(binding, Binding):
                keys.add_row(names.get(binding.key, binding.key), binding.description)
        keys.add_row("tab", "move between panes")
        keys.add_row("↑ ↓", "move in a list or table")
        commands = Table.grid(padding=(0, 2))
        commands.add_column(style="bold", no_wrap=True)
        commands.add_column()
        for verb, what in COMMANDS:
            commands.add_row(f":{verb}", what)
        with VerticalScroll():
            yield Static("[b]Keys[/b]")
            yield Static(keys)
            yield Static("\n[b]Commands[/b] (after [b]:[/b])")
            yield Static(commands)
            yield Static("\n[dim]esc closes this help[/dim]")


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
        with VerticalScroll() as scroll:
            scroll.border_title = self.title_text
            scroll.can_focus = True
            yield Static("\n".join(self.lines), markup=False)
            yield Static("[dim]esc closes[/dim]")
