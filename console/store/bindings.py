"""What the audit chain binds besides its own entries: everything a decision rests on.

A hash chain only protects the entries in it. A step's state, the stored plan and the
evidence live in tables of their own, so each is **bound** to the entry that records
it: that entry carries the SHA-256 of the row(s) as written, in a canonical form
(compact JSON, keys sorted, values as SQLite returns them), and verification recomputes
it from what is in the file now.

=====================  ======================================  ===========================
What                   Bound by                                Checked by
=====================  ======================================  ===========================
the stored plan        ``plan.imported`` (entry 1): the plan   every verification
                       row, one short digest per plan field
                       (to name the field that changed), and
                       the step instances the import made
a step's state         the newest ``step.started/finished/     every verification
                       interrupted/set`` of that step (a step
                       no entry touched must still be PENDING)
evidence               ``evidence.added``, one per row         every verification
lag samples            ``lag.sampled``, one per round          all rounds by ``audit
comparison windows     ``compare.recorded``, one per finished  verify``; status and the
                       window and its results                  console check those
                                                               recorded after the
                                                               checkpoint
a group's offset plan  ``offsets.stored``, at each write       every verification
                       (stored, applied, verified, discarded)
a fence (an ACL a      ``fence.recorded``, at each write       every verification
move added)            (adding, active, removed)
a producer run (move,  ``producer-run.recorded``, at each      every verification
rollback, drill) with  write (start, facts, state, a sub-step
its sub-steps          started or done)
an ACL or SCRAM user   ``producer-acl.recorded`` /             every verification
a producer run made    ``producer-user.recorded``, at each
(fences, target        write (adding, active, removed)
fences, open ACLs)
a run's cutover        ``cutover-points.recorded``, at each    every verification
points                 write (all of the run's partitions)
the rollback window    ``rollback-window.recorded``, at each   every verification
                       write (opened, closed)
=====================  ======================================  ===========================

The digests are computed inside the transaction that writes the rows, from the rows as
read back, so what is hashed is exactly what is stored. Every writer goes through the
store's own methods (:meth:`Store.claim_step`, ``finish_step``, ``set_step``,
``add_evidence``, ``create``, the sample and result tables), so no caller can forget.

What this cannot do: anyone who can write the file can also append new entries that
hash correctly (the chain has no secret). Changing or removing what is already
recorded is found; adding to the end is found only by the external witness
(:mod:`console.runbook.witness`) for everything it has seen.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from console.plan.steps import StepState, step_key

STATE_ACTIONS = ("step.started", "step.finished", "step.interrupted", "step.set")
"""Entries that record a step's new state (and carry ``state_sha256``)."""
EVIDENCE_ACTIONS = ("evidence.added", "governance.decided")
"""Entries that record a new piece of evidence (and carry its id and ``sha256``): the
store's own, and a governance decision written with its evidence."""
BOUND_ACTIONS = ("plan.imported", *STATE_ACTIONS, *EVIDENCE_ACTIONS, "lag.sampled")
BOUND_ACTIONS += ("compare.recorded", "offsets.stored", "fence.recorded")
PRODUCER_ACTIONS = (
    "producer-run.recorded",
    "producer-acl.recorded",
    "producer-user.recorded",
    "cutover-points.recorded",
    "rollback-window.recorded",
)
"""Entries that bind the producer cutover's rows (:mod:`console.store.producers`)."""
BOUND_ACTIONS += PRODUCER_ACTIONS
_BOUND = "(" + " OR ".join(f"action = '{a}'" for a in BOUND_ACTIONS) + ")"
"""Which entries the binding index covers. Written as ORs, not ``action IN (...)``: SQLite
evaluates a partial index's condition on every insert, and an IN list of constants is
built into a temporary table each time the insert statement runs (18 rows: 15-20 µs of
an append's own ~60, measured); ORs are a few string comparisons."""

INDEX = f"CREATE INDEX IF NOT EXISTS audit_bindings ON audit(action, step, seq) WHERE {_BOUND};"
"""A small index over the binding entries only, so finding a step's newest state entry
or every evidence entry never scans the whole log. It is derived from the audit rows
(SQLite keeps it in step with them), so it needs no trust of its own. Every query below
repeats ``_BOUND`` word for word: SQLite uses a partial index only then."""

