"""Background processes that must outlive the console: the mirror, the lag sampler,
validation consumers.

Each runs as its own session (``start_new_session``), so closing the console or
losing the SSH session does not stop it. It records itself in the run database's
``processes`` table and beats a heartbeat there; the console re-attaches by reading
that table. ``stop`` sends SIGTERM (the process finishes its current transaction and
exits) and only then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from console.pids import pid_alive
from console.store import Store
from console.store.processes import ProcessInfo


def get(store: Store, name: str) -> ProcessInfo | None:
    """A background process as recorded, and whether it really runs now."""
    return store.processes.get(name)


def reporting(
    store: Store,
    name: str,
    *,
    wait_s: float,
    cancel: threading.Event,
    progress: Callable[[str], None] = lambda _text: None,
) -> ProcessInfo | None:
    """The process once it reports: a process alive but STALE (a round held up by a
    cluster that went away, as a broker restart does) is given up to ``wait_s`` for its
    next heartbeat. Returns the row as last read, whatever its status then (None when
    there is no such process)."""
    deadline = time.monotonic() + wait_s
    while True:
        info = get(store, name)
        if info is None or info.status != "STALE" or cancel.is_set():
            return info
        if time.monotonic() >= deadline:
            return info
        progress(
            f"waiting for the {name}'s next report (its last was {info.heartbeat_age_s:.0f} s ago)…"
        )
        cancel.wait(0.5)


def all_processes(store: Store) -> list[ProcessInfo]:
    return store.processes.all()


def log_dir(store: Store) -> Path:
    """Where background processes of this run write their logs: next to the database."""
    path = store.path.with_name(store.path.name + ".logs")
    path.mkdir(exist_ok=True)
    return path


def spawn(
    store: Store, name: str, args: list[str], *, env: dict[str, str] | None = None
) -> ProcessInfo:
    """Start ``python -m console.cli <args>`` detached; refuses if one is already alive.

    ``env`` replaces the whole environment of the process (a shadow consumer must not
    inherit the console's own cluster passwords); by default it inherits ours."""
    current = get(store, name)
    if current is not None and current.alive:
        raise RuntimeError(f"{name} is already running (pid {current.pid})")
    log_path = log_dir(store) / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        )
    store.processes.upsert(
        name,
        pid=proc.pid,
        state="starting",
        started_at=store.clock(),
        heartbeat_at=None,
        detail="",
        log_path=str(log_path),
    )
    return get(store, name)  # type: ignore[return-value]


def heartbeat(store: Store, name: str, detail: str = "", state: str = "running") -> None:
    """Called by the background process itself, every few seconds."""
    store.processes.upsert(
        name, pid=os.getpid(), state=state, heartbeat_at=store.clock(), detail=detail
    )


def record(store: Store, name: str, state: str, detail: str) -> None:
    """Record something the console watches but does not run (MirrorMaker 2 connectors):
    a state and a line, with no process of ours behind it."""
    store.processes.upsert(name, pid=None, state=state, heartbeat_at=store.clock(), detail=detail)


def finished(store: Store, name: str, state: str, detail: str) -> None:
    """Called by the background process as it exits (stopped or failed)."""
    store.processes.upsert(name, state=state, heartbeat_at=store.clock(), detail=detail)


def stop(store: Store, name: str, timeout: float = 30.0) -> str:
    """Ask a background process to stop; returns 'stopped', 'killed' or 'not running'."""
    info = get(store, name)
    if info is None or not info.alive:
        return "not running"
    store.processes.upsert(name, state="stopping")
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(info.pid):
            after = get(store, name)
            if after is not None and after.state == "stopping":
                # It did not record its own exit (the demo workload does not): say it here.
                finished(store, name, "stopped", "stopped on request")
            return "stopped"
        time.sleep(0.1)
    now = get(store, name)
    if now is None or not now.alive or now.pid != info.pid:
        # Gone as the wait ended, or its number already another process's: not ours to kill.
        return "stopped"
    os.kill(info.pid, signal.SIGKILL)
    finished(store, name, "failed", f"killed after not stopping within {timeout:g} s")
    return "killed"
