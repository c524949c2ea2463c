"""The tamper-evident audit log: an append-only hash chain inside the run database.

Each entry's hash is SHA-256 over the previous entry's hash and this entry in a
canonical JSON form. The sequence number is a label, not part of the hash: the
chain itself is the order. That lets :func:`verify` tell an edited entry (its
contents no longer match its hash) from a removed one (the next entry was chained
to a hash nobody has), an inserted one (the next entry was chained to the one
before it) and a reordered one (an entry chained to one that comes later). The
head (last sequence and hash) is also kept in ``meta`` so a truncated tail is
found too.

Entries are committed with ``synchronous=FULL`` before the action they record
runs; the outcome is a second entry that refers to the first by sequence. Entries
that come in volume may share one durable commit (:func:`append_many`); a gate
decision never does.

Verification streams: it holds one entry at a time, never the chain, so a million
entries verify in seconds and in constant memory. Telling an insert from a reorder
needs to know where a hash sits in the chain; that is looked up in the database
only once a mismatch is found. A **checkpoint** (sequence and hash of the last
verified entry, in ``meta``) lets frequent readers (``status``, the console) check
only what is new. It is a cache, never a source of trust: it is used only when
its entry is still there with that hash and still hashes right, any problem found
after it is re-diagnosed by a full walk, and ``cutover audit verify`` ignores it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pwd
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from console import redact
from console.store import faults
from console.store.bindings import BOUND_ACTIONS
from console.store.connection import Connection

GENESIS = "0" * 64
CHECKPOINT_KEY = "audit_checkpoint"


def _field(name: str) -> str:
    # A damaged body reads as NULL fields instead of failing every query that touches it:
    # verify names the entry, the screens still open.
    return f"json_extract(CASE WHEN json_valid(body) THEN body END, '$.{name}')"


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT GENERATED ALWAYS AS ({_field("ts")}) VIRTUAL,
    actor TEXT GENERATED ALWAYS AS ({_field("actor")}) VIRTUAL,
    ssh_client TEXT GENERATED ALWAYS AS ({_field("ssh_client")}) VIRTUAL,
    action TEXT GENERATED ALWAYS AS ({_field("action")}) VIRTUAL,
    step TEXT GENERATED ALWAYS AS ({_field("step")}) VIRTUAL,
    params TEXT GENERATED ALWAYS AS ({_field("params")}) VIRTUAL,
    outcome TEXT GENERATED ALWAYS AS ({_field("outcome")}) VIRTUAL,
    ref INTEGER GENERATED ALWAYS AS ({_field("ref")}) VIRTUAL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL
);
"""
"""The audit table of a new run database (schema version 3): each entry stores the exact
text its hash covers (``body``, its canonical JSON) and nothing else of its own. The
familiar columns are computed from ``body`` whenever they are read (SQLite generated
columns, never stored), so what a query or a screen reads is what the chain verifies:
there is no second copy to edit. Verifying hashes ``prev_hash``, a newline and ``body``
as stored, with no JSON rebuilt per entry (the cost of verifying a version 2 file)."""

SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    ssh_client TEXT,
    action TEXT NOT NULL,
    step TEXT,
    params TEXT NOT NULL,
    outcome TEXT,
    ref INTEGER,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""
"""The audit table of schema versions 1 and 2: every field in its own column, the hash
over their canonical JSON rebuilt per entry. Such files keep it; they verify and append
the same as before."""

_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_json_string = json.encoder.encode_basestring
"""How ``_canonical_json`` renders a string (the same C function it uses)."""


@dataclass(frozen=True)
class Entry:
    """One audit entry as stored."""

    seq: int
    ts: str
    actor: str
    ssh_client: str | None
    action: str
    step: str | None
    params: dict[str, Any]
    outcome: str | None
    ref: int | None
    prev_hash: str
    hash: str

    def canonical(self) -> str:
        """The bytes the hash covers (everything but seq and the hash itself)."""
        return _canonical(
            self.ts, self.actor, self.ssh_client, self.action, self.step, self.params,
            self.outcome, self.ref,
        )  # fmt: skip


