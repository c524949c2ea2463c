"""The step detail pane: what the highlighted step does, its state and why."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.views.runbook import StepDetail
from widgets.style import state_text


class StepDetailPane(Static):
    """A few lines about the highlighted step."""

    DEFAULT_CSS = """
    StepDetailPane {
        height: auto;
        max-height: 5;
        padding: 0 1;
        background: $boost;
    }
    """

    def show(self, detail: StepDetail) -> None:
        lines = Text.assemble(
            (f"{detail.phase} › {detail.title}", "bold"),
            "\n",
            state_text(detail.state),
            f" since {detail.updated_at[11:19]} UTC",
        )
        if detail.progress:
            lines.append(f"\n{detail.progress}", style="italic")
        if detail.reason:
            lines.append(f"\n{detail.reason}")
        if detail.now:
            lines.append(f"\n{detail.now}", style="bold")
        if detail.blocked:
            lines.append(f"\n{_blocked(detail.blocked)}", style="bold")
        elif detail.available:
            lines.append(f"\nenter: open the gate (type '{detail.confirm}')", style="dim")
        else:
            lines.append(f"\n{detail.summary}", style="dim")
            lines.append("\nNot available in this version.", style="dim")
        self.update(lines)


def _blocked(reason: str) -> str:
    return reason if reason.startswith("blocked") else f"blocked: {reason}"
