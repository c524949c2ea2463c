"""The audit chain at scale: durable appends against the disk's own fsync rate, grouped
appends, and verifying 100,000 and 1,000,000 entries (seconds and peak memory).

No Kafka. Everything runs on one file system (``--dir``, a temporary directory by
default, removed afterwards):

- ``fsync_per_s``: the baseline, a raw loop appending one record to a file and calling
  ``fsync`` after each: what a durable append must do at least. The record is as long
  as a bench entry as stored (its canonical JSON and its two hashes, about 280 bytes),
  on the same file system; a single durable append can be no faster. (SQLite itself
  writes whole 4 KiB pages to its WAL and calls ``fdatasync``: more bytes, a lighter
  sync; measured here they cost the same, see bench/README.md.)
- ``appends_per_s``: ``Store.log`` (one entry, its own ``synchronous=FULL`` commit).
  Raw fsyncs and appends alternate in runs of 50 so both see the same disk; both
  figures are medians of the rounds, and ``appends/fsync`` is the median of each
  round's own ratio (the disk's speed drifts between rounds: a ratio of two medians
  taken from different rounds would compare different disks).
- bare SQLite (printed, not a target): the same five statements an append runs, with
  the entry's text made beforehand, on a run database of its own, interleaved with the
  others: what SQLite alone costs through Python's ``sqlite3`` on this disk, the ceiling
  for ``appends/fsync``; an append's own work is the gap between the two.
- ``grouped_appends_per_s``: ``Store.log_many`` in commits of ``--group`` entries, a
  share in each round too (median); the drafts are made before the clock starts.
- ``verify_*``: ``Store.audit_verify()`` (the whole chain, as ``cutover audit verify``)
  of a run database of that many entries, each in a fresh child process: seconds inside
  the child, peak memory the child's max RSS as the kernel reports it on exit
  (interpreter and imports included; the idle figure is that baseline alone).

The run databases are built with grouped appends (real entries, real hashes).

    python bench/audit.py [--sizes 100000,1000000] [--appends 1000] [--rounds 5]
                          [--group 1000] [--repeat 3] [--dir DIR]
                          [--also-page-size 1024] [--also-v2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.plan import parse_plan  # noqa: E402
from console.store import Store, audit  # noqa: E402
from console.store import db as store_db  # noqa: E402

PLAN = ROOT / "plans" / "demo.toml"
BUILD_GROUP = 10_000
TARGETS = {
    "verify_1m_s": 5.0,
    "verify_1m_peak_mb": 100.0,
    "appends/fsync": 0.7,
    "grouped_appends_per_s": 20_000,
}


def create(path: Path, page_size: int | None = None, *, version_2: bool = False) -> Store:
    """A run database as ``cutover plan import`` makes it; for comparing, ``page_size``
    makes it with another SQLite page size than the release's (``--also-page-size``) and
    ``version_2`` with the audit table of schema version 2, a column per field, as
    earlier releases made it (``--also-v2``)."""
    text = PLAN.read_text()
    release = store_db.PAGE_SIZE, audit.SCHEMA, store_db.SCHEMA_VERSION
    if page_size is not None:
        store_db.PAGE_SIZE = page_size
    if version_2:
        audit.SCHEMA, store_db.SCHEMA_VERSION = audit.SCHEMA_V2, store_db.PREVIOUS_VERSION
    try:
        return Store.create(path, text, parse_plan(text))
    finally:
        store_db.PAGE_SIZE, audit.SCHEMA, store_db.SCHEMA_VERSION = release


def sample(i: int) -> audit.Draft:
    """An entry shaped like the ones that come in volume: a lag sample."""
    return audit.Draft(
        "lag.sample",
        step="shadow-lag",
        params={
            "round": i // 12,
            "topic": "orders",
            "partition": i % 12,
            "lag_records": (i * 7919) % 5003,
            "lag_seconds": round((i % 400) * 0.05, 2),
        },
        outcome="ok",
    )


# -- appends --------------------------------------------------------------------------------


CHUNK = 50
"""Raw fsyncs and appends alternate in runs of this many, so a disk whose sync time
drifts (it is shared) is sampled alike by both."""


def entry_bytes(store: Store) -> int:
    """How many bytes one bench entry carries as stored: the size of the baseline's record."""
    entry = store.log("bench.append", step="inventory", params={"n": 0}, outcome="ok")
    return len(entry.canonical().encode()) + len(entry.hash) + len(entry.prev_hash)


