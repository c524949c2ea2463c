"""The audit chain: intact logs verify, and every kind of tampering is found and named."""

from __future__ import annotations

import json
import sqlite3

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.store import Store, audit
from tests.helpers import demo_plan_text, fixed_clock


@pytest.fixture
def db(tmp_path):
    """A run database with ten audit entries."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for i in range(2, 11):
        store.log("test.action", step="inventory", params={"n": i}, outcome="ok")
    store.close()
    return path


def raw(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def verdict(path) -> audit.Verdict:
    store = Store.open(path, readonly=True)
    try:
        return store.audit_verify()
    finally:
        store.close()


def test_intact_chain_verifies(db, capsys):
    v = verdict(db)
    assert v.ok and v.count == 10
    assert main(["audit", "verify", str(db)]) == 0
    assert "OK: 10 audit entries" in capsys.readouterr().out


def test_edited_entry_is_named(db, capsys):
    raw(db).execute("UPDATE audit SET params = ? WHERE seq = 4", (json.dumps({"n": 99}),))
    v = verdict(db)
    assert not v.ok and v.seq == 4
    assert v.problem == "entry 4 was edited: its contents no longer match its hash"
    assert main(["audit", "verify", str(db)]) == 1
    assert "entry 4 was edited" in capsys.readouterr().err


def test_edited_and_rehashed_entry_is_still_found(db):
    conn = raw(db)
    entry = audit.entries(conn, since=4, limit=1)[0]
    forged = audit.Entry(**{**entry.__dict__, "outcome": "failed"})
    new_hash = audit.entry_hash(forged.prev_hash, forged.canonical())
    conn.execute("UPDATE audit SET outcome='failed', hash=? WHERE seq=5", (new_hash,))
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert "entry 5 was rewritten" in v.problem


def test_removed_entry_is_named(db):
    raw(db).execute("DELETE FROM audit WHERE seq = 6")
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert v.problem == "entry 6 was removed"


def test_removed_and_renumbered_entry_is_found(db):
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE seq = 6")
    conn.execute("UPDATE audit SET seq = seq - 1 WHERE seq > 6")
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert "an entry was removed before entry 6" in v.problem


def test_inserted_entry_is_named(db):
    conn = raw(db)
    prev = audit.entries(conn, since=2, limit=1)[0]  # entry 3
    conn.execute("UPDATE audit SET seq = -(seq + 1) WHERE seq > 3")
    conn.execute("UPDATE audit SET seq = -seq WHERE seq < 0")
    fake = audit.Entry(
        4, prev.ts, "mallory", None, "gate.confirmed", "inventory", {}, "ok", None, prev.hash, ""
    )
    h = audit.entry_hash(prev.hash, fake.canonical())
    conn.execute(
        "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (4, fake.ts, fake.actor, None, fake.action, fake.step, "{}", "ok", None, prev.hash, h),
    )
    v = verdict(db)
    assert not v.ok and v.seq == 4
    assert v.problem.startswith("entry 4 was inserted")


def test_reordered_entries_are_named(db):
    conn = raw(db)
    conn.execute("UPDATE audit SET seq = -1 WHERE seq = 7")
    conn.execute("UPDATE audit SET seq = 7 WHERE seq = 8")
    conn.execute("UPDATE audit SET seq = 8 WHERE seq = -1")
    v = verdict(db)
    assert not v.ok and v.seq == 7
    assert "entry 7 is out of order" in v.problem


def test_truncated_tail_is_found(db):
    raw(db).execute("DELETE FROM audit WHERE seq > 8")
    v = verdict(db)
    assert not v.ok
    assert "the newest entries were removed" in v.problem


def test_secrets_are_redacted_in_params(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "r.db", text, parse_plan(text))
    from console import redact

    redact.register("s3cr3t-value-xyz")
    store.log("x", params={"sasl.password": "anything", "note": "pw is s3cr3t-value-xyz"})
    store.close()
    blob = (tmp_path / "r.db").read_bytes()
    assert b"s3cr3t-value-xyz" not in blob and b"anything" not in blob


def test_a_very_short_secret_does_not_mangle_other_text():
    from console import redact

    redact.register("q")
    assert redact.text("sequence q") == "sequence q"
    assert redact.text("q") == redact.MASK
    assert redact.value({"note": "q", "topic": "quorum"}) == {"note": "***", "topic": "quorum"}


def test_export_is_json_lines(db, tmp_path, capsys):
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", str(db), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    assert first["seq"] == 1 and first["action"] == "plan.imported"
    assert first["prev_hash"] == audit.GENESIS
    assert json.loads(lines[1])["prev_hash"] == first["hash"]
