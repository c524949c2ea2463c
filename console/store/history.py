"""Reading the audit log as a timeline: entries by position, the next gate or failure,
and the entries that say how steps and processes went, up to any entry.

A replay shows the run as it stood at one audit entry; everything it needs from the
log is read here, with a bound (``upto``) on every query. Reads only.
"""

from __future__ import annotations

from console.store import audit
from console.store.connection import Connection

STEP_ACTIONS = ("step.started", "step.finished", "step.interrupted")
"""The entries that change a step instance's state."""

_GATE = "action LIKE 'gate.%'"
# A failure: a step that ended failed or was interrupted, or any sub-step whose recorded
# result says it failed (process starts, MirrorMaker deploys, drills).
_FAILURE = (
    "(action = 'step.interrupted' OR outcome LIKE 'failed%' "
    "OR (action = 'step.finished' AND outcome LIKE 'failed%'))"
)
_KINDS = {"gate": _GATE, "failure": _FAILURE, "any": "1"}


class AuditHistory:
    """Bounded reads of the audit log for the replay timeline and the scorecard."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def head(self) -> int:
        """The last entry's sequence number (0 for an empty log)."""
        row = self._db.one("SELECT COALESCE(MAX(seq), 0) FROM audit")
        return int(row[0]) if row else 0

    def entry(self, seq: int) -> audit.Entry | None:
        row = self._db.one("SELECT * FROM audit WHERE seq = ?", (seq,))
        return audit._row_to_entry(tuple(row)) if row else None

    def latest(self, count: int, upto: int) -> list[audit.Entry]:
        """The newest ``count`` entries at or before ``upto``, oldest first."""
        rows = self._db.all(
            "SELECT * FROM audit WHERE seq <= ? ORDER BY seq DESC LIMIT ?", (upto, count)
        )
        return [audit._row_to_entry(tuple(r)) for r in reversed(rows)]

    def find(self, seq: int, kind: str, *, forward: bool) -> int | None:
        """The next (or previous) entry after (before) ``seq`` of a kind: ``gate`` (a gate
        decision), ``failure`` or ``any``."""
        where = _KINDS[kind]
        if forward:
            sql = f"SELECT MIN(seq) FROM audit WHERE seq > ? AND {where}"
        else:
            sql = f"SELECT MAX(seq) FROM audit WHERE seq < ? AND {where}"
        row = self._db.one(sql, (seq,))
        return int(row[0]) if row and row[0] is not None else None

    def with_actions(self, actions: tuple[str, ...], upto: int) -> list[audit.Entry]:
        """Every entry of the given actions at or before ``upto``, oldest first."""
        marks = ",".join("?" * len(actions))
        rows = self._db.all(
            f"SELECT * FROM audit WHERE seq <= ? AND action IN ({marks}) ORDER BY seq",
            (upto, *actions),
        )
        return [audit._row_to_entry(tuple(r)) for r in rows]

    def last_start(self, step_key: str) -> int | None:
        """The entry that last started a step instance, if it ever ran."""
        row = self._db.one(
            "SELECT MAX(seq) FROM audit WHERE action = 'step.started' AND step = ?", (step_key,)
        )
        return int(row[0]) if row and row[0] is not None else None
