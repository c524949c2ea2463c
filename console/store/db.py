"""The run database: one SQLite file (WAL) that is the single source of truth for a run.

It holds the plan it was imported from, the steps and their states, the evidence
each step recorded, and the audit log. ``PRAGMA application_id`` marks the file
as ours and ``PRAGMA user_version`` records the schema version, so opening
someone else's file, or one from another version, gives a clear message.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console import redact
from console.errors import CutoverError
from console.pids import pid_alive
from console.plan import Plan, parse_plan
from console.plan.steps import STEPS, StepState, split_key, step_key, targets
from console.store import audit, bindings, media
from console.store.connection import (
    END_OF_TIME,
    READ_ONLY_HINT,
    Connection,
    StoreError,
    dumps,
    explain,
)
from console.store.cutover import SCHEMA as CUTOVER_SCHEMA
from console.store.cutover import CutoverTable
from console.store.governance import GovernanceTable
from console.store.history import AuditHistory
from console.store.offsets import OffsetTable
from console.store.processes import ProcessTable
from console.store.producers import SCHEMA as PRODUCER_SCHEMA
from console.store.producers import ProducerTable
from console.store.results import ResultTable
from console.store.safe import SCHEMA as SAFE_SCHEMA
from console.store.safe import ShadowTable
from console.store.samples import SampleTable
from console.store.scorecard import SCHEMA as SCORECARD_SCHEMA
from console.store.scorecard import ScorecardTable
from console.store.traffic import SCHEMA as TRAFFIC_SCHEMA
from console.store.traffic import TrafficTable

APPLICATION_ID = 0x43555430  # "CUT0"
SCHEMA_VERSION = 3
"""The run-database schema this cutover creates. Version 2 and 3 files were written, from
their plan import on, by releases that bind everything a decision rests on (step states,
the plan, evidence, lag rounds, comparison windows, offset plans, fences, producer rows)
to the chain: a row that no entry binds was added outside cutover. Version 3 differs in
its audit table only: an entry stores the text its hash covers and its fields are read
from that text (:data:`console.store.audit.SCHEMA`), so a million entries verify in about
half the time. A version 2 file keeps its table and is read and written as it is."""
PREVIOUS_VERSION = 2
"""Files of the releases before version 3: read and written like new ones."""
PAGE_SIZE = 4096
"""SQLite page size of a new run database. A version 3 entry (its stored text and two
hashes) is 400-500 bytes: a 4 KiB page holds eight of them, a 1 KiB page one (half of it
unused), which made the file 40% larger and a full verification a quarter slower (a
million entries, measured: 4.3 s against 5.8 s). A durable append commits two pages (the
entry's leaf and the head pointer; a third now and then, a new leaf's parent), so smaller
pages sync fewer bytes: single appends measured 0.72 of the raw fsync rate at 4 KiB
against 0.77 at 1 KiB in the same rounds (``bench/audit.py --also-page-size 1024``).
Files made with another page size keep theirs."""
OLDER_VERSION = 1
"""Files of the releases that added those bindings one kind at a time without changing
the version (the last of them at 08:36 on 2026-12-01, 77dec8e): in such a file a row no
entry binds may predate its kind's binding, or may have been added outside cutover, and
nothing tells the two apart. They open read-only (status, audit verify, replay), never
for writing."""


def _older(given: Path) -> str:
    return (
        f"{given} was written by an older cutover (run-database schema version "
        f"{OLDER_VERSION}), whose releases bound step states, the plan, evidence, offset plans, "
        "fences and producer rows to the audit chain one kind at a time: a row that no entry "
        "binds cannot be told apart from one added outside cutover"
    )


_OLDER_READ = (
    "opened read-only: its entries are verified in full; rows no entry binds are not called "
    "tampered, since this version cannot tell"
)
_OLDER_WRITE_HINT = (
    "it is never adopted for writing; 'cutover status', 'cutover audit verify' and "
    "'cutover run --replay' read it; to go on with the run, finish it with the release that "
    "started it, or import its plan into a new run database"
)
_LEGACY = (
    "this run database was made before step states, the plan and evidence were bound to "
    "the chain: bindings cannot be checked for this file, only its entries themselves"
)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE plan (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,
                   toml TEXT NOT NULL, json TEXT NOT NULL);
-- One row per step instance: target '' for a step run once, else the group, class, ...
CREATE TABLE steps (id TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',
                    position INTEGER NOT NULL, phase TEXT NOT NULL,
                    state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
                    updated_at TEXT NOT NULL, runner_pid INTEGER,
                    PRIMARY KEY (id, target));
CREATE TABLE evidence (id INTEGER PRIMARY KEY, step TEXT NOT NULL, kind TEXT NOT NULL,
                       created_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX evidence_by_step ON evidence(step, kind, id);

-- Background processes (mirror, sampler, validation consumers) that outlive the console.
CREATE TABLE processes (name TEXT PRIMARY KEY, pid INTEGER, state TEXT NOT NULL,
                        started_at TEXT, heartbeat_at TEXT, detail TEXT NOT NULL DEFAULT '',
                        log_path TEXT);

-- Exact offset map of the built-in mirror: source offsets [src_start, src_start+length)
-- sit at target offsets [tgt_start, tgt_start+length). A new run starts wherever either
-- side skips (transaction markers, aborted records, compaction gaps).
CREATE TABLE offset_runs (topic TEXT NOT NULL, partition INTEGER NOT NULL,
                          src_start INTEGER NOT NULL, tgt_start INTEGER NOT NULL,
                          length INTEGER NOT NULL, path TEXT NOT NULL DEFAULT 'builtin',
                          PRIMARY KEY (topic, partition, src_start, path));

-- Sparse offset pairs from a coarse path (MirrorMaker 2 offset-syncs and checkpoints).
CREATE TABLE offset_syncs (topic TEXT NOT NULL, partition INTEGER NOT NULL,
                           src_offset INTEGER NOT NULL, tgt_offset INTEGER NOT NULL,
                           kind TEXT NOT NULL, group_id TEXT, observed_at TEXT NOT NULL);
CREATE INDEX offset_syncs_by_tp ON offset_syncs(topic, partition, src_offset);

-- Shadow lag samples: one row per partition per sampling round.
CREATE TABLE lag_samples (round INTEGER NOT NULL, ts TEXT NOT NULL, topic TEXT NOT NULL,
                          partition INTEGER NOT NULL, source_end INTEGER,
                          mirrored INTEGER, lag_records INTEGER, lag_seconds REAL,
                          PRIMARY KEY (round, topic, partition));
CREATE INDEX lag_samples_by_tp ON lag_samples(topic, partition, round);

-- Comparison windows and their per-check results.
CREATE TABLE compare_windows (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL,
                              finished_at TEXT, status TEXT NOT NULL,
                              spec TEXT NOT NULL DEFAULT '{}');
CREATE TABLE compare_results (window_id INTEGER NOT NULL, topic TEXT NOT NULL,
                              partition INTEGER, check_name TEXT NOT NULL,
                              verdict TEXT NOT NULL, reason TEXT NOT NULL,
                              counts TEXT NOT NULL DEFAULT '{}',
                              examples TEXT NOT NULL DEFAULT '[]');
CREATE INDEX compare_results_by_window ON compare_results(window_id, topic, partition);
"""

