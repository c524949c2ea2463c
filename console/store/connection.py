"""One SQLite connection to a run database, its lock, and the one transaction helper.

Every table module of the store reads and writes through a :class:`Connection`: reads
and single-statement writes take the lock; anything that writes more than one
statement, or must not interleave with another process's writer, goes through
:meth:`Connection.transaction`. ``BEGIN IMMEDIATE`` there serialises writers across
processes (the console, the mirror, the lag sampler), so two appends can never chain
to the same audit predecessor and a half-written round is never seen.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from console.errors import CutoverError


class StoreError(CutoverError):
    """The run database cannot be used; the message says why and what to do."""


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

    def execute(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        """One statement, under the lock (a read, or a write that stands alone)."""
        with self.lock:
            return self.raw.execute(sql, args)

    def one(self, sql: str, args: tuple | list = ()) -> tuple | None:
        with self.lock:
            return self.raw.execute(sql, args).fetchone()

    def all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self.lock:
            return self.raw.execute(sql, args).fetchall()

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
            conn = self.raw
            level = "FULL" if durable else "NORMAL"
            if self._synchronous != level:
                conn.execute(f"PRAGMA synchronous={level}")
                self._synchronous = level
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; nothing can change in replay")

    def close(self) -> None:
        with self.lock:
            self.raw.close()


def dumps(value: Any) -> str:
    """JSON as the run database stores it: keys sorted, so equal values store equal."""
    return json.dumps(value, sort_keys=True)
