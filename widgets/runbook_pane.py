"""The runbook pane: the five phases and their steps, each with its state in words."""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from console.views.runbook import StepView
from widgets.style import state_text


class RunbookPane(OptionList):
    """Phases as headings, steps under them. ``enter`` asks to run the highlighted step."""

    class StepChosen(Message):
        """The operator pressed enter on a step."""

        def __init__(self, step_id: str) -> None:
            self.step_id = step_id
            super().__init__()

    class StepFocused(Message):
        """The highlight moved to a step."""

        def __init__(self, step_id: str) -> None:
            self.step_id = step_id
            super().__init__()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._steps: list[StepView] = []

    def on_mount(self) -> None:
        self.border_title = "Runbook"

    def on_resize(self) -> None:
        if self._steps:
            self.show(self._steps)

    def show(self, steps: list[StepView]) -> None:
        """Render the steps; updates prompts in place when the list is already built."""
        self._steps = list(steps)
        width = self._title_room()
        if self.option_count and all(self._has(s.id) for s in steps):
            for step in steps:
                self.replace_option_prompt(step.id, self._prompt(step, width))
            return
        options: list[Option] = []
        phase = None
        for step in steps:
            if step.phase != phase:
                phase = step.phase
                options.append(Option(Text(phase.upper(), style="bold"), disabled=True))
            options.append(Option(self._prompt(step, width), id=step.id))
        self.clear_options()
        self.add_options(options)
        first = next((i for i, o in enumerate(options) if not o.disabled), None)
        self.highlighted = first

    def _has(self, step_id: str) -> bool:
        try:
            self.get_option(step_id)
        except Exception:  # noqa: BLE001 - OptionList raises its own lookup error
            return False
        return True

    def _title_room(self) -> int:
        """Cells a step's line has inside the pane (inside its scrollbar); 0 before the
        pane has a size."""
        return self.scrollable_content_region.width

    @staticmethod
    def _prompt(step: StepView, width: int = 0) -> Text:
        if step.instance:
            head = Text.assemble("   ", state_text(step.state), " ")
        elif not step.state:  # the heading of a step run per group or class
            head = Text(" ")
        else:
            head = Text.assemble(" ", state_text(step.state), " ")
        tail = "" if step.state else " ▾"
        # A title too long for the line continues under itself, not under the state.
        room = width - head.cell_len - len(tail)
        lines = textwrap.wrap(step.title, room) if room >= 12 else [step.title]
        style = "" if step.available else "dim"
        prompt = head.copy()
        indent = " " * head.cell_len
        for i, line in enumerate(lines or [""]):
            prompt.append(("\n" + indent if i else "") + line, style=style)
        if tail:
            prompt.append(tail, style="dim")
        return prompt

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.StepChosen(event.option.id))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.StepFocused(event.option.id))

    @property
    def current_step(self) -> str | None:
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id
