"""Panes that stay current: one refresh chain, an audit footer that follows the log, the
mode in the header, the audit pane's size and detail, nothing cut mid-word at 80x24.

No Kafka: the run database is written directly, as the steps and processes would.
Time is the console's own: the refresh chain's timer is replaced by a clock the test
advances, so nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from textual.worker import WorkerCancelled

from console.plan import parse_plan
from console.store import Store
from console.tui import present
from console.tui.app import CutoverApp
from console.tui.messages import StateLoaded
from console.tui.refresh import RefreshChain
from console.tui.screens.detail import DetailScreen
from console.tui.screens.gate import GateDialog
from tests.helpers import demo_plan_text, fixed_clock, screen_lines, screen_text


def make_store(tmp_path) -> Store:
    text = demo_plan_text()
    return Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())


class FakeTimers:
    """The refresh chain's timer hook: records what is armed; the test fires it."""

    class Handle:
        def __init__(self, timers, callback):
            self.timers, self.callback = timers, callback

        def stop(self) -> None:
            if self in self.timers.armed:
                self.timers.armed.remove(self)

    def __init__(self) -> None:
        self.armed: list[FakeTimers.Handle] = []

    def arm(self, _delay, callback):
        handle = self.Handle(self, callback)
        self.armed.append(handle)
        return handle

    def tick(self) -> int:
        """The poll interval passes: every armed timer fires. Returns how many fired."""
        due, self.armed = self.armed, []
        for handle in due:
            handle.callback()
        return len(due)


# -- the chain on its own ---------------------------------------------------------------


def test_the_chain_never_runs_two_reads_or_arms_two_timers():
    timers = FakeTimers()
    started: list[bool] = []
    chain = RefreshChain(interval_s=2, start_read=started.append, arm=timers.arm, verify_every=0)
    chain.now(verify=True)
    for _ in range(5):  # r pressed five times while the first read is in flight
        chain.now()
    assert started == [True] and not timers.armed
    chain.finished()  # ...which coalesce into one more read
    assert len(started) == 2 and not timers.armed
    chain.finished()
    assert len(timers.armed) == 1
    for _ in range(5):  # r pressed five times between reads: each read now, no new loop
        chain.now()
        chain.finished()
    assert len(timers.armed) == 1
    reads = len(started)
    for _ in range(3):
        assert timers.tick() == 1
        chain.finished()
    assert len(started) == reads + 3
    chain.pause()
    assert not timers.armed and timers.tick() == 0
    chain.now()  # r while paused: one read, no timer after it
    chain.finished()
    assert not timers.armed
    chain.resume()
    chain.finished()
    assert len(timers.armed) == 1


def test_the_chain_verifies_every_so_often_and_when_asked():
    timers = FakeTimers()
    started: list[bool] = []
    chain = RefreshChain(interval_s=2, start_read=started.append, arm=timers.arm, verify_every=3)
    for _ in range(6):
        chain.now()
        chain.finished()
    assert started == [False, False, True, False, False, True]
    chain.now(verify=True)
    assert started[-1] is True


# -- the chain in the console ------------------------------------------------------------


def counting_reads(monkeypatch) -> list[bool]:
    reads: list[bool] = []
    real = present.load_snapshot

    def load_snapshot(store, *, recover_steps, **kwargs):
        reads.append(True)
        return real(store, recover_steps=recover_steps, **kwargs)

    monkeypatch.setattr(present, "load_snapshot", load_snapshot)
    return reads


async def test_pressing_r_five_times_keeps_one_refresh_chain(tmp_path, monkeypatch):
    """4 reads per 6 s became 19 after pressing r five times: each press started
    another 2-second loop. Now r moves the one chain's next read to now."""
    reads = counting_reads(monkeypatch)
    timers = FakeTimers()
    app = CutoverApp(make_store(tmp_path), blink=False, poll=True)
    app.arm_timer = timers.arm
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(reads) == 1 and len(timers.armed) == 1
        for _ in range(5):
            await pilot.press("r")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert len(timers.armed) == 1
        before = len(reads)
        for _ in range(3):  # three poll intervals (6 s)
            assert timers.tick() == 1
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert len(reads) - before == 3
        await pilot.press("p")  # paused: nothing armed, nothing read by itself
        await pilot.pause()
        assert not timers.armed and "PAUSED" in screen_lines(app)[0]
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(timers.armed) == 1 and "LIVE" in screen_lines(app)[0]


async def test_a_cancelled_read_shows_nothing_and_the_chain_goes_on(tmp_path, monkeypatch):
    """The read worker checks whether it was cancelled before posting what it read."""
    release = threading.Event()
    real = present.load_snapshot
    calls = []

    def load_snapshot(store, *, recover_steps, **kwargs):
        calls.append(True)
        if len(calls) == 2:
            assert release.wait(10)
        return real(store, recover_steps=recover_steps, **kwargs)

    monkeypatch.setattr(present, "load_snapshot", load_snapshot)
    timers = FakeTimers()
    loaded = []
    app = CutoverApp(make_store(tmp_path), blink=False, poll=True)
    app.arm_timer = timers.arm

    def hook(message):
        if isinstance(message, StateLoaded):
            loaded.append(message)

    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(loaded) == 1
        timers.tick()  # the second read blocks
        await pilot.pause()
        app.workers.cancel_group(app, "load")
        release.set()
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(loaded) == 1  # the cancelled read posted nothing
        assert len(timers.armed) == 1  # and the chain was re-armed, once


