"""Is that process still ours and still running? Shared by the sandbox, the Connect worker
and the run's background processes.

A recorded pid outlives its process: with Linux's default ``pid_max`` of 32768 and
every thread taking a number from the same space (a Kafka client runs several), the
numbers come round again within minutes on a busy host, and ``kill(2)`` given the
number of another process's *thread* signals that whole process. So a pid is taken
for the one recorded only when it is a process, not a thread, and it started no later
than the record last heard from it (:func:`same_process`).
"""

from __future__ import annotations

import os
from pathlib import Path

START_SLACK_S = 2.0
"""How much later than the record a process may seem to have started and still be the
one recorded (seconds): the boot time the kernel gives is in whole seconds."""


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` runs. A zombie (exited, not yet reaped) counts as gone."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def command_line_has(pid: int, marker: str) -> bool:
    """Guard against pid reuse: the process's command line must still mention ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        # No /proc (not Linux) or the process is gone; pid_alive already decided liveness.
        return not Path("/proc/self").exists()
    except OSError:
        return False
    return marker in cmdline


def is_thread_of_another(pid: int) -> bool:
    """True when ``pid`` is the number of a thread inside another process (its thread
    group is someone else's): never a process recorded by us."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("Tgid:"):
            return int(line.split()[1]) != pid
    return False


def started_at(pid: int) -> float | None:
    """When ``pid`` started, as a UNIX time (to within a second); None where /proc does
    not say (not Linux, or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat.rpartition(")")[2].split()
    try:
        ticks = int(fields[19])  # field 22 of stat(5), counted after the command name
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def same_process(pid: int | None, heard_at: float | None) -> bool:
    """Whether ``pid`` still runs and is the process a record made at ``heard_at`` (a
    UNIX time: when it was started or last reported, whichever is later) was about: a
    running process, not a thread of another, that did not start after it. Without
    ``heard_at`` only the first two are checked."""
    if not pid_alive(pid) or is_thread_of_another(pid):  # type: ignore[arg-type]
        return False
    if heard_at is None:
        return True
    began = started_at(pid)  # type: ignore[arg-type]
    return began is None or began <= heard_at + START_SLACK_S