CORE_TABLES = ("meta", "plan", "steps", "evidence", "audit")
"""Tables every run database has had since schema version 1; one missing means the file
was damaged or edited, and it is refused before anything is changed."""


@dataclass(frozen=True)
class StepRow:
    """A step instance's state as recorded."""

    id: str
    phase: str
    state: StepState
    reason: str
    updated_at: str
    target: str = ""
    """The group, class, ... a targeted step runs on; '' for a step run once."""
    runner_pid: int | None = None

    @property
    def key(self) -> str:
        """``inventory`` or ``move-group:billing``: how the instance is named everywhere."""
        return step_key(self.id, self.target)

    @property
    def interrupted(self) -> bool:
        """Recorded as running, but its process is gone: a reader that may not write
        (status, replay) shows it as interrupted; the next writable open records it."""
        return self.state is StepState.RUNNING and not pid_alive(self.runner_pid)


class StepBusy(StoreError):
    """Another live process is running this step instance; nothing was started."""


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence a step recorded."""

    id: int
    step: str
    kind: str
    created_at: str
    body: dict[str, Any]


def _unbound_note(problem: str) -> str:
    """What verify says of an older file's first row that no entry binds."""
    what = re.split(r" (?:was|were) added outside cutover", problem)[0]
    return (
        f"written by an older cutover (schema version {OLDER_VERSION}): no entry binds {what}; "
        "in a file of that version it may predate the binding of its kind or have been added "
        "outside cutover, and nothing tells which; bindings of that kind after it are not "
        "checked for this file"
    )


