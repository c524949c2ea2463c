"""The offset map tables: ``offset_runs`` (an exact map, in runs) and ``offset_syncs``
(sparse pairs a coarse path such as MirrorMaker 2 records).

Rows go in and out as plain tuples; what they mean (runs, translation, coarseness)
belongs to the shadow path that writes them.
"""

from __future__ import annotations

from console.store.connection import Connection

RunRow = tuple[int, int, int]
"""``(src_start, tgt_start, length)`` of one run."""


class OffsetTable:
    """Reads and writes ``offset_runs`` and ``offset_syncs``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    # -- exact runs ----------------------------------------------------------------------

    def record_runs(self, runs: list[tuple[str, int, int, int, int]], path: str) -> int:
        """Store ``(topic, partition, src_start, tgt_start, length)`` runs in one transaction.

        A run that starts at a source offset already stored replaces it, so a recovery
        that rebuilds a tail it already wrote cannot leave two rows behind.
        """
        if not runs:
            return 0
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO offset_runs "
                "(topic, partition, src_start, tgt_start, length, path) VALUES (?,?,?,?,?,?)",
                [(*run, path) for run in runs],
            )
        return len(runs)

    def runs(self, topic: str, partition: int, path: str) -> list[RunRow]:
        """Every run of one partition, by source offset."""
        return self._db.all(
            "SELECT src_start, tgt_start, length FROM offset_runs "
            "WHERE topic = ? AND partition = ? AND path = ? ORDER BY src_start",
            (topic, partition, path),
        )

    def last_run(self, topic: str, partition: int, path: str) -> RunRow | None:
        """The run with the highest source offsets of a partition."""
        return self._db.one(
            "SELECT src_start, tgt_start, length FROM offset_runs "
            "WHERE topic = ? AND partition = ? AND path = ? ORDER BY src_start DESC LIMIT 1",
            (topic, partition, path),
        )

    def runs_around(self, topic: str, partition: int, src_offset: int, path: str) -> list[RunRow]:
        """The run starting at or before a source offset and the one after it (at most
        two rows, so a lookup stays cheap on long maps)."""
        return self._db.all(
            "SELECT * FROM ("
            "  SELECT src_start, tgt_start, length FROM offset_runs"
            "  WHERE topic = ? AND partition = ? AND path = ? AND src_start <= ?"
            "  ORDER BY src_start DESC LIMIT 1)"
            " UNION ALL SELECT * FROM ("
            "  SELECT src_start, tgt_start, length FROM offset_runs"
            "  WHERE topic = ? AND partition = ? AND path = ? AND src_start > ?"
            "  ORDER BY src_start LIMIT 1)",
            (topic, partition, path, src_offset) * 2,
        )

    def runs_between(
        self, topic: str, partition: int, path: str, src_lo: int, src_hi: int
    ) -> list[RunRow]:
        """Runs overlapping source offsets ``[src_lo, src_hi)``, by source offset."""
        return self._db.all(
            "SELECT src_start, tgt_start, length FROM offset_runs WHERE topic = ? AND "
            "partition = ? AND path = ? AND src_start < ? AND src_start + length > ? "
            "ORDER BY src_start",
            (topic, partition, path, src_hi, src_lo),
        )

    def runs_around_target(
        self, topic: str, partition: int, tgt_offset: int, path: str
    ) -> list[RunRow]:
        """The run starting at or before a target offset and the one after it, by target
        offset (the reverse lookup)."""
        return self._db.all(
            "SELECT * FROM ("
            "  SELECT src_start, tgt_start, length FROM offset_runs"
            "  WHERE topic = ? AND partition = ? AND path = ? AND tgt_start <= ?"
            "  ORDER BY tgt_start DESC LIMIT 1)"
            " UNION ALL SELECT * FROM ("
            "  SELECT src_start, tgt_start, length FROM offset_runs"
            "  WHERE topic = ? AND partition = ? AND path = ? AND tgt_start > ?"
            "  ORDER BY tgt_start LIMIT 1)",
            (topic, partition, path, tgt_offset) * 2,
        )

    def mapped_count(self, path: str, topic: str | None = None) -> int:
        """Records the map covers (all topics, or one)."""
        query = "SELECT COALESCE(SUM(length), 0) FROM offset_runs WHERE path = ?"
        args: tuple = (path,)
        if topic is not None:
            query += " AND topic = ?"
            args += (topic,)
        return int(self._db.one(query, args)[0])

    # -- sparse syncs --------------------------------------------------------------------

    def add_syncs(
        self, rows: list[tuple[str, int, int, int, str, str | None]], observed_at: str
    ) -> int:
        """Add ``(topic, partition, src, tgt, kind, group)`` rows not stored yet, in one
        transaction; returns how many were new. Rows are never deleted: the history exists
        only here once the source topic's compaction dropped it."""
        added = 0
        with self._db.transaction() as conn:
            for topic, partition, src, tgt, kind, group in dict.fromkeys(rows):
                cur = conn.execute(
                    "INSERT INTO offset_syncs(topic, partition, src_offset, tgt_offset, kind, "
                    "group_id, observed_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS ("
                    "SELECT 1 FROM offset_syncs WHERE topic = ? AND partition = ? AND "
                    "src_offset = ? AND tgt_offset = ? AND kind = ? AND group_id IS ?)",
                    (topic, partition, src, tgt, kind, group, observed_at)
                    + (topic, partition, src, tgt, kind, group),
                )
                added += cur.rowcount
        return added

    def syncs(self, topic: str, partition: int, kind: str) -> list[tuple[int, int]]:
        """Distinct ``(src, tgt)`` pairs of one kind for a partition, by source offset."""
        return self._db.all(
            "SELECT DISTINCT src_offset, tgt_offset FROM offset_syncs WHERE topic = ? AND "
            "partition = ? AND kind = ? ORDER BY src_offset, tgt_offset",
            (topic, partition, kind),
        )

    def group_syncs(self, topic: str, partition: int, kind: str) -> list[tuple[str, int, int]]:
        """``(group, src, tgt)`` rows of one kind for a partition, in arrival order."""
        return self._db.all(
            "SELECT group_id, src_offset, tgt_offset FROM offset_syncs WHERE topic = ? AND "
            "partition = ? AND kind = ? ORDER BY rowid",
            (topic, partition, kind),
        )

    def partitions_with_syncs(self, topic: str) -> list[int]:
        """Partitions of ``topic`` with any stored sync or checkpoint."""
        rows = self._db.all(
            "SELECT DISTINCT partition FROM offset_syncs WHERE topic = ? ORDER BY partition",
            (topic,),
        )
        return [r[0] for r in rows]
