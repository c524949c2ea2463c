"""Fault drill: a run database on read-only media (a reviewer's copy).

``status``, ``audit verify`` and replay work on a read-only mount, an immutable file and
a WAL database whose ``-shm`` file is missing (with and without changes still in its
``-wal``), and show everything that was recorded; a command that would write says the
file is read-only. As root the media are real (a read-only bind mount, ``chattr +i``);
otherwise the same faults come from permissions, which bind a non-root user the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.store import Store
from console.tui.app import CutoverApp
from tests.helpers import demo_plan_text, fixed_clock, screen_text

ROOT_USER = os.geteuid() == 0


def make(directory: Path, entries: int = 5) -> Path:
    directory.mkdir(exist_ok=True)
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    path = directory / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for i in range(entries - 1):
        store.log("test.note", params={"i": i})
    store.close()
    return path


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """``directory`` as read-only media: a read-only bind mount of it (root), or the
    directory and its files without write permission."""
    if ROOT_USER:
        view = directory.with_name(directory.name + "-ro")
        view.mkdir()
        subprocess.run(["mount", "--bind", str(directory), str(view)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
            yield view
        finally:
            if subprocess.run(["umount", str(view)]).returncode:
                subprocess.run(["umount", "-l", str(view)], check=True)
            view.rmdir()
    else:
        modes = {p: p.stat().st_mode for p in [directory, *directory.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield directory
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    if ROOT_USER:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield path
        finally:
            path.chmod(mode)


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def reads_and_refuses_writes(db: Path, capsys, entries: int) -> None:
    """What a reviewer runs works; what would write says read-only."""
    assert main(["audit", "verify", str(db)]) == 0, said(capsys)
    assert f"OK: {entries} audit entries, chain intact" in said(capsys)
    assert main(["status", str(db)]) == 0
    text = said(capsys)
    assert f"audit: OK ({entries} entries)" in text and "PENDING" in text
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 1
    text = said(capsys)
    assert f"cutover: {db} is read-only (" in text
    assert "'cutover run --replay' work on it" in text and "internal error" not in text
    assert "unable to open database file" not in text


def test_a_read_only_mount(tmp_path, capsys):
    make(tmp_path / "runs", entries=5)
    with read_only(tmp_path / "runs") as view:
        db = view / "run.db"
        assert not (view / "run.db-shm").exists()
        reads_and_refuses_writes(db, capsys, 5)
        assert sorted(p.name for p in view.iterdir()) == ["run.db"]  # nothing written


def test_a_wal_database_without_its_shm_and_with_changes_in_its_wal(tmp_path, capsys):
    """Copied while open: the newest entries are only in the -wal file, and no -shm came
    along. An immutable open would miss them; a private copy of both shows them all."""
    source = make(tmp_path / "live", entries=3)
    writer = Store.open(source)
    writer.conn.execute("PRAGMA wal_autocheckpoint=0")
    for i in range(4):
        writer.log("test.late", params={"i": i})
    (tmp_path / "copy").mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{source}{suffix}", tmp_path / "copy" / f"run.db{suffix}")
    writer.close()
    assert (tmp_path / "copy" / "run.db-wal").stat().st_size > 0
    with read_only(tmp_path / "copy") as view:
        reads_and_refuses_writes(view / "run.db", capsys, 7)
        assert main(["status", str(view / "run.db")]) == 0
        assert "a private copy of both was opened" in said(capsys)


def test_a_wal_database_with_its_wal_and_shm_on_read_only_media(tmp_path, capsys):
    source = make(tmp_path / "live", entries=3)
    writer = Store.open(source)
    writer.conn.execute("PRAGMA wal_autocheckpoint=0")
    writer.log("test.late")
    (tmp_path / "copy").mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{source}{suffix}", tmp_path / "copy" / f"run.db{suffix}")
    writer.close()
    with read_only(tmp_path / "copy") as view:
        reads_and_refuses_writes(view / "run.db", capsys, 4)


def test_an_immutable_file(tmp_path, capsys):
    db = make(tmp_path / "runs", entries=4)
    with immutable(db):
        reads_and_refuses_writes(db, capsys, 4)


async def test_replay_opens_on_read_only_media(tmp_path):
    make(tmp_path / "runs", entries=4)
    with read_only(tmp_path / "runs") as view:
        store = Store.open(view / "run.db", readonly=True)
        app = CutoverApp(store, blink=False, poll=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = screen_text(app)
            assert "REPLAY" in text and "Read both clusters" in text
            assert "4 entries · chain OK, verified" in text
        store.close()


def test_sqlite_itself_could_not_open_it_before(tmp_path):
    """The fault is real: SQLite's plain read-only open fails on this media."""
    make(tmp_path / "runs")
    with read_only(tmp_path / "runs") as view:
        conn = sqlite3.connect(f"{(view / 'run.db').as_uri()}?mode=ro", uri=True)
        with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
            conn.execute("SELECT COUNT(*) FROM audit").fetchone()
        conn.close()
