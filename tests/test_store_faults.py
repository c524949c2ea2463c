"""A run database that is damaged, foreign or misplaced gets a message that says what is
wrong and what to do, never "internal error", and a refused open changes nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.store import Store, StoreError, media
from console.store.db import APPLICATION_ID, SCHEMA_VERSION
from tests.helpers import ROOT, demo_plan_text


def make(path):
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    Store.create(path, text, parse_plan(text)).close()
    return path


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def assert_clear(text: str) -> None:
    assert text.startswith("cutover: "), text
    assert "internal error" not in text and "Traceback" not in text, text


def test_a_file_with_our_id_but_no_tables_is_refused_and_left_as_it_was(tmp_path, capsys):
    path = tmp_path / "run.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.close()
    before = path.read_bytes()
    for argv in (["status", str(path)], ["step", str(path), "inventory", "--confirm", "x"]):
        assert main(argv) == 1
        text = said(capsys)
        assert_clear(text)
        assert "is damaged: it has no meta, plan, steps, evidence, audit tables" in text
        assert "restore it from a copy" in text
    assert path.read_bytes() == before
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / "run.db-wal").exists()


def test_a_run_database_without_its_plan_row(tmp_path, capsys):
    path = make(tmp_path / "run.db")
    sqlite3.connect(path, isolation_level=None).execute("DELETE FROM plan")
    assert main(["status", str(path)]) == 1
    text = said(capsys)
    assert_clear(text)
    assert "has no stored plan: it was damaged, or not made by 'cutover plan import'" in text


def test_a_run_database_without_its_audit_table(tmp_path, capsys):
    path = make(tmp_path / "run.db")
    sqlite3.connect(path, isolation_level=None).execute("DROP TABLE audit")
    assert main(["audit", "verify", str(path)]) == 1
    text = said(capsys)
    assert_clear(text)
    assert "is damaged: it has no audit table" in text


def test_a_corrupt_page_is_called_damaged(tmp_path, capsys):
    path = make(tmp_path / "run.db")
    store = Store.open(path)
    for i in range(400):
        store.log("test.fill", params={"i": i, "pad": "x" * 200})
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit'").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:  # scribble over the audit table's root page
        f.seek((root - 1) * page)
        f.write(b"\xff\x00garbage" * (page // 9))
    assert main(["audit", "verify", str(path)]) == 1
    text = said(capsys)
    assert_clear(text)
    assert "is damaged (database disk image is malformed)" in text
    assert "restore it from a copy" in text


def test_a_network_file_system_is_refused_saying_so(tmp_path, capsys, monkeypatch):
    path = make(tmp_path / "run.db")
    table = [("/", "ext4", False), (str(tmp_path), "nfs4", False)]
    monkeypatch.setattr(media, "mounts", lambda text=None: table)
    for argv in (["status", str(path)], ["audit", "verify", str(path)]):
        assert main(argv) == 1
        text = said(capsys)
        assert_clear(text)
        assert f"is on a network file system (nfs4 at {tmp_path})" in text
        assert "WAL" in text and "copy the run database to a local disk" in text
    with pytest.raises(StoreError, match="network file system"):
        make(tmp_path / "new.db")


def test_mountinfo_is_read_with_escaped_mount_points():
    text = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:40 / /mnt/my\\040share rw,relatime shared:2 - nfs4 srv:/x rw,vers=4.2\n"
        "41 22 0:41 / /media/cd ro,relatime - iso9660 /dev/sr0 ro\n"
    )
    table = media.mounts(text)
    assert table == [("/", "ext4", False), ("/mnt/my share", "nfs4", False),
                     ("/media/cd", "iso9660", True)]  # fmt: skip
    assert media.mount_of("/mnt/my share/runs/run.db", table)[1] == "nfs4"
    assert media.mount_of("/mnt/my sharex/run.db", table)[1] == "ext4"


KILLED_RUNNER = """
import os, signal, sys
from console.store import Store
store = Store.open(sys.argv[1])
store.claim_step("inventory", os.getpid(), {"pid": os.getpid()})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_read_only_readers_show_a_dead_runner_as_interrupted(tmp_path, capsys):
    path = make(tmp_path / "run.db")
    proc = subprocess.run([sys.executable, "-c", KILLED_RUNNER, str(path)], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    assert main(["status", str(path)]) == 0
    text = said(capsys)
    line = next(line for line in text.splitlines() if line.strip().endswith(("inventory",)) or
                " inventory " in line)  # fmt: skip
    assert "INTERRUPTED" in line and "is gone; run the step again" in line
    assert main(["status", str(path), "--json"]) == 0
    import json

    steps = {s["key"]: s for s in json.loads(said(capsys))["steps"]}
    assert steps["inventory"]["state"] == "interrupted"
    # Nothing was written by reading: the row still says running until a writable open.
    store = Store.open(path, readonly=True)
    assert store.step("inventory").state.value == "running"
    store.close()


def test_a_disk_error_in_a_transaction_is_reported_not_the_failed_rollback(tmp_path):
    """SQLite rolls a transaction back by itself on a full disk; the helper's own
    ROLLBACK then failed with 'no transaction is active' and hid the real error."""
    path = make(tmp_path / "run.db")
    store = Store.open(path)
    store.conn.execute("PRAGMA max_page_count=1")  # nothing more fits
    before = store.audit_verify()
    with pytest.raises(StoreError) as caught:
        store.log("test.big", params={"pad": "x" * 100_000})
    message = str(caught.value)
    assert message.startswith(f"disk full: cannot write {path}")
    assert "rollback" not in message.lower()
    after = store.audit_verify()
    store.close()
    assert after.ok and after.count == before.count


def test_relative_paths_work_for_commands_that_need_no_cluster(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.toml").write_text(demo_plan_text("127.0.0.1:1", "127.0.0.1:2"))
    assert main(["plan", "validate", "plan.toml"]) == 0
    assert main(["plan", "import", "plan.toml", "--db", "run.db"]) == 0
    assert main(["status", "run.db"]) == 0
    assert main(["audit", "verify", "run.db"]) == 0
    assert main(["audit", "export", "run.db", "-o", "audit.jsonl"]) == 0
    assert main(["lag", "run.db"]) in (0, 3)
    assert main(["mm2", "config", "run.db"]) in (0, 2)
    said(capsys)
    # Commands that read what samplers and steps recorded: nothing yet, said so plainly.
    assert main(["governance", "run.db"]) == 3
    assert "No governance diff yet" in said(capsys)
    assert main(["traffic", "run.db"]) == 3
    assert "Network and cost scope" in said(capsys)
    assert main(["offsets", "run.db"]) == 3
    assert "No offsets sampled yet" in said(capsys)
    store = Store.open("run.db")
    assert store.path == tmp_path / "run.db" and store.path.is_absolute()
    store.close()
    os.chdir(ROOT)
    store = Store.open(tmp_path / "run.db", readonly=True)
    assert store.audit_verify().ok
    store.close()
