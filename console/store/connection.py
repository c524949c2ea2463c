"""One SQLite connection to a run database, its lock, and the one transaction helper.

Every table module of the store reads and writes through a :class:`Connection`: reads
and single-statement writes take the lock; anything that writes more than one
statement, or must not interleave with another process's writer, goes through
:meth:`Connection.transaction`. ``BEGIN IMMEDIATE`` there serialises writers across
processes (the console, the mirror, the lag sampler), so two appends can never chain
to the same audit predecessor and a half-written round is never seen.

SQLite's own errors never reach an operator raw: :func:`explain` turns the ones a file
or a disk can cause (full, read-only, damaged, busy) into a :class:`StoreError` that
names the file and says what to do, and the transaction helper never lets a failed
``ROLLBACK`` (SQLite has often rolled back by itself) hide the error that caused it.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from console.errors import CutoverError
from console.store import faults

T = TypeVar("T")

END_OF_TIME = "9999"
"""An upper bound for any stored UTC timestamp: ``until or END_OF_TIME`` reads everything."""


class StoreError(CutoverError):
    """The run database cannot be used; the message says why and what to do."""


# SQLite's primary result codes (the low byte of an extended code) that a file or a disk
# can cause, as opposed to a bug of ours.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_LOW_SPACE_BYTES = 4 * 1024 * 1024
"""Free space under which an I/O error is reported as a full disk (the kernel's ENOSPC
reaches SQLite as SQLITE_FULL on most writes, as SQLITE_IOERR on some)."""

READ_ONLY_HINT = (
    "'cutover status', 'cutover audit verify' and 'cutover run --replay' work on it; "
    "to run steps or record anything, copy it to writable storage"
)


def explain(exc: sqlite3.Error, path: Path, *, writing: bool = True) -> StoreError | None:
    """What an SQLite error means for the operator, or None when it is not one a file or
    a disk can cause (then it is a bug, and is left to surface as one)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code == _FULL or "database or disk is full" in text:
        return StoreError(
            f"disk full: cannot write {path}; nothing of this action was recorded and "
            "the run database is intact",
            f"free space on its file system ({_free(path)} free) and run the command again",
        )
    if code == _READONLY:
        return StoreError(f"{path} is read-only ({text})", READ_ONLY_HINT)
    if code == _NOTADB:
        return StoreError(
            f"{path} is not a Cutover run database ({text})",
            "check the path, or import a plan with 'cutover plan import'",
        )
    if code == _CORRUPT or "malformed" in text:
        return StoreError(
            f"{path} is damaged ({text})",
            "nothing was changed; restore it from a copy, or recover what is readable with "
            f"'sqlite3 {path} .recover'",
        )
    if code == _IOERR:
        if writing and _free_bytes(path) < _LOW_SPACE_BYTES:
            return StoreError(
                f"disk full: cannot write {path} ({text}); nothing of this action was "
                "recorded and the run database is intact",
                f"free space on its file system ({_free(path)} free) and run the command again",
            )
        return StoreError(
            f"I/O error on {path} ({text})", "check the disk and its file system, then run again"
        )
    if code in (_BUSY, _LOCKED):
        return StoreError(
            f"{path} is busy: another process held its lock for too long ({text})",
            "run the command again in a moment",
        )
    if code == _CANTOPEN:
        return StoreError(
            f"cannot open {path} ({text})",
            "check that it and its directory exist and can be read",
        )
    missing = re.match(r"no such (table|column): (\S+)", text)
    if missing:
        return StoreError(
            f"{path} is damaged: it has no {missing.group(1)} {missing.group(2)} (it was "
            "changed outside cutover, or by a different tool)",
            "nothing was changed; restore it from a copy",
        )
    return None


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return 1 << 62


def _free(path: Path) -> str:
    free = _free_bytes(path)
    return "unknown" if free >= 1 << 62 else f"{free / 1024 / 1024:,.1f} MiB"


