"""Governance evidence recorded together with the audit entry that says who changed it.

A decision on a governance item (accept, apply, skip) is a change to the run database
only, but a reviewer must be able to trust who made it: the new ``governance`` evidence
(the diff with the decision folded in) and the ``governance.decided`` audit entry are
written in ONE durable transaction, and the entry carries the SHA-256 of the evidence
body, so the evidence cannot be edited afterwards without the chain telling.
"""

from __future__ import annotations

import hashlib
from typing import Any

from console import redact
from console.store import audit, bindings
from console.store.connection import Connection, dumps


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of an evidence body as the store keeps it (masked, keys sorted)."""
    return hashlib.sha256(dumps(redact.value(body)).encode()).hexdigest()


class GovernanceTable:
    """Writes governance evidence bound to its audit entry."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def actor(self) -> tuple[str, str | None]:
        """Who this process runs as (OS user, SSH client): what a decision records."""
        return audit.current_actor()

    def record(
        self,
        step: str,
        kind: str,
        body: dict[str, Any],
        *,
        action: str,
        params: dict[str, Any],
        outcome: str,
    ) -> tuple[int, audit.Entry]:
        """Store the evidence and append its audit entry, together or not at all."""
        text = dumps(redact.value(body))
        with self._db.transaction(durable=True) as conn:
            cur = conn.execute(
                "INSERT INTO evidence(step, kind, created_at, body) VALUES (?,?,?,?)",
                (step, kind, self._db.clock(), text),
            )
            evidence_id = int(cur.lastrowid)
            entry = audit.append_in(
                conn,
                action,
                step=step,
                params={
                    **params,
                    "evidence": evidence_id,
                    "evidence_sha256": hashlib.sha256(text.encode()).hexdigest(),
                },
                outcome=outcome,
                binds=bindings.evidence_binds(conn, evidence_id),
                clock=self._db.clock,
            )
        return evidence_id, entry
