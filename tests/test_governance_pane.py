"""The governance pane in the console: deciding an item by key records it (audited, with
who decided) and the pane shows it; replay refuses; enter shows the whole item."""

from __future__ import annotations

import getpass

from console.governance import evidence
from console.plan import parse_plan
from console.store import Store
from console.tui.app import CutoverApp
from console.tui.screens.detail import DetailScreen
from tests.helpers import demo_plan_text, fixed_clock, screen_text
from tests.test_snapshots import GOVERNANCE_BODY


def _db(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    store.add_evidence("governance", "governance", GOVERNANCE_BODY)
    store.close()
    return tmp_path / "run.db"


async def test_a_key_on_a_row_records_the_decision(tmp_path):
    db = _db(tmp_path)
    app = CutoverApp(Store.open(db), blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("colon", *"governance", "enter")
        await pilot.pause()
        await pilot.press("down", "down", "s")  # item 3, the undecided one: skip
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "4 differences, 0 undecided" in screen_text(app)
        assert any(n.message == "scram:app: skip" for n in app._notifications)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert f"decision: skip by {getpass.getuser()}" in screen_text(app)
        assert "Not compared in this diff:" in screen_text(app)
    store = Store.open(db, readonly=True)
    item = evidence.find_item(evidence.latest(store).body, "3")
    entry = next(e for e in store.audit_latest(10) if e.action == "governance.decided")
    store.close()
    assert item["decision"] == "skip" and item["decided_by"] == getpass.getuser()
    assert entry.params["item"] == "scram:app" and entry.params["via"] == "console"


async def test_apply_on_an_item_that_cannot_be_applied_is_refused_in_words(tmp_path):
    db = _db(tmp_path)
    app = CutoverApp(Store.open(db), blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("colon", *"governance", "enter")
        await pilot.pause()
        await pilot.press("down", "down", "y")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        notices = " ".join(n.message for n in app._notifications)
        assert "cannot be applied" in notices and "salted" in notices
    store = Store.open(db, readonly=True)
    assert not any(e.action == "governance.decided" for e in store.audit_latest(10))
    store.close()


async def test_replay_refuses_decisions(tmp_path):
    db = _db(tmp_path)
    app = CutoverApp(Store.open(db, readonly=True), blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("5")
        await pilot.press("colon", *"governance", "enter")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert any("read-only" in n.message for n in app._notifications)
    store = Store.open(db, readonly=True)
    assert evidence.find_item(evidence.latest(store).body, "3").get("decision") is None
    store.close()
