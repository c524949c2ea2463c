"""The ``lag_samples`` table: one row per partition per sampling round.

Each round is written in one transaction with the ``lag.sampled`` audit entry that
binds it (:mod:`console.store.bindings`), so the console and a later replay read exactly
the same series, and a sample edited afterwards is found.
"""

from __future__ import annotations

from collections.abc import Iterable

from console.store import audit, bindings
from console.store.connection import Connection

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

    def recent(self, rounds: int) -> list[SampleRow]:
        """The samples of the newest ``rounds`` rounds, by topic, partition and round."""
        with self._db.lock:
            top = self._db.one("SELECT MAX(round) FROM lag_samples")[0]
            if top is None:
                return []
            return self._db.all(
                "SELECT round, ts, topic, partition, source_end, mirrored, lag_records, "
                "lag_seconds FROM lag_samples WHERE round > ? ORDER BY topic, partition, round",
                (top - rounds,),
            )

    def last_time(self) -> str | None:
        """When the newest sample was taken (UTC, ISO 8601), or None."""
        row = self._db.one("SELECT MAX(ts) FROM lag_samples")
        return row[0] if row else None
