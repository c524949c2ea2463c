"""The scorecard's tables: ``scorecard_marks`` (the decisions people record on an area)
and ``approvals`` (an approver's approval of a cutover step or a waiver).

Both are append-only and each row is written in ONE durable transaction with the audit
entry that records it, so the history shown in the console and the export is the audit
log's own, row for row, and a row never exists without its entry (nor the other way).
Rows carry the audit sequence number they were recorded under: a replay reads the
decisions in force as of any entry by that number alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console import redact
from console.store import audit
from console.store.connection import Connection, dumps

SCHEMA = """
CREATE TABLE IF NOT EXISTS scorecard_marks (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts TEXT NOT NULL, area TEXT NOT NULL,
    action TEXT NOT NULL, body TEXT NOT NULL, os_user TEXT NOT NULL, ssh_client TEXT,
    approver TEXT);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts TEXT NOT NULL, subject TEXT NOT NULL,
    approver TEXT NOT NULL, os_user TEXT NOT NULL, ssh_client TEXT,
    expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS approvals_by_subject ON approvals(subject, seq);
"""


@dataclass(frozen=True)
class Mark:
    """One decision on a scorecard area, as recorded."""

    id: int
    seq: int
    """The audit entry that records it."""
    ts: str
    area: str
    action: str
    """``owner`` (a red area's owner and retest date), ``waive``, ``withdraw`` (a
    waiver), ``judge`` (an area the plan has judged by hand)."""
    body: dict[str, Any]
    os_user: str
    ssh_client: str | None
    approver: str | None
    """The plan approver the OS user maps to, when the decision needed one."""


@dataclass(frozen=True)
class Approval:
    """One approver's approval of a subject (a cutover step instance or a waiver)."""

    id: int
    seq: int
    ts: str
    subject: str
    approver: str
    os_user: str
    ssh_client: str | None
    expires_at: str


class ScorecardTable:
    """Reads and writes the scorecard's marks and the approvals."""

    def __init__(self, db: Connection, clock: Callable[[], str]) -> None:
        self._db = db
        self._clock = clock
        self._present = False

    def _rows(self, sql: str, args: tuple) -> list[tuple]:
        # A run database made before these tables, opened read-only (a replay): nothing
        # was decided or approved in it. Asked first: a missing table is otherwise taken
        # for a damaged file.
        if not self._present:
            found = self._db.all(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('scorecard_marks', 'approvals')"
            )
            self._present = found[0][0] == 2
            if not self._present:
                return []
        return self._db.all(sql, args)

    # -- marks -----------------------------------------------------------------------------

    def add_mark(
        self,
        step_key: str,
        area: str,
        action: str,
        body: dict[str, Any],
        *,
        approver: str | None,
        ref: int | None,
        outcome: str,
    ) -> Mark:
        """Record a decision and its audit entry (``scorecard.<action>``) together."""
        body = redact.value(body)
        with self._db.transaction(durable=True) as conn:
            entry = audit.append_in(
                conn,
                f"scorecard.{action}",
                step=step_key,
                params={"area": area, **body, "approver": approver},
                outcome=outcome,
                ref=ref,
                clock=self._clock,
            )
            cur = conn.execute(
                "INSERT INTO scorecard_marks(seq, ts, area, action, body, os_user, ssh_client, "
                "approver) VALUES (?,?,?,?,?,?,?,?)",
                (
                    entry.seq,
                    entry.ts,
                    area,
                    action,
                    dumps(body),
                    entry.actor,
                    entry.ssh_client,
                    approver,
                ),
            )
            mark_id = int(cur.lastrowid)
        return Mark(
            mark_id, entry.seq, entry.ts, area, action, body, entry.actor, entry.ssh_client,
            approver,
        )  # fmt: skip

    def marks(self, upto_seq: int | None = None) -> list[Mark]:
        """Every decision recorded up to an audit entry (all of them by default), oldest
        first."""
        rows = self._rows(
            "SELECT id, seq, ts, area, action, body, os_user, ssh_client, approver "
            "FROM scorecard_marks WHERE seq <= ? ORDER BY seq",
            (_upto(upto_seq),),
        )
        return [Mark(*r[:5], json.loads(r[5]), *r[6:]) for r in rows]

    # -- approvals -------------------------------------------------------------------------

    def add_approval(
        self,
        subject: str,
        approver: str,
        expires_at: str,
        *,
        params: dict[str, Any],
        outcome: str,
    ) -> Approval:
        """Record an approval and its audit entry (``approval.granted``) together."""
        with self._db.transaction(durable=True) as conn:
            entry = audit.append_in(
                conn,
                "approval.granted",
                step=subject,
                params={**params, "approver": approver, "expires_at": expires_at},
                outcome=outcome,
                clock=self._clock,
            )
            cur = conn.execute(
                "INSERT INTO approvals(seq, ts, subject, approver, os_user, ssh_client, "
                "expires_at) VALUES (?,?,?,?,?,?,?)",
                (entry.seq, entry.ts, subject, approver, entry.actor, entry.ssh_client, expires_at),
            )
            approval_id = int(cur.lastrowid)
        return Approval(
            approval_id, entry.seq, entry.ts, subject, approver, entry.actor, entry.ssh_client,
            expires_at,
        )  # fmt: skip

    def approvals(self, subject: str | None = None, upto_seq: int | None = None) -> list[Approval]:
        """Approvals recorded up to an audit entry, of one subject or all, oldest first."""
        sql = (
            "SELECT id, seq, ts, subject, approver, os_user, ssh_client, expires_at "
            "FROM approvals WHERE seq <= ?"
        )
        args: tuple = (_upto(upto_seq),)
        if subject is not None:
            sql += " AND subject = ?"
            args += (subject,)
        return [Approval(*r) for r in self._rows(sql + " ORDER BY seq", args)]


def _upto(seq: int | None) -> int:
    # SQLite integers are 64-bit; this is larger than any sequence number a run reaches.
    return (1 << 62) if seq is None else seq
