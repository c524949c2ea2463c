"""The runbook pane: the five phases and their steps, each with its state in words."""

from __future__ import annotations

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

    def on_mount(self) -> None:
        self.border_title = "Runbook"

    def show(self, steps: list[StepView]) -> None:
        """Render the steps; updates prompts in place when the list is already built."""
        if self.option_count and all(self._has(s.id) for s in steps):
            for step in steps:
                self.replace_option_prompt(step.id, self._prompt(step))
            return
        options: list[Option] = []
        phase = None
        for step in steps:
            if step.phase != phase:
                phase = step.phase
                options.append(Option(Text(phase.upper(), style="bold"), disabled=True))
            options.append(Option(self._prompt(step), id=step.id))
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

    @staticmethod
    def _prompt(step: StepView) -> Text:
        title = Text(step.title, style="" if step.available else "dim")
        if step.instance:
            return Text.assemble("   ", state_text(step.state), " ", title)
        if not step.state:  # the heading of a step run per group or class
            return Text.assemble(" ", title, Text(" ▾", style="dim"))
        return Text.assemble(" ", state_text(step.state), " ", title)

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
