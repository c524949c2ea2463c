"""The form before a scorecard decision's gate: what to record on an area.

It only collects what the decision needs (an owner and a retest date; a waiver's reason
and expiry; a judgement's colour and note; why a waiver is withdrawn) and says who the
console thinks is at the keyboard. It returns the entries, or None on ``esc``; the gate
that follows shows exactly what will be recorded and asks for the area's name, and the
checks (an approver's login, a date in the future, an owner before a waiver) are the
gate's, the same as on the command line.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "owner": (
        ("owner", "Owner", "who fixes it (a person or a team)"),
        ("retest", "Retest by", "YYYY-MM-DD"),
    ),
    "waive": (
        ("reason", "Reason", "why it is acceptable to go on"),
        ("expires", "Expires", "YYYY-MM-DD (end of that day, UTC)"),
    ),
    "withdraw": (("note", "Why", "why the waiver ends now"),),
    "judge": (
        ("colour", "Colour", "green, yellow or red"),
        ("note", "Rests on", "what the judgement rests on"),
    ),
}
TITLES = {
    "owner": "Owner and retest date",
    "waive": "Waive",
    "withdraw": "Withdraw the waiver",
    "judge": "Judge by hand",
}


class DecisionDialog(ModalScreen[dict | None]):
    """Collects a decision's entries; returns them with ``action``, or None."""

    DEFAULT_CSS = """
    DecisionDialog { align: center middle; }
    DecisionDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    DecisionDialog .decision-title { text-style: bold; }
    DecisionDialog Input { padding: 0 1; background: $boost; margin-bottom: 1; }
    DecisionDialog Input:focus { background: $primary 40%; }
    DecisionDialog Horizontal { height: 1; align-horizontal: right; }
    DecisionDialog #decision-cancel, DecisionDialog #decision-next {
        margin-left: 1; min-width: 12; height: 1; border: none;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="decision.cancel")]

    def __init__(self, area: str, action: str, about: list[str]) -> None:
        super().__init__()
        self.area = area
        self.action = action
        self.about = about
        """What the area is now and who is at the keyboard, a line each."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text.assemble(
                    ("SCORECARD ", "bold reverse"), f" {TITLES[self.action]}: {self.area}"
                ),
                classes="decision-title",
            )
            yield Label("\n".join(self.about), markup=False)
            for key, label, hint in FIELDS[self.action]:
                yield Label(label)
                yield Input(placeholder=hint, id=f"decision-{key}", compact=True)
            with Horizontal():
                yield Button("Cancel", id="decision-cancel")
                yield Button("Next: gate", id="decision-next", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def values(self) -> dict[str, str]:
        out = {"action": self.action}
        for key, _label, _hint in FIELDS[self.action]:
            out[key] = self.query_one(f"#decision-{key}", Input).value.strip()
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.dismiss(self.values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.values() if event.button.id == "decision-next" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