_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
FIELD_DIGEST_LEN = 16
"""Hex digits kept per plan field: enough to tell which field changed; the whole plan's
digest is full length."""


def digest(*values: Any) -> str:
    """SHA-256 of values in the canonical form (compact JSON array, keys sorted)."""
    return hashlib.sha256(_json(list(values)).encode()).hexdigest()


# -- what the store's writers attach to the entry that records a change ---------------


def plan_binds(conn: sqlite3.Connection) -> dict[str, Any]:
    """For ``plan.imported``: the stored plan, its fields, and the step instances made."""
    name, toml, plan_json = conn.execute(
        "SELECT name, toml, json FROM plan WHERE id = 1"
    ).fetchone()
    keys = [step_key(i, t) for i, t in conn.execute("SELECT id, target FROM steps ORDER BY rowid")]
    return {
        "plan_sha256": digest(name, toml, plan_json),
        "plan_fields": field_digests(json.loads(plan_json)),
        "steps": keys,
    }


def step_binds(conn: sqlite3.Connection, step_id: str, target: str) -> dict[str, Any]:
    """For an entry that records a step instance's new state (read back as stored)."""
    row = _step_row(conn, step_id, target)
    return {"state": row[2], "state_sha256": digest(*row)}


def evidence_binds(conn: sqlite3.Connection, evidence_id: int) -> dict[str, Any]:
    """For ``evidence.added``: the evidence row as stored."""
    row = conn.execute(_EVIDENCE_ROW + " WHERE id = ?", (evidence_id,)).fetchone()
    return {"evidence": evidence_id, "sha256": digest(*row)}


def round_binds(conn: sqlite3.Connection, number: int) -> dict[str, Any]:
    """For ``lag.sampled``: one round of lag samples as stored."""
    sha, rows = _round_digest(
        conn.execute(_ROUND_ROWS + " WHERE round = ?" + _ROUND_ORDER, (number,))
    )
    return {"round": number, "rows": rows, "sha256": sha}


def window_binds(conn: sqlite3.Connection, window_id: int) -> dict[str, Any]:
    """For ``compare.recorded``: a comparison window and its results as stored."""
    return {"window": window_id, "sha256": _window_digest(conn, window_id)}


def offset_plan_binds(conn: sqlite3.Connection, plan_id: int) -> dict[str, Any]:
    """For ``offsets.stored``: an offset plan and its rows as stored now."""
    sha, state = _offset_plan_digest(conn, plan_id)
    return {"offset_plan": plan_id, "state": state, "sha256": sha}


def fence_binds(conn: sqlite3.Connection, fence_id: int) -> dict[str, Any]:
    """For ``fence.recorded``: a fence row as stored now."""
    row = conn.execute(_FENCE_ROW + " WHERE id = ?", (fence_id,)).fetchone()
    return {"fence": fence_id, "state": row[-2] if row else None, "sha256": digest(row)}


def field_digests(plan_json: Any) -> dict[str, str]:
    """A short digest per leaf of the plan (``thresholds.max_missing_records``,
    ``topics[1].owner``), so a change can be named by field."""
    return {path: digest(value)[:FIELD_DIGEST_LEN] for path, value in _leaves(plan_json, "")}


