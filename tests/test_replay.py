"""The replay timeline: a reviewer moves through a recorded run entry by entry and every
pane shows the run as it stood then; nothing connects and nothing is written.

The run is :mod:`tests.recorded_run` (the demo plan, recorded through the run
database's own methods with a ticking clock). Three points are pinned: right after the
inventory, right after the comparison that came out RED, and the end (a clean
comparison, the drill, a waiver).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import stat
import sys

import pytest
from textual.worker import WorkerCancelled

from console.plan import credentials
from console.plan.steps import StepState
from console.runbook.timeline import processes_as_of, steps_as_of
from console.store import Store
from console.tui import present
from console.tui.app import CutoverApp
from tests.helpers import fixed_clock, screen_text
from tests.recorded_run import Recorded, record
from widgets.runbook_pane import RunbookPane


@pytest.fixture
def recorded(tmp_path) -> Recorded:
    return record(tmp_path / "run.db")


def replay_store(recorded: Recorded) -> Store:
    # A clock of its own, so what the console says about when it verified is stable.
    return Store.open(recorded.path, readonly=True, clock=fixed_clock("2026-11-26T09:00:00"))


def states(store: Store, at: int) -> dict[str, StepState]:
    return {row.key: row.state for row in steps_as_of(store, at)}


# -- the timeline, without the console -------------------------------------------------------


def test_step_states_are_derived_from_the_log_at_any_entry(recorded):
    store = replay_store(recorded)
    early = states(store, recorded.after_inventory)
    assert early["inventory"] is StepState.PASSED
    assert early["shadow-start"] is StepState.PENDING and early["compare"] is StepState.PENDING
    red = states(store, recorded.red_comparison)
    assert red["compare"] is StepState.FAILED and red["shadow-lag"] is StepState.PASSED
    reason = next(r for r in steps_as_of(store, recorded.red_comparison) if r.key == "compare")
    assert reason.reason.startswith("RED orders[2] missing")
    end = states(store, recorded.end)
    assert end["compare"] is StepState.PASSED and end["ops-drill"] is StepState.PASSED
    # At the last entry the derived states are the stored ones.
    assert end == {row.key: row.state for row in store.steps()}
    # One entry after a step started, it is RUNNING.
    started = store.history.find(recorded.after_inventory, "any", forward=True) + 1
    assert states(store, started)["shadow-start"] is StepState.RUNNING
    assert processes_as_of(store, recorded.after_inventory) == ()
    assert dict(processes_as_of(store, recorded.end)) == {
        "mirror": "RUNNING",
        "sampler": "RUNNING",
        "safe-consumer:billing-shadow": "RUNNING",
        "safe-sampler": "RUNNING",
    }


def test_moves_go_one_entry_to_a_gate_or_to_a_failure(recorded):
    store = replay_store(recorded)
    assert present.move(store, 10, ["back", "back", "forward"]) == (9, "")
    gate, _ = present.move(store, 1, ["next-gate"])
    assert store.history.entry(gate).action.startswith("gate.")
    failure, _ = present.move(store, 1, ["next-failure"])
    assert failure == recorded.red_comparison
    assert present.move(store, failure, ["next-failure"]) == (
        failure,
        f"no failure after entry {failure}",
    )
    assert present.move(store, 5, ["last"])[0] == recorded.end
    assert present.move(store, 5, ["999"])[0] == recorded.end
    assert present.move(store, 5, ["first"])[0] == 1


def test_every_pane_shows_the_state_as_of_the_entry(recorded):
    store = replay_store(recorded)
    verdict = store.audit_verify(full=True)
    early = present.load_snapshot(
        store, recover_steps=False, at=recorded.after_inventory, verdict=verdict
    )
    assert early.lag is None and early.comparison is None
    assert early.inventory is not None
    assert early.areas["compatibility"].colour.value == "GREEN"
    assert early.areas["correctness"].colour.value == "GREY"
    assert [e.seq for e in early.audit][-1] == recorded.after_inventory
    red = present.load_snapshot(
        store, recover_steps=False, at=recorded.red_comparison, verdict=verdict
    )
    assert red.comparison.red == 1 and red.comparison.window.id == 1
    assert red.areas["correctness"].colour.value == "RED" and red.areas["correctness"].needs_owner
    assert red.lag is not None and len([r for r in red.lag.rows if r.partition is not None]) == 2
    assert "mirror RUNNING (as the audit log had it then)" in red.lag.processes
    end = present.load_snapshot(store, recover_steps=False, at=recorded.end, verdict=verdict)
    assert end.comparison.window.id == 2 and end.comparison.red == 0
    assert end.areas["correctness"].colour.value == "GREEN"
    assert end.areas["correctness"].owner.name == "checkout-team"
    assert end.areas["rollback"].waived and end.areas["operations"].colour.value == "GREEN"


def _consumer(snapshot):
    return next(r for r in snapshot.safe.rows if r.side == "shadow")


def test_safe_consumers_pane_shows_the_reports_made_by_the_entry(recorded):
    store = replay_store(recorded)

    def at(seq):
        return present.load_snapshot(store, recover_steps=False, at=seq)

    # Right before the step started its consumer's process: the plan's consumer, not
    # started, no figures.
    intent = next(
        e.seq
        for e in store.history.with_actions(("process.start",), recorded.end)
        if e.params.get("process") == "safe-consumer:billing-shadow"
    )
    before = at(intent - 1)
    assert _consumer(before).state == "not started" and _consumer(before).records is None
    assert before.safe.as_of is None
    # Its process reported RUNNING; it has not reported figures yet.
    started = at(recorded.safe_started)
    assert _consumer(started).state == "RUNNING" and _consumer(started).records is None
    # At the RED comparison: its first five reports (1,000 + 50 a report, a schema error
    # each), rates over them, and the source group it shadows beside it.
    red = at(recorded.red_comparison)
    row, source = red.safe.rows
    assert (row.state, row.records, row.lag) == ("RUNNING", 1200, 80)
    assert row.rate == pytest.approx(25.0)  # 200 records over 8 s of the ticking clock
    assert row.error_rates["schema"] > 0 and row.error_rates["order"] == 0
    assert (source.state, source.records) == ("STABLE", 1100)
    assert "  errors so far: schema 4" in red.safe.lines
    assert not red.safe.stale  # figures of that moment, not of a process gone since
    # At the end: all ten reports.
    end = at(recorded.end)
    assert _consumer(end).records == 1450 and "  errors so far: schema 9" in end.safe.lines
    assert end.safe.as_of > red.safe.as_of


def test_traffic_pane_shows_the_rounds_taken_by_the_entry(recorded):
    store = replay_store(recorded)

    def flows(seq):
        view = present.load_snapshot(store, recover_steps=False, at=seq).traffic
        return view, {f.name: f for f in view.flows}

    early, by_name = flows(recorded.after_inventory)
    assert early.window.startswith("no byte samples yet") and early.as_of is None
    assert all(f.bytes_per_s is None for f in by_name.values())
    red, by_name = flows(recorded.red_comparison)
    assert red.window.startswith("10 sampling rounds")
    # 20 kB a second on each of two partitions of orders, read from the target's copy.
    assert by_name["copy: repl -> tgt"].bytes_per_s == pytest.approx(20_000)
    assert by_name["billing reads tgt"].bytes_per_s is not None
    end, by_name = flows(recorded.end)
    assert end.window.startswith("15 sampling rounds") and end.as_of > red.as_of
    # The five later rounds came 5 s apart (the gaps between entries): a slower rate.
    assert by_name["copy: repl -> tgt"].bytes_per_s < 20_000


def test_the_export_at_an_entry_prices_the_rounds_taken_by_then(recorded, capsys):
    from console.cli.main import main

    main(["scorecard", str(recorded.path), "--format", "md", "--at", str(recorded.red_comparison)])
    red = capsys.readouterr().out
    assert f"(As of entry {recorded.red_comparison}, 2026-11-25T12:01:20.000Z.)" in red
    assert "Measured over 10 sampling rounds, 12:00:21 to 12:00:39 UTC" in red
    main(["scorecard", str(recorded.path), "--format", "md", "--at", str(recorded.after_inventory)])
    assert "no byte samples yet" in capsys.readouterr().out
    main(["scorecard", str(recorded.path), "--format", "md"])
    assert "Measured over 15 sampling rounds" in capsys.readouterr().out


def test_a_consumer_that_failed_by_itself_reads_failed_from_its_own_entry(recorded):
    """A shadow consumer ends with a run entry of its own (no step records it)."""
    store = Store.open(recorded.path)
    intent = next(
        e.seq
        for e in store.history.with_actions(("safe-consumer.run",), recorded.end)
        if e.ref is None
    )
    store.log("safe-consumer.run", step="safe-consumers", ref=intent, outcome="failed: Kafka error")
    head = store.history.head()
    store.close()
    store = replay_store(recorded)
    assert dict(processes_as_of(store, head))["safe-consumer:billing-shadow"] == "FAILED"
    assert dict(processes_as_of(store, head - 1))["safe-consumer:billing-shadow"] == "RUNNING"
    failed = present.load_snapshot(store, recover_steps=False, at=head)
    assert _consumer(failed).state == "FAILED"
    # The lag pane lists the copy's processes only, as live.
    assert [name for name, _ in failed.shadow] == ["mirror", "sampler"]


# -- the console in replay ----------------------------------------------------------------------


async def settle(app, pilot) -> None:
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # a read superseded by the next
            await app.workers.wait_for_complete()
        await pilot.pause()


async def go_to(app, pilot, seq: int) -> str:
    """Move the replay to entry ``seq``; the screen's text there."""
    await pilot.press("colon", *f"at {seq}", "enter")
    await settle(app, pilot)
    assert app._snapshot.position.seq == seq
    return screen_text(app)


