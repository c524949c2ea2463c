"""Stopping the console's own background processes: one stop event, set by a signal.

The mirror, the lag sampler, the workload and the safe consumers run as
``python -m console.cli <command>``
and stop on SIGTERM (or SIGINT, SIGHUP) by finishing their current work and exiting 0.
A stop that arrives while such a process is still starting (importing, before its loop
runs) is remembered (:func:`remember_early`, called by ``__main__`` for exactly these
commands) rather than killing it mid-start with the default action.

A background process that seems stuck can be asked where it is: ``kill -USR1 <pid>``
writes every thread's Python stack to its standard error (its log), and it goes on.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import threading

BACKGROUND = ("mirror", "sampler", "workload", "safe-consumer", "safe-sampler")
"""The commands the console starts as background processes."""
STOP = threading.Event()
"""Set once the process was asked to stop."""


def _request_stop(_signum, _frame) -> None:
    STOP.set()


def remember_early() -> None:
    """From the first moment on, a SIGTERM or SIGHUP only asks this process to stop."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _request_stop)
    # Where a stuck process is: every thread's stack on standard error, on request.
    # (Nothing to do without a usable standard error.)
    with contextlib.suppress(RuntimeError, ValueError, OSError):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def stop_on_signals() -> threading.Event:
    """The stop event, set by SIGTERM, SIGINT or SIGHUP (and by any that came earlier)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _request_stop)
    return STOP
