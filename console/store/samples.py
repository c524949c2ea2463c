"""The ``lag_samples`` table: one row per partition per sampling round.

Each round is written in one transaction with the ``lag.sampled`` audit entry that
binds it (:mod:`console.store.bindings`), so the console and a later replay read exactly
the same series, and a sample edited afterwards is found.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.store import audit, bindings
from console.store.connection import END_OF_TIME, Connection

SampleRow = tuple
"""``(round, ts, topic, partition, source_end, mirrored, lag_records, lag_seconds)``."""


class SampleTable:
    """Reads and writes ``lag_samples``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def write_round(self, ts: str, samples: Iterable[tuple]) -> int:
        """Store one round of ``(topic, partition, source_end, mirrored, lag_records,
        lag_seconds)``; returns its number."""
        with self._db.transaction(durable=True) as conn:
            top = conn.execute("SELECT COALESCE(MAX(round), 0) FROM lag_samples").fetchone()[0]
            number = top + 1
            conn.executemany(
                "INSERT INTO lag_samples VALUES (?,?,?,?,?,?,?,?)",
                [(number, ts, *s) for s in samples],
            )
            audit.append_in(
                conn, "lag.sampled", binds=bindings.round_binds(conn, number), clock=self._db.clock
            )
        return number

    def recent(self, rounds: int, *, until: str | None = None) -> list[SampleRow]:
        """The samples of the newest ``rounds`` rounds (taken at or before ``until``, a UTC
        timestamp, when given: a replay's view as of an audit entry), by topic, partition
        and round."""
        bound = until or END_OF_TIME
        with self._db.lock:
            top = self._db.one("SELECT MAX(round) FROM lag_samples WHERE ts <= ?", (bound,))[0]
            if top is None:
                return []
            return self._db.all(
                "SELECT round, ts, topic, partition, source_end, mirrored, lag_records, "
                "lag_seconds FROM lag_samples WHERE round > ? AND round <= ? "
                "ORDER BY topic, partition, round",
                (top - rounds, top),
            )

    def last_time(self, *, until: str | None = None) -> str | None:
        """When the newest sample was taken (UTC, ISO 8601), or None."""
        row = self._db.one("SELECT MAX(ts) FROM lag_samples WHERE ts <= ?", (until or END_OF_TIME,))
        return row[0] if row else None

    def totals_between(self, start: str, end: str) -> list[tuple[int, str, int | None]]:
        """Per round between two times: ``(round, ts, total lag in records)``, the lag
        summed over every partition sampled (None when a partition's lag was unknown)."""
        rows = self._db.all(
            "SELECT round, MIN(ts), SUM(lag_records), COUNT(*) - COUNT(lag_records) "
            "FROM lag_samples WHERE ts >= ? AND ts <= ? GROUP BY round ORDER BY round",
            (start, end),
        )
        return [(r[0], r[1], None if r[3] else r[2]) for r in rows]
