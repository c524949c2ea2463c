"""Is that process still ours and still running? Shared by the sandbox, the Connect worker
and the run's background processes."""

from __future__ import annotations

import os
from pathlib import Path


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