@dataclass
class Timed:
    """Operations timed in one round: how many, wall seconds, CPU seconds (user + system)."""

    count: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    def rate(self) -> float:
        return self.count / self.wall

    def us(self) -> tuple[float, float]:
        """Wall and CPU microseconds per operation."""
        return self.wall / self.count * 1e6, self.cpu / self.count * 1e6


def fsync_and_append_rates(
    directory: Path, ops: list[Callable[[int], object]], count: int, size: int
) -> tuple[Timed, list[Timed]]:
    """Raw write+fsync loop and each of ``ops`` (one durable append of entry ``i``),
    ``count`` of each, interleaved; the raw loop appends records of ``size`` bytes. CPU
    time is the process's own, so the difference between the two says how much of an
    append is work and how much waiting."""
    record = b"x" * (size - 1) + b"\n"
    path = directory / "fsync.loop"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    raw, appends = Timed(), [Timed() for _ in ops]
    try:
        for first in range(0, count, CHUNK):
            n = min(CHUNK, count - first)
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                os.write(fd, record)
                os.fsync(fd)
            raw.wall += time.perf_counter() - started
            raw.cpu += time.process_time() - cpu
            raw.count += n
            for op, timed in zip(ops, appends, strict=True):
                started, cpu = time.perf_counter(), time.process_time()
                for i in range(first, first + n):
                    op(i)
                timed.wall += time.perf_counter() - started
                timed.cpu += time.process_time() - cpu
                timed.count += n
    finally:
        os.close(fd)
        path.unlink()
    return raw, appends


def logging_to(store: Store) -> Callable[[int], object]:
    """One single durable append to ``store``, as every step logs."""
    return lambda i: store.log("bench.append", step="inventory", params={"n": i}, outcome="ok")


def bare_sqlite(path: Path) -> tuple[Callable[[int], object], sqlite3.Connection]:
    """SQLite's own share of a single append, the reference for ``appends/fsync``: the
    statements an append runs (BEGIN IMMEDIATE, read the head, insert the entry, move
    the head pointer, COMMIT at ``synchronous=FULL``) on a run database of its own, with
    the entry's text made once beforehand (no JSON, no hashing, no Python around it). Its
    chain is not valid, and the file is thrown away."""
    store = create(path)
    text = logging_to(store)(0).canonical()
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA synchronous=FULL")
    head, insert = audit._HEAD_ROW, audit._INSERT
    move = audit._MOVE_HEAD

    def op(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        seq, last = conn.execute(head).fetchone()
        conn.execute(insert, (seq + 1, last, last, text))
        conn.execute(move, (f"{seq + 1}:{last}",))
        conn.execute("COMMIT")

    return op, conn


def grouped_rate(store: Store, total: int, group: int) -> float:
    """Entries/s through ``log_many``; the caller's drafts are made before the clock starts."""
    groups = [
        [sample(i) for i in range(first, min(first + group, total))]
        for first in range(0, total, group)
    ]
    started = time.perf_counter()
    for drafts in groups:
        store.log_many(drafts)
    return total / (time.perf_counter() - started)


def build(path: Path, size: int, *, version_2: bool = False) -> float:
    """A run database of ``size`` entries (the plan import is the first); seconds taken.
    ``version_2`` as for :func:`create`."""
    started = time.perf_counter()
    store = create(path, version_2=version_2)
    try:
        for first in range(1, size, BUILD_GROUP):
            store.log_many([sample(i) for i in range(first, min(first + BUILD_GROUP, size))])
    finally:
        store.close()
    return time.perf_counter() - started


# -- verifying (in child processes) ----------------------------------------------------------


def child(mode: str, db: str) -> None:
    """Runs in the child: one measurement, one JSON line on stdout."""
    if mode == "idle":
        print(json.dumps({"seconds": 0.0}))
        return
    store = Store.open(db, readonly=True)
    started, cpu = time.perf_counter(), time.process_time()
    verdict = store.audit_verify(full=(mode == "full"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "ok": verdict.ok, "count": verdict.count,
                      "checked": verdict.checked}))  # fmt: skip


def in_child(mode: str, db: Path | str) -> tuple[dict, float]:
    """Run one measurement in a fresh process; its result and its peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(db)], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench child '{mode}' failed with exit code {proc.returncode}")
    return json.loads(out), usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def measure_verify(
    db: Path, size: int, repeat: int, mode: str = "full"
) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds, worst peak RSS (MB) over ``repeat`` runs."""
    seconds, cpus, peaks = [], [], []
    for _ in range(repeat):
        result, peak = in_child(mode, db)
        if not result["ok"] or result["count"] != size:
            raise SystemExit(f"verify of {db} said {result}, expected {size} intact entries")
        seconds.append(result["seconds"])
        cpus.append(result["cpu"])
        peaks.append(peak)
    return statistics.median(seconds), statistics.median(cpus), max(peaks)


