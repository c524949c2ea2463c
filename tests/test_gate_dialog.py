"""The gate and the command bar as the operator sees them: typed text visible, keys that
arrive before the gate was on screen dropped, no notice over the gate's buttons.

No Kafka: every gate here is cancelled or refused before a cluster is touched. What is
checked is what is drawn (the screen's rows), not widget state, so a field that exists
but has no row to show its text in fails.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from textual.app import App
from textual.widgets import Button, Input
from textual.widgets._toast import Toast

from console import runbook
from console.cli.main import main
from console.errors import Cancelled
from console.plan import parse_plan
from console.plan.steps import StepState
from console.runbook.registry import RUNNERS
from console.store import Store
from console.tui.app import CutoverApp
from console.tui.screens.gate import GateDialog
from console.views.gate import GateView
from tests.helpers import demo_plan_text, fixed_clock, screen_lines


def make_store(tmp_path) -> Store:
    text = demo_plan_text()
    return Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())


def actions(store: Store) -> list[str]:
    return [e.action for e in store.audit_latest(50)]


def row_of(app, widget) -> str:
    """The terminal row a one-row widget is drawn on."""
    return screen_lines(app)[widget.region.y]


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_gate_field_shows_what_is_typed(tmp_path, size):
    """A typo must be visible before the operator presses enter on it."""
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("tab", *"inventroy")
        await pilot.pause()
        field = app.screen.query_one("#gate-input", Input)
        assert app.focused is field
        assert field.content_region.height >= 1
        assert "inventroy" in row_of(app, field)
        await pilot.press("enter")
        await pilot.pause()
        error = app.screen.query_one("#gate-error")
        assert "That is not 'inventory'" in "".join(screen_lines(app)[error.region.y :])
        assert "inventroy" in row_of(app, field)  # still there to be corrected
        await app.workers.wait_for_complete()
    assert actions(store) == ["plan.imported", "gate.refused"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_command_bar_shows_what_is_typed(tmp_path, size):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"comparisno")
        await pilot.pause()
        bar = app.query_one("#command-bar", Input)
        assert app.focused is bar
        assert "comparisno" in row_of(app, bar)
        # It takes the footer's row, so the panes above keep their size.
        assert bar.region.y == size[1] - 1
        await pilot.press("escape")
        await pilot.pause()
        assert "comparisno" not in "\n".join(screen_lines(app))
        assert "Quit" in screen_lines(app)[-1]


async def test_keys_pressed_before_the_gate_appeared_do_not_decide_it(tmp_path, monkeypatch):
    """Under load the gate took seconds to appear; the enter pressed meanwhile was taken
    as Cancel and logged. Keys typed ahead (and any within the guard after the gate
    appeared) are dropped: they neither decide the gate nor refresh, pause or cancel."""
    store = make_store(tmp_path)
    release = threading.Event()
    slow_preview = runbook.preview

    def preview(store_, step_id):
        assert release.wait(10)
        return slow_preview(store_, step_id)

    monkeypatch.setattr(runbook, "preview", preview)
    # A guard long enough that a loaded machine cannot outrun it; the test moves the
    # gate's clock past it instead of waiting.
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # asks for the gate; the preview is slow
        await pilot.pause()
        assert not isinstance(app.screen, GateDialog)
        await pilot.press("enter", "p", "escape", "enter")  # typed ahead
        await pilot.pause()
        assert not app.paused
        release.set()
        await settle(app, pilot)
        gate = app.screen
        assert isinstance(gate, GateDialog)
        assert len(app.screen_stack) == 2  # one gate, not one per enter
        # The gate just appeared, whatever the machine's load made settling take: a key
        # now is within the guard (the drop is judged on the gate's own clock).
        gate.shown_at = time.monotonic()
        await pilot.press("enter")  # within the guard: dropped
        await pilot.pause()
        assert app.screen is gate and app.focused.id == "gate-cancel"
        # The operator has now read it (the gate's own clock moved past the guard):
        gate.shown_at -= gate.guard_s
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, GateDialog)
    assert actions(store) == ["plan.imported", "gate.cancelled"]


async def test_notices_never_cover_the_gate(tmp_path):
    """A toast at the bottom right sat on the gate's buttons at 80x24. Notices already
    up are hidden on the gate; new ones are held, counted, and shown after it closes."""
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(app, pilot)
        app.notify("an older notice, still up", timeout=60)
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        gate = app.screen
        assert isinstance(gate, GateDialog)
        for n in range(3):
            app.notify(f"Step finished {n}", title="Step finished", timeout=60)
        await pilot.pause()
        for button in gate.query(Button):
            region = button.region
            for x in range(region.x, region.right):
                assert gate.get_widget_at(x, region.y)[0] is button
        assert not [t for t in gate.query(Toast) if t.region.area]
        assert "3 notice(s) held until this gate closes" in "\n".join(screen_lines(app))
        await pilot.press("escape")
        await settle(app, pilot)
        shown = "\n".join(screen_lines(app))
        assert "Step finished 2" in shown


SECRET = "Hunter2-Pa55w0rd!xyz"
"""A password typed into a gate by mistake: it must not become a permanent audit entry."""


def never_stored(db, store: Store | None = None) -> None:
    """The secret is nowhere: not in the audit log, not in its export, not in the file."""
    if store is not None:
        store.close()
    reopened = Store.open(db, readonly=True)
    try:
        entries = reopened.audit_latest(100)
        exported = "\n".join(reopened.audit_export())
        assert reopened.audit_verify().ok
    finally:
        reopened.close()
    refused = [e for e in entries if e.action == "gate.refused"]
    assert refused, [e.action for e in entries]
    for entry in refused:
        assert entry.params["matched"] is False
        assert entry.params["typed_length"] == len(SECRET)
    assert SECRET not in repr(entries) and SECRET not in exported
    for path in db.parent.iterdir():
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_a_password_typed_into_the_console_gate_is_refused_and_never_stored(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("tab", *SECRET, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, GateDialog)  # still open, to be corrected or left
        await pilot.press("escape")
        await settle(app, pilot)
    assert actions(store) == ["plan.imported", "gate.refused", "gate.cancelled"]
    assert store.audit_latest(3)[1].params["via"] == "console"
    never_stored(tmp_path / "run.db", store)


def test_a_password_given_to_step_confirm_is_refused_and_never_stored(tmp_path, capsys):
    make_store(tmp_path).close()
    db = tmp_path / "run.db"
    code = main(["step", str(db), "inventory", "--confirm", SECRET])
    captured = capsys.readouterr()
    assert code == 2
    assert "did not match" in captured.err + captured.out
    assert SECRET not in captured.err + captured.out
    code = main(["audit", "export", str(db), "-o", str(tmp_path / "audit.jsonl")])
    assert code == 0
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()
    never_stored(db)


async def test_x_cancels_the_running_step_and_it_reads_cancelled(tmp_path, monkeypatch):
    """x while a step runs: the step ends CANCELLED (not FAILED), with its audit entry."""
    started = threading.Event()

    def blocking(ctx):
        started.set()
        assert ctx.cancel.wait(60), "x never reached the runner"
        raise Cancelled("cancelled by the operator")

    real = RUNNERS["inventory"]
    monkeypatch.setitem(RUNNERS, "inventory", dataclasses.replace(real, run=blocking))
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("tab", *"inventory", "enter")
        # Wait without blocking the event loop (a loaded machine takes its time to get
        # the worker to the runner).
        deadline = time.monotonic() + 60
        while not started.is_set() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert started.is_set(), "the confirmed step never reached its runner"
        await pilot.press("x")
        await settle(app, pilot)
        await settle(app, pilot)
        assert "CANCELLED" in str(app.query_one("#runbook").get_option("inventory").prompt)
    assert store.step("inventory").state is StepState.CANCELLED
    finished = store.audit_latest(1)[0]
    assert finished.action == "step.finished" and finished.outcome.startswith("cancelled")


async def test_what_a_gate_says_can_be_scrolled_to_its_end_at_80x24():
    """A gate with more lines than 80x24 shows says so, and the arrows reach the last."""
    lines = [f"changes item {n}" for n in range(40)]
    gate = GateDialog(GateView("x", "Long gate", lines, "x", True, None), guard_s=0)

    class One(App):
        def on_mount(self) -> None:
            self.push_screen(gate)

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "there is more than fits" in "\n".join(screen_lines(app))
        assert "changes item 39" not in "\n".join(screen_lines(app))
        await pilot.press(*["pagedown"] * 6)
        await pilot.pause()
        assert "changes item 39" in "\n".join(screen_lines(app))
        assert app.focused.id == "gate-cancel"  # scrolling moved no focus