def _leaves(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


# -- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """The first bound thing that no longer matches its entry."""

    problem: str
    seq: int | None
    """The entry that recorded it (None when no entry did)."""


def index_disagrees(conn: sqlite3.Connection, walked: str) -> Mismatch | None:
    """Whether the binding index lists exactly the binding entries a walk of the whole
    chain read (``walked``: :attr:`console.store.audit.Verdict.bound`), or the first
    entry where it does not.

    Every binding check finds its entries through this index, and SQLite trusts an index
    as it is stored. One built to leave an entry out, or to list it under another step,
    and then given back its proper definition (``PRAGMA writable_schema``) would make an
    older state entry pass for the newest. The index is read in entry order and digested
    as the walk digested the entries' hashed text; only when the two differ are the table
    and the index compared row by row, to name the entry (or to find that they only
    render a value differently, which is no problem).
    """
    try:
        rows = conn.execute(_INDEX_ROWS.format(use="INDEXED BY audit_bindings"))
    except sqlite3.OperationalError:
        return None  # no such index, or one SQLite cannot use here: every lookup scans
    sha, quoted = hashlib.sha256(), json.encoder.encode_basestring
    for seq, action, step in rows:
        text = quoted(step) if type(step) is str else _json(step)  # as the entry's JSON has it
        sha.update(b"%d %s %s\n" % (seq, str(action).encode(), text.encode()))
    if sha.hexdigest() == walked:
        return None
    held = conn.execute(_INDEX_ROWS.format(use="NOT INDEXED"))
    listed = conn.execute(_INDEX_ROWS.format(use="INDEXED BY audit_bindings"))
    for entry, row in itertools.zip_longest(held, listed):
        if entry == row:
            continue
        if row is None or (entry is not None and entry[0] < row[0]):
            what = f"entry {entry[0]} ({_named(entry)}) is missing from the binding index"
            seq = entry[0]
        elif entry is None or row[0] < entry[0]:
            seq = row[0]
            what = (
                f"the binding index lists entry {seq} as {_named(row)}, which the log does not hold"
            )
        else:
            seq = row[0]
            what = (
                f"the binding index lists entry {seq} as {_named(row)}, but it is {_named(entry)}"
            )
        return Mismatch(
            f"{what}: the index was rebuilt outside cutover, so the checks of what entries "
            "bind could be misled (run 'cutover audit verify --deep'; restore the file from "
            "a copy)",
            seq,
        )
    return None


_INDEX_ROWS = (
    f"SELECT seq, action, step FROM audit {{use}} WHERE {_BOUND} "
    f"AND action IN ({', '.join(repr(a) for a in BOUND_ACTIONS)}) ORDER BY seq"
)
"""Every binding entry in order, asked as the checks ask (by action): so read through the
index, SQLite takes the action and step from the index itself, as the checks get them."""


def _named(row: tuple) -> str:
    return f"{row[1]} of {row[2]}" if row[2] is not None else str(row[1])


PlanFields = Callable[[str], dict[str, str] | None]
"""Parses stored plan text into field digests (None when it no longer parses)."""


def check(
    conn: sqlite3.Connection,
    *,
    after: int,
    plan_fields: PlanFields,
    unbound_is_tamper: bool = True,
) -> tuple[Mismatch | None, Mismatch | None]:
    """The first bound thing that differs from what its entry recorded, and (only when
    not ``unbound_is_tamper``) the first row no entry binds; each or both None.

    The plan, every step instance and every piece of evidence are checked each time (a
    handful of rows); lag rounds and comparison windows recorded up to entry ``after``
    are trusted (0: none are, everything is checked). Call it in the read transaction of
    a chain walk that found entries 1..N intact.

    In a file of the current schema a row no entry binds was added outside cutover: it
    is the mismatch. In an older file (``unbound_is_tamper=False``) it may predate the
    binding of its kind: it is returned apart, and the other kinds are still checked
    (rows of its own kind after it are not).
    """
    first = conn.execute("SELECT params FROM audit WHERE seq = 1").fetchone()
    imported = _params(first[0]) if first else {}
    if "plan_sha256" not in imported:
        return None, None  # made before bindings existed: nothing was bound (see legacy())
    unbound = None
    for section in (
        lambda: _check_plan(conn, imported, plan_fields),
        lambda: _check_steps(conn, imported),
        lambda: _check_evidence(conn),
        lambda: _check_rounds(conn, after),
        lambda: _check_windows(conn, after),
        lambda: _check_offset_plans(conn),
        lambda: _check_fences(conn),
        lambda: _check_producers(conn),
    ):
        found = section()
        if found is None:
            continue
        if found.seq is None and not unbound_is_tamper:
            unbound = unbound or found
            continue
        return found, unbound
    return None, unbound


def legacy(conn: sqlite3.Connection) -> bool:
    """Whether the run database predates bindings (its plan import carries no digest)."""
    first = conn.execute("SELECT params FROM audit WHERE seq = 1").fetchone()
    return bool(first) and "plan_sha256" not in _params(first[0])


def _params(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _bound(conn: sqlite3.Connection, *actions: str) -> Iterable[tuple[int, str | None, dict]]:
    marks = ", ".join("?" * len(actions))
    rows = conn.execute(
        f"SELECT seq, step, params FROM audit WHERE {_BOUND} AND action IN ({marks}) ORDER BY seq",
        actions,
    )
    for seq, step, params in rows:
        yield seq, step, _params(params)


def _check_plan(conn, imported: dict, plan_fields: PlanFields) -> Mismatch | None:
    row = conn.execute("SELECT name, toml, json FROM plan WHERE id = 1").fetchone()
    if row is None:
        return Mismatch("the stored plan was removed (entry 1 recorded it)", 1)
    if digest(*row) == imported["plan_sha256"]:
        return None
    recorded = imported.get("plan_fields") or {}
    for fields in (plan_fields(row[1]), _json_fields(row[2])):
        if fields is None:
            continue
        changed = [
            p for p in sorted(set(recorded) | set(fields)) if recorded.get(p) != fields.get(p)
        ]
        if changed:
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            return Mismatch(
                f"the stored plan was changed outside cutover: {changed[0]}{more} differs from "
                "what entry 1 recorded at import",
                1,
            )
    return Mismatch(
        "the stored plan was changed outside cutover: its text no longer matches what "
        "entry 1 recorded at import",
        1,
    )


def _json_fields(text: str) -> dict[str, str] | None:
    try:
        return field_digests(json.loads(text))
    except ValueError:
        return None


_STEP_ROW = "SELECT id, target, state, reason, updated_at, runner_pid FROM steps"


def _step_row(conn: sqlite3.Connection, step_id: str, target: str) -> tuple:
    return conn.execute(_STEP_ROW + " WHERE id = ? AND target = ?", (step_id, target)).fetchone()


def _check_steps(conn, imported: dict) -> Mismatch | None:
    latest: dict[str, tuple[int, dict]] = {}
    rows = conn.execute(
        f"SELECT seq, step, params FROM audit WHERE {_BOUND} AND action IN "
        f"({', '.join(repr(a) for a in STATE_ACTIONS)}) ORDER BY seq"
    )
    for seq, step, params in rows:
        parsed = _params(params)
        if step and "state_sha256" in parsed:
            latest[step] = (seq, parsed)
    made = set(imported.get("steps") or ())
    seen = set()
    for row in conn.execute(_STEP_ROW + " ORDER BY position, rowid"):
        key = step_key(row[0], row[1])
        seen.add(key)
        state = str(row[2])
        bound = latest.get(key)
        if bound is not None:
            seq, params = bound
            if digest(*row) == params["state_sha256"]:
                continue
            if state != params.get("state"):
                return Mismatch(
                    f"step '{key}' was changed outside cutover: it reads {state.upper()}, but "
                    f"entry {seq} recorded {str(params.get('state')).upper()}",
                    seq,
                )
            return Mismatch(
                f"step '{key}' was changed outside cutover: its reason, time or process no "
                f"longer match entry {seq}",
                seq,
            )
        if key not in made:
            return Mismatch(
                f"step '{key}' was added outside cutover: the plan import did not make it and "
                "no entry records it",
                None,
            )
        if (state, row[3], row[5]) != (StepState.PENDING.value, "", None):
            return Mismatch(
                f"step '{key}' was changed outside cutover: it reads {state.upper()}, but no "
                "entry records any change since the plan import",
                1,
            )
    for key in [*(imported.get("steps") or ()), *latest]:
        if key not in seen:
            seq = latest[key][0] if key in latest else 1
            return Mismatch(f"step '{key}' was removed from the run database", seq)
    return None


_EVIDENCE_ROW = "SELECT id, step, kind, created_at, body FROM evidence"


def _check_evidence(conn) -> Mismatch | None:
    bound: dict[int, tuple[int, dict]] = {}
    for seq, _step, params in _bound(conn, *EVIDENCE_ACTIONS):
        if isinstance(params.get("evidence"), int) and "sha256" in params:
            bound[params["evidence"]] = (seq, params)
    stored = {row[0]: row for row in conn.execute(_EVIDENCE_ROW)}
    for evidence_id in sorted(set(bound) | set(stored)):
        row = stored.get(evidence_id)
        if evidence_id not in bound:
            return Mismatch(
                f"evidence {evidence_id} ({row[2]} of {row[1]}) was added outside cutover: "
                "no entry records it",
                None,
            )
        seq, params = bound[evidence_id]
        if row is None:
            return Mismatch(f"evidence {evidence_id} was removed (entry {seq} recorded it)", seq)
        if digest(*row) != params.get("sha256"):
            return Mismatch(
                f"evidence {evidence_id} ({row[2]} of {row[1]}) was changed outside cutover: "
                f"it no longer matches entry {seq}",
                seq,
            )
    return None


_ROUND_ROWS = (
    "SELECT round, ts, topic, partition, source_end, mirrored, lag_records, lag_seconds "
    "FROM lag_samples"
)
_ROUND_ORDER = " ORDER BY round, topic, partition"


def _round_digest(rows: Iterable[tuple]) -> tuple[str, int]:
    sha = hashlib.sha256()
    count = 0
    for row in rows:
        sha.update(_json(list(row)).encode())
        sha.update(b"\n")
        count += 1
    return sha.hexdigest(), count


def _check_rounds(conn, after: int) -> Mismatch | None:
    bound: dict[int, tuple[int, dict]] = {}
    low = 0
    for seq, _step, params in _bound(conn, "lag.sampled"):
        number = params.get("round")
        if not isinstance(number, int):
            continue
        bound[number] = (seq, params)
        if seq <= after:
            low = max(low, number)
    numbers = [
        r for (r,) in conn.execute("SELECT DISTINCT round FROM lag_samples WHERE round > ?", (low,))
    ]
    for number in sorted(set(numbers) | {r for r in bound if r > low}):
        if number not in bound:
            return Mismatch(
                f"lag samples of round {number} were added outside cutover: no entry records them",
                None,
            )
        seq, params = bound[number]
        sha, rows = _round_digest(
            conn.execute(_ROUND_ROWS + " WHERE round = ?" + _ROUND_ORDER, (number,))
        )
        if sha != params.get("sha256"):
            what = "removed" if rows == 0 else "changed outside cutover"
            return Mismatch(
                f"lag samples of round {number} were {what}: they no longer match entry {seq}",
                seq,
            )
    return None


def _window_digest(conn: sqlite3.Connection, window_id: int) -> str:
    # The spec's audit_seq is a pointer the comparison history sets afterwards to the
    # (summary) entry that covers the window; it is not what the window found.
    sha = hashlib.sha256()
    window = conn.execute(
        "SELECT id, started_at, finished_at, status, json_remove(spec, '$.audit_seq') "
        "FROM compare_windows WHERE id = ?",
        (window_id,),
    ).fetchone()
    sha.update(_json(list(window) if window else None).encode())
    for row in conn.execute(
        "SELECT topic, partition, check_name, verdict, reason, counts, examples "
        "FROM compare_results WHERE window_id = ? ORDER BY rowid",
        (window_id,),
    ):
        sha.update(b"\n")
        sha.update(_json(list(row)).encode())
    return sha.hexdigest()


def _check_windows(conn, after: int) -> Mismatch | None:
    bound: dict[int, tuple[int, dict]] = {}
    low = 0
    for seq, _step, params in _bound(conn, "compare.recorded"):
        window_id = params.get("window")
        if not isinstance(window_id, int):
            continue
        bound[window_id] = (seq, params)
        if seq <= after:
            low = max(low, window_id)
    finished = [
        w
        for (w,) in conn.execute(
            "SELECT id FROM compare_windows WHERE id > ? AND status != 'running'", (low,)
        )
    ]
    for window_id in sorted(set(finished) | {w for w, (s, _) in bound.items() if s > after}):
        if window_id not in bound:
            return Mismatch(
                f"comparison window {window_id} was recorded outside cutover: no entry records "
                "its results",
                None,
            )
        seq, params = bound[window_id]
        if _window_digest(conn, window_id) != params.get("sha256"):
            return Mismatch(
                f"comparison window {window_id} was changed outside cutover: its results no "
                f"longer match entry {seq}",
                seq,
            )
    return None


_OFFSET_PLAN_ROW = (
    "SELECT id, group_id, created_at, strategy, path, state, updated_at, note FROM offset_plans"
)
_FENCE_ROW = (
    "SELECT id, group_id, cluster, resource_type, resource_name, pattern_type, principal, "
    "host, operation, permission, created_at, preexisting, state, removed_at FROM fences"
)


def _offset_plan_digest(conn: sqlite3.Connection, plan_id: int) -> tuple[str, str | None]:
    header = conn.execute(_OFFSET_PLAN_ROW + " WHERE id = ?", (plan_id,)).fetchone()
    sha = hashlib.sha256(_json(list(header) if header else None).encode())
    for row in conn.execute(
        "SELECT * FROM offset_plan_rows WHERE plan_id = ? ORDER BY topic, partition", (plan_id,)
    ):
        sha.update(b"\n")
        sha.update(_json(list(row)).encode())
    return sha.hexdigest(), (header[5] if header else None)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _latest(conn: sqlite3.Connection, action: str, key: str) -> dict[int, tuple[int, dict]]:
    """The newest binding entry of each id (``key`` names the id in its params)."""
    latest: dict[int, tuple[int, dict]] = {}
    for seq, _step, params in _bound(conn, action):
        if isinstance(params.get(key), int) and "sha256" in params:
            latest[params[key]] = (seq, params)
    return latest


def _check_offset_plans(conn) -> Mismatch | None:
    if not {"offset_plans", "offset_plan_rows"} <= _tables(conn):
        return None  # made before the cutover tables; a writable open adds them empty
    latest = _latest(conn, "offsets.stored", "offset_plan")
    stored = [r for (r,) in conn.execute("SELECT id FROM offset_plans")]
    for plan_id in sorted(set(latest) | set(stored)):
        if plan_id not in latest:
            return Mismatch(
                f"offset plan #{plan_id} was added outside cutover: no entry records it", None
            )
        seq, params = latest[plan_id]
        sha, state = _offset_plan_digest(conn, plan_id)
        if state is None:
            return Mismatch(f"offset plan #{plan_id} was removed (entry {seq} recorded it)", seq)
        if sha != params["sha256"]:
            what = _what_changed(
                "it reads", state, params, seq, f"its offsets no longer match entry {seq}"
            )
            return Mismatch(f"offset plan #{plan_id} was changed outside cutover: {what}", seq)
    return None


def _what_changed(reads: str, state: str, params: dict, seq: int, otherwise: str) -> str:
    """What an edited row shows, in words: its state, when it differs from the one entry
    ``seq`` recorded (``it reads REMOVED, but entry 17 recorded ACTIVE``); else
    ``otherwise``."""
    recorded = params.get("state")
    if state != recorded:
        return f"{reads} {state.upper()}, but entry {seq} recorded {str(recorded).upper()}"
    return otherwise


def _check_fences(conn) -> Mismatch | None:
    if "fences" not in _tables(conn):
        return None
    latest = _latest(conn, "fence.recorded", "fence")
    stored = {r[0]: r for r in conn.execute(_FENCE_ROW)}
    for fence_id in sorted(set(latest) | set(stored)):
        row = stored.get(fence_id)
        if fence_id not in latest:
            return Mismatch(
                f"fence #{fence_id} was added outside cutover: no entry records it", None
            )
        seq, params = latest[fence_id]
        if row is None:
            return Mismatch(f"fence #{fence_id} was removed (entry {seq} recorded it)", seq)
        if digest(row) != params["sha256"]:
            return Mismatch(
                f"fence #{fence_id} ({row[8]} {row[3]} {row[4]} for {row[6]}) was changed outside "
                f"cutover: it no longer matches entry {seq}",
                seq,
            )
    return None


# -- the producer cutover's rows ---------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """One kind of producer row bound to the chain: the entry that binds it, the id its
    entry names, how its stored ids are listed, what it is called in a message, and its
    rows as stored (None when there are none)."""

    action: str
    key: str
    table: str
    ids: str
    rows: Callable[[sqlite3.Connection, int], list[tuple]]
    state: Callable[[list[tuple]], str]
    name: Callable[[int, list[tuple]], str]
    plural: bool = False


_RUN_ROW = (
    "SELECT id, class, kind, state, started_at, updated_at, finished_at, facts "
    "FROM producer_runs WHERE id = ?"
)
_SUBSTEP_ROWS = (
    "SELECT run_id, name, state, started_at, done_at, result FROM producer_substeps "
    "WHERE run_id = ? ORDER BY name"
)
_PRODUCER_ACL_ROW = (
    "SELECT id, run_id, class, cluster, purpose, resource_type, resource_name, pattern_type, "
    "principal, host, operation, permission, preexisting, state, created_at, removed_at "
    "FROM producer_acls WHERE id = ?"
)
_PRODUCER_USER_ROW = (
    "SELECT id, run_id, class, cluster, user, preexisting, state, created_at, removed_at "
    "FROM producer_users WHERE id = ?"
)
_POINT_ROWS = (
    "SELECT run_id, class, topic, partition, source_offset, target_offset, recorded_at, "
    "mirror_stopped, state FROM cutover_points WHERE run_id = ? ORDER BY topic, partition"
)
_WINDOW_ROW = (
    "SELECT id, opened_at, deadline, opened_by, state, closed_at, closed_note "
    "FROM rollback_window WHERE id = ?"
)


def _run_rows(conn: sqlite3.Connection, run_id: int) -> list[tuple]:
    # A run is bound with its sub-steps: a resumed run skips what they say is done and
    # reuses their results.
    head = conn.execute(_RUN_ROW, (run_id,)).fetchall()
    return [*head, *conn.execute(_SUBSTEP_ROWS, (run_id,))] if head else []


def _one(sql: str) -> Callable[[sqlite3.Connection, int], list[tuple]]:
    return lambda conn, key: conn.execute(sql, (key,)).fetchall()


PRODUCER_ROWS = {
    "run": _Rows(
        "producer-run.recorded", "producer_run", "producer_runs",
        "SELECT id FROM producer_runs", _run_rows, lambda r: r[0][3],
        lambda k, r: f"producer run #{k}" + (f" ({r[0][2]} of {r[0][1]})" if r else ""),
    ),
    "acl": _Rows(
        "producer-acl.recorded", "producer_acl", "producer_acls",
        "SELECT id FROM producer_acls", _one(_PRODUCER_ACL_ROW), lambda r: r[0][13],
        lambda k, r: f"producer ACL #{k}" + (
            f" ({r[0][11]} {r[0][10]} {r[0][5]} {r[0][6]} for {r[0][8]} on the {r[0][3]}, "
            f"{r[0][4]})" if r else ""
        ),
    ),
    "user": _Rows(
        "producer-user.recorded", "producer_user", "producer_users",
        "SELECT id FROM producer_users", _one(_PRODUCER_USER_ROW), lambda r: r[0][6],
        lambda k, r: f"producer user #{k}" + (f" ({r[0][4]} on the {r[0][3]})" if r else ""),
    ),
    "points": _Rows(
        "cutover-points.recorded", "run", "cutover_points",
        "SELECT DISTINCT run_id FROM cutover_points", _one(_POINT_ROWS),
        lambda r: ",".join(sorted({row[8] for row in r})),
        lambda k, r: f"the cutover points of producer run #{k}", plural=True,
    ),
    "window": _Rows(
        "rollback-window.recorded", "window", "rollback_window",
        "SELECT id FROM rollback_window", _one(_WINDOW_ROW), lambda r: r[0][4],
        lambda k, r: f"rollback window #{k}",
    ),
}  # fmt: skip
"""The producer cutover's rows, by what a writer names them."""


def producer_binds(conn: sqlite3.Connection, kind: str, key: int) -> dict[str, Any]:
    """For an entry binding producer rows (``kind``: run, acl, user, points, window): the
    rows as stored now, their state and their digest."""
    spec = PRODUCER_ROWS[kind]
    rows = spec.rows(conn, key)
    return {
        spec.key: key,
        "state": spec.state(rows) if rows else None,
        "sha256": digest(*[list(r) for r in rows]),
    }


def _check_producers(conn) -> Mismatch | None:
    tables = _tables(conn)
    for spec in PRODUCER_ROWS.values():
        if spec.table not in tables:
            continue  # made before the producer tables; a writable open adds them empty
        latest = _latest(conn, spec.action, spec.key)
        stored = [r for (r,) in conn.execute(spec.ids)]
        was, it, them = ("were", "they", "them") if spec.plural else ("was", "it", "it")
        for key in sorted(set(latest) | set(stored)):
            rows = spec.rows(conn, key)
            name = spec.name(key, rows)
            if key not in latest:
                return Mismatch(
                    f"{name} {was} added outside cutover: no entry records {them}", None
                )
            seq, params = latest[key]
            if not rows:
                if params.get("state") is None:
                    continue  # recorded as gone
                return Mismatch(
                    f"{name} {was} removed (entry {seq} recorded {them})",
                    seq,
                )
            if digest(*[list(r) for r in rows]) == params["sha256"]:
                continue
            what = _what_changed(
                f"{it} {'read' if spec.plural else 'reads'}",
                spec.state(rows),
                params,
                seq,
                f"{it} no longer {'match' if spec.plural else 'matches'} entry {seq}",
            )
            return Mismatch(f"{name} {was} changed outside cutover: {what}", seq)
    return None
