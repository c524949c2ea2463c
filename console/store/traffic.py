"""The byte counts the cost scope is computed from: log sizes and consumer positions.

``byte_samples``: per sampling round, side and partition of a plan topic, the bytes its
leader replica holds (DescribeLogDirs) and the partition's end offset, read together.
``group_samples``: per round, side, plan group and partition, the committed offset.
The lag sampler writes both, one transaction per round, beside its lag samples (same
round number), so the console, the scorecard export and a replay read the same series.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.store.connection import END_OF_TIME, Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS byte_samples (round INTEGER NOT NULL, ts TEXT NOT NULL,
                           side TEXT NOT NULL, topic TEXT NOT NULL,
                           partition INTEGER NOT NULL, log_bytes INTEGER NOT NULL,
                           end_offset INTEGER,
                           PRIMARY KEY (round, side, topic, partition));
CREATE TABLE IF NOT EXISTS group_samples (round INTEGER NOT NULL, ts TEXT NOT NULL,
                           side TEXT NOT NULL, group_id TEXT NOT NULL, topic TEXT NOT NULL,
                           partition INTEGER NOT NULL, committed INTEGER NOT NULL,
                           PRIMARY KEY (round, side, group_id, topic, partition));
"""

ByteRow = tuple
"""``(round, ts, side, topic, partition, log_bytes, end_offset)``."""
GroupRow = tuple
"""``(round, ts, side, group_id, topic, partition, committed)``."""


class TrafficTable:
    """Reads and writes ``byte_samples`` and ``group_samples``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def write_round(
        self, round_: int, ts: str, sizes: Iterable[tuple], groups: Iterable[tuple]
    ) -> None:
        """Store one round: ``sizes`` as (side, topic, partition, log_bytes, end_offset),
        ``groups`` as (side, group_id, topic, partition, committed)."""
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO byte_samples VALUES (?,?,?,?,?,?,?)",
                [(round_, ts, *s) for s in sizes],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO group_samples VALUES (?,?,?,?,?,?,?)",
                [(round_, ts, *g) for g in groups],
            )

    def _present(self, table: str) -> bool:
        """Whether a table exists: a run database made before these tables has none, and
        replay opens it read-only, where they cannot be added."""
        row = self._db.one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        )
        return row is not None

    def recent_sizes(self, rounds: int, *, until: str | None = None) -> list[ByteRow]:
        """The byte samples of the newest ``rounds`` rounds that have any, oldest first
        (taken at or before ``until``, a UTC timestamp, when given: a replay's view)."""
        if not self._present("byte_samples"):
            return []
        bound = until or END_OF_TIME
        with self._db.lock:
            top = self._db.one("SELECT MAX(round) FROM byte_samples WHERE ts <= ?", (bound,))[0]
            if top is None:
                return []
            return self._db.all(
                "SELECT round, ts, side, topic, partition, log_bytes, end_offset "
                "FROM byte_samples WHERE round > ? AND round <= ? "
                "ORDER BY side, topic, partition, round",
                (top - rounds, top),
            )

    def recent_groups(self, rounds: int, *, until: str | None = None) -> list[GroupRow]:
        """The group samples of the newest ``rounds`` rounds that have any, oldest first
        (taken at or before ``until`` when given)."""
        if not self._present("group_samples"):
            return []
        bound = until or END_OF_TIME
        with self._db.lock:
            top = self._db.one("SELECT MAX(round) FROM group_samples WHERE ts <= ?", (bound,))[0]
            if top is None:
                return []
            return self._db.all(
                "SELECT round, ts, side, group_id, topic, partition, committed "
                "FROM group_samples WHERE round > ? AND round <= ? "
                "ORDER BY side, group_id, topic, partition, round",
                (top - rounds, top),
            )
