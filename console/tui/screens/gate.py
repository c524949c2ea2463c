"""The gate: a modal that says exactly what a step will read or change, and opens only on
the typed confirmation word.

Focus starts on Cancel and ``esc`` cancels, so a stray ``enter`` never runs
anything. The dialog only returns what was typed (or None for cancel); the caller
records the decision in the audit log before anything runs.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.views.gate import GateView


class GateDialog(ModalScreen[str | None]):
    """Returns the typed confirmation on Confirm, or None on Cancel/esc."""

    DEFAULT_CSS = """
    GateDialog { align: center middle; }
    GateDialog > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    GateDialog .gate-title { text-style: bold; }
    GateDialog .gate-lines { height: auto; max-height: 12; margin: 1 0 0 0; }
    GateDialog .gate-error { color: $error; height: 1; }
    GateDialog Input { height: 1; border: none; padding: 0 1; background: $boost; }
    GateDialog Input:focus { background: $primary 40%; }
    GateDialog Horizontal { height: 1; align-horizontal: right; margin-top: 1; }
    GateDialog #gate-cancel, GateDialog #gate-confirm {
        margin-left: 1; min-width: 12; height: 1; border: none;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="gate.cancel"),
    ]

    def __init__(self, gate: GateView, *, blink: bool = True) -> None:
        super().__init__()
        self.gate = gate
        self.blink = blink

    def compose(self) -> ComposeResult:
        gate = self.gate
        kind = "CHANGES CLUSTERS" if gate.mutating else "READ-ONLY"
        with Vertical():
            yield Label(
                Text.assemble(("GATE ", "bold reverse"), f" {gate.title}  [{kind}]"),
                classes="gate-title",
            )
            # Not focusable: from Cancel, one tab reaches the confirmation field.
            with VerticalScroll(classes="gate-lines", can_focus=False):
                yield Static("\n".join(gate.lines), markup=False)
            if gate.blocked:
                yield Label(Text(f"BLOCKED: {gate.blocked}", style="bold"), classes="gate-error")
            else:
                yield Label(Text.assemble("Type ", (gate.confirm, "bold"), " to proceed:"))
                field = Input(placeholder=gate.confirm, id="gate-input")
                field.cursor_blink = self.blink
                yield field
                yield Label("", classes="gate-error", id="gate-error")
            with Horizontal():
                yield Button("Cancel", id="gate-cancel", variant="default")
                if not gate.blocked:
                    yield Button("Confirm", id="gate-confirm", variant="warning", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#gate-cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        matches = event.value.strip() == self.gate.confirm
        self.query_one("#gate-confirm", Button).disabled = not matches
        self.query_one("#gate-error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "gate-confirm":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        typed = self.query_one("#gate-input", Input).value.strip()
        if typed != self.gate.confirm:
            self.query_one("#gate-error", Label).update(
                f"That is not '{self.gate.confirm}'. Type it exactly, or esc to cancel."
            )
            return
        self.dismiss(typed)

    def action_cancel(self) -> None:
        self.dismiss(None)
