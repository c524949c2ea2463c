"""A recorded pid is signalled only while it is still the process recorded.

Found in CI (ci37, two suites side by side): `make test` was ended by a SIGTERM from
outside. Linux hands out pids and thread ids from one space of 32768 numbers, Kafka
clients run several threads each, and the suite went round it within minutes; stopping
a background process whose run database still named a pid long gone signalled whatever
held that number now (and ``kill`` given a thread's number signals its whole process).
Here the number belongs to a thread of a child process, or to a process that started
after the record last heard from its own: neither is shown alive nor signalled. No
broker: the rows are written as the background processes write them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from console import processes
from console.plan import parse_plan
from console.store import Store
from tests.helpers import demo_plan_text

THREADED = """
import sys, threading, time
def hold():
    print(threading.get_native_id(), flush=True)
    threading.Event().wait()
threading.Thread(target=hold, daemon=True).start()
time.sleep(60)
"""


def stamp(ago_s: float = 0.0) -> str:
    then = datetime.now(UTC) - timedelta(seconds=ago_s)
    return then.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def store(tmp_path):
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    yield store
    store.close()


@pytest.fixture
def children():
    started: list[subprocess.Popen] = []

    def start(*argv: str, **kw) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, *argv], **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_pid_that_is_now_a_thread_of_another_process_is_not_signalled(store, children):
    child = children("-c", THREADED, stdout=subprocess.PIPE, text=True)
    tid = int(child.stdout.readline())
    assert tid != child.pid
    store.processes.upsert(
        "mirror", pid=tid, state="running", started_at=stamp(), heartbeat_at=stamp()
    )
    info = processes.get(store, "mirror")
    assert not info.alive and info.status == "DEAD"
    assert processes.stop(store, "mirror", timeout=2) == "not running"
    assert child.poll() is None, "the process owning the thread was signalled"


def test_a_pid_taken_by_a_process_started_after_the_record_is_not_signalled(store, children):
    """The record last heard from its mirror a minute ago; the number now belongs to a
    process that started since."""
    child = children("-c", "import time; time.sleep(60)")
    store.processes.upsert(
        "mirror",
        pid=child.pid,
        state="running",
        started_at=stamp(120),
        heartbeat_at=stamp(60),
        detail="1,473 records copied",
    )
    info = processes.get(store, "mirror")
    assert not info.alive and info.status == "DEAD"
    assert processes.stop(store, "mirror", timeout=2) == "not running"
    assert child.poll() is None, "a process that merely got the number was signalled"


def test_the_process_recorded_is_still_stopped(store, children):
    child = children("-c", "import time; time.sleep(60)")
    store.processes.upsert("mirror", pid=child.pid, state="running", started_at=stamp())
    store.processes.upsert("mirror", heartbeat_at=stamp())
    info = processes.get(store, "mirror")
    assert info.alive and info.status == "RUNNING"
    assert processes.stop(store, "mirror", timeout=10) == "stopped"
    assert child.wait(10) == -signal.SIGTERM
