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
runs; the outcome is a second entry that refers to the first by sequence.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from console import redact
from console.store.connection import Connection

GENESIS = "0" * 64

SCHEMA = """
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
        body = asdict(self)
        del body["seq"], body["hash"], body["prev_hash"]
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found."""

    ok: bool
    count: int
    head_hash: str
    problem: str | None = None
    seq: int | None = None


def entry_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def current_actor() -> tuple[str, str | None]:
    """The OS user and, in an SSH session, the client's address."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = f"uid:{os.getuid()}"
    ssh = os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_CLIENT")
    return user, (ssh.split()[0] if ssh else None)


def append(
    db: Connection,
    action: str,
    *,
    step: str | None = None,
    params: dict[str, Any] | None = None,
    outcome: str | None = None,
    ref: int | None = None,
    clock: Callable[[], str] = utc_now,
) -> Entry:
    """Durably append one entry and return it.

    The store's immediate transaction serialises writers across processes (console,
    mirror, sampler), so two appends can never chain to the same predecessor; it commits
    with ``synchronous=FULL``, so the entry is on disk before the caller goes on.
    """
    user, ssh = current_actor()
    with db.transaction(durable=True) as conn:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        draft = Entry(
            seq=seq,
            ts=clock(),
            actor=user,
            ssh_client=ssh,
            action=action,
            step=step,
            params=redact.value(params or {}),
            outcome=redact.text(outcome) if outcome else outcome,
            ref=ref,
            prev_hash=prev,
            hash="",
        )
        entry = Entry(**{**asdict(draft), "hash": entry_hash(prev, draft.canonical())})
        conn.execute(
            "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                entry.seq,
                entry.ts,
                entry.actor,
                entry.ssh_client,
                entry.action,
                entry.step,
                json.dumps(entry.params, sort_keys=True),
                entry.outcome,
                entry.ref,
                entry.prev_hash,
                entry.hash,
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('audit_head', ?)",
            (f"{entry.seq}:{entry.hash}",),
        )
    return entry


def _row_to_entry(row: sqlite3.Row | tuple) -> Entry:
    seq, ts, actor, ssh, action, step, params, outcome, ref, prev, h = row
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


def latest(conn: sqlite3.Connection, count: int) -> list[Entry]:
    """The newest ``count`` entries, oldest first."""
    rows = conn.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (count,)).fetchall()
    return [_row_to_entry(tuple(r)) for r in reversed(rows)]


def iter_all(conn: sqlite3.Connection) -> Iterator[Entry]:
    for row in conn.execute("SELECT * FROM audit ORDER BY seq"):
        yield _row_to_entry(tuple(row))


def verify(conn: sqlite3.Connection) -> Verdict:
    """Walk the chain and name the first entry that was edited, removed, inserted or moved."""
    chain = list(iter_all(conn))
    position = {e.hash: i for i, e in enumerate(chain)}
    expected_prev = GENESIS
    expected_seq = 1
    for i, entry in enumerate(chain):
        if entry.seq != expected_seq:
            gap = (
                f"entry {expected_seq} was removed"
                if entry.seq == expected_seq + 1
                else f"entries {expected_seq} to {entry.seq - 1} were removed"
            )
            return _broken(chain, i, gap, expected_seq)
        if entry_hash(entry.prev_hash, entry.canonical()) != entry.hash:
            return _broken(
                chain,
                i,
                f"entry {entry.seq} was edited: its contents no longer match its hash",
                entry.seq,
            )
        if entry.prev_hash != expected_prev:
            j = position.get(entry.prev_hash)
            if j is not None and j > i:
                problem = (
                    f"entry {entry.seq} is out of order: it was chained after entry "
                    f"{chain[j].seq}, which now comes later"
                )
            elif j is not None and j < i - 1:
                problem = (
                    f"entry {chain[j + 1].seq} was inserted: entry {entry.seq} was chained "
                    f"directly after entry {chain[j].seq}"
                )
                return _broken(chain, i, problem, chain[j + 1].seq)
            else:
                problem = (
                    f"an entry was removed before entry {entry.seq}, or entry {entry.seq - 1} "
                    "was rewritten: the hash it was chained to is gone"
                )
            return _broken(chain, i, problem, entry.seq)
        expected_prev = entry.hash
        expected_seq += 1
    head = conn.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
    if head and chain:
        head_seq, _, head_hash = head[0].partition(":")
        if int(head_seq) != chain[-1].seq or head_hash != chain[-1].hash:
            return _broken(
                chain,
                len(chain),
                f"the log ends at entry {chain[-1].seq} but entry {head_seq} was written: "
                "the newest entries were removed",
                chain[-1].seq + 1,
            )
    elif head and not chain:
        return Verdict(False, 0, GENESIS, "every entry was removed", 1)
    return Verdict(True, len(chain), chain[-1].hash if chain else GENESIS)


def _broken(chain: list[Entry], upto: int, problem: str, seq: int) -> Verdict:
    head = chain[upto - 1].hash if upto else GENESIS
    return Verdict(False, upto, head, problem, seq)


def export_jsonl(conn: sqlite3.Connection) -> Iterator[str]:
    """Every entry as one JSON line, oldest first."""
    for entry in iter_all(conn):
        yield json.dumps(asdict(entry), sort_keys=True, ensure_ascii=False)
