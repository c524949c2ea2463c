"""The console driven as an operator would: keys, the gate, the audit trail, small terminals.

These tests need no Kafka: the gate is cancelled or refused before any cluster is
touched, and the inventory shown comes from stored evidence. The full gate-to-passed
flow against real clusters is in test_inventory.py.
"""

from __future__ import annotations

import sqlite3
import threading

from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store, audit
from console.tui.app import CutoverApp
from console.tui.screens.gate import GateDialog
from tests.helpers import demo_plan_text, fixed_clock
from widgets.audit_pane import AuditPane
from widgets.runbook_pane import RunbookPane


def make_store(tmp_path, *, readonly=False) -> Store:
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    if readonly:
        store.close()
        return Store.open(tmp_path / "run.db", readonly=True, clock=fixed_clock())
    return store


def actions(store: Store) -> list[str]:
    return [e.action for e in store.audit_latest(50)]


async def test_gate_opens_with_focus_on_cancel_and_esc_cancels(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog)
        assert app.focused.id == "gate-cancel"
        assert app.screen.query_one("#gate-confirm").disabled
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, GateDialog)
    assert actions(store) == ["plan.imported", "gate.cancelled"]
    assert store.step("inventory").state is StepState.PENDING


async def test_wrong_word_keeps_the_gate_shut(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("tab", *"inventroy", "enter")
        await pilot.pause()
        gate = app.screen
        assert isinstance(gate, GateDialog)
        assert "not 'inventory'" in str(gate.query_one("#gate-error").render())
        assert gate.query_one("#gate-confirm").disabled
        await app.workers.wait_for_complete()
    assert actions(store) == ["plan.imported", "gate.refused"]


async def test_steps_not_built_yet_say_so_at_the_gate(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("colon", *"run rollback-window", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog)
        assert "BLOCKED" in str(app.screen.query_one(".gate-error").render())
        assert not app.screen.query("#gate-input")


async def test_replay_mode_cannot_run_steps(tmp_path):
    store = make_store(tmp_path, readonly=True)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("g", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, GateDialog)
        assert "REPLAY" in str(app.query_one("#header").render())
    assert actions(store) == ["plan.imported"]


async def test_small_terminal_gets_a_message_not_a_broken_screen(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(70, 20)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        message = app.query_one("#too-small")
        assert message.display and "needs at least 80x24" in str(message.render())
        assert not app.query_one("#main").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.query_one("#main").display


async def test_command_bar_jumps_and_quits(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("colon", *"audit", "enter")
        await pilot.pause()
        assert app.focused.id == "audit"
        await pilot.press("colon", *"q", "enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_live_comparison_stops_with_a_notice_when_it_cannot_run(tmp_path, monkeypatch):
    """`l` starts live comparison off the UI thread; a cluster nobody answers on ends it
    with a notice naming the problem, not a crash."""
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "unused-password")
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", "unused-password")
    text = (
        demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
        .replace("[clusters.source]\n", "[clusters.source]\nrequest_timeout_s = 1\n")
        .replace("[clusters.target]\n", "[clusters.target]\nrequest_timeout_s = 1\n")
    )
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("l")
        await pilot.pause()
        assert app.query_one("#panes").current == "comparison"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app._live is None  # stopped itself
        notices = [n.message for n in app._notifications]
        assert any("no broker answered at 127.0.0.1:" in m for m in notices), notices
    # The failed increment is in the audit log, with the window its result is kept under.
    (entry,) = [e for e in store.audit_latest(50) if e.action == "compare.live"]
    assert entry.params["windows"] == [1, 1] and entry.params["status"] == "failed"
    assert "no broker answered" in entry.outcome


async def test_step_states_draw_while_the_chain_is_still_being_verified(tmp_path, monkeypatch):
    """A long chain (a million entries takes seconds) must not keep the runbook blank: the
    verification is held here until the step states are on screen, as a slow walk would."""
    store = make_store(tmp_path)
    release = threading.Event()
    verify = store.audit_verify

    def held_verify(**kwargs):
        assert release.wait(10), "the test never let the verification finish"
        return verify(**kwargs)

    monkeypatch.setattr(store, "audit_verify", held_verify)
    app = CutoverApp(store, blink=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            for worker in [w for w in app.workers if w.group == "load"]:
                await worker.wait()
            await pilot.pause()
            runbook = app.query_one(RunbookPane)
            assert "PENDING" in str(runbook.get_option_at_index(1).prompt)
            footer = app.query_one(AuditPane).border_subtitle
            assert footer == "1 entries · verifying the audit chain…"
        finally:
            release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one(AuditPane).border_subtitle.startswith("1 entries · chain OK")


async def test_live_console_remembers_the_verified_head_and_replay_writes_nothing(tmp_path):
    store = make_store(tmp_path)
    async with CutoverApp(store, blink=False, poll=False).run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    head = store.audit_latest(1)[0]
    store.close()
    conn = sqlite3.connect(tmp_path / "run.db", isolation_level=None)
    assert audit.read_checkpoint(conn) == audit.Checkpoint(1, head.hash)
    conn.execute("DELETE FROM meta WHERE key = ?", (audit.CHECKPOINT_KEY,))
    conn.close()
    replay = Store.open(tmp_path / "run.db", readonly=True)
    async with CutoverApp(replay, blink=False, poll=False).run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "· chain OK, verified" in pilot.app.query_one(AuditPane).border_subtitle
    assert audit.read_checkpoint(sqlite3.connect(tmp_path / "run.db")) is None


async def test_a_pane_number_key_moves_to_the_pane_it_shows(tmp_path):
    """Each numbered pane's key shows the pane and moves the focus into it, as its ``:``
    word does: ``enter`` then acts on the pane, never on the runbook's gate behind it."""
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    keys = {
        "1": "inventory",
        "2": "lag",
        "3": "comparison",
        "4": "safe",
        "5": "governance",
        "6": "traffic",
        "7": "offsets",
        "8": "scorecard",
    }
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for key, pane in keys.items():
            app.query_one(RunbookPane).focus()
            await pilot.press(key)
            await pilot.pause()
            assert app.query_one("#panes").current == pane, key
            shown = app.query_one(f"#{pane}")
            assert app.focused is not None and shown in app.focused.ancestors, (key, app.focused)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert not isinstance(app.screen, GateDialog), key
            for _ in range(3):  # a row's detail (the scorecard's area)
                if len(app.screen_stack) == 1:
                    break
                await pilot.press("escape")
                await pilot.pause()
            assert len(app.screen_stack) == 1, (key, app.screen_stack)
        # The word does the same.
        app.query_one(RunbookPane).focus()
        await pilot.press("colon", *"scorecard", "enter")
        await pilot.pause()
        assert app.query_one("#scorecard") in app.focused.ancestors
    assert "gate.cancelled" not in actions(store) and "gate.confirmed" not in actions(store)