# -- report ---------------------------------------------------------------------------------


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--appends", type=int, default=1000, help="single appends per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating fsync/append rounds")
    parser.add_argument("--group", type=int, default=1000, help="entries per grouped commit")
    parser.add_argument("--grouped", type=int, default=100_000, help="grouped entries in all")
    parser.add_argument("--repeat", type=int, default=3, help="verify runs per size")
    parser.add_argument("--dir", help="where the files go (same file system for all)")
    parser.add_argument(
        "--also-page-size",
        type=int,
        help="also time single appends on a run database with this SQLite page size, "
        "interleaved with the others (e.g. 1024)",
    )
    parser.add_argument(
        "--also-v2",
        action="store_true",
        help="also verify a file of the largest size with the audit table of schema "
        "version 2 (files made before version 3), in the same run",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="cutover-bench-audit-", dir=args.dir))
    try:
        run(args, sizes, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, sizes: list[int], workdir: Path) -> None:
    print(f"directory {workdir} (fsync loop, appends and databases all here)")
    store = create(workdir / "appends.db")
    print(
        f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    pragmas = store.pragmas()
    print(f"run-database schema version {store_db.SCHEMA_VERSION} (as a new run database)")
    print("pragmas: " + " ".join(f"{k}={v}" for k, v in pragmas.items()))
    print("  each audit commit: synchronous=FULL for its own transaction (durable=True)")

    size = entry_bytes(store)
    print(f"fsync loop: {size}-byte records (one bench entry as stored), appended, fsync each")

    ops = [logging_to(store)]
    other = None
    if args.also_page_size:
        other = create(workdir / "appends-other.db", args.also_page_size)
        other.log("bench.append", step="inventory", params={"n": 0}, outcome="ok")
        ops.append(logging_to(other))
        print(f"also single appends on a database of {args.also_page_size}-byte pages")
    bare, bare_conn = bare_sqlite(workdir / "bare.db")
    ops.append(bare)
    print("also bare SQLite: an append's statements alone, nothing of ours around them")
    fsyncs, appends, others, bares, groupeds, timings = [], [], [], [], [], []
    per_round = args.grouped // args.rounds
    for r in range(args.rounds):
        raw, singles = fsync_and_append_rates(workdir, ops, args.appends, size)
        fsyncs.append(raw.rate())
        appends.append(singles[0].rate())
        bares.append(singles[-1].rate())
        timings.append((raw.us(), singles[0].us(), singles[-1].us()))
        groupeds.append(grouped_rate(store, per_round, args.group))
        also = ""
        if other:
            others.append(singles[1].rate())
            also = f"  ({args.also_page_size}-byte pages: ratio {others[-1] / fsyncs[-1]:.2f})"
        print(
            f"round {r + 1}: fsync {fsyncs[-1]:7,.0f}/s  single durable appends "
            f"{appends[-1]:7,.0f}/s  ratio {appends[-1] / fsyncs[-1]:.2f}  "
            f"(bare SQLite {bares[-1] / fsyncs[-1]:.2f})  grouped {groupeds[-1]:7,.0f}/s{also}"
        )
    bare_conn.close()
    fsync_s, append_s = statistics.median(fsyncs), statistics.median(appends)
    ratio = statistics.median(a / f for a, f in zip(appends, fsyncs, strict=True))
    bare_ratio = statistics.median(a / f for a, f in zip(bares, fsyncs, strict=True))
    grouped = statistics.median(groupeds)
    if other:
        other_ratio = statistics.median(a / f for a, f in zip(others, fsyncs, strict=True))
        print(
            f"appends/fsync with {pragmas['page_size']}-byte pages {ratio:.2f}, with "
            f"{args.also_page_size}-byte pages {other_ratio:.2f} (medians of the rounds' ratios)"
        )
        other.close()
    print(
        f"bare SQLite/fsync {bare_ratio:.2f}: the ceiling for an append made through "
        f"Python's sqlite3 on this disk; ours reaches {ratio / bare_ratio:.2f} of it"
    )
    print(f"(grouped: {per_round:,} entries per round in commits of {args.group})")
    (raw_wall, raw_cpu), (append_wall, append_cpu), (bare_wall, bare_cpu) = (
        tuple(statistics.median(t[side][k] for t in timings) for k in (0, 1)) for side in (0, 1, 2)
    )
    print(
        f"per operation, medians of the rounds: raw write+fsync {raw_wall:.0f} µs "
        f"(CPU {raw_cpu:.0f} µs); single durable append {append_wall:.0f} µs (CPU "
        f"{append_cpu:.0f} µs): the append's extra CPU {append_cpu - raw_cpu:.0f} µs, "
        f"extra waiting {append_wall - append_cpu - (raw_wall - raw_cpu):.0f} µs; "
        f"bare SQLite {bare_wall:.0f} µs (CPU {bare_cpu:.0f} µs)"
    )
    store.close()

    idle = max(in_child("idle", "-")[1] for _ in range(args.repeat))
    print(f"child process with the store imported, idle: {idle:.0f} MB peak RSS")
    figures: dict[str, float] = {}
    for size in sizes:
        db = workdir / f"chain-{size}.db"
        took = build(db, size)
        mb = db.stat().st_size / 2**20
        print(f"built {size:,} entries in {took:.1f} s ({size / took:,.0f}/s, {mb:.0f} MB)")
        seconds, cpu, peak = measure_verify(db, size, args.repeat)
        print(
            f"verify {size:>9,} entries: {seconds:6.2f} s median of {args.repeat} "
            f"(CPU {cpu:.2f} s, {seconds / size * 1e6:.1f} µs/entry), "
            f"peak RSS {peak:.0f} MB (+{peak - idle:.0f} over idle)"
        )
        figures[f"verify_{label(size)}_s"] = seconds
        figures[f"verify_{label(size)}_peak_mb"] = peak
        if size == max(sizes):
            incremental(db, size, args.repeat)
        db.unlink()
    if args.also_v2:
        size = max(sizes)
        db = workdir / f"chain-{size}-v2.db"
        build(db, size, version_2=True)
        mb = db.stat().st_size / 2**20
        seconds_v2, _, peak_v2 = measure_verify(db, size, args.repeat)
        ours = figures[f"verify_{label(size)}_s"]
        print(
            f"verify {size:>9,} entries of a schema version 2 file ({mb:.0f} MB): "
            f"{seconds_v2:6.2f} s median of {args.repeat}, peak RSS {peak_v2:.0f} MB; "
            f"version 3 took {ours / seconds_v2:.2f} of its time"
        )
        db.unlink()

    figures.update(
        {
            "appends/fsync": ratio,
            "grouped_appends_per_s": grouped,
        }
    )
    print(f"load average now {os.getloadavg()[0]:.1f}")
    print("targets:")
    for name, target in TARGETS.items():
        value = figures.get(name)
        if value is None:
            print(f"  {name}: not measured (size not in --sizes)")
            continue
        met = value <= target if name.startswith("verify") else value >= target
        sign = "<=" if name.startswith("verify") else ">="
        shown = f"{value:,.3f}" if name == "appends/fsync" else f"{value:,.2f}"
        print(f"  {'✓ MET   ' if met else '✗ MISSED'} {name}={shown} (target {sign} {target:,})")
    verify_part = " ".join(
        f"{k}={'n/a' if k not in figures else f'{figures[k]:.{digits}f}'}"
        for k, digits in (("verify_100k_s", 2), ("verify_1m_s", 2), ("verify_1m_peak_mb", 0))
    )
    print(
        f"appends_per_s={append_s:.0f} fsync_per_s={fsync_s:.0f} appends/fsync={ratio:.2f} "
        f"grouped_appends_per_s={grouped:.0f} {verify_part}"
    )


def incremental(db: Path, size: int, repeat: int) -> None:
    """What ``status`` and the console pay: 1,000 new entries after a checkpoint."""
    store = Store.open(db)
    try:
        store.save_audit_checkpoint(store.audit_verify())
        store.log_many([sample(i) for i in range(1000)])
    finally:
        store.close()
    seconds, _, _ = measure_verify(db, size + 1000, repeat, mode="incremental")
    print(f"incremental verify (checkpoint at {size:,}, 1,000 new): {seconds * 1000:.0f} ms")
    cutover = str(Path(sys.executable).with_name("cutover"))
    took = {}
    for name, argv in (("--version", [cutover, "--version"]), ("status", [cutover, "status", db])):
        started = time.perf_counter()
        subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)
        took[name] = time.perf_counter() - started
    print(
        f"'cutover status' on it, whole process: {took['status']:.2f} s "
        f"('cutover --version', start-up alone: {took['--version']:.2f} s)"
    )


if __name__ == "__main__":
    main()
