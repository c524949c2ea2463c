"""A hook for the fault drills: a process that kills itself right after an audit commit.

``tests/test_drill_kill.py`` runs ``cutover step`` with ``CUTOVER_DRILL_KILL_AFTER_ENTRY=N``
and the process sends itself SIGKILL as soon as the commit that made its Nth audit entry
(counted in this process) is on disk: the harshest crash at exactly that boundary, with
nothing of Python's shutdown run. The variable is read once, at import, and removed
from the environment, so the background processes a step spawns (mirror, sampler)
never inherit it. A reference run with ``CUTOVER_DRILL_COUNT_FILE=PATH`` writes there
its running count after each commit, one line per commit, so the drill knows where a
step's boundaries are (entries appended together, e.g. with ``append_many``, commit
together: there is no boundary between them). Unset, the hook
costs one integer comparison per commit.
"""

from __future__ import annotations

import os
import signal

KILL_AFTER_ENV = "CUTOVER_DRILL_KILL_AFTER_ENTRY"
COUNT_FILE_ENV = "CUTOVER_DRILL_COUNT_FILE"
"""Where a drill's reference run writes how many entries this process committed."""


def _read_once() -> tuple[int, str]:
    raw = os.environ.pop(KILL_AFTER_ENV, "")
    return (int(raw) if raw.isdigit() else 0), os.environ.pop(COUNT_FILE_ENV, "")


_kill_after, _count_file = _read_once()
_pending = 0
_committed = 0
_boundaries: list[int] = []


def appended(count: int) -> None:
    """Entries were chained into the open transaction (not yet committed)."""
    global _pending
    _pending += count


def committed() -> None:
    """The open transaction committed: count its entries, and die if the drill says so."""
    global _pending, _committed
    if not _pending:
        return
    _committed += _pending
    _pending = 0
    if _count_file:
        _boundaries.append(_committed)
        with open(_count_file, "w") as f:
            f.write("\n".join(map(str, _boundaries)))
    if _kill_after and _committed >= _kill_after:
        os.kill(os.getpid(), signal.SIGKILL)


def rolled_back() -> None:
    """The open transaction was rolled back: its entries never existed."""
    global _pending
    _pending = 0
