"""The comparison tables: ``compare_windows`` (one row per window, its spec as JSON) and
``compare_results`` (one row per partition and check, counts and examples as JSON).

Specs, counts and examples go in and come out as plain Python values; the JSON is the
store's business, and so is masking secrets in reasons and examples before they land.
A window that ends (done, failed or cancelled) is bound to the ``compare.recorded``
audit entry written in the same transaction (:mod:`console.store.bindings`).
"""

from __future__ import annotations

import json
from typing import Any

from console import redact
from console.store import audit, bindings
from console.store.connection import END_OF_TIME, Connection, dumps

WindowRow = tuple[int, str, str | None, str, dict[str, Any]]
"""``(id, started_at, finished_at, status, spec)``."""
ResultRow = tuple[str, int | None, str, str, str, dict[str, int], list[dict[str, Any]]]
"""``(topic, partition, check, verdict, reason, counts, examples)``."""


def _spec(text: str | None) -> dict[str, Any]:
    return json.loads(text or "{}")


class ResultTable:
    """Reads and writes the comparison windows and their results."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def done_specs(self, limit: int = 50) -> list[tuple[int, dict[str, Any]]]:
        """``(id, spec)`` of the newest finished windows, newest first."""
        rows = self._db.all(
            "SELECT id, spec FROM compare_windows WHERE status = 'done' ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [(window_id, _spec(text)) for window_id, text in rows]

    def open_window(self, started_at: str, spec: dict[str, Any], *, own_chain: bool) -> int:
        """Record a window as running; with ``own_chain`` it starts a live chain named
        after itself (``spec["chain"]`` = its own id). Returns the id."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO compare_windows(started_at, status, spec) VALUES (?, 'running', ?)",
                (started_at, dumps(spec)),
            )
            window_id = int(cur.lastrowid)
            if own_chain:
                conn.execute(
                    "UPDATE compare_windows SET spec = ? WHERE id = ?",
                    (dumps({**spec, "chain": window_id}), window_id),
                )
        return window_id

    def close_window(
        self, window_id: int, status: str, finished_at: str, extra: dict[str, Any]
    ) -> None:
        """Mark a window ``done``, ``failed`` or ``cancelled``, adding ``extra`` to its spec."""
        with self._db.transaction(durable=True) as conn:
            self._close(conn, window_id, status, finished_at, extra)

    def save_results(
        self, window_id: int, results: list[ResultRow], finished_at: str, extra: dict[str, Any]
    ) -> None:
        """Store a window's results and mark it done, in one transaction."""
        rows = [
            (
                window_id,
                topic,
                partition,
                check,
                verdict,
                redact.text(reason),
                dumps(counts),
                json.dumps(redact.value(examples)),
            )
            for topic, partition, check, verdict, reason, counts, examples in results
        ]
        with self._db.transaction(durable=True) as conn:
            conn.executemany(
                "INSERT INTO compare_results(window_id, topic, partition, check_name, verdict, "
                "reason, counts, examples) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            self._close(conn, window_id, "done", finished_at, extra)

    def _close(self, conn, window_id: int, status: str, finished_at: str, extra: dict) -> None:
        row = conn.execute("SELECT spec FROM compare_windows WHERE id = ?", (window_id,)).fetchone()
        spec = _spec(row[0]) if row else {}
        spec.update(redact.value(extra))
        conn.execute(
            "UPDATE compare_windows SET status = ?, finished_at = ?, spec = ? WHERE id = ?",
            (status, finished_at, dumps(spec), window_id),
        )
        audit.append_in(
            conn,
            "compare.recorded",
            params={"status": status},
            binds=bindings.window_binds(conn, window_id),
            clock=self._db.clock,
        )

    def results(self, window_id: int, topic: str | None = None) -> list[ResultRow]:
        """One window's results (of one topic when given), in the order they were judged.

        A gate checking one group's topics asks for those only: decoding every topic's
        counts and examples cost a fifth of a second per group moved (bench/offsets.py)."""
        where, params = "window_id = ?", (window_id,)
        if topic is not None:
            where, params = "window_id = ? AND topic = ?", (window_id, topic)
        rows = self._db.all(
            "SELECT topic, partition, check_name, verdict, reason, counts, examples "
            f"FROM compare_results WHERE {where} ORDER BY rowid",
            params,
        )
        return [
            (topic, partition, check, verdict, reason, json.loads(counts), json.loads(examples))
            for topic, partition, check, verdict, reason, counts, examples in rows
        ]

    def windows(self, limit: int = 50, *, until: str | None = None) -> list[WindowRow]:
        """The newest windows, newest first (finished at or before ``until`` when given)."""
        if until is None:
            rows = self._db.all(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._db.all(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "WHERE finished_at <= ? ORDER BY id DESC LIMIT ?",
                (until, limit),
            )
        return [(*row[:4], _spec(row[4])) for row in rows]

    def window(self, window_id: int | None = None, *, until: str | None = None) -> WindowRow | None:
        """One window, or the newest finished one when no id is given (finished at or
        before ``until``, a UTC timestamp, when given: a replay's view as of an entry)."""
        if window_id is None:
            row = self._db.one(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "WHERE status = 'done' AND finished_at <= ? ORDER BY id DESC LIMIT 1",
                (until or END_OF_TIME,),
            )
        else:
            row = self._db.one(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "WHERE id = ?",
                (window_id,),
            )
        return None if row is None else (*row[:4], _spec(row[4]))

    def done_up_to(self, window_id: int) -> list[tuple[int, dict[str, Any]]]:
        """``(id, spec)`` of every finished window up to and including one, oldest first."""
        rows = self._db.all(
            "SELECT id, spec FROM compare_windows WHERE status = 'done' AND id <= ? ORDER BY id",
            (window_id,),
        )
        return [(i, _spec(text)) for i, text in rows]

    def unaudited_live(self) -> list[WindowRow]:
        """Finished live windows (done, failed or cancelled) no audit entry covers yet,
        oldest first."""
        rows = self._db.all(
            "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
            "WHERE status != 'running' AND json_extract(spec, '$.chain') IS NOT NULL "
            "AND json_extract(spec, '$.audit_seq') IS NULL ORDER BY id"
        )
        return [(*row[:4], _spec(row[4])) for row in rows]

    def mark_audited(self, window_ids: list[int], seq: int) -> None:
        """Note which audit entry covers these windows."""
        with self._db.transaction() as conn:
            conn.executemany(
                "UPDATE compare_windows SET spec = json_set(spec, '$.audit_seq', ?) WHERE id = ?",
                [(seq, i) for i in window_ids],
            )

    def chain_before(self, chain: int, window_id: int) -> tuple[WindowRow | None, bool]:
        """The live chain's window just before ``window_id`` (any finished status), and
        whether an audit entry already covers any window of the chain."""
        row = self._db.one(
            "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
            "WHERE json_extract(spec, '$.chain') = ? AND id < ? AND status != 'running' "
            "ORDER BY id DESC LIMIT 1",
            (chain, window_id),
        )
        audited = self._db.one(
            "SELECT 1 FROM compare_windows WHERE json_extract(spec, '$.chain') = ? "
            "AND json_extract(spec, '$.audit_seq') IS NOT NULL LIMIT 1",
            (chain,),
        )
        return (None if row is None else (*row[:4], _spec(row[4]))), audited is not None