async def test_the_audit_footer_follows_new_entries_and_says_when_it_verified(
    tmp_path, monkeypatch
):
    """The footer said "1 entries" for minutes while 32 existed, and gave the last
    entry's time as the verification time."""
    store = make_store(tmp_path)
    timers = FakeTimers()
    app = CutoverApp(store, blink=False, poll=True)
    app.arm_timer = timers.arm
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        footer = app.query_one("#audit").border_subtitle
        assert footer.startswith("1 entries · chain OK, verified 12:00:0")
        verified_at = footer.split("verified ")[1]
        for n in range(31):
            store.log("step.progress", step="compare", outcome=f"batch {n}")
        timers.tick()  # an ordinary poll, not a verification
        await app.workers.wait_for_complete()
        await pilot.pause()
        footer = app.query_one("#audit").border_subtitle
        assert footer == f"32 entries · chain OK to #1, verified {verified_at}"
        last = store.audit_latest(1)[0]
        await pilot.press("r")  # verifies now
        await app.workers.wait_for_complete()
        await pilot.pause()
        footer = app.query_one("#audit").border_subtitle
        assert footer.startswith("32 entries · chain OK, verified ")
        assert not footer.endswith(f"verified {last.ts[11:19]} UTC")  # its own time
        assert "32 entries" in screen_lines(app)[-2]
        table = app.query_one("#audit")
        assert table.cursor_row == table.row_count - 1  # followed the new entries


async def test_the_audit_pane_opens_on_the_newest_entries(tmp_path):
    """Reopened on a run with 25 entries, the pane showed #1 to #3 under a footer saying
    25 entries, until the next read scrolled it."""
    store = make_store(tmp_path)
    for n in range(24):
        store.log("process.heartbeat", outcome=f"round {n}")
    app = CutoverApp(store, blink=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        shown = screen_text(app)
        assert "round 23" in shown and "plan.imported" not in shown


async def test_the_audit_pane_grows_and_enter_opens_a_whole_entry(tmp_path):
    store = make_store(tmp_path)
    long = "failed: " + " ".join(f"word{n}" for n in range(40))
    store.log("gate.confirmed", step="inventory", params={"via": "console"}, outcome="confirmed")
    started = store.log("step.started", step="inventory", params={"pid": 4242})
    store.log("step.finished", step="inventory", ref=started.seq, outcome=long)
    for n in range(10):
        store.log("process.heartbeat", outcome=f"round {n}")
    app = CutoverApp(store, blink=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        audit = app.query_one("#audit")
        assert audit.region.height >= 9  # was 6 at any size
        await pilot.press("colon", *"audit", "enter")
        await pilot.pause()
        audit.move_cursor(row=3)  # step.finished
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        shown = " ".join(" ".join(screen_lines(app)).split())
        assert "word39" in shown and "Refers to #3" in shown
        assert "Audit entry #4" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


def _words(app) -> str:
    return " ".join(" ".join(screen_lines(app)).replace("│", " ").replace("█", " ").split())


async def test_nothing_is_cut_mid_word_at_80x24(tmp_path):
    store = make_store(tmp_path)
    started = store.log("step.started", step="shadow-start", params={"pid": 1})
    store.log("step.interrupted", step="shadow-start", params={"pid": 1}, outcome="failed")
    outcome = "created orders with 6 partitions and retention.ms 604800000 on target"
    store.log("mirror.create_topic", step="shadow-start", ref=started.seq, outcome=outcome)
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "step.interrupted" in text and "mirror.create_topic" in text
        outcome_row = next(line for line in screen_lines(app) if "mirror.create_topic" in line)
        clipped = outcome_row.split("shadow-start", 1)[1].strip(" │")
        assert clipped.endswith("…")
        kept = clipped[:-1]
        assert outcome.startswith(kept) and outcome[len(kept)] == " "  # shortened at a word
        await pilot.press("colon", *"run rollback-window", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog)
        box = app.screen.query_one("Vertical").content_region
        inside = [line[box.x : box.right] for line in screen_lines(app)[box.y : box.bottom]]
        # The gate's reason for staying shut wraps at words inside the dialog, whole.
        said = " ".join(" ".join(inside).split())
        assert "no class has moved yet: the rollback window opens with the first move" in said


async def test_the_help_names_the_run_database(tmp_path):
    store = make_store(tmp_path)
    app = CutoverApp(store, blink=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("question_mark")
        await pilot.pause()
        assert str(store.path) in "".join(screen_lines(app)).replace("│", "").replace(" ", "")


@pytest.mark.parametrize("paused", [False, True])
async def test_the_header_says_paused(tmp_path, paused):
    app = CutoverApp(make_store(tmp_path), blink=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        if paused:
            await pilot.press("p")
        await pilot.pause()
        header = screen_lines(app)[0]
        assert ("PAUSED" in header) is paused and ("LIVE" in header) is not paused
