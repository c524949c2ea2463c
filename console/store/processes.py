"""The ``processes`` table: background processes that outlive the console, as recorded.

Each row is one named process (the mirror, the lag sampler, validation consumers) or
something the console only watches (MirrorMaker 2 connectors, with no pid of ours):
its state, its heartbeat and a one-line detail. Whether it is really alive is read
from the OS on every look, never trusted from the row: the pid must still run, be a
process and not a thread of another, and have started no later than the row last heard
from it (:func:`console.pids.same_process`); a number come round to another process is
not ours, to show or to signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from console.pids import same_process
from console.store.connection import Connection

STALE_AFTER_S = 15.0
"""A running process whose heartbeat is older than this is shown STALE (seconds)."""

_COLUMNS = ("pid", "state", "started_at", "heartbeat_at", "detail", "log_path")


@dataclass(frozen=True)
class ProcessInfo:
    """A background process as recorded, with whether it is really alive now."""

    name: str
    pid: int | None
    state: str  # starting | running | stopping | stopped | failed
    started_at: str | None
    heartbeat_at: str | None
    detail: str
    log_path: str | None
    alive: bool

    @property
    def heartbeat_age_s(self) -> float | None:
        if not self.heartbeat_at:
            return None
        return datetime.now(UTC).timestamp() - _unix(self.heartbeat_at)

    @property
    def status(self) -> str:
        """One word for the operator: RUNNING, STALE, STOPPED, FAILED, DEAD."""
        if self.state in ("running", "starting", "stopping") and not self.alive:
            return "DEAD"
        if self.alive:
            age = self.heartbeat_age_s
            if age is not None and age > STALE_AFTER_S:
                return "STALE"
            return self.state.upper()
        return self.state.upper()

    @property
    def ours(self) -> bool:
        """Whether a process of ours stands behind the row (not a watched connector)."""
        return self.pid is not None


class ProcessTable:
    """Reads and writes ``processes`` rows."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def get(self, name: str) -> ProcessInfo | None:
        row = self._db.one(
            "SELECT name, pid, state, started_at, heartbeat_at, detail, log_path "
            "FROM processes WHERE name = ?",
            (name,),
        )
        return None if row is None else _info(row)

    def all(self) -> list[ProcessInfo]:
        rows = self._db.all(
            "SELECT name, pid, state, started_at, heartbeat_at, detail, log_path "
            "FROM processes ORDER BY name"
        )
        return [_info(row) for row in rows]

    def upsert(self, name: str, **fields) -> None:
        """Set some columns of a process's row, creating it (``starting``) if new."""
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"processes has no column {', '.join(sorted(unknown))}")
        with self._db.transaction() as conn:
            existing = conn.execute("SELECT 1 FROM processes WHERE name = ?", (name,)).fetchone()
            if existing:
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(
                    f"UPDATE processes SET {sets} WHERE name = ?", (*fields.values(), name)
                )
            else:
                fields = {"state": "starting", **fields}
                cols = ", ".join(["name", *fields])
                marks = ", ".join("?" * (len(fields) + 1))
                conn.execute(
                    f"INSERT INTO processes ({cols}) VALUES ({marks})", (name, *fields.values())
                )


def _info(row) -> ProcessInfo:
    """A row as read, with whether its pid is still the process it records."""
    _, pid, _, started_at, heartbeat_at, *_ = row
    heard = [_unix(t) for t in (started_at, heartbeat_at) if t]
    return ProcessInfo(*row, alive=same_process(pid, max(heard) if heard else None))


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
