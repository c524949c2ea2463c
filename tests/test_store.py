"""The run database: refuses files that are not ours, and survives a killed process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from console import runbook as steps
from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import SCHEMA_VERSION, Store, StoreError
from console.store.connection import Connection
from console.store.db import PAGE_SIZE
from tests.helpers import ROOT, demo_plan_text


def make(tmp_path):
    text = demo_plan_text()
    return Store.create(tmp_path / "run.db", text, parse_plan(text))


def test_created_database_is_wal_with_schema_version(tmp_path):
    make(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "run.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_existing_file_is_never_overwritten(tmp_path, capsys):
    make(tmp_path).close()
    assert (
        main(["plan", "import", str(ROOT / "plans/demo.toml"), "--db", str(tmp_path / "run.db")])
        == 1
    )
    assert "already exists" in capsys.readouterr().err


def test_file_that_is_not_a_database(tmp_path, capsys):
    junk = tmp_path / "notes.db"
    junk.write_text("hello, this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a Cutover run database"):
        Store.open(junk)
    assert main(["status", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cutover: ") and "Traceback" not in err


def test_someone_elses_sqlite_file(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="SQLite file but not a Cutover run database"):
        Store.open(other)


def test_other_schema_version(tmp_path):
    make(tmp_path).close()
    sqlite3.connect(tmp_path / "run.db").execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Store.open(tmp_path / "run.db")


def test_missing_file(tmp_path):
    with pytest.raises(StoreError, match="cutover plan import"):
        Store.open(tmp_path / "nope.db")


KILLED_MID_STEP = """
import os, signal, sys
from console.store import Store
store = Store.open(sys.argv[1])
store.log("gate.confirmed", step="inventory", outcome="confirmed")
store.claim_step("inventory", os.getpid(), {"pid": os.getpid()})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_reopen_after_killed_process(tmp_path):
    make(tmp_path).close()
    db = tmp_path / "run.db"
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_STEP, str(db)], cwd=ROOT)
    assert proc.returncode == -9
    store = Store.open(db)
    assert store.step("inventory").state is StepState.RUNNING
    actions = [e.action for e in store.audit_latest(10)]
    assert actions == ["plan.imported", "gate.confirmed", "step.started"]
    messages = steps.recover(store)
    assert messages and "interrupted" in messages[0]
    assert store.step("inventory").state is StepState.FAILED
    assert store.audit_verify().ok
    assert store.audit_latest(1)[0].action == "step.interrupted"
    store.close()


def test_read_only_store_refuses_changes(tmp_path):
    make(tmp_path).close()
    store = Store.open(tmp_path / "run.db", readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        store.log("x")
    assert steps.decide(store, "inventory", "inventory", via="test").opened is False


def test_each_transaction_commits_at_the_level_it_asks_for(tmp_path):
    """The connection switches ``synchronous`` only when it changes; a durable (audit)
    transaction still commits at FULL whatever ran before it, and an ordinary one at NORMAL."""
    raw = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=OFF")  # whatever the connection was left at
    raw.execute("CREATE TABLE t (x)")
    db = Connection(raw, tmp_path / "x.db", readonly=False, clock=lambda: "now")
    asked = [True, False, False, True, True, False, True]
    levels = []
    for durable in asked:
        with db.transaction(durable=durable) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            levels.append(conn.execute("PRAGMA synchronous").fetchone()[0])
    assert levels == [2 if durable else 1 for durable in asked]


def _bare_connection(tmp_path):
    """A :class:`Connection` to a WAL file with one table ``t``, its raw connection, and
    a second connection to look from."""
    path = tmp_path / "x.db"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (x)")
    return Connection(raw, path, readonly=False, clock=lambda: "now"), raw, sqlite3.connect(path)


def test_writes_made_together_commit_as_one_durably_or_not_at_all(tmp_path):
    """``together``: the transactions inside commit once, at FULL, when the block ends
    (another connection sees none of them before); an error inside undoes all of them."""
    db, raw, other = _bare_connection(tmp_path)
    with db.together():
        with db.transaction(durable=False) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        with db.transaction(durable=True) as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        assert raw.in_transaction
        assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert not raw.in_transaction
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    with pytest.raises(RuntimeError, match="half-way"), db.together():
        with db.transaction(durable=True) as conn:
            conn.execute("INSERT INTO t VALUES (3)")
        raise RuntimeError("half-way")
    assert not raw.in_transaction
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    with db.transaction(durable=False) as conn:  # on its own again afterwards
        conn.execute("INSERT INTO t VALUES (4)")
    assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 3


def test_a_single_audit_append_makes_the_disk_flush_two_or_three_pages(tmp_path):
    """A durable append (the entry's leaf, the head pointer, and every few entries a new
    leaf's parent) adds two or three page frames to the WAL and nothing more: the bytes
    every gate decision waits for the disk to sync. A new run database uses
    :data:`PAGE_SIZE` pages."""
    store = make(tmp_path)
    assert store.pragmas()["page_size"] == str(PAGE_SIZE)
    wal = tmp_path / "run.db-wal"
    store.log("warm", outcome="ok")  # a WAL restarted after a checkpoint starts over
    before = wal.stat().st_size
    appends = 30
    for i in range(appends):
        store.log("gate.confirmed", step="inventory", params={"n": i}, outcome="ok")
    frame = 24 + PAGE_SIZE
    written = wal.stat().st_size - before
    assert written % frame == 0
    assert 2 * appends * frame <= written <= 3 * appends * frame
    assert store.audit_verify().ok


def test_a_durable_write_joins_an_open_together_block_or_commits_alone(tmp_path):
    """``durably``: on its own it commits at FULL before returning; inside ``together`` it
    joins the block (nothing visible before the block ends); an error undoes it and the
    connection is usable afterwards."""
    db, raw, other = _bare_connection(tmp_path)

    def insert(x):
        return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (x,)).rowcount

    assert db.durably(insert(1)) == 1
    assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    with db.together():
        db.durably(insert(2))
        assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 2

    def fails(conn):
        conn.execute("INSERT INTO t VALUES (3)")
        raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        db.durably(fails)
    assert not raw.in_transaction
    db.durably(insert(4))
    assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,), (4,)]


def test_a_relative_path_reaches_background_processes_whole(tmp_path, monkeypatch):
    # Processes the console spawns run from another directory and are handed store.path:
    # a path relative to where the operator typed it would name a file that is not there.
    make(tmp_path).close()
    monkeypatch.chdir(tmp_path)
    store = Store.open("run.db", readonly=True)
    try:
        assert store.path.is_absolute()
        assert store.path == tmp_path / "run.db"
    finally:
        store.close()


def test_a_windows_results_of_one_topic_keep_their_judging_order(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    window = store.results.open_window("2026-11-25T12:00:00Z", {"ranges": {}}, own_chain=False)
    rows = [
        ("orders", 0, "count", "OK", "", {"n": 1}, []),
        ("customers", 0, "count", "RED", "missing", {"n": 2}, []),
        ("orders", 1, "count", "WARN", "", {"n": 3}, []),
    ]
    store.results.save_results(window, rows, "2026-11-25T12:00:05Z", {})
    assert store.results.results(window) == rows
    assert store.results.results(window, "orders") == [rows[0], rows[2]]
    assert store.results.results(window, "payments") == []
    store.close()
