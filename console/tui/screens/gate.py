"""The gate: a modal that says exactly what a step will read or change, and opens only on
the typed confirmation word.

Focus starts on Cancel and ``esc`` cancels, so a stray ``enter`` never runs
anything. A key pressed before the gate was on screen (the operator kept typing while
a slow preview was worked out) or within a short guard after it appeared is dropped,
so it can neither cancel nor confirm a gate nobody has read yet. The dialog only
returns what was typed (or None for cancel); the caller records the decision in the
audit log before anything runs.

Notices are not shown over the gate (they could hide its buttons or what it says);
the app holds the ones that arrive while it is open and the gate says how many wait.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.views.gate import GateView
from widgets.chain_banner import ChainBanner


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
    GateDialog #gate-more { color: $text-muted; display: none; }
    GateDialog .gate-error { color: $error; width: 100%; height: auto; }
    GateDialog .gate-warning { color: $warning; width: 100%; height: auto; }
    GateDialog .gate-held { color: $text-muted; width: 100%; height: auto; }
    GateDialog Input { padding: 0 1; background: $boost; }
    GateDialog Input:focus { background: $primary 40%; }
    /* Toasts stay off the gate: the app holds new ones until it closes. */
    GateDialog ToastHolder { display: none; }
    GateDialog Horizontal { height: 1; align-horizontal: right; margin-top: 1; }
    GateDialog #gate-cancel, GateDialog #gate-confirm {
        margin-left: 1; min-width: 12; height: 1; border: none;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="gate.cancel"),
        # What the gate says can be longer than 80x24 shows; these scroll it wherever the
        # focus is (the field and the buttons have no use for them).
        Binding("up", "scroll_lines(-1)", "Scroll up", show=False, id="gate.scroll-up"),
        Binding("down", "scroll_lines(1)", "Scroll down", show=False, id="gate.scroll-down"),
        Binding("pageup", "scroll_lines(-8)", show=False, id="gate.page-up"),
        Binding("pagedown", "scroll_lines(8)", show=False, id="gate.page-down"),
    ]

    class Refused(Message):
        """The operator submitted a word that is not the gate's: to be audited. What was
        typed travels only in memory; the audit entry records its length, never it."""

        def __init__(self, step: str, typed: str) -> None:
            self.step = step
            self.typed = typed
            super().__init__()

    GUARD_S = 0.4
    """Keys pressed within this long after the gate appeared are dropped (seconds)."""

    def __init__(self, gate: GateView, *, blink: bool = True, guard_s: float = GUARD_S) -> None:
        super().__init__()
        self.gate = gate
        self.blink = blink
        self.guard_s = guard_s
        self.shown_at: float | None = None
        """When the gate was first on screen (``time.monotonic``, as key events are
        stamped); None until then. Keys stamped earlier, or within ``guard_s`` after,
        are dropped."""

    def compose(self) -> ComposeResult:
        gate = self.gate
        kind = "CHANGES CLUSTERS" if gate.mutating else "READ-ONLY"
        if gate.kind == "local":
            kind = "RUN DATABASE ONLY"
        yield ChainBanner(getattr(self.app, "chain_alert", ""))
        with Vertical():
            yield Label(
                Text.assemble(("GATE ", "bold reverse"), f" {gate.title}  [{kind}]"),
                classes="gate-title",
            )
            # Not focusable: from Cancel, one tab reaches the confirmation field.
            with VerticalScroll(classes="gate-lines", can_focus=False):
                for line in gate.lines:
                    # A line too long for the dialog continues under its own first word,
                    # not at the dialog's edge (an indented detail read as a new item).
                    text = line.lstrip(" ")
                    item = Static(text or " ", markup=False)
                    item.styles.padding = (0, 0, 0, len(line) - len(text))
                    yield item
            yield Label("↑ ↓ scroll: there is more than fits", id="gate-more")
            for warning in gate.warnings:
                # Wrapped, never cut, above the field: read before anything is typed.
                yield Label(Text(f"! {warning}", style="bold"), classes="gate-warning")
            if gate.blocked:
                # Wrapped, never cut: the reason is what the operator acts on.
                yield Label(Text(f"BLOCKED: {gate.blocked}", style="bold"), classes="gate-error")
            else:
                yield Label(Text.assemble("Type ", (gate.confirm, "bold"), " to proceed:"))
                # Compact: one row with the text in it. The bordered default is three rows
                # and, squeezed into the dialog, showed only its borders.
                field = Input(placeholder="(type here)", id="gate-input", compact=True)
                field.cursor_blink = self.blink
                yield field
                yield Label("", classes="gate-error", id="gate-error")
            yield Label("", classes="gate-held", id="gate-held")
            with Horizontal():
                yield Button("Cancel", id="gate-cancel", variant="default")
                if not gate.blocked:
                    yield Button("Confirm", id="gate-confirm", variant="warning", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#gate-cancel", Button).focus()
        self.query_one("#gate-held", Label).display = False
        self.call_after_refresh(self._shown)
        self.call_after_refresh(self._say_more)

    def _shown(self) -> None:
        self.shown_at = time.monotonic()

    def on_key(self, event: events.Key) -> None:
        # Runs as the key bubbles up from the focused widget, before the app looks up
        # bindings (a button's enter, tab, esc): stopping it here drops the key.
        if self.shown_at is None or event.time < self.shown_at + self.guard_s:
            event.stop()
            event.prevent_default()

    def action_scroll_lines(self, rows: int) -> None:
        self.query_one(".gate-lines", VerticalScroll).scroll_relative(y=rows, animate=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self._say_more)

    def _say_more(self) -> None:
        more = self.query_one(".gate-lines", VerticalScroll).max_scroll_y > 0
        self.query_one("#gate-more", Label).display = more

    def held(self, count: int) -> None:
        """Say how many notices wait until the gate closes."""
        label = self.query_one("#gate-held", Label)
        label.display = count > 0
        label.update(f"{count} notice(s) held until this gate closes")

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
            # Audited as the headless path audits it (the word did not match, and its
            # length); the gate stays open to be corrected.
            self.post_message(self.Refused(self.gate.step, typed))
            return
        self.dismiss(typed)

    def action_cancel(self) -> None:
        self.dismiss(None)
