"""Fault drill: the disk holding the run database fills up.

The operator is told "disk full" with the file named (never "internal error (cannot
rollback - no transaction is active)"), nothing half-written is left behind, the chain
verifies, and once space is freed the same commands work. As root the disk is a real
2 MiB tmpfs filled by another file; otherwise SQLite's ``max_page_count`` caps the file
(the same SQLITE_FULL reaches the store).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import runbook
from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store, StoreError
from tests.helpers import demo_plan_text, fixed_clock

ROOT_USER = os.geteuid() == 0


class Disk:
    """A small disk that can be filled and emptied again: a real tmpfs, or SQLite's page
    cap on every connection opened meanwhile (and on ``open_store``, already open)."""

    def __init__(self, directory: Path, monkeypatch, *, tmpfs: bool) -> None:
        self.directory = directory
        self.filler = directory / "filler"
        self.tmpfs = tmpfs
        self._monkeypatch = monkeypatch

    def fill(self, open_store: Store | None = None) -> None:
        if self.tmpfs:
            # Unbuffered: a buffered file would retry its unwritten tail on close and
            # raise ENOSPC there, outside the handler.
            with open(self.filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            return
        # Use up the room left in the log's last page with real (filler) entries, allowing
        # no new page: the next entry needs a page and gets SQLITE_FULL, as on a full disk.
        store = open_store or Store.open(self.directory / "run.db")
        _cap(store.conn)
        for size in (2000, 400, 80, 10, 0):
            with contextlib.suppress(StoreError):
                while True:
                    store.log("drill.filler", params={"pad": "x" * size})
        if open_store is None:
            store.close()
        original = Store._use_wal

        def capped(conn: sqlite3.Connection, given: Path) -> None:
            original(conn, given)
            _cap(conn)

        self._monkeypatch.setattr(Store, "_use_wal", staticmethod(capped))

    def free(self, open_store: Store | None = None) -> None:
        if self.tmpfs:
            self.filler.unlink()
            return
        self._monkeypatch.undo()
        if open_store is not None:
            open_store.conn.execute("PRAGMA max_page_count=1073741823")


def _cap(conn: sqlite3.Connection) -> None:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")


@pytest.fixture(params=["tmpfs", "page-cap"])
def disk(request, tmp_path, monkeypatch) -> Iterator[Disk]:
    """Both ways when root can mount a tmpfs; the page cap alone otherwise."""
    directory = tmp_path / "disk"
    directory.mkdir()
    tmpfs = request.param == "tmpfs" and ROOT_USER
    if tmpfs:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)], check=True
        )
    try:
        yield Disk(directory, monkeypatch, tmpfs=tmpfs)
    finally:
        if tmpfs:
            with contextlib.suppress(Exception):
                subprocess.run(["umount", "-l", str(directory)], check=True)


def make(disk: Disk) -> Path:
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    path = disk.directory / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for i in range(3):
        store.log("test.note", params={"i": i})
    store.close()
    return path


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def entries(path: Path) -> int:
    store = Store.open(path, readonly=True)
    try:
        verdict = store.audit_verify()
        assert verdict.ok, verdict.problem
        return verdict.count
    finally:
        store.close()


def test_a_gate_decision_on_a_full_disk_says_disk_full_and_loses_nothing(disk, capsys):
    db = make(disk)
    disk.fill()
    before = entries(db)
    assert main(["step", str(db), "inventory", "--confirm", "inventroy"]) == 1
    text = said(capsys)
    assert f"cutover: disk full: cannot write {db}" in text
    assert "nothing of this action was recorded and the run database is intact" in text
    assert "free space on its file system" in text
    assert "internal error" not in text and "rollback" not in text.lower()
    assert main(["status", str(db)]) == 0  # reading still works on a full disk
    assert f"audit: OK ({before} entries)" in said(capsys)
    assert main(["audit", "verify", str(db)]) == 0
    assert f"OK: {before} audit entries" in said(capsys)
    disk.free()
    assert entries(db) == before
    assert main(["step", str(db), "inventory", "--confirm", "inventroy"]) == 2
    assert "the confirmation did not match" in said(capsys)
    assert entries(db) == before + 1


def test_a_step_claimed_on_a_full_disk_never_half_starts(disk):
    """The gate's decision went in; then the disk filled: the claim (state and its entry in
    one transaction) fails as a whole, the step stays PENDING, and it runs once freed."""
    db = make(disk)
    store = Store.open(db)  # the console is open while the disk fills
    assert runbook.decide(store, "inventory", "inventory", via="test").opened
    disk.fill(store)
    before = store.audit_verify().count
    with pytest.raises(StoreError, match=f"^disk full: cannot write {db}"):
        store.claim_step("inventory", os.getpid(), {"pid": os.getpid()})
    assert store.step("inventory").state is StepState.PENDING
    assert store.audit_verify().ok and store.audit_verify().count == before
    disk.free(store)
    started = store.claim_step("inventory", os.getpid(), {"pid": os.getpid()})
    assert started.seq == before + 1
    assert store.step("inventory").state is StepState.RUNNING
    assert store.audit_verify().ok
    store.close()


def test_evidence_on_a_full_disk_is_all_or_nothing(disk):
    db = make(disk)
    store = Store.open(db)
    disk.fill(store)
    before = store.audit_verify().count
    with pytest.raises(StoreError, match="disk full"):
        store.add_evidence("inventory", "inventory", {"pad": "x" * 200_000})
    assert store.latest_evidence("inventory", "inventory") is None
    verdict = store.audit_verify()
    store.close()
    assert verdict.ok and verdict.count == before
