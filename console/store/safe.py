"""The safe consumers' tables: what each shadow consumer did, what went wrong, and which
identity the console made for it.

* ``shadow_progress``: a row per report of a shadow consumer (``side = 'shadow'``) or of
  the source group it stands in for (``side = 'source'``): records processed so far,
  lag, and the errors so far by kind, all cumulative, so rates are differences.
* ``shadow_errors``: examples of each kind of error (the newest few per consumer and kind).
* ``shadow_identities``: the SCRAM user and the ACLs the console created on the target for
  a shadow consumer, so removal takes away exactly those and nothing else.

No password is ever stored here (or anywhere in the run database).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from console import redact
from console.store.connection import END_OF_TIME, Connection, dumps

SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_progress (
    id INTEGER PRIMARY KEY, consumer TEXT NOT NULL, side TEXT NOT NULL, ts TEXT NOT NULL,
    processed INTEGER, lag INTEGER, state TEXT NOT NULL DEFAULT '',
    deserialization INTEGER NOT NULL DEFAULT 0, schema INTEGER NOT NULL DEFAULT 0,
    "order" INTEGER NOT NULL DEFAULT 0, authorization INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS shadow_progress_by_consumer ON shadow_progress(consumer, side, id);
CREATE TABLE IF NOT EXISTS shadow_errors (
    id INTEGER PRIMARY KEY, consumer TEXT NOT NULL, kind TEXT NOT NULL, ts TEXT NOT NULL,
    topic TEXT, partition INTEGER, "offset" INTEGER, key TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS shadow_errors_by_consumer ON shadow_errors(consumer, kind, id);
CREATE TABLE IF NOT EXISTS shadow_identities (
    consumer TEXT PRIMARY KEY, principal TEXT NOT NULL, user_created INTEGER NOT NULL,
    acls TEXT NOT NULL, sink_topic_created TEXT, created_at TEXT NOT NULL);
"""

ERROR_KINDS = ("deserialization", "schema", "order", "authorization")
"""What a shadow consumer counts, each separately."""

KEEP_SAMPLES = 2000
"""Progress rows kept per consumer and side (the newest); older ones are dropped."""
KEEP_ERRORS = 20
"""Error examples kept per consumer and kind (the newest)."""


