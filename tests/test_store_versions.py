"""Run-database schema versions: new files say 3 (their audit entries store the text
their hashes cover); version 2 files keep their audit table and are read and written as
they are; a version-1 file (written by the releases
that bound rows to the chain one kind at a time, without changing the version) opens
read-only for verification and replay and says what that means, and is never adopted for
writing; an unknown version is refused. A refused file is left exactly as it was."""

from __future__ import annotations

import json
import sqlite3

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.store import SCHEMA_VERSION, Store, StoreError, audit
from tests.helpers import demo_plan_text, fixed_clock, forge_fields, use_layout


@pytest.fixture
def db(tmp_path, layout):
    """A run database with two entries, in each audit-table layout (version 1 files had
    version 2's)."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.log("gate.confirmed", step="inventory", outcome="confirmed")
    store.close()
    return path


def set_version(path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={version}")
    conn.close()


def snapshot(path) -> tuple[bytes, bytes]:
    """The file byte for byte, and what its WAL holds (a reader may leave an empty one)."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_a_new_run_database_is_schema_version_3_and_its_entries_cannot_be_edited_by_field(
    tmp_path,
):
    text = demo_plan_text()
    path = tmp_path / "run.db"
    Store.create(path, text, parse_plan(text), clock=fixed_clock()).close()
    conn = sqlite3.connect(path, isolation_level=None)
    assert SCHEMA_VERSION == 3
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    body, action = conn.execute("SELECT body, action FROM audit WHERE seq = 1").fetchone()
    assert action == "plan.imported" and json.loads(body)["action"] == "plan.imported"
    with pytest.raises(sqlite3.OperationalError, match="cannot UPDATE generated column"):
        conn.execute("UPDATE audit SET outcome = 'forged' WHERE seq = 1")


def test_a_version_2_file_keeps_its_table_and_is_written_and_verified_as_before(
    tmp_path, monkeypatch
):
    text = demo_plan_text()
    path = tmp_path / "run.db"
    use_layout(monkeypatch, "v2")
    Store.create(path, text, parse_plan(text), clock=fixed_clock()).close()
    monkeypatch.undo()  # this release, opening a file an earlier one made
    store = Store.open(path)
    store.log("gate.confirmed", step="inventory", outcome="confirmed")
    store.log_many([audit.Draft("lag.sample", params={"round": i}) for i in range(3)])
    verdict = store.audit_verify()
    store.close()
    conn = sqlite3.connect(path)
    columns = {c[1] for c in conn.execute("PRAGMA table_xinfo(audit)")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert "body" not in columns
    assert verdict.ok and verdict.count == 5
    assert conn.execute("SELECT outcome FROM audit WHERE seq = 2").fetchone()[0] == "confirmed"


def test_an_append_after_a_wrong_remembered_layout_still_lands(tmp_path, layout):
    """The layout is remembered by connection id, and an id can come back for another
    file: a wrong guess is refused by SQLite and the append looks again."""
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())
    with store.lock:
        audit._LAYOUTS[id(store.conn)] = layout == "v2"  # the other one
    store.log("gate.confirmed", step="inventory", outcome="confirmed")
    with store.lock:
        remembered = audit._LAYOUTS[id(store.conn)]
    verdict = store.audit_verify()
    entries = store.audit_since(0)
    store.close()
    assert remembered == (layout == "v3")  # looked again, and remembers the right one now
    assert verdict.ok and verdict.count == 2
    assert entries[-1].action == "gate.confirmed" and entries[-1].outcome == "confirmed"


def test_a_version_1_file_is_never_opened_for_writing_and_is_left_as_it_was(db, capsys):
    set_version(db, 1)
    before = snapshot(db)
    with pytest.raises(StoreError) as refused:
        Store.open(db)
    text = str(refused.value)
    assert "written by an older cutover (run-database schema version 1)" in text
    assert "cannot be told apart from one added outside cutover" in text
    assert "never adopted for writing" in refused.value.hint
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 1
    out = said(capsys)
    assert out.startswith("cutover: ") and "Traceback" not in out
    assert "schema version 1" in out and "cutover audit verify" in out
    assert snapshot(db) == before


def test_a_version_1_file_opens_read_only_and_says_what_that_means(db, capsys):
    set_version(db, 1)
    store = Store.open(db, readonly=True)
    try:
        assert store.schema_version == 1
        assert any("schema version 1" in n and "read-only" in n for n in store.notes)
        verdict = store.audit_verify()
    finally:
        store.close()
    assert verdict.ok and verdict.count == 2 and verdict.note is None
    assert main(["audit", "verify", str(db)]) == 0
    out = said(capsys)
    assert "OK: 2 audit entries" in out and "note:" in out and "schema version 1" in out
    assert main(["status", str(db)]) == 0
    assert "schema version 1" in said(capsys)


