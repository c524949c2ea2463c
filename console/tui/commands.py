"""The console's one command table: what each key and each ``:`` command does.

Every entry names an action of the app and says what it does in a line. The table
drives, with nothing kept in sync by hand:

* the key bindings (:func:`bindings`), each with an id, so a user keymap can rebind it
  (:mod:`console.tui.keymap`);
* the ``:`` command bar (:func:`find`): ``:run inventory``, ``:lag``, ``:q``;
* the help screen (:mod:`console.tui.screens.help`), which lists every entry;
* Textual's command palette (``ctrl+p``), through :class:`CommandsProvider`.

A new command is one entry here and, when it needs one, an ``action_`` method on the
app.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.plan.steps import STEPS


@dataclass(frozen=True)
class Command:
    """One thing the operator can do, by key, by ``:`` command, or both."""

    help: str
    """What it does, in one line (the help screen and the command palette)."""
    action: str
    """The app action it runs, e.g. ``show_pane('lag', True)``."""
    verbs: tuple[str, ...] = ()
    """Words that run it from the ``:`` bar; the first is its name."""
    args: str = ""
    """The bar argument it takes, e.g. ``STEP``; passed to the action."""
    key: str | None = None
    """Its default key (Textual key names, comma-separated for several)."""
    binding: str | None = None
    """The binding id a keymap file uses to rebind the key."""
    title: str = ""
    """Its short name in the footer."""
    footer: bool = False
    """Shown in the footer (which stays short; the rest is under ``?``)."""
    priority: bool = False
    """The key works even while a field has focus (quit)."""
    replay: bool = False
    """Only in a replay (moving along the audit timeline); hidden in a live console."""


COMMANDS: tuple[Command, ...] = (
    Command(
        "every key and command: this screen",
        "help",
        verbs=("help",),
        key="question_mark",
        binding="help",
        title="Help",
        footer=True,
    ),
    Command(
        "the command bar; esc backs out",
        "command_bar",
        key="colon",
        binding="command",
        title="Command",
        footer=True,
    ),
    Command(
        "open the gate of the highlighted step, or of STEP",
        "gate",
        verbs=("run",),
        args="STEP",
        key="g",
        binding="run-step",
        title="Run step",
        footer=True,
    ),
    Command(
        "show the inventory beside the runbook",
        "show_pane('inventory', True)",
        verbs=("inventory",),
        key="1",
        binding="pane-inventory",
        title="Inventory",
    ),
    Command(
        "show the shadow lag beside the runbook",
        "show_pane('lag', True)",
        verbs=("lag",),
        key="2",
        binding="pane-lag",
        title="Lag",
    ),
    Command(
        "show the comparison beside the runbook",
        "show_pane('comparison', True)",
        verbs=("comparison",),
        key="3",
        binding="pane-comparison",
        title="Comparison",
    ),
    Command(
        "show the safe consumers beside the runbook",
        "show_pane('safe', True)",
        verbs=("safe",),
        key="4",
        binding="pane-safe",
        title="Safe consumers",
    ),
    Command(
        "show the governance diff beside the runbook (a accept, y apply, s skip)",
        "show_pane('governance', True)",
        verbs=("governance",),
        key="5",
        binding="pane-governance",
        title="Governance",
    ),
    Command(
        "show the network and cost scope beside the runbook",
        "show_pane('traffic', True)",
        verbs=("traffic",),
        key="6",
        binding="pane-traffic",
        title="Traffic",
    ),
    Command(
        "show the consumer groups' offsets beside the runbook",
        "show_pane('offsets', True)",
        verbs=("offsets",),
        key="7",
        binding="pane-offsets",
        title="Offsets",
    ),
    Command(
        "show the readiness scorecard beside the runbook",
        "show_pane('scorecard', True)",
        verbs=("scorecard",),
        key="8",
        binding="pane-scorecard",
        title="Scorecard",
    ),
    Command(
        "approve a cutover step (move-group:billing) or a waiver (waiver:N) as your login",
        "approve",
        verbs=("approve",),
        args="SUBJECT",
    ),
    Command(
        "replay: one audit entry back",
        "replay('back')",
        key="comma",
        binding="replay-back",
        title="back",
        footer=True,
        replay=True,
    ),
    Command(
        "replay: one audit entry forward",
        "replay('forward')",
        key="full_stop",
        binding="replay-forward",
        title="next",
        footer=True,
        replay=True,
    ),
    Command(
        "replay: back to the gate decision before",
        "replay('prev-gate')",
        key="less_than_sign",
        binding="replay-prev-gate",
        title="gate back",
        replay=True,
    ),
    Command(
        "replay: on to the next gate decision",
        "replay('next-gate')",
        key="greater_than_sign",
        binding="replay-next-gate",
        title="gate",
        footer=True,
        replay=True,
    ),
    Command(
        "replay: back to the failure before",
        "replay('prev-failure')",
        key="left_square_bracket",
        binding="replay-prev-failure",
        title="failure back",
        replay=True,
    ),
    Command(
        "replay: on to the next failure",
        "replay('next-failure')",
        key="right_square_bracket",
        binding="replay-next-failure",
        title="failure",
        footer=True,
        replay=True,
    ),
    Command(
        "replay: go to audit entry N (or first, last)",
        "replay",
        verbs=("at",),
        args="N",
        replay=True,
    ),
    Command(
        "live comparison of what is new, on or off",
        "live",
        verbs=("live",),
        key="l",
        binding="live-compare",
        title="Live compare",
    ),
    Command(
        "re-read the run database now",
        "refresh",
        verbs=("refresh",),
        key="r",
        binding="refresh",
        title="Refresh",
        footer=True,
    ),
    Command(
        "stop or restart live refresh",
        "pause",
        key="p",
        binding="pause",
        title="Pause",
        footer=True,
    ),
    Command("stop live refresh", "set_paused(True)", verbs=("pause",)),
    Command("restart live refresh", "set_paused(False)", verbs=("resume",)),
    Command(
        "cancel the running step or live comparison",
        "cancel_step",
        key="x",
        binding="cancel-step",
        title="Cancel step",
    ),
    Command(
        "back out of the bar, a dialog or a drill-down",
        "back",
        key="escape",
        binding="back",
        title="Back",
    ),
    Command(
        "leave the console; running work goes on",
        "quit",
        verbs=("q", "quit"),
        key="ctrl+q",
        binding="quit",
        title="Quit",
        footer=True,
        priority=True,
    ),
    Command("jump to the runbook", "focus_pane('runbook')", verbs=("runbook",)),
    Command("jump to the audit log", "focus_pane('audit')", verbs=("audit",)),
    Command("verify the audit chain now", "verify", verbs=("verify",)),
)

NAVIGATION: tuple[tuple[str, str], ...] = (
    ("enter", "open the gate of the highlighted step, or a row's detail"),
    ("tab", "move between panes"),
    ("↑ ↓", "move in a list or table"),
    ("ctrl+p", "search every command: the palette"),
)
"""Keys the panes and Textual own; listed in the help with the table."""

BY_VERB = {verb: command for command in COMMANDS for verb in command.verbs}

MUTATING = frozenset({"gate", "cancel_step", "live", "decide", "approve"})
"""Actions that change something (a step, a comparison, a decision, an approval): a
replay refuses each of them at once, before anything is looked up or asked for."""
REPLAY_ONLY = frozenset(c.action.partition("(")[0] for c in COMMANDS if c.replay)
"""Actions that exist only in a replay (moving along the timeline)."""


def bindings() -> list[Binding]:
    """The app's key bindings, each with its id, from the table."""
    return [
        Binding(
            c.key,
            c.action,
            c.title,
            show=c.footer,
            id=c.binding,
            priority=c.priority,
        )
        for c in COMMANDS
        if c.key is not None
    ]