@dataclass(frozen=True)
class Progress:
    """One report of a shadow consumer or of the source group it stands in for."""

    consumer: str
    side: str
    ts: str
    processed: int | None
    lag: int | None
    state: str
    errors: dict[str, int]
    """Cumulative, by kind (:data:`ERROR_KINDS`)."""

    @property
    def seconds(self) -> float:
        return datetime.fromisoformat(self.ts.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class ErrorExample:
    """One record a shadow consumer counted as an error, enough to fetch it again."""

    kind: str
    ts: str
    topic: str | None
    partition: int | None
    offset: int | None
    key: str | None
    detail: str


@dataclass(frozen=True)
class Identity:
    """What the console created on the target for a shadow consumer."""

    consumer: str
    principal: str
    user_created: bool
    """True when the SCRAM user did not exist before the console made it."""
    acls: list[dict]
    """The ACL bindings the console added (those that were not there before)."""
    sink_topic_created: str | None
    created_at: str


_PROGRESS = (
    'consumer, side, ts, processed, lag, state, deserialization, schema, "order", authorization'
)


def _progress(row: tuple) -> Progress:
    return Progress(
        row[0], row[1], row[2], row[3], row[4], row[5], dict(zip(ERROR_KINDS, row[6:], strict=True))
    )


class ShadowTable:
    """Reads and writes the safe consumers' tables."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    # -- progress ------------------------------------------------------------------------

    def report(
        self,
        consumer: str,
        side: str,
        *,
        processed: int | None,
        lag: int | None,
        state: str = "",
        errors: dict[str, int] | None = None,
        examples: Sequence[ErrorExample] = (),
    ) -> None:
        """Record one report (cumulative counts) and new error examples, together."""
        counts = [int((errors or {}).get(kind, 0)) for kind in ERROR_KINDS]
        now = self._db.clock()
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO shadow_progress ({_PROGRESS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (consumer, side, now, processed, lag, state, *counts),
            )
            conn.execute(
                "DELETE FROM shadow_progress WHERE consumer = ? AND side = ? AND id <= "
                "(SELECT id FROM shadow_progress WHERE consumer = ? AND side = ? "
                "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (consumer, side, consumer, side, KEEP_SAMPLES),
            )
            for ex in examples:
                conn.execute(
                    'INSERT INTO shadow_errors (consumer, kind, ts, topic, partition, "offset", '
                    "key, detail) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        consumer,
                        ex.kind,
                        ex.ts or now,
                        ex.topic,
                        ex.partition,
                        ex.offset,
                        None if ex.key is None else redact.text(ex.key),
                        redact.text(ex.detail),
                    ),
                )
            for kind in {ex.kind for ex in examples}:
                conn.execute(
                    "DELETE FROM shadow_errors WHERE consumer = ? AND kind = ? AND id <= "
                    "(SELECT id FROM shadow_errors WHERE consumer = ? AND kind = ? "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (consumer, kind, consumer, kind, KEEP_ERRORS),
                )

    def recent(
        self, consumer: str, side: str, count: int = 60, *, until: str | None = None
    ) -> list[Progress]:
        """The newest ``count`` reports, oldest first (made at or before ``until``, a UTC
        timestamp, when given: a replay's view as of an audit entry)."""
        rows = self._db.all(
            f"SELECT {_PROGRESS} FROM shadow_progress WHERE consumer = ? AND side = ? "
            "AND ts <= ? ORDER BY id DESC LIMIT ?",
            (consumer, side, until or END_OF_TIME, count),
        )
        return [_progress(r) for r in reversed(rows)]

    def errors(self, consumer: str, limit: int = 20) -> list[ErrorExample]:
        """The newest error examples of a consumer, newest first."""
        rows = self._db.all(
            'SELECT kind, ts, topic, partition, "offset", key, detail FROM shadow_errors '
            "WHERE consumer = ? ORDER BY id DESC LIMIT ?",
            (consumer, limit),
        )
        return [ErrorExample(*r) for r in rows]

    # -- identities ----------------------------------------------------------------------

    def record_identity(
        self,
        consumer: str,
        principal: str,
        *,
        user_created: bool,
        acls: list[dict],
        sink_topic_created: str | None,
    ) -> None:
        """Remember what was created for a consumer, adding to what was remembered before
        (a second start that adds nothing keeps the first start's record)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT user_created, acls, sink_topic_created FROM shadow_identities "
                "WHERE consumer = ?",
                (consumer,),
            ).fetchone()
            if row is not None:
                user_created = user_created or bool(row[0])
                known = json.loads(row[1])
                acls = known + [a for a in acls if a not in known]
                sink_topic_created = sink_topic_created or row[2]
            conn.execute(
                "INSERT OR REPLACE INTO shadow_identities (consumer, principal, user_created, "
                "acls, sink_topic_created, created_at) VALUES (?,?,?,?,?,?)",
                (
                    consumer,
                    principal,
                    int(user_created),
                    dumps(acls),
                    sink_topic_created,
                    self._db.clock(),
                ),
            )

    def identity(self, consumer: str) -> Identity | None:
        row = self._db.one(
            "SELECT consumer, principal, user_created, acls, sink_topic_created, created_at "
            "FROM shadow_identities WHERE consumer = ?",
            (consumer,),
        )
        if row is None:
            return None
        return Identity(row[0], row[1], bool(row[2]), json.loads(row[3]), row[4], row[5])

    def forget_identity(self, consumer: str) -> None:
        """The identity was removed from the target: nothing is left to remove."""
        self._db.write("DELETE FROM shadow_identities WHERE consumer = ?", (consumer,))
