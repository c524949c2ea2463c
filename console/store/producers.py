"""The producer cutover's tables: runs and their sub-steps, the ACLs and users they made,
the cutover points, and the rollback window.

* ``producer_runs``: one row per move, rollback or drill of a producer class, with the
  facts it established so far (JSON: fence time, fence point, first write on the target,
  ...). A run interrupted at any point (``kill -9``) is found here and resumed.
* ``producer_substeps``: per run, each sub-step ``started`` before its side effect and
  ``done`` after, with its result; a resumed run skips what is done and re-checks what
  was only started, so no side effect happens twice.
* ``producer_acls`` / ``producer_users``: exactly which ACL bindings and SCRAM users a run
  added (recorded ``adding`` BEFORE the change, so a crash in between still knows it is
  ours; ``preexisting`` when it was there already, and then never removed).
* ``cutover_points``: per partition, the source end offset at the fence and the target
  offset where the class's own writes begin; the mirror stops at the source offset of
  a topic whose producers all moved, and comparisons end there.
* ``rollback_window``: opened by the first move, with its deadline; closed by a gated
  decision.

Rows go in and out as plain values; what they mean belongs to :mod:`console.cutover`.

Every write appends, in its own transaction, the entry that binds what it wrote to the
audit chain (``producer-run.recorded``, ``producer-acl.recorded``,
``producer-user.recorded``, ``cutover-points.recorded``, ``rollback-window.recorded``,
carrying the SHA-256 of the rows as stored; :mod:`console.store.bindings`), so a run's
facts, an ACL a rollback would remove or a cutover point edited in the file are found by
``audit verify``, and the gates that change a cluster stay shut, before a resumed run
acts on them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from console import redact
from console.plan.steps import step_key
from console.store import audit, bindings
from console.store.connection import Connection, dumps

SCHEMA = """
CREATE TABLE IF NOT EXISTS producer_runs (
    id INTEGER PRIMARY KEY, class TEXT NOT NULL, kind TEXT NOT NULL,
    state TEXT NOT NULL,          -- running | done | failed | undone
    started_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT,
    facts TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS producer_runs_by_class ON producer_runs(class, kind, id);
CREATE TABLE IF NOT EXISTS producer_substeps (
    run_id INTEGER NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL,          -- started | done
    started_at TEXT NOT NULL, done_at TEXT, result TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS producer_acls (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, class TEXT NOT NULL,
    cluster TEXT NOT NULL, purpose TEXT NOT NULL,
    resource_type TEXT NOT NULL, resource_name TEXT NOT NULL, pattern_type TEXT NOT NULL,
    principal TEXT NOT NULL, host TEXT NOT NULL, operation TEXT NOT NULL,
    permission TEXT NOT NULL, preexisting INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'adding',   -- adding | active | removed
    created_at TEXT NOT NULL, removed_at TEXT);
CREATE TABLE IF NOT EXISTS producer_users (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, class TEXT NOT NULL,
    cluster TEXT NOT NULL, user TEXT NOT NULL, preexisting INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'adding',   -- adding | active | removed
    created_at TEXT NOT NULL, removed_at TEXT);
CREATE TABLE IF NOT EXISTS cutover_points (
    run_id INTEGER NOT NULL, class TEXT NOT NULL, topic TEXT NOT NULL,
    partition INTEGER NOT NULL, source_offset INTEGER NOT NULL,
    target_offset INTEGER NOT NULL, recorded_at TEXT NOT NULL,
    mirror_stopped INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active',   -- pending | active | rolled-back
    PRIMARY KEY (run_id, topic, partition));
CREATE TABLE IF NOT EXISTS rollback_window (
    id INTEGER PRIMARY KEY, opened_at TEXT NOT NULL, deadline TEXT NOT NULL,
    opened_by INTEGER, state TEXT NOT NULL,  -- open | closed
    closed_at TEXT, closed_note TEXT NOT NULL DEFAULT '');
"""

RUN_STATES = ("running", "done", "failed", "undone")
STEP_OF_KIND = {"move": "move-producers", "rollback": "rollback", "drill": "rollback-drill"}
"""The step whose runs are of each kind (named in the binding entries)."""
ACL_STATES = ("adding", "active", "removed")
POINT_STATES = ("pending", "active", "rolled-back")


@dataclass(frozen=True)
class RunRow:
    """A move, rollback or drill of a producer class."""

    id: int
    cls: str
    kind: str
    """``move``, ``rollback`` or ``drill``."""
    state: str
    started_at: str
    updated_at: str
    finished_at: str | None
    facts: dict[str, Any]


@dataclass(frozen=True)
class SubstepRow:
    """One sub-step of a run: ``started`` before its side effect, ``done`` after."""

    run_id: int
    name: str
    state: str
    started_at: str
    done_at: str | None
    result: dict[str, Any]


@dataclass(frozen=True)
class AclRow:
    """An ACL binding a run added (or found in place) on a cluster."""

    id: int
    run_id: int
    cls: str
    cluster: str
    purpose: str
    """``fence`` (source DENY), ``open`` (target ALLOW), ``target-fence`` (target DENY in a
    rollback), ``drill``."""
    resource_type: str
    resource_name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str
    preexisting: bool
    state: str
    created_at: str
    removed_at: str | None

    def binding(self) -> dict[str, str]:
        return {
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "pattern_type": self.pattern_type,
            "principal": self.principal,
            "host": self.host,
            "operation": self.operation,
            "permission": self.permission,
        }


@dataclass(frozen=True)
class UserRow:
    """A SCRAM user a run created on a cluster (never its password)."""

    id: int
    run_id: int
    cls: str
    cluster: str
    user: str
    preexisting: bool
    state: str
    created_at: str
    removed_at: str | None


@dataclass(frozen=True)
class PointRow:
    """Where a partition was cut over: the source end at the fence and the target offset
    where the class's own writes begin."""

    run_id: int
    cls: str
    topic: str
    partition: int
    source_offset: int
    target_offset: int
    recorded_at: str
    mirror_stopped: bool
    state: str


@dataclass(frozen=True)
class WindowRow:
    """The rollback window."""

    id: int
    opened_at: str
    deadline: str
    opened_by: int | None
    state: str
    closed_at: str | None
    closed_note: str


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    # A run database made before these tables existed, opened read-only (replay): nothing
    # is recorded there yet.
    return "no such table" in str(exc)


_ACL_COLUMNS = (
    "id, run_id, class, cluster, purpose, resource_type, resource_name, pattern_type, "
    "principal, host, operation, permission, preexisting, state, created_at, removed_at"
)
_POINT_COLUMNS = (
    "run_id, class, topic, partition, source_offset, target_offset, recorded_at, "
    "mirror_stopped, state"
)


class ProducerTable:
    """Reads and writes the producer cutover's tables."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def ensure(self) -> None:
        """Create the tables in a run database made before they existed (writable only)."""
        if not self._db.readonly:
            with self._db.lock:
                self._db.raw.executescript(SCHEMA)

    def _bind(self, conn: sqlite3.Connection, kind: str, key: int, run_id: int | None) -> None:
        """Append the entry binding the rows just written (same transaction)."""
        step = None
        if run_id is not None:
            row = conn.execute(
                "SELECT class, kind FROM producer_runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is not None:
                # The drill is one step; a move or rollback is a step per class.
                target = "" if row[1] == "drill" else row[0]
                step = step_key(STEP_OF_KIND.get(row[1], row[1]), target)
        elif kind == "window":
            step = "rollback-window"
        binds = bindings.producer_binds(conn, kind, key)
        audit.append_in(
            conn,
            bindings.PRODUCER_ROWS[kind].action,
            step=step,
            outcome=binds["state"],
            binds=binds,
            clock=self._db.clock,
        )

    def _all(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.all(sql, args)
        except sqlite3.OperationalError as exc:
            if _missing_table(exc):
                return []
            raise

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, cls: str, kind: str, facts: dict[str, Any] | None = None) -> int:
        """A new run (state ``running``), durably; returns its id."""
        now = self._db.clock()
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO producer_runs(class, kind, state, started_at, updated_at, facts) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (cls, kind, now, now, dumps(redact.value(facts or {}))),
            )
            run_id = int(cur.lastrowid)
            self._bind(conn, "run", run_id, run_id)
            return run_id

    def run(self, run_id: int) -> RunRow | None:
        rows = self._all(
            "SELECT id, class, kind, state, started_at, updated_at, finished_at, facts "
            "FROM producer_runs WHERE id = ?",
            (run_id,),
        )
        return _run_row(rows[0]) if rows else None

    def runs(self, cls: str | None = None, kind: str | None = None) -> list[RunRow]:
        """Runs, oldest first (of one class, of one kind)."""
        query = (
            "SELECT id, class, kind, state, started_at, updated_at, finished_at, facts "
            "FROM producer_runs WHERE 1 = 1"
        )
        args: tuple = ()
        if cls is not None:
            query += " AND class = ?"
            args += (cls,)
        if kind is not None:
            query += " AND kind = ?"
            args += (kind,)
        return [_run_row(r) for r in self._all(query + " ORDER BY id", args)]

    def latest_run(self, cls: str, kind: str) -> RunRow | None:
        found = self.runs(cls, kind)
        return found[-1] if found else None

    def update_facts(self, run_id: int, facts: dict[str, Any]) -> dict[str, Any]:
        """Merge ``facts`` into the run's facts, durably; returns them all."""
        with self._db.transaction(durable=True) as conn:
            row = conn.execute("SELECT facts FROM producer_runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**json.loads(row[0]), **redact.value(facts)}
            conn.execute(
                "UPDATE producer_runs SET facts = ?, updated_at = ? WHERE id = ?",
                (dumps(merged), self._db.clock(), run_id),
            )
            self._bind(conn, "run", run_id, run_id)
        return merged

    def set_run_state(self, run_id: int, state: str) -> None:
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}")
        now = self._db.clock()
        finished = now if state != "running" else None
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE producer_runs SET state = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                (state, now, finished, run_id),
            )
            self._bind(conn, "run", run_id, run_id)

    # -- sub-steps -----------------------------------------------------------------------

    def substeps(self, run_id: int) -> dict[str, SubstepRow]:
        rows = self._all(
            "SELECT run_id, name, state, started_at, done_at, result FROM producer_substeps "
            "WHERE run_id = ? ORDER BY started_at, rowid",
            (run_id,),
        )
        return {r[1]: SubstepRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows}

    def substep_started(self, run_id: int, name: str) -> None:
        """Mark a sub-step started (before its side effect); a started one stays started."""
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO producer_substeps(run_id, name, state, started_at) "
                "VALUES (?, ?, 'started', ?)",
                (run_id, name, self._db.clock()),
            )
            if cur.rowcount:
                self._bind(conn, "run", run_id, run_id)

    def substep_done(self, run_id: int, name: str, result: dict[str, Any]) -> None:
        """Mark a sub-step done with its result, durably."""
        now = self._db.clock()
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "INSERT INTO producer_substeps(run_id, name, state, started_at, done_at, result) "
                "VALUES (?, ?, 'done', ?, ?, ?) ON CONFLICT(run_id, name) DO UPDATE SET "
                "state = 'done', done_at = excluded.done_at, result = excluded.result",
                (run_id, name, now, now, dumps(redact.value(result))),
            )
            self._bind(conn, "run", run_id, run_id)

    # -- ACLs and users ------------------------------------------------------------------

    def add_acl(
        self,
        run_id: int,
        cls: str,
        cluster: str,
        purpose: str,
        binding: dict[str, str],
        *,
        preexisting: bool,
        state: str = "adding",
    ) -> int:
        """Remember a binding a run is about to add (``adding``, BEFORE it is created) or
        found in place (``preexisting``: never removed by the console)."""
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO producer_acls(run_id, class, cluster, purpose, resource_type, "
                "resource_name, pattern_type, principal, host, operation, permission, "
                "preexisting, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    cls,
                    cluster,
                    purpose,
                    binding["resource_type"],
                    binding["resource_name"],
                    binding["pattern_type"],
                    binding["principal"],
                    binding["host"],
                    binding["operation"],
                    binding["permission"],
                    int(preexisting),
                    state,
                    self._db.clock(),
                ),
            )
            acl_id = int(cur.lastrowid)
            self._bind(conn, "acl", acl_id, run_id)
            return acl_id

    def set_acl_state(self, acl_id: int, state: str) -> None:
        if state not in ACL_STATES:
            raise ValueError(f"unknown ACL state {state!r}")
        removed = self._db.clock() if state == "removed" else None
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE producer_acls SET state = ?, removed_at = ? WHERE id = ?",
                (state, removed, acl_id),
            )
            row = conn.execute("SELECT run_id FROM producer_acls WHERE id = ?", (acl_id,))
            self._bind(conn, "acl", acl_id, (row.fetchone() or (None,))[0])

    def acls(
        self,
        *,
        run_id: int | None = None,
        cls: str | None = None,
        purpose: str | None = None,
        cluster: str | None = None,
        live_only: bool = False,
    ) -> list[AclRow]:
        """Recorded bindings, oldest first; ``live_only``: not removed."""
        query = f"SELECT {_ACL_COLUMNS} FROM producer_acls WHERE 1 = 1"
        args: tuple = ()
        for column, value in (
            ("run_id", run_id),
            ("class", cls),
            ("purpose", purpose),
            ("cluster", cluster),
        ):
            if value is not None:
                query += f" AND {column} = ?"
                args += (value,)
        if live_only:
            query += " AND state != 'removed'"
        rows = self._all(query + " ORDER BY id", args)
        return [AclRow(*r[:12], bool(r[12]), *r[13:]) for r in rows]

    def add_user(self, run_id: int, cls: str, cluster: str, user: str, *, preexisting: bool) -> int:
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO producer_users(run_id, class, cluster, user, preexisting, state, "
                "created_at) VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    cls,
                    cluster,
                    user,
                    int(preexisting),
                    "active" if preexisting else "adding",
                    self._db.clock(),
                ),
            )
            user_id = int(cur.lastrowid)
            self._bind(conn, "user", user_id, run_id)
            return user_id

    def set_user_state(self, user_id: int, state: str) -> None:
        if state not in ACL_STATES:
            raise ValueError(f"unknown user state {state!r}")
        removed = self._db.clock() if state == "removed" else None
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE producer_users SET state = ?, removed_at = ? WHERE id = ?",
                (state, removed, user_id),
            )
            row = conn.execute("SELECT run_id FROM producer_users WHERE id = ?", (user_id,))
            self._bind(conn, "user", user_id, (row.fetchone() or (None,))[0])

    def users(self, *, run_id: int | None = None, cls: str | None = None) -> list[UserRow]:
        query = (
            "SELECT id, run_id, class, cluster, user, preexisting, state, created_at, "
            "removed_at FROM producer_users WHERE 1 = 1"
        )
        args: tuple = ()
        if run_id is not None:
            query += " AND run_id = ?"
            args += (run_id,)
        if cls is not None:
            query += " AND class = ?"
            args += (cls,)
        rows = self._all(query + " ORDER BY id", args)
        return [UserRow(*r[:5], bool(r[5]), *r[6:]) for r in rows]

    # -- cutover points ------------------------------------------------------------------

    def record_points(
        self,
        run_id: int,
        cls: str,
        points: list[tuple[str, int, int, int, bool]],
        *,
        state: str = "active",
    ):
        """``(topic, partition, source_offset, target_offset, mirror_stopped)`` per partition,
        in one durable transaction; recording the same run's points again replaces them.
        ``pending``: recorded while the move drains (the mirror stops there already);
        ``active`` once the move confirmed them."""
        if state not in POINT_STATES:
            raise ValueError(f"unknown cutover point state {state!r}")
        now = self._db.clock()
        with self._db.transaction(durable=True) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO cutover_points(run_id, class, topic, partition, "
                "source_offset, target_offset, recorded_at, mirror_stopped, state) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [(run_id, cls, t, p, s, o, now, int(stop), state) for t, p, s, o, stop in points],
            )
            self._bind(conn, "points", run_id, run_id)

    def set_points_state(self, run_id: int, state: str) -> None:
        if state not in POINT_STATES:
            raise ValueError(f"unknown cutover point state {state!r}")
        with self._db.transaction(durable=True) as conn:
            conn.execute("UPDATE cutover_points SET state = ? WHERE run_id = ?", (state, run_id))
            self._bind(conn, "points", run_id, run_id)

    def points(
        self, *, run_id: int | None = None, cls: str | None = None, active_only: bool = False
    ) -> list[PointRow]:
        query = f"SELECT {_POINT_COLUMNS} FROM cutover_points WHERE 1 = 1"
        args: tuple = ()
        if run_id is not None:
            query += " AND run_id = ?"
            args += (run_id,)
        if cls is not None:
            query += " AND class = ?"
            args += (cls,)
        if active_only:
            query += " AND state IN ('pending', 'active')"
        rows = self._all(query + " ORDER BY run_id, topic, partition", args)
        return [PointRow(*r[:7], bool(r[7]), r[8]) for r in rows]

    def mirror_stops(self) -> dict[tuple[str, int], int]:
        """Per partition, the source offset the mirror copies nothing at or beyond: the
        active cutover points of topics whose producers all moved."""
        rows = self._all(
            "SELECT topic, partition, MIN(source_offset) FROM cutover_points "
            "WHERE state IN ('pending', 'active') AND mirror_stopped = 1 "
            "GROUP BY topic, partition"
        )
        return {(t, p): o for t, p, o in rows}

    # -- rollback window -----------------------------------------------------------------

    def window(self) -> WindowRow | None:
        """The newest rollback window, if one was ever opened."""
        rows = self._all(
            "SELECT id, opened_at, deadline, opened_by, state, closed_at, closed_note "
            "FROM rollback_window ORDER BY id DESC LIMIT 1"
        )
        return WindowRow(*rows[0]) if rows else None

    def open_window(self, opened_at: str, deadline: str, run_id: int) -> WindowRow:
        """Open the window unless one is open already (the first move opens it)."""
        with self._db.transaction(durable=True) as conn:
            row = conn.execute(
                "SELECT id FROM rollback_window WHERE state = 'open' ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO rollback_window(opened_at, deadline, opened_by, state) "
                    "VALUES (?, ?, ?, 'open')",
                    (opened_at, deadline, run_id),
                )
                self._bind(conn, "window", int(cur.lastrowid), None)
        found = self.window()
        assert found is not None
        return found

    def close_window(self, note: str) -> WindowRow | None:
        with self._db.transaction(durable=True) as conn:
            opened = [
                r for (r,) in conn.execute("SELECT id FROM rollback_window WHERE state = 'open'")
            ]
            conn.execute(
                "UPDATE rollback_window SET state = 'closed', closed_at = ?, closed_note = ? "
                "WHERE state = 'open'",
                (self._db.clock(), redact.text(note)),
            )
            for window_id in opened:
                self._bind(conn, "window", window_id, None)
        return self.window()


def _run_row(r: tuple) -> RunRow:
    return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
