"""The consumer cutover's tables: offset plans, the fences it added, and the offsets samples.

* ``offset_plans`` / ``offset_plan_rows``: what a group move computed, per partition,
  stored **before** anything is applied, so a move interrupted at any point is resumed
  from it (and never silently replaced by a different translation). Each row keeps the
  reverse point too (the source offset the applied target offset maps back to): the
  rollback needs it.
* ``fences``: exactly which ACL a move added (or found already there), so a rollback
  removes only what the console added.
* ``offset_rounds`` / ``offset_samples``: the offsets sampler's rounds and, per group, the
  figures the offsets pane shows (JSON, written only when they changed), so a replay shows
  what the console showed.

Rows go in and out as plain values and dicts; what they mean belongs to
:mod:`console.cutover`.

An offset plan is what a move writes on the target, and a fence is what a rollback
removes: each write of one (stored, a new state) appends an ``offsets.stored`` or
``fence.recorded`` entry in the same transaction, carrying the SHA-256 of the rows as
stored (:mod:`console.store.bindings`), so an offset edited in the file is found by
``audit verify`` before a resumed move would write it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from console import redact
from console.store import audit, bindings
from console.store.connection import Connection, dumps

SCHEMA = """
CREATE TABLE IF NOT EXISTS offset_plans (
    id INTEGER PRIMARY KEY, group_id TEXT NOT NULL, created_at TEXT NOT NULL,
    strategy TEXT NOT NULL, path TEXT NOT NULL,
    state TEXT NOT NULL,            -- planned | applied | verified | discarded
    updated_at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS offset_plans_by_group ON offset_plans(group_id, id);
CREATE TABLE IF NOT EXISTS offset_plan_rows (
    plan_id INTEGER NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    source_committed INTEGER, target_offset INTEGER, method TEXT NOT NULL,
    exact INTEGER NOT NULL, bound_lo INTEGER, bound_hi INTEGER,
    replay INTEGER, replay_min INTEGER, skip INTEGER,
    reverse_source INTEGER,         -- the source offset target_offset maps back to
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (plan_id, topic, partition));
CREATE TABLE IF NOT EXISTS fences (
    id INTEGER PRIMARY KEY, group_id TEXT NOT NULL, cluster TEXT NOT NULL,
    resource_type TEXT NOT NULL, resource_name TEXT NOT NULL, pattern_type TEXT NOT NULL,
    principal TEXT NOT NULL, host TEXT NOT NULL, operation TEXT NOT NULL,
    permission TEXT NOT NULL, created_at TEXT NOT NULL,
    preexisting INTEGER NOT NULL DEFAULT 0,   -- there before the console: never removed
    state TEXT NOT NULL DEFAULT 'adding',     -- adding | active | removed
    removed_at TEXT);
-- The reverse map (target offset -> source offset) looks runs up by target offset.
CREATE INDEX IF NOT EXISTS offset_runs_by_target
    ON offset_runs(topic, partition, path, tgt_start);
CREATE TABLE IF NOT EXISTS offset_rounds (round INTEGER PRIMARY KEY, ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offset_samples (
    group_id TEXT NOT NULL, round INTEGER NOT NULL, ts TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (group_id, round));
"""

PLAN_STATES = ("planned", "applied", "verified", "discarded")

_ROW_COLUMNS = (
    "topic",
    "partition",
    "source_committed",
    "target_offset",
    "method",
    "exact",
    "bound_lo",
    "bound_hi",
    "replay",
    "replay_min",
    "skip",
    "reverse_source",
    "reason",
)


@dataclass(frozen=True)
class StoredPlan:
    """An offset plan as stored: its header and its rows (dicts keyed by column name)."""

    id: int
    group_id: str
    created_at: str
    strategy: str
    path: str
    state: str
    updated_at: str
    note: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class FenceRow:
    """An ACL binding a group move added (or found in place) on a cluster."""

    id: int
    group_id: str
    cluster: str
    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str
    created_at: str
    preexisting: bool
    state: str
    """``adding`` (recorded before the ACL was created), ``active``, ``removed``."""
    removed_at: str | None


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    # A run database made before these tables existed, opened read-only (replay): there
    # is simply nothing recorded yet.
    return "no such table" in str(exc)


class CutoverTable:
    """Reads and writes the consumer cutover's tables."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def ensure(self) -> None:
        """Create the tables in a run database made before they existed (writable only)."""
        if not self._db.readonly:
            with self._db.lock:
                self._db.raw.executescript(SCHEMA)

    # -- offset plans --------------------------------------------------------------------

    def save_plan(
        self, group_id: str, strategy: str, path: str, rows: list[dict[str, Any]], note: str = ""
    ) -> int:
        """Store a group's offset plan (state ``planned``) and its rows in one durable
        transaction, before anything is applied; returns its id."""
        now = self._db.clock()
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO offset_plans(group_id, created_at, strategy, path, state, "
                "updated_at, note) VALUES (?,?,?,?, 'planned', ?, ?)",
                (group_id, now, strategy, path, now, redact.text(note)),
            )
            plan_id = int(cur.lastrowid)
            conn.executemany(
                f"INSERT INTO offset_plan_rows(plan_id, {', '.join(_ROW_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(_ROW_COLUMNS))})",
                [
                    (
                        plan_id,
                        *(
                            int(row[c]) if c == "exact" else row.get(c)
                            for c in _ROW_COLUMNS
                            if c != "reason"
                        ),
                        redact.text(row.get("reason", "")),
                    )
                    for row in rows
                ],
            )
            self._bind_plan(conn, plan_id, group_id)
        return plan_id

    def _bind_plan(self, conn: sqlite3.Connection, plan_id: int, group_id: str) -> None:
        binds = bindings.offset_plan_binds(conn, plan_id)
        audit.append_in(
            conn,
            "offsets.stored",
            step=f"move-group:{group_id}",
            outcome=binds["state"],
            binds=binds,
            clock=self._db.clock,
        )

    def set_plan_state(self, plan_id: int, state: str, note: str | None = None) -> None:
        if state not in PLAN_STATES:
            raise ValueError(f"unknown offset plan state {state!r}")
        with self._db.transaction(durable=True) as conn:
            if note is None:
                conn.execute(
                    "UPDATE offset_plans SET state = ?, updated_at = ? WHERE id = ?",
                    (state, self._db.clock(), plan_id),
                )
            else:
                conn.execute(
                    "UPDATE offset_plans SET state = ?, updated_at = ?, note = ? WHERE id = ?",
                    (state, self._db.clock(), redact.text(note), plan_id),
                )
            row = conn.execute(
                "SELECT group_id FROM offset_plans WHERE id = ?", (plan_id,)
            ).fetchone()
            if row is not None:
                self._bind_plan(conn, plan_id, row[0])

    def latest_plan(self, group_id: str, *, live_only: bool = False) -> StoredPlan | None:
        """The newest offset plan of a group (with ``live_only``: not discarded)."""
        query = (
            "SELECT id, group_id, created_at, strategy, path, state, updated_at, note "
            "FROM offset_plans WHERE group_id = ?"
        )
        if live_only:
            query += " AND state != 'discarded'"
        try:
            row = self._db.one(query + " ORDER BY id DESC LIMIT 1", (group_id,))
        except sqlite3.OperationalError as exc:
            if _missing_table(exc):
                return None
            raise
        if row is None:
            return None
        return StoredPlan(*row, rows=self.plan_rows(row[0]))

    def plan_rows(self, plan_id: int) -> list[dict[str, Any]]:
        rows = self._db.all(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM offset_plan_rows WHERE plan_id = ? "
            "ORDER BY topic, partition",
            (plan_id,),
        )
        out = []
        for row in rows:
            item = dict(zip(_ROW_COLUMNS, row, strict=True))
            item["exact"] = bool(item["exact"])
            out.append(item)
        return out

    # -- fences --------------------------------------------------------------------------

    def add_fence(
        self,
        group_id: str,
        cluster: str,
        binding: dict[str, str],
        *,
        preexisting: bool,
        state: str = "adding",
    ) -> int:
        """Remember an ACL binding a move is about to add (``adding``, recorded BEFORE it is
        created, so a crash in between still knows it is ours) or found already there
        (``preexisting``: a rollback must leave it). ``binding`` has resource_type,
        resource_name, pattern_type, principal, host, operation, permission."""
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO fences(group_id, cluster, resource_type, resource_name, "
                "pattern_type, principal, host, operation, permission, created_at, "
                "preexisting, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    group_id,
                    cluster,
                    binding["resource_type"],
                    binding["resource_name"],
                    binding["pattern_type"],
                    binding["principal"],
                    binding["host"],
                    binding["operation"],
                    binding["permission"],
                    self._db.clock(),
                    int(preexisting),
                    state,
                ),
            )
            fence_id = int(cur.lastrowid)
            self._bind_fence(conn, fence_id, group_id)
            return fence_id

    def _bind_fence(self, conn: sqlite3.Connection, fence_id: int, group_id: str) -> None:
        binds = bindings.fence_binds(conn, fence_id)
        audit.append_in(
            conn,
            "fence.recorded",
            step=f"move-group:{group_id}",
            outcome=binds["state"],
            binds=binds,
            clock=self._db.clock,
        )

    def set_fence_state(self, fence_id: int, state: str) -> None:
        """``active`` once the ACL is in place; ``removed`` when a rollback took it away."""
        if state not in ("adding", "active", "removed"):
            raise ValueError(f"unknown fence state {state!r}")
        removed = self._db.clock() if state == "removed" else None
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE fences SET state = ?, removed_at = ? WHERE id = ?",
                (state, removed, fence_id),
            )
            row = conn.execute("SELECT group_id FROM fences WHERE id = ?", (fence_id,)).fetchone()
            if row is not None:
                self._bind_fence(conn, fence_id, row[0])

    def fences(self, group_id: str | None = None, *, active_only: bool = True) -> list[FenceRow]:
        """The fences recorded (for one group): those not removed, or with ``active_only``
        False every one."""
        query = (
            "SELECT id, group_id, cluster, resource_type, resource_name, pattern_type, "
            "principal, host, operation, permission, created_at, preexisting, state, "
            "removed_at FROM fences WHERE 1 = 1"
        )
        args: tuple = ()
        if group_id is not None:
            query += " AND group_id = ?"
            args += (group_id,)
        if active_only:
            query += " AND state != 'removed'"
        try:
            rows = self._db.all(query + " ORDER BY id", args)
        except sqlite3.OperationalError as exc:
            if _missing_table(exc):
                return []
            raise
        return [FenceRow(*r[:11], bool(r[11]), r[12], r[13]) for r in rows]

    # -- offsets samples -----------------------------------------------------------------

    def write_round(self, ts: str, groups: dict[str, dict[str, Any]]) -> int:
        """One sampler round: its time, and each group's figures where they changed since
        that group's last stored sample (so a long run does not grow by a copy per round).
        Returns the round's number."""
        with self._db.transaction() as conn:
            top = conn.execute("SELECT COALESCE(MAX(round), 0) FROM offset_rounds").fetchone()[0]
            number = top + 1
            conn.execute("INSERT INTO offset_rounds(round, ts) VALUES (?, ?)", (number, ts))
            for group_id, body in groups.items():
                text = dumps(redact.value(body))
                last = conn.execute(
                    "SELECT body FROM offset_samples WHERE group_id = ? "
                    "ORDER BY round DESC LIMIT 1",
                    (group_id,),
                ).fetchone()
                if last is None or last[0] != text:
                    conn.execute(
                        "INSERT INTO offset_samples(group_id, round, ts, body) VALUES (?,?,?,?)",
                        (group_id, number, ts, text),
                    )
        return number

    def last_round(self, until: str | None = None) -> tuple[int, str] | None:
        """The newest round's number and time (recorded by ``until``, a replay's moment),
        or None before any."""
        try:
            row = self._db.one(
                "SELECT round, ts FROM offset_rounds WHERE ? IS NULL OR ts <= ? "
                "ORDER BY round DESC LIMIT 1",
                (until, until),
            )
        except sqlite3.OperationalError as exc:
            if _missing_table(exc):
                return None
            raise
        return (row[0], row[1]) if row else None

    def latest_samples(
        self, until: str | None = None
    ) -> dict[str, tuple[int, str, dict[str, Any]]]:
        """Per group, its newest stored figures (recorded by ``until``, a replay's
        moment): ``(round, ts, body)``."""
        try:
            rows = self._db.all(
                "SELECT s.group_id, s.round, s.ts, s.body FROM offset_samples s "
                "JOIN (SELECT group_id, MAX(round) AS top FROM offset_samples "
                "WHERE ? IS NULL OR ts <= ? GROUP BY group_id) m "
                "ON s.group_id = m.group_id AND s.round = m.top",
                (until, until),
            )
        except sqlite3.OperationalError as exc:
            if _missing_table(exc):
                return {}
            raise
        return {g: (r, ts, json.loads(body)) for g, r, ts, body in rows}