def _step_row(row: tuple, path: Path) -> StepRow:
    try:
        state = StepState(row[2])
    except ValueError:
        key = step_key(row[0], row[5])
        raise StoreError(
            f"step '{key}' in {path} has the state {str(row[2])[:40]!r}, which cutover never "
            "writes: the run database was changed outside cutover",
            f"'cutover audit verify {path}' names what changed; its audit log says what "
            "really happened",
        ) from None
    return StepRow(row[0], row[1], state, row[3], row[4], row[5], row[6])


class Store:
    """An open run database. Thread-safe: one connection guarded by a lock."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        *,
        readonly: bool,
        clock: Callable[[], str] = audit.utc_now,
        read_uri: str | None = None,
        copy: media.ReadCopy | None = None,
    ):
        # Absolute: background processes get this path and run from another directory.
        self.path = path.absolute()
        self.readonly = readonly
        self._read_uri = read_uri or f"{path.as_uri()}?mode=ro"
        """How a separate read-only connection opens this file (verification walks)."""
        self._copy = copy
        """A private copy opened instead of read-only media with an unreadable WAL."""
        self.notes: list[str] = [copy.note] if copy else []
        """What the operator should know about how the file was opened."""
        self.schema_version = SCHEMA_VERSION
        """The file's run-database schema version (:data:`OLDER_VERSION` opens read-only)."""
        self.clock = clock
        self._db = Connection(conn, path, readonly=readonly, clock=clock)
        self._plan: Plan | None = None
        self.processes = ProcessTable(self._db)
        """Background processes that outlive the console (:mod:`console.store.processes`)."""
        self.offsets = OffsetTable(self._db)
        """The shadow paths' offset maps (:mod:`console.store.offsets`)."""
        self.samples = SampleTable(self._db)
        """Shadow lag samples (:mod:`console.store.samples`)."""
        self.results = ResultTable(self._db)
        """Comparison windows and results (:mod:`console.store.results`)."""
        self.traffic = TrafficTable(self._db)
        """Log sizes and consumer positions for the cost scope (:mod:`console.store.traffic`)."""
        self.governance = GovernanceTable(self._db)
        """Governance evidence bound to its audit entry (:mod:`console.store.governance`)."""
        self.shadow = ShadowTable(self._db)
        """Shadow consumers' progress, errors and identities (:mod:`console.store.safe`)."""
        self.cutover = CutoverTable(self._db)
        """Offset plans, fences and offsets samples (:mod:`console.store.cutover`)."""
        self.producers = ProducerTable(self._db)
        """Producer moves, rollbacks and drills, their ACLs, cutover points and the rollback
        window (:mod:`console.store.producers`)."""
        self.scorecard = ScorecardTable(self._db, clock)
        """Scorecard decisions and approvals (:mod:`console.store.scorecard`)."""
        self.history = AuditHistory(self._db)
        """The audit log read as a timeline, up to any entry (:mod:`console.store.history`)."""

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, plan_text: str, plan: Plan, *, clock=audit.utc_now) -> Store:
        """Create a run database for a plan. Written to a temporary file and renamed, so a
        failure leaves nothing half-made; an existing file is never overwritten.

        The plan import is the first audit entry and binds the stored plan and the step
        instances it made (:mod:`console.store.bindings`).
        """
        given = Path(path)
        path = given.absolute()
        if path.exists():
            raise StoreError(f"{given} already exists; choose another --db or move it away")
        if not path.parent.is_dir():
            raise StoreError(f"{given.parent} is not a directory; create it or choose another --db")
        media.refuse_network(path, given)
        if not os.access(path.parent, os.W_OK) or media.read_only_mount(path.parent):
            raise StoreError(
                f"cannot create {given}: its directory is read-only", "choose another --db"
            )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            # Imported here, by the one command that makes a file: sqlite-utils loads its
            # plugin machinery (0.14 s of every command's start-up, python -X importtime).
            import sqlite_utils

            db = sqlite_utils.Database(conn)
            try:
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the first table
                conn.executescript(
                    _SCHEMA
                    + audit.SCHEMA
                    + SAFE_SCHEMA
                    + TRAFFIC_SCHEMA
                    + CUTOVER_SCHEMA
                    + PRODUCER_SCHEMA
                    + SCORECARD_SCHEMA
                    + bindings.INDEX
                )
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                now = clock()
                db["meta"].insert_all(
                    [
                        {"key": "created_at", "value": now},
                        {"key": "plan_name", "value": plan.name},
                    ]
                )
                db["plan"].insert(
                    {"id": 1, "name": plan.name, "toml": plan_text, "json": plan.model_dump_json()}
                )
                db["steps"].insert_all(
                    {
                        "id": s.id,
                        "target": target,
                        "position": i,
                        "phase": s.phase_title,
                        "state": StepState.PENDING.value,
                        "reason": "",
                        "updated_at": now,
                    }
                    for i, s in enumerate(STEPS)
                    for target in targets(plan, s)
                )
                audit.append(
                    Connection(conn, tmp, readonly=False, clock=clock),
                    "plan.imported",
                    params={"plan": plan.name, "topics": [t.name for t in plan.topics]},
                    outcome="ok",
                    binds=bindings.plan_binds(conn),
                    clock=clock,
                )
            except sqlite3.Error as exc:
                raise explain(exc, path) or exc from None
            finally:
                conn.close()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return cls.open(path, clock=clock)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, clock=audit.utc_now) -> Store:
        """Open an existing run database, checking it is ours and of our schema version.

        The path is made absolute here, once, so everything spawned from the store (the
        mirror, the sampler) opens the same file whatever its working directory. A file
        that is refused is left exactly as it was: nothing is written before every check
        passed. ``readonly`` works on read-only media too (see :mod:`console.store.media`).
        """
        given = Path(path)
        path = given.absolute()
        if path.is_dir():
            inside = sorted(p.name for p in path.glob("*.db") if p.is_file())
            hint = (
                f"give the run database file inside it, e.g. {given / inside[0]}"
                if inside
                else "give the run database file (cutover plan import PLAN --db FILE makes one)"
            )
            raise StoreError(f"{given} is a directory, not a run database; {hint}")
        if not path.exists():
            raise StoreError(
                f"{given} does not exist; create it with 'cutover plan import PLAN --db {given}'"
            )
        if not path.is_file():
            raise StoreError(f"{given} is not a file; give the run database's path")
        media.refuse_network(path, given)
        copy = None
        if readonly:
            conn, read_uri, copy = media.connect_readonly(path, given)
        else:
            reason = media.why_read_only(path)
            if reason:
                raise StoreError(f"{given} is read-only ({reason})", READ_ONLY_HINT)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            read_uri = None
        try:
            version = cls._check_ours(conn, given, readonly=readonly)
            if not readonly:
                cls._use_wal(conn, given)
                cls._add_tables(conn, given)
        except BaseException:
            conn.close()
            if copy is not None:
                copy.remove()
            raise
        store = cls(path, conn, readonly=readonly, clock=clock, read_uri=read_uri, copy=copy)
        store.schema_version = version
        if version == OLDER_VERSION:
            store.notes.append(f"{_older(given)}; {_OLDER_READ}")
        return store

    @staticmethod
    def _add_tables(conn: sqlite3.Connection, given: Path) -> None:
        """Tables added since the file was made (same schema version: additive only);
        only after every check passed, so a refused file is never changed."""
        try:
            conn.executescript(TRAFFIC_SCHEMA + CUTOVER_SCHEMA + PRODUCER_SCHEMA + SCORECARD_SCHEMA)
            # The binding index covers the entries that bind something; a file made before
            # an action was added gets it rebuilt once (a query that repeats the current
            # list would not use the old one, and would scan the whole log).
            found = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'audit_bindings'"
            ).fetchone()
            if found is not None and found[0] + ";" != bindings.INDEX.replace(" IF NOT EXISTS", ""):
                conn.executescript("DROP INDEX audit_bindings;" + bindings.INDEX)
        except sqlite3.Error as exc:
            raise explain(exc, given) or StoreError(
                f"cannot open {given} for writing ({exc})"
            ) from None

    @staticmethod
    def _check_ours(conn: sqlite3.Connection, given: Path, *, readonly: bool) -> int:
        """Refuse a file that is not a run database of a schema this cutover reads (an
        older one only ``readonly``), or is missing what every run database has; reads
        only. Returns the file's schema version."""
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            # Opening a WAL database creates its -shm index: a full disk or an I/O error
            # shows here first, and must be called that, not "not a run database".
            raise explain(exc, given) or StoreError(
                f"{given} is not a Cutover run database ({exc}); "
                "check the path, or import a plan with 'cutover plan import'"
            ) from None
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{given} is an SQLite file but not a Cutover run database; "
                "check the path, or import a plan with 'cutover plan import'"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{given} has run-database schema version {version}, newer than this cutover "
                f"knows (it writes versions {PREVIOUS_VERSION} and {SCHEMA_VERSION} and reads "
                f"{OLDER_VERSION} to {SCHEMA_VERSION}): it was written by a newer release",
                "open it with that release or a later one; nothing was changed",
            )
        if version == OLDER_VERSION and not readonly:
            raise StoreError(_older(given), _OLDER_WRITE_HINT)
        if version not in (OLDER_VERSION, PREVIOUS_VERSION, SCHEMA_VERSION):
            raise StoreError(
                f"{given} has run-database schema version {version}, which no cutover release "
                "writes: it was changed outside cutover or is damaged",
                "nothing was changed; restore it from a copy",
            )
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            missing = [t for t in CORE_TABLES if t not in tables]
            plans = (
                0 if "plan" in missing else conn.execute("SELECT COUNT(*) FROM plan").fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise explain(exc, given, writing=False) or exc from None
        if missing:
            raise StoreError(
                f"{given} is damaged: it has no {', '.join(missing)} table"
                f"{'s' if len(missing) > 1 else ''} (a run database always has them)",
                "nothing was changed; restore it from a copy",
            )
        if not plans:
            raise StoreError(
                f"{given} has no stored plan: it was damaged, or not made by 'cutover plan import'",
                "nothing was changed; restore it from a copy, or import the plan into a new one",
            )
        return version

    @staticmethod
    def _use_wal(conn: sqlite3.Connection, given: Path) -> None:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise explain(exc, given) or StoreError(
                f"cannot open {given} for writing ({exc})"
            ) from None
        if str(mode).lower() != "wal":
            raise StoreError(
                f"{given} cannot use SQLite's WAL mode here (it stayed in '{mode}' mode): "
                "its file system does not support it (a network file system?)",
                "keep the run database on a local disk",
            )

    def close(self) -> None:
        self._db.close()
        if self._copy is not None:
            self._copy.remove()

    # -- plan ----------------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            text = self._db.one("SELECT toml FROM plan WHERE id = 1")[0]
            self._plan = parse_plan(text, f"{self.path} (stored plan)")
        return self._plan

    # -- steps ---------------------------------------------------------------------------

    _STEP_COLUMNS = "id, phase, state, reason, updated_at, target, runner_pid"

    def steps(self) -> list[StepRow]:
        """Every step instance in runbook order (a targeted step's instances in plan order)."""
        rows = self._db.all(f"SELECT {self._STEP_COLUMNS} FROM steps ORDER BY position, rowid")
        return [_step_row(r, self.path) for r in rows]

    def step(self, key: str) -> StepRow:
        """One step instance by its key (``inventory``, ``move-group:billing``)."""
        step, target = split_key(key)
        row = self._db.one(
            f"SELECT {self._STEP_COLUMNS} FROM steps WHERE id = ? AND target = ?",
            (step.id, target),
        )
        if row is None:
            raise KeyError(f"the plan has no {step.target} '{target}' for step '{step.id}'")
        return _step_row(row, self.path)

    def set_step(
        self, key: str, state: StepState, reason: str = "", *, runner_pid: int | None = None
    ) -> audit.Entry:
        """Record a step instance's state outside a run (waivers, tests): the new state and
        a ``step.set`` entry that binds it, in one durable transaction."""
        step, target = split_key(key)
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE steps SET state = ?, reason = ?, updated_at = ?, runner_pid = ? "
                "WHERE id = ? AND target = ?",
                (state.value, redact.text(reason), self.clock(), runner_pid, step.id, target),
            )
            return audit.append_in(
                conn,
                "step.set",
                step=key,
                outcome=state.value,
                binds=bindings.step_binds(conn, step.id, target),
                clock=self.clock,
            )

    def claim_step(self, key: str, pid: int, params: dict[str, Any]) -> audit.Entry:
        """Start a step instance: in ONE durable transaction, check no live process runs
        it, mark it RUNNING by ``pid`` and append ``step.started``. Two processes racing
        for the same step cannot both win; a kill at any point leaves either nothing or
        both the state and its audit entry. Raises :class:`StepBusy` for the loser."""
        step, target = split_key(key)
        with self._db.transaction(durable=True) as conn:
            row = conn.execute(
                "SELECT state, runner_pid FROM steps WHERE id = ? AND target = ?",
                (step.id, target),
            ).fetchone()
            if row is None:
                raise KeyError(f"the plan has no {step.target} '{target}' for step '{step.id}'")
            if row[0] == StepState.RUNNING.value and row[1] and pid_alive(row[1]):
                raise StepBusy(
                    f"'{key}' is already running in process {row[1]}; wait for it to finish "
                    "or cancel it there"
                )
            conn.execute(
                "UPDATE steps SET state = ?, reason = '', updated_at = ?, runner_pid = ? "
                "WHERE id = ? AND target = ?",
                (StepState.RUNNING.value, self.clock(), pid, step.id, target),
            )
            return audit.append_in(
                conn,
                "step.started",
                step=key,
                params=params,
                binds=bindings.step_binds(conn, step.id, target),
                clock=self.clock,
            )

    def finish_step(
        self,
        key: str,
        state: StepState,
        reason: str,
        *,
        ref: int | None,
        action: str = "step.finished",
        params: dict[str, Any] | None = None,
        outcome: str,
    ) -> audit.Entry:
        """End a step instance: its new state and the audit entry that says so, in ONE
        durable transaction."""
        step, target = split_key(key)
        with self._db.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE steps SET state = ?, reason = ?, updated_at = ?, runner_pid = NULL "
                "WHERE id = ? AND target = ?",
                (state.value, redact.text(reason), self.clock(), step.id, target),
            )
            return audit.append_in(
                conn,
                action,
                step=key,
                params=params,
                outcome=outcome,
                ref=ref,
                binds=bindings.step_binds(conn, step.id, target),
                clock=self.clock,
            )

    def orphaned_steps(self) -> list[tuple[str, int]]:
        """Step instances recorded as running whose process is gone (killed console, lost
        session): their keys and the dead pid."""
        rows = self._db.all("SELECT id, target, runner_pid FROM steps WHERE state = 'running'")
        return [
            (step_key(sid, target), pid or 0) for sid, target, pid in rows if not pid_alive(pid)
        ]

    def together(self):
        """Writes made inside commit as one durable transaction at its end (see
        :meth:`Connection.together`): for writes with nothing done between them."""
        return self._db.together()

    # -- evidence ------------------------------------------------------------------------

    def add_evidence(self, step_id: str, kind: str, body: dict[str, Any]) -> int:
        """Record a piece of evidence and the ``evidence.added`` entry that binds it, in one
        durable transaction; returns its id."""
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO evidence(step, kind, created_at, body) VALUES (?,?,?,?)",
                (step_id, kind, self.clock(), dumps(redact.value(body))),
            )
            evidence_id = int(cur.lastrowid)
            audit.append_in(
                conn,
                "evidence.added",
                step=step_id,
                params={"kind": kind},
                binds=bindings.evidence_binds(conn, evidence_id),
                clock=self.clock,
            )
        return evidence_id

    def latest_evidence(
        self, step_id: str, kind: str, *, until: str | None = None
    ) -> Evidence | None:
        """The newest evidence of a step and kind (recorded at or before ``until``, a UTC
        timestamp, when given: what a replay shows as of an audit entry)."""
        row = self._db.one(
            "SELECT id, step, kind, created_at, body FROM evidence "
            "WHERE step = ? AND kind = ? AND created_at <= ? ORDER BY id DESC LIMIT 1",
            (step_id, kind, until or END_OF_TIME),
        )
        if row is None:
            return None
        return Evidence(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def evidence_of_kind(self, kind: str, *, until: str | None = None) -> list[Evidence]:
        """Every piece of evidence of a kind, whichever step recorded it, oldest first
        (recorded at or before ``until`` when given)."""
        rows = self._db.all(
            "SELECT id, step, kind, created_at, body FROM evidence "
            "WHERE kind = ? AND created_at <= ? ORDER BY id",
            (kind, until or END_OF_TIME),
        )
        return [Evidence(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # -- audit ---------------------------------------------------------------------------

    def log(self, action: str, **kwargs) -> audit.Entry:
        """Append an audit entry, durably, before returning."""
        return audit.append(self._db, action, clock=self.clock, **kwargs)

    def log_many(self, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
        """Append entries that come in volume in one durable commit; never a gate decision."""
        return audit.append_many(self._db, drafts, clock=self.clock)

    def audit_latest(self, count: int, *, volume: bool = True) -> list[audit.Entry]:
        """The newest ``count`` entries, oldest first; without ``volume``, leaving out the
        entries that come in volume (lag rounds, comparison increments)."""
        with self._db.lock, self._db.explained(writing=False):
            return audit.latest(self._db.raw, count, volume=volume)

    def audit_at(self, seq: int) -> audit.Entry | None:
        """One entry by its sequence number, or None."""
        found = self.audit_since(seq - 1, limit=1)
        return found[0] if found and found[0].seq == seq else None

    def audit_by_action(self, action: str) -> list[audit.Entry]:
        """Every entry of one action, oldest first (a scan: for verification, not for a
        screen refresh)."""
        with self._db.lock, self._db.explained(writing=False):
            return audit.by_action(self._db.raw, action)

    def audit_since(self, seq: int, limit: int | None = None) -> list[audit.Entry]:
        with self._db.lock, self._db.explained(writing=False):
            return audit.entries(self._db.raw, since=seq, limit=limit)

    def sqlite_problems(self) -> list[str]:
        """What SQLite's own ``integrity_check`` finds in the file (every page, table and
        index), on a read-only connection of its own; empty when it finds nothing.

        The binding check finds each step's newest state entry through an index; SQLite
        trusts an index as it is stored, and one built to disagree with its table (bytes
        edited, or a definition swapped under ``writable_schema`` after it was built)
        could show an older entry as the newest. This finds that, at the cost of reading
        every row again (``cutover audit verify --deep``).
        """
        with self._snapshot() as reader:
            found = [row[0] for row in reader.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def audit_verify(self, *, full: bool = True) -> audit.Verdict:
        """Verify the chain and what it binds: all of it, or (``full=False``) what is new
        since the checkpoint (the plan, step states and evidence are checked either way).

        Runs on a read-only connection of its own, so a long walk never holds the store's
        lock: steps go on logging meanwhile, and the walk sees one snapshot.
        """
        with self._snapshot() as reader:
            checkpoint = None if full else audit.read_checkpoint(reader)
            verdict = audit.verify(reader, checkpoint=checkpoint)
            if not verdict.ok:
                return verdict
            if verdict.bound is not None:
                wrong = bindings.index_disagrees(reader, verdict.bound)
                if wrong is not None:
                    return replace(verdict, ok=False, problem=wrong.problem, seq=wrong.seq)
            older = self.schema_version == OLDER_VERSION
            mismatch, unbound = bindings.check(
                reader,
                after=verdict.since,
                plan_fields=self._plan_fields,
                unbound_is_tamper=not older,
            )
            if mismatch is not None:
                return replace(verdict, ok=False, problem=mismatch.problem, seq=mismatch.seq)
            if bindings.legacy(reader) and not older:
                return replace(
                    verdict,
                    ok=False,
                    problem=(
                        "entry 1 (the plan import) binds nothing, but a schema version "
                        f"{self.schema_version} run database binds its plan from the "
                        "start: the log was replaced"
                    ),
                    seq=1,
                )
            if bindings.legacy(reader):
                return replace(verdict, note=_LEGACY)
            if unbound is not None:
                return replace(
                    verdict,
                    note=_unbound_note(unbound.problem),
                )
            return verdict

    def _plan_fields(self, text: str) -> dict[str, str] | None:
        """Field digests of stored plan text, or None when it no longer parses."""
        try:
            plan = parse_plan(text, f"{self.path} (stored plan)")
        except CutoverError:
            return None
        return bindings.field_digests(json.loads(plan.model_dump_json()))

    def save_audit_checkpoint(self, verdict: audit.Verdict) -> bool:
        """Remember how far an intact verification got, so the next one starts there.

        A cache: returns False, changing nothing, when the verdict is not intact or the
        file is busy or cannot be written (refused outright in replay).
        """
        try:
            with self._db.transaction() as conn:
                return audit.write_checkpoint(conn, verdict)
        except (sqlite3.OperationalError, StoreError):
            return False

    def audit_export(self) -> Iterator[str]:
        """Every entry as one JSON line, oldest first, streamed from one snapshot of the
        log, on a read-only connection of its own (a long export never holds the store's
        lock, and steps go on logging meanwhile)."""
        with self._snapshot() as reader:
            yield from audit.export_jsonl(reader)

    def pragmas(self) -> dict[str, str]:
        """The SQLite settings this store's connection runs with (benchmarks, bug reports).

        ``synchronous`` is the level the connection was last left at: every audit commit
        runs at ``FULL``, other transactions at ``NORMAL``.
        """
        names = ("journal_mode", "synchronous", "page_size", "cache_size", "wal_autocheckpoint")
        names += ("busy_timeout", "mmap_size", "temp_store", "locking_mode")
        return {n: str(self._db.one(f"PRAGMA {n}")[0]) for n in names}

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own, inside one read transaction (one snapshot
        of the file however long the caller reads), its errors explained; closed after."""
        reader = self._reader()
        try:
            with Connection(reader, self.path, readonly=True, clock=self.clock).explained(
                writing=False
            ):
                reader.execute("BEGIN")
                try:
                    yield reader
                finally:
                    reader.execute("ROLLBACK")
        finally:
            reader.close()

    def _reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._read_uri, uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # -- for tests and forensics only ----------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """The raw connection, for tests that poke at the file as an attacker or a crash
        would. Nothing in ``console/`` or ``widgets/`` may use it (tests/test_architecture.py
        checks): everything else calls a typed method of the store or of its tables."""
        return self._db.raw

    @property
    def lock(self) -> threading.RLock:
        """The lock guarding :attr:`conn`; hold it around any use of it."""
        return self._db.lock