def find(text: str) -> tuple[Command | None, list[str]]:
    """The command a ``:`` line names and its arguments (None when it names none)."""
    words = text.strip().lstrip(":").split()
    if not words:
        return None, []
    return BY_VERB.get(words[0].lower()), words[1:]


def action_with(command: Command, args: list[str]) -> str:
    """The action string that runs a command with the bar's arguments."""
    if not command.args or not args:
        return command.action
    return f"{command.action}({args[0]!r})"


@dataclass(frozen=True)
class PaletteEntry:
    """One line of the command palette."""

    text: str
    help: str
    action: str


def palette_entries() -> Iterator[PaletteEntry]:
    """What the command palette offers: every ``:`` command, and ``run`` for each step."""
    for command in COMMANDS:
        if not command.verbs or command.args not in ("", "STEP"):
            continue  # a command that needs an argument the palette cannot give
        if command.args == "STEP":
            for step in STEPS:
                yield PaletteEntry(
                    f"run {step.id}",
                    f"open the gate of '{step.title}'",
                    action_with(command, [step.id]),
                )
        else:
            # The palette is searched by name: the longest verb is the name (quit, not q).
            yield PaletteEntry(max(command.verbs, key=len), command.help, command.action)


class CommandsProvider(Provider):
    """Offers the command table in Textual's command palette (``ctrl+p``)."""

    async def discover(self) -> Hits:
        for entry in palette_entries():
            yield DiscoveryHit(entry.text, partial(self.app.run_action, entry.action), entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in palette_entries():
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(entry.text),
                    partial(self.app.run_action, entry.action),
                    help=entry.help,
                )


_KEY_NAMES = {
    "question_mark": "?",
    "colon": ":",
    "escape": "esc",
    "comma": ",",
    "full_stop": ".",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def key_label(keys: str) -> str:
    """Textual key names as an operator reads them (``question_mark`` is ``?``)."""
    return " ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def help_rows(keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """The help screen: ``(key, :command, what it does)`` for every entry of the table,
    with the user's keys where a keymap rebound them, then the keys panes own."""
    rows = []
    for c in COMMANDS:
        key = keymap.get(c.binding or "", c.key) if c.key else None
        bar = " | ".join(f":{verb}" for verb in c.verbs) + (f" {c.args}" if c.args else "")
        rows.append((key_label(key) if key else "", bar, c.help))
    rows += [(key, "", what) for key, what in NAVIGATION]
    return rows