def _canonical(ts, actor, ssh_client, action, step, params, outcome, ref) -> str:
    """The canonical JSON of an entry: its fields in sorted order, compact, UTF-8 as is."""
    return _canonical_json(
        {
            "action": action,
            "actor": actor,
            "outcome": outcome,
            "params": params,
            "ref": ref,
            "ssh_client": ssh_client,
            "step": step,
            "ts": ts,
        }
    )


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _json_string(value)
    return _canonical_json(value)


def _canonical_with(ts, actor, ssh_client, action, step, params_json, outcome, ref) -> str:
    """:func:`_canonical`, the same text, built around ``params`` already rendered with
    ``_canonical_json`` (an append renders them once: to hash and to store). The field
    names are fixed and in sorted order, so assembling them gives the bytes encoding the
    whole dict gives (tests/test_audit.py checks it on awkward values)."""
    return (
        f'{{"action":{_scalar(action)},"actor":{_scalar(actor)},"outcome":{_scalar(outcome)},'
        f'"params":{params_json},"ref":{_scalar(ref)},"ssh_client":{_scalar(ssh_client)},'
        f'"step":{_scalar(step)},"ts":{_scalar(ts)}}}'
    )


@dataclass(frozen=True)
class Draft:
    """An entry not yet appended: what :func:`append_many` takes, one per entry."""

    action: str
    step: str | None = None
    params: dict[str, Any] | None = None
    outcome: str | None = None
    ref: int | None = None
    binds: dict[str, Any] | None = None
    """Digests binding what the entry records (a step's state, a piece of evidence) to
    it; added to ``params`` as they are, never masked (hex digests and ids only)."""


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found.

    ``count`` is how many entries, from the first, verify; ``head_hash`` is the hash of
    the last of them. ``since`` is how many of those were taken from the checkpoint
    without being hashed again (0 for a full walk), ``checked`` how many were hashed.
    """

    ok: bool
    count: int
    head_hash: str
    problem: str | None = None
    seq: int | None = None
    checked: int = 0
    since: int = 0
    note: str | None = None
    """Something the operator should know about an intact verdict (an old run database
    whose steps, plan and evidence are not bound)."""
    bound: str | None = None
    """For an intact walk from the first entry: a digest of the number, action and step of
    every entry whose action binds something, read from the text each entry's hash covers
    (what the binding index must list: :func:`console.store.bindings.index_disagrees`)."""


@dataclass(frozen=True)
class Checkpoint:
    """The last entry a verification reached: where the next incremental one starts."""

    seq: int
    hash: str


def entry_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def utc_now() -> str:
    """Now in UTC, to the millisecond: ``2026-12-01T15:04:05.123Z``.

    Formatted by hand from the integer clock (``datetime.isoformat`` cost 8 µs of an
    append's own ~40, measured, ``bench/audit.py``), and the text up to the second is
    kept until the second changes: formatting it was another 3 µs. The text is the same.
    """
    global _second
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    at, text = _second
    if at != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, text)  # one assignment: a thread reads the old pair or the new
    return f"{text}.{nanos // 1_000_000:03d}Z"


_second: tuple[int, str] = (-1, "")


@functools.cache
def current_actor() -> tuple[str, str | None]:
    """The OS user and, in an SSH session, the client's address.

    The user is the login of the process's real uid, not ``$USER`` or ``$LOGNAME``:
    approvals rest on it (an approver counts only when the console runs as their login),
    and anyone can set an environment variable. Read once per process: neither changes
    while it runs, and the password-database lookup was a third of an append's own cost
    (27 of 90 µs, measured).
    """
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # no passwd entry for this uid in some containers
        user = f"uid:{os.getuid()}"
    ssh = os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_CLIENT")
    return user, (ssh.split()[0] if ssh else None)


# -- appending ----------------------------------------------------------------------------


def append(
    db: Connection,
    action: str,
    *,
    step: str | None = None,
    params: dict[str, Any] | None = None,
    outcome: str | None = None,
    ref: int | None = None,
    binds: dict[str, Any] | None = None,
    clock: Callable[[], str] = utc_now,
) -> Entry:
    """Durably append one entry (its own commit, synced to disk) and return it."""
    return _commit(db, (Draft(action, step, params, outcome, ref, binds),), clock)[0]


def append_many(
    db: Connection, drafts: Sequence[Draft], *, clock: Callable[[], str] = utc_now
) -> list[Entry]:
    """Durably append several entries in one commit, for entries that come in volume
    (samples, live comparison increments): one disk sync for all of them.

    Gate decisions are refused here: each must be on disk on its own before the action
    it allows starts, never waiting for a group to fill.
    """
    gated = sorted({d.action for d in drafts if d.action.startswith("gate.")})
    if gated:
        raise ValueError(
            f"{', '.join(gated)} must be appended on its own with append(), not in a group"
        )
    return _commit(db, drafts, clock) if drafts else []


def _commit(db: Connection, drafts: Sequence[Draft], clock: Callable[[], str]) -> list[Entry]:
    """Chain and insert ``drafts`` in one durable transaction.

    The store's immediate transaction serialises writers across processes (console,
    mirror, sampler), so two appends can never chain to the same predecessor; it commits
    with ``synchronous=FULL``, so the entries are on disk before the caller goes on.
    """
    return db.durably(lambda conn: _chain_in(conn, drafts, clock))


def append_in(
    conn: sqlite3.Connection,
    action: str,
    *,
    step: str | None = None,
    params: dict[str, Any] | None = None,
    outcome: str | None = None,
    ref: int | None = None,
    binds: dict[str, Any] | None = None,
    clock: Callable[[], str] = utc_now,
) -> Entry:
    """Append one entry inside a transaction the caller holds, so a state change and the
    entry that records it commit together, or neither does."""
    return _chain_in(conn, [Draft(action, step, params, outcome, ref, binds)], clock)[0]


def _chain_in(
    conn: sqlite3.Connection, drafts: Sequence[Draft], clock: Callable[[], str]
) -> list[Entry]:
    """Chain ``drafts`` after the current head and insert them, inside the caller's
    immediate transaction.

    Each entry's parameters are rendered once, canonically, and that text is both hashed
    (inside the entry's canonical form) and stored, so an append encodes JSON once.
    """
    user, ssh = current_actor()
    row = conn.execute(_HEAD_ROW).fetchone()
    seq, prev = (row[0], row[1]) if row else (0, GENESIS)
    made: list[Entry] = []
    texts: list[tuple[str, str]] = []  # per entry: its parameters' JSON, its whole text
    sha256 = hashlib.sha256
    for d in drafts:
        seq += 1
        ts = clock()
        params = redact.value(d.params) if d.params else {}
        if d.binds:
            params.update(d.binds)
        outcome = redact.text(d.outcome) if d.outcome else d.outcome
        params_json = _canonical_json(params)
        canonical = _canonical_with(ts, user, ssh, d.action, d.step, params_json, outcome, d.ref)
        digest = sha256(f"{prev}\n{canonical}".encode()).hexdigest()
        made.append(
            Entry(seq, ts, user, ssh, d.action, d.step, params, outcome, d.ref, prev, digest)
        )
        texts.append((params_json, canonical))
        prev = digest
    with_body = _has_body(conn)
    try:
        _insert(conn, made, texts, with_body)
    except sqlite3.OperationalError:
        if _has_body(conn, look=True) == with_body:
            raise
        _insert(conn, made, texts, not with_body)
    # An upsert changes the head's row in place; INSERT OR REPLACE would delete and
    # re-insert it, touching the key's index page too on every commit.
    conn.execute(_MOVE_HEAD, (f"{seq}:{prev}",))
    faults.appended(len(made))
    return made


def _insert(
    conn: sqlite3.Connection, made: list[Entry], texts: list[tuple[str, str]], with_body: bool
) -> None:
    """Insert chained entries as rows of one layout or the other."""
    if with_body:
        sql = _INSERT
        rows = [
            (e.seq, e.prev_hash, e.hash, text) for e, (_, text) in zip(made, texts, strict=True)
        ]
    else:
        sql = _INSERT_V2
        rows = [
            (e.seq, e.ts, e.actor, e.ssh_client, e.action, e.step, params_json, e.outcome,
             e.ref, e.prev_hash, e.hash)
            for e, (params_json, _) in zip(made, texts, strict=True)
        ]  # fmt: skip
    if len(rows) == 1:
        conn.execute(sql, rows[0])
    else:
        conn.executemany(sql, rows)


def _has_body(conn: sqlite3.Connection, *, look: bool = False) -> bool:
    """Whether the connection's audit table stores each entry's hashed text (schema
    version 3, :data:`SCHEMA`) rather than one column per field (:data:`SCHEMA_V2`).

    Remembered by the connection's id, so an append does not ask SQLite every time. An
    id outlives its connection and may come back for another file; the two layouts share
    no insert statement (SQLite refuses either one on the other table), so a wrong guess
    fails, and the append then looks again (``look``) before trying the other.
    """
    known = None if look else _LAYOUTS.get(id(conn))
    if known is None:
        known = any(column[1] == "body" for column in conn.execute("PRAGMA table_xinfo(audit)"))
        _LAYOUTS[id(conn)] = known
    return known


_LAYOUTS: dict[int, bool] = {}
_HEAD_ROW = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
_INSERT = "INSERT INTO audit(seq, prev_hash, hash, body) VALUES (?,?,?,?)"
_INSERT_V2 = (
    "INSERT INTO audit(seq, ts, actor, ssh_client, action, step, params, outcome, ref, "
    "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_MOVE_HEAD = (
    "INSERT INTO meta(key, value) VALUES ('audit_head', ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


# -- reading ------------------------------------------------------------------------------


def _row_to_entry(row: sqlite3.Row | tuple) -> Entry:
    """An entry from ``SELECT *`` of either layout (version 3 adds ``body`` at the end;
    its fields are the columns before it, computed from it)."""
    seq, ts, actor, ssh, action, step, params, outcome, ref, prev, h = row[:11]
    try:
        parsed = json.loads(params)
    except (TypeError, ValueError):
        parsed = {"<unreadable>": str(params)}
    return Entry(seq, ts, actor, ssh, action, step, parsed, outcome, ref, prev, h)


def entries(conn: sqlite3.Connection, *, since: int = 0, limit: int | None = None) -> list[Entry]:
    """Entries with seq greater than ``since``, oldest first."""
    sql = "SELECT * FROM audit WHERE seq > ? ORDER BY seq"
    args: tuple = (since,)
    if limit is not None:
        sql += " LIMIT ?"
        args += (limit,)
    return [_row_to_entry(tuple(r)) for r in conn.execute(sql, args)]


VOLUME_ACTIONS = ("lag.sampled", "compare.recorded")
"""Entries that come in volume (a lag round every few seconds, a live comparison
increment): a screen of the newest entries leaves them out so decisions stay in view."""


def latest(conn: sqlite3.Connection, count: int, *, volume: bool = True) -> list[Entry]:
    """The newest ``count`` entries, oldest first (without ``volume``: none of
    :data:`VOLUME_ACTIONS`)."""
    where = "" if volume else f"WHERE action NOT IN {VOLUME_ACTIONS!r} "
    rows = conn.execute(
        f"SELECT * FROM audit {where}ORDER BY seq DESC LIMIT ?", (count,)
    ).fetchall()
    return [_row_to_entry(tuple(r)) for r in reversed(rows)]


def by_action(conn: sqlite3.Connection, action: str) -> list[Entry]:
    """Every entry of one action, oldest first."""
    rows = conn.execute("SELECT * FROM audit WHERE action = ? ORDER BY seq", (action,))
    return [_row_to_entry(tuple(r)) for r in rows]


def iter_all(conn: sqlite3.Connection) -> Iterator[Entry]:
    for row in conn.execute("SELECT * FROM audit ORDER BY seq"):
        yield _row_to_entry(tuple(row))


# -- verifying ----------------------------------------------------------------------------

# What each entry's hash covers, as bytes: "<prev_hash>\n<canonical JSON>". A version 3
# entry stores its canonical JSON as it was hashed (``body``): the bytes are read, never
# rebuilt. A version 2 entry's are assembled by SQLite from its columns: building the
# JSON in C rather than with json.loads/json.dumps per row is what makes such a file
# verify in seconds (measured: 8.4 s in Python, 2.5 s so, for a million entries). SQLite
# renders the same bytes as Entry.canonical() for what we write (keys in sorted order,
# compact separators, UTF-8 unescaped); where it renders something differently (a float,
# a \u escape, unreadable params) the hash will not match and the entry is checked again
# the exact way (_hashes_right) before anything is called edited. A match is sound either way:
# equal JSON text means equal content.
_MATERIAL = "CAST(prev_hash || char(10) || body AS BLOB)"
_MATERIAL_V2 = """CAST(prev_hash || char(10) || json_object(
    'action', action, 'actor', actor, 'outcome', outcome,
    'params', CASE WHEN json_valid(params) THEN json(params) END,
    'ref', ref, 'ssh_client', ssh_client, 'step', step, 'ts', ts) AS BLOB)"""


def verify(conn: sqlite3.Connection, *, checkpoint: Checkpoint | None = None) -> Verdict:
    """Walk the chain and name the first entry that was edited, removed, inserted or moved.

    Without ``checkpoint`` every entry is checked. With one, only entries after it are,
    provided the checkpoint's entry is still there, still has that hash and still hashes
    right; otherwise, and whenever a problem turns up, the whole chain is walked, so the
    problem is named exactly as a full walk names it.
    """
    own = not conn.in_transaction
    if own:
        # One read snapshot for the walk and the head pointer: entries appended meanwhile
        # by another process are neither half-seen nor mistaken for a cut tail.
        conn.execute("BEGIN")
    try:
        with_body = _has_body(conn, look=True)
        verdict = None
        if checkpoint is not None and (
            _hashes_right(conn, checkpoint.seq, with_body) == checkpoint.hash
        ):
            verdict = _walk(conn, checkpoint.seq, checkpoint.hash, with_body)
        if verdict is None or not verdict.ok:
            verdict = _walk(conn, 0, GENESIS, with_body)
        if verdict.ok and with_body and _definition(conn) != _DEFINITION:
            return replace(
                verdict,
                ok=False,
                problem=(
                    "the audit table's definition was changed outside cutover: what the "
                    "screens and queries read of an entry may no longer be what its hash "
                    "covers"
                ),
            )
        return verdict
    finally:
        if own:
            conn.execute("ROLLBACK")


def _definition(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'")
    found = row.fetchone()
    return found[0] if found else None


_DEFINITION = SCHEMA.strip().removesuffix(";").replace(" IF NOT EXISTS", "")
"""The version 3 audit table as SQLite keeps its definition. Its fields are computed
from the stored text by expressions in that definition, outside every hash: rewritten
(SQLite's ``writable_schema``), an entry could show another outcome than the one it
recorded while the chain still verified, so verify compares the definition too."""


def _walk(conn: sqlite3.Connection, after: int, after_hash: str, with_body: bool) -> Verdict:
    """Check every entry after seq ``after`` (0: all), chained on from ``after_hash``; a
    walk from the first entry also notes the binding entries it read (``Verdict.bound``)."""
    if with_body:
        verdict = _walk_fast(conn, after, after_hash, _BoundKeys() if not after else None)
        if verdict is not None:
            return verdict
    return _walk_each(conn, after, after_hash, with_body, _BoundKeys() if not after else None)


_BOUND_PREFIXES = tuple(f'{{"action":{_json_string(a)},'.encode() for a in BOUND_ACTIONS)
_ACTION_AT = 76
"""Where an entry's action begins in a walk's bytes: the previous hash (64 hex digits),
a newline, then the entry's JSON, whose first key is always ``action``."""
_BOUND_FIRST = frozenset(prefix[_ACTION_AT - 65] for prefix in _BOUND_PREFIXES)
"""The first bytes of the binding actions' names: most entries are told apart by one
byte, so a walk of entries that bind nothing costs next to nothing more."""


class _BoundKeys:
    """The number, action and step of every binding entry a walk reads, as one digest
    in entry order: taken from the bytes each entry's hash covers, so what the binding
    index lists can be checked against what the chain holds."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def add(self, seq: int, material: bytes) -> None:
        if material[_ACTION_AT] in _BOUND_FIRST and material.startswith(_BOUND_PREFIXES, 65):
            # The step is the last key but one (keys are sorted; ``ts`` is last), and a
            # JSON string cannot hold an unescaped quote: the last ``,"step":`` before the
            # last ``,"ts":`` is the entry's own.
            try:
                end = material.index(b'"', _ACTION_AT)
                ts = material.rindex(b',"ts":')
                step = material.rindex(b',"step":', 0, ts) + len(b',"step":')
            except ValueError:  # not as we write it: the index is then compared row by row
                self._sha.update(b"%d ?\n" % seq)
                return
            self._sha.update(b"%d %s %s\n" % (seq, material[_ACTION_AT:end], material[step:ts]))

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _walk_fast(
    conn: sqlite3.Connection, after: int, after_hash: str, keys: _BoundKeys | None
) -> Verdict | None:
    """The walk of an intact version 3 chain, or None when anything is amiss (then
    :func:`_walk_each` walks again and names it).

    An entry is intact when it names the previous entry's hash and its stored bytes hash
    to its own: two comparisons, nothing built in Python. The sequence numbers are
    labels outside the hash: they are intact when the entries read are numbered from
    ``after + 1`` with no gap, which the lowest and highest number show (they are unique
    and read in order). A million entries verify in about half the time of the version 2
    walk (``bench/audit.py``).
    """
    sha256 = hashlib.sha256
    bound_first = _BOUND_FIRST
    expected = after_hash
    count = 0
    for prev, digest, material in _entries_after(conn, f"prev_hash, hash, {_MATERIAL}", after):
        if (
            prev != expected
            or type(material) is not bytes
            or (sha256(material).hexdigest() != digest)
        ):
            return None
        expected = digest
        count += 1
        if keys is not None and material[_ACTION_AT] in bound_first:
            keys.add(after + count, material)
    low, high = conn.execute("SELECT MIN(seq), MAX(seq) FROM audit").fetchone()
    last = after + count
    if (high or 0) != last or (count and not after and low != 1):
        return None
    problem = _ends_wrong(conn, last, expected)
    if problem:  # every entry is intact; what is wrong is at its end (as _walk_each says)
        return Verdict(False, last, expected, problem, last + 1, count)
    bound = keys.hexdigest() if keys is not None else None
    return Verdict(True, last, expected, checked=count, since=after, bound=bound)


def _entries_after(conn: sqlite3.Connection, columns: str, after: int) -> sqlite3.Cursor:
    """``columns`` of every entry after seq ``after``, in order; for 0, every row, so one
    numbered 0 or below is read too (and named)."""
    if after:
        return conn.execute(f"SELECT {columns} FROM audit WHERE seq > ? ORDER BY seq", (after,))
    return conn.execute(f"SELECT {columns} FROM audit ORDER BY seq")


def _walk_each(
    conn: sqlite3.Connection,
    after: int,
    after_hash: str,
    with_body: bool,
    keys: _BoundKeys | None = None,
) -> Verdict:
    """Check every entry after seq ``after`` one property at a time (its number, its
    contents, its place), naming the first that fails: a version 2 file's walk, and how
    a problem found in a version 3 one is diagnosed."""
    sha256 = hashlib.sha256
    expected_seq, expected_prev = after + 1, after_hash
    columns = f"seq, prev_hash, hash, {_MATERIAL if with_body else _MATERIAL_V2}"
    for seq, prev, digest, material in _entries_after(conn, columns, after):
        verified = expected_seq - 1
        if seq != expected_seq:
            gap = (
                f"entry {expected_seq} was removed"
                if seq == expected_seq + 1
                else f"entries {expected_seq} to {seq - 1} were removed"
            )
            return Verdict(False, verified, expected_prev, gap, expected_seq, verified - after)
        if sha256(material).hexdigest() != digest and _hashes_right(conn, seq, with_body) is None:
            return Verdict(
                False,
                verified,
                expected_prev,
                f"entry {seq} was edited: its contents no longer match its hash",
                seq,
                verified - after,
            )
        if prev != expected_prev:
            problem, named = _misplaced(conn, seq, prev)
            return Verdict(False, verified, expected_prev, problem, named, verified - after)
        expected_prev = digest
        expected_seq += 1
        if keys is not None and type(material) is bytes and len(material) > _ACTION_AT:
            keys.add(seq, material)
    last = expected_seq - 1
    problem = _ends_wrong(conn, last, expected_prev)
    if problem:
        return Verdict(False, last, expected_prev, problem, last + 1, last - after)
    bound = keys.hexdigest() if keys is not None else None
    return Verdict(True, last, expected_prev, checked=last - after, since=after, bound=bound)


_HEAD = re.compile(r"(\d+):([0-9a-f]{64})")


def _ends_wrong(conn: sqlite3.Connection, last: int, last_hash: str) -> str | None:
    """Why a chain whose entries 1..``last`` are intact is still not the whole log, or None.

    A run database always begins with its plan import, so an empty log or one that
    starts with anything else was cut or replaced. The head pointer (written with every
    append) must name the last entry; a verification checkpoint beyond the last entry,
    or on an entry that now hashes differently, is evidence too: the newest entries
    were removed, or the log was rewritten and re-chained after it was checked.
    """
    if last == 0:
        return (
            "the audit log is empty: a run database always begins with its plan import, "
            "so every entry was removed"
        )
    first = conn.execute("SELECT action FROM audit WHERE seq = 1").fetchone()
    if first is None or first[0] != "plan.imported":
        action = first[0] if first else "missing"
        return (
            f"the log does not begin with its plan import (entry 1 is '{action}'): its "
            "beginning was removed or the log was replaced"
        )
    head = conn.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
    if head is None:
        return (
            f"the head pointer is gone (the log ends at entry {last}): the newest entries "
            "may have been removed with it"
        )
    match = _HEAD.fullmatch(str(head[0]))
    if match is None:
        shown = str(head[0])[:40]
        return f"the head pointer is damaged ('{shown}'): it should read '<entry>:<hash>'"
    head_seq, head_hash = int(match.group(1)), match.group(2)
    if head_seq > last:
        return (
            f"the log ends at entry {last} but entry {head_seq} was written: "
            "the newest entries were removed"
        )
    if head_seq < last:
        return (
            f"entries {head_seq + 1} to {last} were added without moving the head pointer "
            "(cutover moves it with every entry): they were written outside cutover"
        )
    if head_hash != last_hash:
        return f"entry {last} was replaced: the head pointer holds the hash of another entry"
    checkpoint = read_checkpoint(conn)
    if checkpoint is not None and checkpoint.seq > last:
        return (
            f"a verification reached entry {checkpoint.seq}, but the log ends at entry "
            f"{last}: the newest entries were removed"
        )
    if checkpoint is not None:
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (checkpoint.seq,)).fetchone()
        if row is None or row[0] != checkpoint.hash:
            return (
                f"entry {checkpoint.seq} is not the entry a verification reached earlier "
                "(its hash changed): the log was rewritten from there or before"
            )
    return None


def _hashes_right(conn: sqlite3.Connection, seq: int, with_body: bool) -> str | None:
    """Entry ``seq``'s hash when its contents still hash to it, else None (also when it
    is gone). A version 3 entry is checked on its stored bytes; a version 2 one is
    rebuilt exactly as it was written (the way SQLite assembles it can differ)."""
    if with_body:
        row = conn.execute(f"SELECT hash, {_MATERIAL} FROM audit WHERE seq = ?", (seq,)).fetchone()
        intact = (
            row is not None
            and isinstance(row[1], bytes)
            and hashlib.sha256(row[1]).hexdigest() == row[0]
        )
        return row[0] if intact else None
    row = conn.execute("SELECT * FROM audit WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        return None
    entry = _row_to_entry(tuple(row))
    return entry.hash if entry_hash(entry.prev_hash, entry.canonical()) == entry.hash else None


def _misplaced(conn: sqlite3.Connection, seq: int, prev: str) -> tuple[str, int]:
    """Why entry ``seq`` is chained to ``prev`` instead of to the entry before it.

    Entries 1..seq-1 were found in order, so the one ``prev`` belongs to (the last, if a
    forger made two alike) says what happened: a later entry means a reorder, an earlier
    one an insert after it, none a removal or a rewrite. Only reached once a mismatch is
    found, so scanning for the hash costs nothing on an intact chain.
    """
    row = conn.execute(
        "SELECT seq FROM audit WHERE hash = ? ORDER BY seq DESC LIMIT 1", (prev,)
    ).fetchone()
    owner = row[0] if row else None
    if owner is not None and owner > seq:
        return (
            f"entry {seq} is out of order: it was chained after entry {owner}, "
            "which now comes later",
            seq,
        )
    if owner is not None and owner < seq - 1:
        return (
            f"entry {owner + 1} was inserted: entry {seq} was chained directly after entry {owner}",
            owner + 1,
        )
    return (
        f"an entry was removed before entry {seq}, or entry {seq - 1} was rewritten: "
        "the hash it was chained to is gone",
        seq,
    )


def read_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    """The recorded checkpoint, or None when there is none or it is not readable."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (CHECKPOINT_KEY,)).fetchone()
    if row is None:
        return None
    seq, _, digest = str(row[0]).partition(":")
    if not seq.isdigit() or len(digest) != len(GENESIS):
        return None
    return Checkpoint(int(seq), digest)


def write_checkpoint(conn: sqlite3.Connection, verdict: Verdict) -> bool:
    """Record where an intact verification ended; returns whether anything changed.

    Not synced to disk on its own: a lost checkpoint only means the next incremental
    verification walks further.
    """
    if not verdict.ok or verdict.count == 0:
        return False
    if read_checkpoint(conn) == Checkpoint(verdict.count, verdict.head_hash):
        return False
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
        (CHECKPOINT_KEY, f"{verdict.count}:{verdict.head_hash}"),
    )
    return True