class Connection:
    """A run database's connection, guarded by one re-entrant lock. Thread-safe."""

    def __init__(
        self, raw: sqlite3.Connection, path: Path, *, readonly: bool, clock: Callable[[], str]
    ) -> None:
        self.raw = raw
        self.path = path
        self.readonly = readonly
        self.clock = clock
        self.lock = threading.RLock()
        self._synchronous: str | None = None
        self._together: int | None = None
        """The thread whose :meth:`together` block is open (its transactions join it)."""

    def execute(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        """One statement, under the lock (a read, or a write that stands alone)."""
        with self.lock, self.explained():
            return self.raw.execute(sql, args)

    def one(self, sql: str, args: tuple | list = ()) -> tuple | None:
        with self.lock, self.explained(writing=False):
            return self.raw.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self.lock, self.explained(writing=False):
            return self.raw.execute(sql, args).fetchall()

    @contextmanager
    def explained(self, *, writing: bool = True) -> Iterator[None]:
        """Turn an SQLite error a file or disk can cause into a :class:`StoreError`."""
        try:
            yield
        except sqlite3.Error as exc:
            self._explain(exc, writing)
            raise

    def _explain(self, exc: sqlite3.Error, writing: bool) -> None:
        """Raise the :class:`StoreError` that explains ``exc``, if one does; else return
        (the caller re-raises ``exc`` as it is)."""
        error = explain(exc, self.path, writing=writing)
        if error is not None:
            raise error from None

    def write(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        """One statement that changes something; refused in replay."""
        self.writable()
        return self.execute(sql, args)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """The one way to write several statements: all of them or none.

        ``durable`` commits with ``synchronous=FULL`` (the audit log: a decision is on
        disk before the action it allows runs); otherwise WAL's ``NORMAL`` applies.

        The level is set only when it changes and then left as it is: switching it on
        every audit append and back cost 18 µs of the ~60 µs an append spends outside
        its disk sync (measured, ``bench/audit.py``). A stand-alone :meth:`write` after a
        durable transaction is therefore synced too: more durable than asked, never less.
        """
        self.writable()
        with self.lock:
            if self._together == threading.get_ident():
                yield self.raw  # part of the open together() block, which commits (FULL)
                return
            with self._atomic("FULL" if durable else "NORMAL") as conn:
                yield conn

    @contextmanager
    def together(self) -> Iterator[None]:
        """Transactions opened inside this block, on this thread, commit as one, durably
        (``synchronous=FULL``), when it ends: all of them or none. For writes that follow
        each other with nothing done in between (no request to a cluster), so they pay
        one disk sync instead of one each; never around an action the writes must be on
        disk before. The lock is held for the whole block."""
        self.writable()
        with self.lock:
            if self._together == threading.get_ident():
                yield  # nested: the outer block commits
                return
            with self._atomic("FULL"):
                self._together = threading.get_ident()
                try:
                    yield
                finally:
                    self._together = None

    def durably(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` in one durable transaction, as ``transaction(durable=True)``
        (joining an open :meth:`together` block of this thread), without the generator
        context managers: the audit append is the hottest write, and its three context
        managers cost about 6 of the ~95 µs of CPU it spends outside its sync (measured on
        tmpfs, an empty transaction against a bare BEGIN/COMMIT).
        """
        self.writable()
        with self.lock:
            if self._together == threading.get_ident():
                return work(self.raw)
            conn = self.raw
            try:
                self._begin("FULL")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    self._abort()
                    raise
            except sqlite3.Error as exc:
                self._explain(exc, True)
                raise
        faults.committed()
        return result

    @contextmanager
    def _atomic(self, level: str) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE at a ``synchronous`` level, COMMIT at the end, ROLLBACK on any
        error (the error that got here is the one reported); under the caller's lock."""
        with self.explained():
            self._begin(level)
            try:
                yield self.raw
                self.raw.execute("COMMIT")
            except BaseException:
                self._abort()
                raise
        faults.committed()

    def _begin(self, level: str) -> None:
        conn = self.raw
        if self._synchronous != level:
            conn.execute(f"PRAGMA synchronous={level}")
            self._synchronous = level
        conn.execute("BEGIN IMMEDIATE")

    def _abort(self) -> None:
        """Roll the open transaction back. SQLite rolls a transaction back by itself on
        some errors (a full disk, an I/O error); a second ROLLBACK then fails with "no
        transaction is active" and must not replace the real error."""
        faults.rolled_back()
        conn = self.raw
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; nothing can change in replay")

    def close(self) -> None:
        with self.lock:
            self.raw.close()


def dumps(value: Any) -> str:
    """JSON as the run database stores it: keys sorted, so equal values store equal."""
    return json.dumps(value, sort_keys=True)
