"""The offsets sampler: a process that records, round after round, where every plan group
stands on both sides and where it would start on the target if it moved now.

It runs as ``cutover offsets-sampler RUN.db`` (started with the shadow copy, stopped
with it), so the offsets pane keeps filling while nobody watches and a replay shows the
same figures. Per group and round it stores both sides (state, members, committed
offsets) and every partition's position (:mod:`console.cutover.positions`), only when
something changed since that group's last stored sample.

Translations already proven exact are kept while the group's committed offset stays
where it was (a copied record's copy does not move), so a group at rest costs two admin
requests a round, not a read of its records.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from console import processes, redact
from console.cutover import positions
from console.cutover.clients import Sides
from console.cutover.groups import partitions_of, read_group
from console.cutover.model import Position
from console.plan import credentials
from console.store import Store

PROCESS = "offsets"
TIMEOUT_S = 20.0


def sample_group(store: Store, plan, group, sides: Sides, cache: dict) -> dict[str, Any]:
    """One group's figures for the pane; ``cache`` keeps exact positions between rounds."""
    deadline = time.monotonic() + TIMEOUT_S
    source = read_group(sides.source, group.id, group.topics, deadline)
    target = read_group(sides.target, group.id, group.topics, deadline)
    layout = partitions_of(sides.source, group.topics, deadline)
    parts = [(t, p) for t in group.topics for p in layout.get(t, [])]
    ends = sides.source.ends(parts, deadline) if parts else {}
    committed = dict(source.committed)
    kept: dict[tuple[str, int], Position] = {}
    if group.offset_strategy == "translate":
        for tp in parts:
            old = cache.get((group.id, tp))
            if old is not None and old.exact and old.source_committed == committed.get(tp):
                kept[tp] = replace(old, source_end=ends.get(tp))
    todo = [tp for tp in parts if tp not in kept]
    ctx = positions.Context(store, plan, group, sides, deadline, committed, todo, ends)
    found = positions.positions(ctx) if todo else []
    merged = {(p.topic, p.partition): p for p in found}
    merged.update(kept)
    ordered = [merged[tp] for tp in parts if tp in merged]
    for p in ordered:
        if p.exact and p.source_committed is not None:
            cache[(group.id, (p.topic, p.partition))] = p
    moved = store.cutover.latest_plan(group.id, live_only=True)
    return {
        "source": source.to_dict(),
        "target": target.to_dict(),
        "positions": [p.to_dict() for p in ordered],
        "notes": ctx.notes,
        "moved": moved.state if moved is not None else None,
        "moved_plan": moved.id if moved is not None else None,
    }


def sample_round(store: Store, plan, sides: Sides, cache: dict) -> dict[str, dict[str, Any]]:
    """Every plan group once; a group that cannot be read records why."""
    out = {}
    for group in plan.groups:
        try:
            out[group.id] = sample_group(store, plan, group, sides, cache)
        except Exception as exc:  # noqa: BLE001 - one group's trouble must not stop the rest
            out[group.id] = {"error": redact.text(f"{type(exc).__name__}: {exc}")}
    return out


def run_sampler(db_path: Path, stop: threading.Event, *, interval_s: float | None = None) -> int:
    """The process body: a round every ``interval_s`` (the plan's sample interval) until
    stopped; each round re-armed only after the previous one finished."""
    store = Store.open(db_path)
    plan = store.plan
    interval_s = interval_s or max(2.0, plan.shadow.sample_interval_s)
    sides = Sides(plan, credentials.resolve_passwords(plan))
    cache: dict = {}
    rounds = 0
    processes.heartbeat(store, PROCESS, "starting")
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                found = sample_round(store, plan, sides, cache)
                number = store.cutover.write_round(store.clock(), found)
                rounds += 1
                failed = sum(1 for body in found.values() if "error" in body)
                processes.heartbeat(
                    store,
                    PROCESS,
                    f"round {number}: {len(found)} group(s)"
                    + (f", {failed} could not be read" if failed else ""),
                )
            except Exception as exc:  # noqa: BLE001 - keep sampling; say why this round failed
                processes.heartbeat(store, PROCESS, f"round failed: {type(exc).__name__}: {exc}")
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
        processes.finished(store, PROCESS, "stopped", f"stopped after {rounds} rounds")
        return 0
    finally:
        sides.close()
        store.close()


def sampler_main(db_path: Path, interval_s: float | None) -> int:
    """Entry point for ``cutover offsets-sampler``: stops cleanly on SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return run_sampler(db_path, stop, interval_s=interval_s)
    except Exception as exc:  # noqa: BLE001 - the log and the processes table say why
        message = redact.text(f"{type(exc).__name__}: {exc}")
        print(f"cutover offsets-sampler: stopped on an error: {message}", flush=True)
        try:
            store = Store.open(db_path)
            processes.finished(store, PROCESS, "failed", message)
            store.close()
        except Exception:  # noqa: BLE001 - the database itself may be the problem
            pass
        return 1