def export_jsonl(conn: sqlite3.Connection) -> Iterator[str]:
    """Every entry as one JSON line, oldest first, read as it is written out (constant
    memory, however long the log).

    A version 3 entry is read from its stored text, parsed once: its generated columns
    would parse it twice per field (``json_valid``, ``json_extract``), which made a whole
    export twice as slow as a version 2 one. An entry whose text those columns would read
    differently (not an object, a field of another type) is read through them, so every
    line is the entry as every screen shows it.
    """
    if not _has_body(conn, look=True):
        for entry in iter_all(conn):
            yield _export_line(asdict(entry))
        return
    for seq, prev, digest, body in conn.execute(
        "SELECT seq, prev_hash, hash, body FROM audit ORDER BY seq"
    ):
        fields = _plain_fields(body)
        if fields is None:
            row = conn.execute("SELECT * FROM audit WHERE seq = ?", (seq,)).fetchone()
            fields = asdict(_row_to_entry(tuple(row)))
        else:
            fields.update(seq=seq, prev_hash=prev, hash=digest)
        yield _export_line(fields)


def _export_line(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False)


_TEXT_FIELDS = ("action", "actor", "outcome", "ssh_client", "step", "ts")


def _plain_fields(body: str) -> dict[str, Any] | None:
    """An entry's fields from its stored text, or None when the generated columns would
    give something else: text that is not a JSON object, parameters that are not an
    object, a text field that is not a string or null, a ``ref`` that is not an integer
    or null (SQLite converts or reads such values its own way)."""
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return None
    if type(parsed) is not dict or type(parsed.get("params")) is not dict:
        return None
    fields = {name: parsed.get(name) for name in _TEXT_FIELDS}
    if any(value is not None and type(value) is not str for value in fields.values()):
        return None
    ref = parsed.get("ref")
    if ref is not None and type(ref) is not int:
        return None
    fields["params"], fields["ref"] = parsed["params"], ref
    return fields
