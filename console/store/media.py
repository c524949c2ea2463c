"""Where a run database lives, and how that decides how it can be opened.

* **Network file systems** (NFS, SMB, sshfs, ...) are refused: SQLite's WAL mode keeps
  its index in shared memory that only processes on one machine can share, so two
  hosts writing one file would corrupt it, and locking there is unreliable anyway.
* **Read-only media** (a read-only mount, a directory we may not write, an immutable
  file) still opens read-only, for a reviewer's copy: ``status``, ``audit verify`` and
  ``run --replay`` work. A WAL database needs its ``-shm`` file to be read; when that
  file is missing and cannot be created there, the database is opened with SQLite's
  ``immutable`` flag (safe: nothing can change read-only media underneath us). If a
  ``-wal`` file with content sits beside it, ``immutable`` would ignore that content,
  so the database and its WAL are copied to a private temporary directory and the
  copy is opened instead, and the operator is told.
* A write attempt on read-only media says the file is read-only (before anything is
  tried), never "unable to open database file".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from console.store.connection import StoreError, explain

_READONLY, _IOERR, _CANTOPEN, _FULL = 8, 10, 14, 13

NETWORK_FILE_SYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.s3fs",
        "fuse.rclone",
        "fuse.gcsfuse",
        "fuse.davfs",
    }
)
"""File system types (as /proc/self/mountinfo names them) where WAL cannot work."""

MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and i + 3 < len(field):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts(text: str | None = None) -> list[tuple[str, str, bool]]:
    """``(mount point, file system type, read-only)`` of every mount, from mountinfo."""
    if text is None:
        try:
            text = MOUNTINFO.read_text()
        except OSError:
            return []
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 6 or not rest:
            continue
        options = fields[5].split(",")
        found.append((_unescape(fields[4]), rest[0], "ro" in options))
    return found


def mount_of(path: Path, table: list[tuple[str, str, bool]] | None = None):
    """The mount ``(point, type, read-only)`` a path is on (the longest matching point)."""
    real = os.path.realpath(path)
    best = None
    for point, fstype, ro in mounts() if table is None else table:
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype, ro)
    return best


def refuse_network(path: Path, given: Path) -> None:
    """Refuse a run database on a network file system, saying so."""
    mount = mount_of(path)
    if mount is not None and mount[1] in NETWORK_FILE_SYSTEMS:
        raise StoreError(
            f"{given} is on a network file system ({mount[1]} at {mount[0]}), where SQLite's "
            "WAL mode does not work (its shared-memory index cannot be shared between hosts)",
            "copy the run database to a local disk and open it there",
        )


def read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def why_read_only(path: Path) -> str | None:
    """Why a run database cannot be written here, or None when it can."""
    if read_only_mount(path):
        return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        return "the file may not be written (its permissions or its immutable attribute)"
    directory = path.parent
    beside = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not os.access(directory, os.W_OK) and not all(
        p.exists() and os.access(p, os.W_OK) for p in beside
    ):
        return f"its directory {directory} may not be written, and SQLite needs to write beside it"
    return None


@dataclass
class ReadCopy:
    """A private copy of a database and its WAL, opened instead of the original."""

    directory: Path
    note: str

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def connect_readonly(path: Path, given: Path) -> tuple[sqlite3.Connection, str, ReadCopy | None]:
    """A read-only connection that works on read-only media; returns the connection, the
    URI a second reader should open, and the private copy if one was made."""
    uri = f"{path.as_uri()}?mode=ro"
    try:
        return _probe(uri), uri, None
    except sqlite3.Error as exc:
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        shm = path.with_name(path.name + "-shm")
        # Only a missing -shm that cannot be made here (read-only media, a directory we
        # may not write, a full disk) is worked around; anything else is what it says.
        # (SQLite leaves a stub -shm behind when it could create but not size it; a real
        # one is sized in 32 KiB regions.)
        usable_shm = shm.exists() and shm.stat().st_size >= 32 * 1024
        if usable_shm or code not in (_READONLY, _IOERR, _CANTOPEN, _FULL):
            raise explain(exc, given) or StoreError(
                f"{given} is not a Cutover run database ({exc}); "
                "check the path, or import a plan with 'cutover plan import'"
            ) from None
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        directory = Path(tempfile.mkdtemp(prefix="cutover-readonly-"))
        copy = directory / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        note = (
            f"{given} is on read-only media with changes still in its -wal file; a private "
            "copy of both was opened, so what is shown is complete"
        )
        read = ReadCopy(directory, note)
        uri = f"{copy.as_uri()}?mode=ro"
        try:
            return _probe(uri), uri, read
        except sqlite3.Error as exc:
            read.remove()
            raise explain(exc, given, writing=False) or StoreError(
                f"{given} cannot be read ({exc})"
            ) from None
    uri = f"{path.as_uri()}?immutable=1"
    try:
        return _probe(uri), uri, None
    except sqlite3.Error as exc:
        raise explain(exc, given, writing=False) or StoreError(
            f"{given} is not a Cutover run database ({exc}); check the path"
        ) from None


def _probe(uri: str) -> sqlite3.Connection:
    """Connect and read the header: SQLite opens files lazily, so an unreadable WAL index
    shows only at the first read."""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn
