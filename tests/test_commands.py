"""The console's one command table and the user's keymap, as an operator meets them.

The table drives the key bindings, the ``:`` bar, the help screen and the command
palette, so each of those is checked against it; a keymap file rebinds keys by
binding id; a crash ends the console with one line, never a traceback.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from console.errors import CutoverError
from console.plan import parse_plan
from console.store import Store
from console.tui import app as tui
from console.tui import commands
from console.tui.app import CutoverApp, known_binding_ids
from console.tui.keymap import Keymap, keymap_path, load_keymap
from console.tui.screens.gate import GateDialog
from console.tui.screens.help import HelpScreen
from tests.helpers import demo_plan_text, fixed_clock


def make_store(tmp_path) -> Store:
    text = demo_plan_text()
    return Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())


def test_every_key_and_bar_command_comes_from_the_table():
    ids = [b.id for b in CutoverApp.BINDINGS]
    assert ids == [c.binding for c in commands.COMMANDS if c.key]
    assert all(ids) and len(set(ids)) == len(ids)
    for command in commands.COMMANDS:
        for verb in command.verbs:
            assert commands.find(f":{verb} x")[0] is command
        # Every action the table names exists on the app.
        name = command.action.partition("(")[0]
        assert name == "quit" or callable(getattr(CutoverApp, f"action_{name}", None)), name
    assert commands.find(":nonsense")[0] is None


def test_help_and_palette_list_every_command():
    rows = commands.help_rows({})
    listed = " ".join(bar for _key, bar, _what in rows)
    palette = {entry.text for entry in commands.palette_entries()}
    for command in commands.COMMANDS:
        for verb in command.verbs:
            assert f":{verb}" in listed
        if command.verbs and not command.args:
            assert max(command.verbs, key=len) in palette
    assert "run inventory" in palette and "run compare" in palette
    assert ("?", ":help", "every key and command: this screen") in rows


def test_keymap_file_rebinds_by_id_and_says_what_is_wrong(tmp_path, monkeypatch):
    path = tmp_path / "keymap.toml"
    path.write_text('refresh = "f5"\nrun-step = ["g", "ctrl+r"]\nnope = "z"\ncancel-step = 3\n')
    keymap = load_keymap(path, known_binding_ids())
    assert keymap.keys == {"refresh": "f5", "run-step": "g,ctrl+r"}
    assert any("no binding 'nope'" in p for p in keymap.problems)
    assert any("'cancel-step' must be a key" in p for p in keymap.problems)
    path.write_text("refresh = \n")
    broken = load_keymap(path, known_binding_ids())
    assert broken.keys == {} and "not valid TOML" in broken.problems[0]
    assert load_keymap(tmp_path / "missing.toml", known_binding_ids()) == Keymap()
    monkeypatch.setenv("CUTOVER_KEYMAP", str(path))
    assert keymap_path() == path
    monkeypatch.delenv("CUTOVER_KEYMAP")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keymap_path() == tmp_path / "cutover" / "keymap.toml"


async def test_a_rebound_key_opens_the_gate_and_the_help_shows_it(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(
        store, blink=False, poll=False, gate_guard_s=0, keymap=Keymap({"run-step": "f2"})
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, GateDialog)  # g is no longer bound
        await pilot.press("f2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert ("f2", ":run STEP", commands.BY_VERB["run"].help) in app.screen.rows


async def test_the_command_bar_runs_a_step_by_name_and_refuses_an_unknown_one(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("colon", *"lag", "enter")
        await pilot.pause()
        assert app.query_one("#panes").current == "lag"
        await pilot.press("colon", *"run nosuch", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, GateDialog)
        await pilot.press("colon", *"run compare", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog) and app.screen.gate.step == "compare"
        assert not app.query_one("#command-bar", Input).has_class("-open")


def test_a_crash_ends_in_one_line_without_the_traceback(tmp_path, monkeypatch, capsys):
    store = make_store(tmp_path)

    def crash(self) -> None:
        password = "s3cret-in-a-local"  # noqa: F841 - a traceback would show it
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(tui.CutoverApp, "on_mount", crash)
    monkeypatch.setenv("CUTOVER_KEYMAP", str(tmp_path / "none.toml"))
    with pytest.raises(CutoverError) as raised:
        tui.run_console(store, headless=True)
    assert "ZeroDivisionError: division by zero" in raised.value.one_line()
    assert "reopen it with 'cutover run'" in raised.value.one_line()
    captured = capsys.readouterr()
    assert "s3cret-in-a-local" not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