class Forbidden:
    """Records every attempt to reach the network, Kafka or a password, and refuses it."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str):
        def refused(*args, **kwargs):
            self.attempts.append(what)
            raise OSError(f"replay tried to use {what}")

        return refused


@pytest.fixture
def forbidden(monkeypatch) -> Forbidden:
    """No network: sockets cannot connect, no Kafka client can be made (librdkafka opens
    its sockets in C, below Python's socket module, so its classes are refused at every
    place ours import them), and no password is looked up."""
    guard = Forbidden()
    monkeypatch.setattr(socket.socket, "connect", guard.refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guard.refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", guard.refuse("socket.create_connection"))
    for name, module in list(sys.modules.items()):
        if not name.startswith(("console", "widgets")):
            continue
        for client in ("Consumer", "Producer", "AdminClient"):
            if hasattr(module, client):
                monkeypatch.setattr(module, client, guard.refuse(f"{name}.{client}"))
    monkeypatch.setattr(credentials, "resolve_passwords", guard.refuse("passwords"))
    return guard


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_replay_opens_no_connection_writes_nothing_and_refuses_at_once(recorded, forbidden):
    path = recorded.path
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = digest(path)
    store = replay_store(recorded)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    notices: list[str] = []
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        original = app.notify
        app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
        await settle(app, pilot)
        assert "REPLAY #" in screen_text(app)
        # Moving along the timeline: keys and commands.
        for keys in ([","], ["."], ["<"], [">"], ["["], ["]"]):
            await pilot.press(*keys)
            await settle(app, pilot)
        await go_to(app, pilot, recorded.red_comparison)
        # Everything that would change anything says at once that replay is read-only.
        mutating = [
            ["g"],
            ["x"],
            ["l"],
            ["colon", *"live", "enter"],
            ["colon", *"run inventory", "enter"],
            ["colon", *"approve move-group:billing", "enter"],
            ["8", "o"],
            ["w"],
            ["m"],
        ]
        for keys in mutating:
            notices.clear()
            await pilot.press(*keys)
            await settle(app, pilot)
            assert any("read-only" in n.lower() for n in notices), (keys, notices)
            assert len(app.screen_stack) == 1, keys  # no gate, no form
        await pilot.press("escape")
    store.close()
    assert forbidden.attempts == []
    assert digest(path) == before


async def test_the_panes_show_what_they_showed_then(recorded):
    store = replay_store(recorded)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = await go_to(app, pilot, recorded.after_inventory)
        assert f"REPLAY #{recorded.after_inventory}/{recorded.end}" in text
        assert "✓ PASSED  Read both clusters" in text and "Start shadow copy" in text
        assert "orders" in text  # the inventory pane, beside the first step
        await pilot.press("2")
        await pilot.pause()
        assert "No lag samples" in screen_text(app) or "no samples" in screen_text(app).lower()
        await go_to(app, pilot, recorded.red_comparison)
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "✗ RED" in text
        compare = app.query_one(RunbookPane).get_option("compare").prompt
        assert str(compare).strip().startswith("✗ FAILED")
        await pilot.press("8")
        await pilot.pause()
        text = screen_text(app)
        assert "Correctness      ✗ RED" in text and "NEEDS OWNER" in text
        text = await go_to(app, pilot, recorded.end)
        assert "Correctness      ✓ GREEN" in text and "Rollback         ? GREY" in text
        assert "waived 11-30" in text
    store.close()


async def test_the_safe_consumers_and_traffic_panes_move_with_the_timeline(recorded):
    store = replay_store(recorded)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await go_to(app, pilot, recorded.red_comparison)
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        # At 80x24 the records column is off to the right; rate, lag and errors show.
        assert "as of 12:01:08 UTC" in text and "▶ RUNNING    25.0 /s      80" in text
        assert "errors so far: schema 4" in text
        text = await go_to(app, pilot, recorded.end)
        assert "as of 12:01:41 UTC" in text and "▶ RUNNING    11.0 /s      55" in text
        assert "errors so far: schema 9" in text
        text = await go_to(app, pilot, recorded.after_inventory)
        assert "NOT STARTED" in text and "RUNNING" not in text and "errors so far" not in text
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert "no byte samples yet" in text and "as of" not in text
        text = await go_to(app, pilot, recorded.red_comparison)
        assert "10 sampling rounds, 12:00:21 to 12:00:39" in text and "as of 12:00:39" in text
        assert "copy: src -> repl          0.05      5.5" in text
        text = await go_to(app, pilot, recorded.end)
        assert "15 sampling rounds, 12:00:21 to 12:01:51" in text and "as of 12:01:51" in text
        assert "copy: src -> repl          0.01      1.6" in text
    store.close()