def add_unbound_evidence(path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO evidence (step, kind, created_at, body) VALUES "
        "('inventory', 'inventory', '2026-11-25T12:00:09.000Z', ?)",
        (json.dumps({"ok": True}),),
    )
    conn.close()


def test_a_row_no_entry_binds_is_tamper_in_version_2(db):
    add_unbound_evidence(db)
    store = Store.open(db, readonly=True)
    verdict = store.audit_verify()
    store.close()
    assert not verdict.ok
    assert verdict.problem == (
        "evidence 1 (inventory of inventory) was added outside cutover: no entry records it"
    )


def test_in_version_1_a_row_no_entry_binds_is_named_as_unverifiable_not_as_tamper(db, capsys):
    add_unbound_evidence(db)
    set_version(db, 1)
    store = Store.open(db, readonly=True)
    verdict = store.audit_verify()
    store.close()
    assert verdict.ok
    assert "no entry binds evidence 1 (inventory of inventory)" in verdict.note
    assert "nothing tells which" in verdict.note
    assert main(["audit", "verify", str(db)]) == 0
    assert "no entry binds evidence 1" in said(capsys)


def test_in_version_1_a_bound_row_changed_later_is_still_tamper(db):
    """What an entry recorded is checked whatever the version; only rows no entry binds
    are ambiguous in an older file. An unbound row found first does not hide it."""
    add_unbound_evidence(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE steps SET state = 'passed' WHERE id = 'inventory'")
    conn.close()
    set_version(db, 1)
    store = Store.open(db, readonly=True)
    verdict = store.audit_verify()
    store.close()
    assert not verdict.ok
    assert "step 'inventory' was changed outside cutover: it reads PASSED" in verdict.problem


def rechain_without_plan_binding(path) -> None:
    """What a forger who rewrites the whole log would make: entry 1 without its bindings,
    every entry re-hashed, the head pointer moved (the chain itself verifies)."""
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    prev = audit.GENESIS
    conn.execute("BEGIN")
    for row in rows:
        entry = audit._row_to_entry(row)
        params = entry.params
        if entry.seq == 1:
            params = {k: v for k, v in params.items() if k in ("plan", "topics")}
        canonical = audit._canonical(
            entry.ts, entry.actor, entry.ssh_client, entry.action, entry.step, params,
            entry.outcome, entry.ref,
        )  # fmt: skip
        digest = audit.entry_hash(prev, canonical)
        forge_fields(
            conn, entry.seq, params=audit._canonical_json(params), prev_hash=prev, hash=digest
        )
        prev = digest
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{len(rows)}:{prev}",))
    conn.execute("COMMIT")
    conn.close()


def test_a_version_2_file_whose_plan_import_binds_nothing_is_broken(db):
    rechain_without_plan_binding(db)
    store = Store.open(db, readonly=True)
    verdict = store.audit_verify()
    store.close()
    assert not verdict.ok and verdict.seq == 1
    assert "entry 1 (the plan import) binds nothing" in verdict.problem


def test_a_version_1_file_made_before_bindings_verifies_its_entries_and_says_no_more(db):
    rechain_without_plan_binding(db)
    set_version(db, 1)
    store = Store.open(db, readonly=True)
    verdict = store.audit_verify()
    store.close()
    assert verdict.ok and verdict.count == 2
    assert "bindings cannot be checked for this file" in verdict.note


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 99])
def test_a_newer_version_is_refused_read_only_or_not_and_left_as_it_was(db, version, capsys):
    set_version(db, version)
    before = snapshot(db)
    for readonly in (False, True):
        with pytest.raises(StoreError) as refused:
            Store.open(db, readonly=readonly)
        assert f"schema version {version}, newer than this cutover knows" in str(refused.value)
        assert "written by a newer release" in str(refused.value)
    assert main(["status", str(db)]) == 1
    out = said(capsys)
    assert out.startswith("cutover: ") and "Traceback" not in out
    assert snapshot(db) == before


def test_a_version_no_release_writes_is_refused(db):
    set_version(db, 0)
    with pytest.raises(StoreError, match="schema version 0, which no cutover release writes"):
        Store.open(db, readonly=True)
