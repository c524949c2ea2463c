"""The comparison engine: source and target copies of each topic, partition by partition.

``compare`` reads both clusters over a window and judges the checks listed in
:data:`console.compare_model.CHECKS` against the plan's thresholds. It works whatever
made the copy: the built-in mirror (its ``cutover.src`` provenance header names each
record's source offset), MirrorMaker 2 or an external link (same order, other
offsets), or a dual write (independent producer sessions): without provenance the
two sides are aligned by content, in order (:mod:`console.compare_align`).

A window is, per partition, a source offset range and a target offset range:

* nothing given: the whole retained log, ending "now" (records the copy has not
  reached yet are lag, not missing);
* ``--from``/``--to`` offsets: that source range; the target range is found by the
  records' timestamps, padded, and target records outside the source range are left
  out;
* ``--from``/``--to`` times: the records with timestamps in that span on both sides;
* live: from where the previous live window stopped, so a running mirror is compared
  incrementally, only what is new.

Partitions are compared in parallel, each as two streams whose memory does not grow
with the window. Results go to the run database (``compare_windows`` and
``compare_results``), one row per partition and check plus topic-wide rows, so the
scorecard and replay see the history. Read-only on Kafka; every call has a timeout.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import queue
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from console import redact
from console.compare.align import (
    NEED_SOURCE,
    NEED_TARGET,
    AlignSettings,
    Bounds,
    PartitionAligner,
    PartitionTally,
)
from console.compare.model import (
    CHECK_BY_NAME,
    CheckResult,
    Example,
    Verdict,
    judge_count,
    threshold,
)
from console.compare.reader import (
    PartitionReader,
    Side,
    TopicState,
    TopicVanished,
    classify_extras,
)
from console.compare.resolve import (
    PartitionWindow,
    TopicOutcome,
    TopicWindow,
    resolve_topic,
)
from console.compare.schema import registry_result
from console.compare.view import ComparisonView, WindowInfo, build_view
from console.errors import Cancelled, Progress
from console.kafka.client import ClusterError
from console.plan import Plan
from console.store import audit

# Target window padding when it is found by time: copies may carry the producer's
# timestamp (a little before) or the target's append time (after, by the copy lag).
PAD_BEFORE_MS = 5_000
PAD_AFTER_EXTRA_MS = 5_000

# Windows of at least this many source records are compared in worker processes: the
# per-record work is Python, and threads share one core between them (the GIL).
PROCESS_FROM = 300_000


class CompareError(Exception):
    """The comparison could not run; the message says why and what to do (one line)."""


@dataclass(frozen=True)
class Bound:
    """One end of a window: a source offset, or a time in epoch milliseconds."""

    kind: str
    value: int

    def text(self) -> str:
        if self.kind == "offset":
            return str(self.value)
        return datetime.fromtimestamp(self.value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d)$")


def parse_bound(text: str | None, *, now_ms: int | None = None) -> Bound | None:
    """``1234`` (offset), ``2026-11-25T12:00:00Z`` (time), or ``15m``/``2h``/``1d`` ago."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text.isdigit():
        return Bound("offset", int(text))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    relative = _RELATIVE.match(text)
    if relative:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[relative.group(2)]
        return Bound("time", now_ms - int(relative.group(1)) * unit * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CompareError(
            f"'{text}' is neither an offset, a time like 2026-11-25T12:00:00Z, nor a span "
            "ago like 15m; give --from/--to as one of those"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Bound("time", int(when.timestamp() * 1000))


@dataclass(frozen=True)
class CompareRequest:
    """What to compare."""

    topics: tuple[str, ...] = ()
    """Plan topics to compare; empty means all of them."""
    start: Bound | None = None
    end: Bound | None = None
    live: bool = False
    """Continue from the previous live window (compare only what is new)."""
    workers: int | None = None
    """Partitions compared at once; default: one per core, at least 2."""
    executor: str = "auto"
    """``thread``, ``process`` (worker processes: both cores, for big windows) or
    ``auto`` (processes from about :data:`PROCESS_FROM` records on)."""

    def label(self) -> str:
        if self.live:
            return "live (what is new since the last live window)"
        if self.start is None and self.end is None:
            return "whole retained log, up to now"
        lo = self.start.text() if self.start else "log start"
        hi = self.end.text() if self.end else "now"
        kind = (self.start or self.end).kind
        return f"{'offsets' if kind == 'offset' else 'time'} {lo} .. {hi}"

    def to_json(self) -> dict[str, Any]:
        return {
            "topics": list(self.topics),
            "from": None if self.start is None else [self.start.kind, self.start.value],
            "to": None if self.end is None else [self.end.kind, self.end.value],
            "live": self.live,
            "executor": self.executor,
        }


@dataclass
class Report:
    """One comparison window's outcome."""

    window_id: int | None
    status: str
    label: str
    started_at: str
    finished_at: str
    results: list[CheckResult]
    records: int = 0
    elapsed_s: float = 0.0
    ranges: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    cursors: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    @property
    def red(self) -> list[CheckResult]:
        return [r for r in self.results if r.verdict is Verdict.RED]

    @property
    def missing_evidence(self) -> list[CheckResult]:
        """Required checks that could not look at anything. A partition idle on both
        sides is no gap while another partition of its topic had data."""
        active = {
            r.topic
            for r in self.results
            if r.check == "counts" and r.partition is not None and not r.counts.get("idle")
        }
        return [
            r
            for r in self.results
            if r.verdict is Verdict.NO_DATA
            and CHECK_BY_NAME[r.check].required
            and not (r.counts.get("idle") and r.topic in active)
        ]

    def summary(self) -> dict[str, Any]:
        tally = {v.value: 0 for v in Verdict}
        for r in self.results:
            tally[r.verdict.value] += 1
        return {
            "window_id": self.window_id,
            "status": self.status,
            "label": self.label,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "records": self.records,
            "elapsed_s": round(self.elapsed_s, 3),
            "verdicts": tally,
            "red": [f"{r.topic}[{_p(r.partition)}] {r.check}: {r.reason}" for r in self.red][:20],
            "no_data": [
                f"{r.topic}[{_p(r.partition)}] {r.check}: {r.reason}" for r in self.missing_evidence
            ][:20],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "window": {
                "id": self.window_id,
                "status": self.status,
                "label": self.label,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "records": self.records,
                "elapsed_s": round(self.elapsed_s, 3),
                "ranges": {
                    t: {str(p): r for p, r in parts.items()} for t, parts in self.ranges.items()
                },
            },
            "summary": self.summary(),
            "results": [r.to_json() for r in self.results],
        }


def _p(partition: int | None) -> str:
    return "*" if partition is None else str(partition)


# -- the comparison ------------------------------------------------------------------------


@dataclass
class _Job:
    topic: str
    partition: int
    source: tuple[int, int]
    target: tuple[int, int]
    estimate: int
    bounds: Bounds = field(default_factory=Bounds)


class _Counter:
    """Source records compared so far, across worker threads."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


def compare(
    plan: Plan,
    passwords: dict[str, str | None],
    request: CompareRequest | None = None,
    *,
    store=None,
    cancel: threading.Event | None = None,
    progress: Progress = lambda _m: None,
    settings: AlignSettings | None = None,
) -> Report:
    """Compare the plan's topics over one window; record it when a store is given.

    Raises :class:`CompareError` when the comparison cannot run (a cluster down, a
    topic not in the plan) and :class:`~console.inventory.Cancelled` when cancelled;
    the window is then recorded as failed or cancelled, without results.

    Windows of :data:`PROCESS_FROM` records or more are compared in worker processes
    started with ``spawn``, which re-imports the calling program's main module: a
    script calling this needs the usual ``if __name__ == "__main__":`` guard (the
    ``cutover`` command, pytest and the bench have it; without it, threads are used).
    """
    request = request or CompareRequest()
    if store is not None and store.readonly:
        raise CompareError(
            f"{store.path} is open read-only (replay); comparing records a window, so open it "
            "without --replay"
        )
    cancel = cancel or threading.Event()
    clock = store.clock if store is not None else audit.utc_now
    topics = _topics(plan, request)
    skew = threshold(plan.thresholds, "max_timestamp_skew_ms")
    settings = settings or AlignSettings(timestamp_skew_ms=skew)
    source = Side("source", plan.clusters.source, passwords.get("source"))
    target = Side("target", plan.clusters.target, passwords.get("target"))
    previous = _previous(store, request) if store is not None else {}
    started_at = clock()
    window_id = _open_window(store, request, started_at, previous) if store is not None else None
    began = time.monotonic()
    try:
        progress("reading topic offsets on both sides")
        # The target first: a copy trails the source, so everything on the target at this
        # moment is on the source at the next.
        tgt_states = target.topic_states(topics)
        src_states = source.topic_states(topics)
        windows, jobs = _plan_windows(
            plan, request, topics, source, target, src_states, tgt_states, previous
        )
        tallies, vanished, records = _run_jobs(
            jobs, source, target, settings, cancel, progress, request
        )
        progress("checking what the logs did during the window")
        windows = _after(windows, source, target, topics, src_states, tgt_states, vanished)
        results: list[CheckResult] = []
        outcomes: dict[str, TopicOutcome] = {}
        registry_cache: dict = {}
        for topic in topics:
            if cancel.is_set():
                raise Cancelled("cancelled while resolving the results")
            window = windows[topic]
            topic_tallies = tallies.get(topic, {})
            pairs: dict = {}
            for tally in topic_tallies.values():
                for pair, n in tally.id_pairs().items():
                    pairs[pair] = pairs.get(pair, 0) + n
            registry = (
                registry_result(
                    plan,
                    topic,
                    pairs,
                    timeout=plan.clusters.source.request_timeout_s,
                    cache=registry_cache,
                )
                if not window.missing_side
                else None
            )
            classify = _classifier(source, topic, window, topic_tallies, cancel, progress)
            outcome = resolve_topic(
                window,
                topic_tallies,
                plan.thresholds,
                classify=classify,
                examples=settings.examples,
                registry=registry,
            )
            outcomes[topic] = outcome
            results.extend(outcome.results)
    except Cancelled:
        if store is not None:
            _close_window(store, window_id, "cancelled", clock(), {"reason": "cancelled"})
        raise
    except (ClusterError, CompareError) as exc:
        if store is not None:
            _close_window(store, window_id, "failed", clock(), {"reason": str(exc)})
        raise CompareError(str(exc)) from None
    except BaseException as exc:
        if store is not None:
            _close_window(
                store, window_id, "failed", clock(), {"reason": f"{type(exc).__name__}: {exc}"}
            )
        raise
    elapsed = time.monotonic() - began
    report = Report(
        window_id,
        "done",
        request.label(),
        started_at,
        clock(),
        results,
        records,
        elapsed,
        ranges={
            t: {
                p: [w.source_lo, w.source_hi, w.target_lo, w.target_hi]
                for p, w in windows[t].partitions.items()
            }
            for t in topics
        },
        cursors={t: {p: list(c) for p, c in o.cursors.items()} for t, o in outcomes.items()},
    )
    if store is not None:
        _save(store, report, src_states, tgt_states, previous)
    progress(
        f"compared {records:,} source records in {elapsed:.1f} s: "
        f"{len(report.red)} RED, {len(report.missing_evidence)} NO DATA"
    )
    return report


def _topics(plan: Plan, request: CompareRequest) -> list[str]:
    names = [t.name for t in plan.topics]
    if not request.topics:
        return names
    unknown = [t for t in request.topics if t not in names]
    if unknown:
        raise CompareError(
            f"topic {', '.join(repr(t) for t in unknown)} is not in the plan; the plan's "
            f"topics are {', '.join(names)}"
        )
    return [t for t in names if t in request.topics]


def _plan_windows(plan, request, topics, source, target, src_states, tgt_states, previous):
    """Per topic and partition, the source and target offset ranges to compare."""
    windows: dict[str, TopicWindow] = {}
    jobs: list[_Job] = []
    for topic in topics:
        src: TopicState = src_states[topic]
        tgt: TopicState = tgt_states[topic]
        for side, state in (("source", src), ("target", tgt)):
            if state.denied:
                raise CompareError(
                    f"{side}: the plan's principal may not describe topic '{topic}' "
                    f"({state.denied}); grant DESCRIBE and READ on it"
                )
        if not src.exists or not tgt.exists:
            windows[topic] = TopicWindow(
                topic,
                len(src.partitions),
                len(tgt.partitions),
                {},
                missing_side="source" if not src.exists else "target",
            )
            continue
        prev = previous.get(topic, {})
        recreated, source_recreated = _recreation(prev, src, tgt)
        r = _Ranges(src, tgt)
        if request.live:
            r.from_cursors(prev, keep_source=not source_recreated, keep_target=not recreated)
        elif request.start is not None or request.end is not None:
            r.narrow(request, topic, source, target, plan.thresholds.max_shadow_lag_seconds)
        if not request.live and request.start is None:
            # Whole log: where the source's retention already ran, target records older
            # than the source's oldest one are set aside as copies of deleted records.
            trimmed = [
                p
                for p in r.parts
                if p in src.partitions and 0 < src.partitions[p].log_start == r.s_lo[p] < r.s_hi[p]
            ]
            r.first_ts.update(source.timestamps_at(topic, {p: r.s_lo[p] for p in trimmed}))
        pws: dict[int, PartitionWindow] = {}
        for p in r.parts:
            pws[p] = r.window(p, recreated)
            jobs.append(
                _Job(
                    topic,
                    p,
                    (r.s_lo[p], r.s_hi[p]) if pws[p].exists_on_source else (0, 0),
                    (r.t_lo[p], r.t_hi[p]) if pws[p].exists_on_target else (0, 0),
                    max(0, r.s_hi[p] - r.s_lo[p]),
                    r.bounds(p, request),
                )
            )
        windows[topic] = TopicWindow(
            topic,
            len(src.partitions),
            len(tgt.partitions),
            pws,
            open_end=request.end is None,
            time_lo_ms=r.time_lo,
            time_hi_ms=r.time_hi,
            recreated=recreated,
            source_recreated=source_recreated,
        )
    return windows, jobs


def _recreation(prev: dict, src: TopicState, tgt: TopicState) -> tuple[str, str]:
    """Whether either topic was re-created since the last window (its topic id changed)."""
    ids = prev.get("topic_ids")
    notes = []
    for i, (side, state) in enumerate((("target", tgt), ("source", src))):
        before = ids[1 - i] if ids else None
        changed = before and before != state.topic_id
        notes.append(
            f"the {side} topic was re-created since window #{prev.get('window')} "
            "(its topic id changed)"
            if changed
            else ""
        )
    return notes[0], notes[1]


class _Ranges:
    """The offset ranges of one topic's partitions on both sides, being narrowed."""

    def __init__(self, src: TopicState, tgt: TopicState) -> None:
        self.src, self.tgt = src, tgt
        self.parts = sorted(set(src.partitions) | set(tgt.partitions))
        self.s_lo: dict[int, int] = {}
        self.s_hi: dict[int, int] = {}
        self.t_lo: dict[int, int] = {}
        self.t_hi: dict[int, int] = {}
        for p in self.parts:
            sp, tp = src.partitions.get(p), tgt.partitions.get(p)
            self.s_lo[p], self.s_hi[p] = (sp.log_start, sp.end) if sp else (0, 0)
            self.t_lo[p], self.t_hi[p] = (tp.log_start, tp.end) if tp else (0, 0)
        self.first_ts: dict[int, int | None] = {}
        self.last_ts: dict[int, int | None] = {}
        self.time_lo: int | None = None
        self.time_hi: int | None = None
        self.notes_src: dict[int, str] = {}

    def from_cursors(self, prev: dict, *, keep_source: bool, keep_target: bool) -> None:
        """A live window starts where the previous live window stopped."""
        cursors = prev.get("cursors", {}) if prev.get("live") else {}
        for p in self.parts:
            cur = cursors.get(str(p))
            if cur is None:
                continue
            if keep_source:
                if cur[0] < self.s_lo[p]:
                    self.notes_src[p] = (
                        f"the source log now starts at {self.s_lo[p]}, after the previous "
                        f"window's end {cur[0]} (retention)"
                    )
                self.s_lo[p] = max(self.s_lo[p], cur[0])
            if keep_target:  # a re-created topic numbers its offsets from 0 again
                self.t_lo[p] = max(self.t_lo[p], cur[1])

    def narrow(self, request, topic, source, target, lag_s: float) -> None:
        """--from/--to: source offsets or times; the target range follows by time, padded."""
        lag_ms = int(lag_s * 1000)
        kind = (request.start or request.end).kind
        if kind == "offset":
            for p in self.parts:
                if request.start is not None:
                    self.s_lo[p] = max(self.s_lo[p], min(request.start.value, self.s_hi[p]))
                if request.end is not None:
                    self.s_hi[p] = max(self.s_lo[p], min(request.end.value, self.s_hi[p]))
            filled = [p for p in self.parts if self.s_hi[p] > self.s_lo[p]]
            self.first_ts = source.timestamps_at(topic, {p: self.s_lo[p] for p in filled})
            if request.end is not None:
                self.last_ts = source.timestamps_at(topic, {p: self.s_hi[p] - 1 for p in filled})
            known_lo = [v for v in self.first_ts.values() if v is not None]
            known_hi = [v for v in self.last_ts.values() if v is not None]
            self.time_lo = min(known_lo) if known_lo else None
            self.time_hi = max(known_hi) + 1 if known_hi else None
        else:
            self.time_lo = request.start.value if request.start is not None else None
            self.time_hi = request.end.value if request.end is not None else None
            _time_bounds(
                source,
                topic,
                self.parts,
                self.s_lo,
                self.s_hi,
                self.time_lo,
                self.time_hi,
                0,
                pad=False,
            )
        _time_bounds(
            target, topic, self.parts, self.t_lo, self.t_hi, self.time_lo, self.time_hi, lag_ms
        )

    def window(self, p: int, recreated: str) -> PartitionWindow:
        sp, tp = self.src.partitions.get(p), self.tgt.partitions.get(p)
        src_note = self.notes_src.get(p, "")
        if not src_note and sp is not None and 0 < sp.log_start == self.s_lo[p]:
            # The window reaches back to the oldest record the source still has, so
            # older copies on the target are explained by the source's retention.
            src_note = (
                f"the source log starts at offset {sp.log_start}: retention or "
                "delete-records removed older records"
            )
        tgt_note = recreated
        if not tgt_note and tp is not None and 0 < tp.log_start >= self.t_lo[p]:
            tgt_note = (
                f"the target log starts at offset {tp.log_start}: retention or "
                "delete-records removed older records"
            )
        return PartitionWindow(
            p,
            self.s_lo[p],
            self.s_hi[p],
            self.t_lo[p],
            self.t_hi[p],
            source_log_start=sp.log_start if sp else 0,
            target_log_start=tp.log_start if tp else 0,
            source_truncated=src_note,
            target_truncated=tgt_note,
            exists_on_source=sp is not None,
            exists_on_target=tp is not None,
        )

    def bounds(self, p: int, request) -> Bounds:
        """What the aligner needs to pass over target records outside the window."""
        if request.start is not None and request.start.kind == "time":
            lo_ms = request.start.value
        else:
            lo_ms = self.first_ts.get(p)
        if request.end is not None and request.end.kind == "time":
            hi_ms = request.end.value
        else:
            hi_ms = self.last_ts[p] + 1 if self.last_ts.get(p) is not None else None
        return Bounds(
            # A live window's target may re-copy older records: duplicates, not outside.
            source_lo=0 if request.live else self.s_lo[p],
            source_hi=self.s_hi[p],
            time_lo_ms=lo_ms,
            time_hi_ms=hi_ms,
        )


def _time_bounds(side, topic, parts, lo, hi, time_lo, time_hi, lag_ms, *, pad=True):
    """Narrow offset ranges to a time span (padded on the target side)."""
    if time_lo is not None:
        start = time_lo - (PAD_BEFORE_MS if pad else 0)
        found = side.offsets_for_times(topic, {p: start for p in parts if hi[p] > lo[p]})
        for p, offset in found.items():
            lo[p] = hi[p] if offset is None else max(lo[p], offset)
    if time_hi is not None:
        end = time_hi + ((lag_ms + PAD_AFTER_EXTRA_MS) if pad else 0)
        found = side.offsets_for_times(topic, {p: end for p in parts if hi[p] > lo[p]})
        for p, offset in found.items():
            if offset is not None:
                hi[p] = max(lo[p], min(hi[p], offset))


def _run_jobs(jobs, source, target, settings, cancel, progress, request: CompareRequest):
    """Align every partition, several at a time; returns tallies per topic and partition."""
    total = sum(j.estimate for j in jobs)
    count = min(len(jobs), request.workers or max(2, os.cpu_count() or 2))
    executor = request.executor
    if executor == "auto":
        executor = "process" if total >= PROCESS_FROM and count > 1 else "thread"
    if not jobs:
        return {}, {}, 0
    if executor == "process":
        try:
            return _run_in_processes(jobs, source, target, settings, cancel, progress, count, total)
        except BrokenProcessPool:
            # A worker could not start (e.g. a calling script without the usual
            # ``if __name__ == "__main__":`` guard, which spawn needs): threads still work.
            progress("worker processes could not start; comparing in threads instead")
    with _relaxed_gc():
        return _run_in_threads(jobs, source, target, settings, cancel, progress, count, total)


def _report(progress: Progress, done: int, total: int, began: float) -> None:
    rate = done / max(time.monotonic() - began, 1e-6)
    pct = f" ({min(100, 100 * done // total)}%)" if total else ""
    progress(f"compared {done:,} of ~{total:,} source records{pct}, {rate:,.0f} rec/s")


def _run_in_threads(jobs, source, target, settings, cancel, progress, count, total):
    todo: queue.Queue = queue.Queue()
    for job in sorted(jobs, key=lambda j: -j.estimate):  # big ones first: even finish
        todo.put(job)
    tallies: dict[str, dict[int, PartitionTally]] = {}
    vanished: dict[str, str] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = _Counter()
    # Set on cancel or on any worker's failure, so the others stop after their batch.
    stop = threading.Event()

    def worker() -> None:
        consumers = {}
        try:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                if not consumers:
                    consumers = {"source": source.consumer(), "target": target.consumer()}
                try:
                    tally = align_partition(job, source, target, consumers, settings, stop, counter)
                except TopicVanished as exc:
                    with lock:
                        vanished[job.topic] = str(exc)
                    continue
                with lock:
                    tallies.setdefault(job.topic, {})[job.partition] = tally
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with lock:
                errors.append(exc)
            stop.set()
        finally:
            for consumer in consumers.values():
                consumer.close()

    threads = [
        threading.Thread(target=worker, name=f"compare-{i}", daemon=True) for i in range(count)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
        if cancel.is_set():
            stop.set()
        _report(progress, counter.value, total, began)
    return _outcome(tallies, vanished, errors, cancel, counter.value)


def _outcome(tallies, vanished, errors, cancel, done):
    if cancel.is_set():
        raise Cancelled("comparison cancelled")
    real = [e for e in errors if not isinstance(e, Cancelled)]
    if real:
        raise real[0]
    if errors:
        raise Cancelled("comparison cancelled")
    return tallies, vanished, done


_GC_LOCK = threading.Lock()
_GC_USERS = 0
_GC_SAVED: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _relaxed_gc():
    """Collect garbage less often while partitions stream through this process.

    Every record read allocates a few small tracked objects, so the default thresholds
    run a collection every few hundred records over buffers of thousands: measured to
    cost a quarter of the throughput. The hot path makes no reference cycles. The old
    thresholds come back when the last comparison in the process ends.
    """
    global _GC_USERS, _GC_SAVED
    with _GC_LOCK:
        if _GC_USERS == 0:
            _GC_SAVED = gc.get_threshold()
            gc.set_threshold(100_000, 50, 1000)
        _GC_USERS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS -= 1
            if _GC_USERS == 0 and _GC_SAVED is not None:
                gc.set_threshold(*_GC_SAVED)


# -- worker processes ------------------------------------------------------------------------

_PROC_STOP = None
_PROC_COUNTER = None
_PROC_CONSUMERS: dict = {}


def _proc_init(stop, counter) -> None:
    """Worker process start: no cyclic GC at all (the process only streams), shared stop
    flag and progress counter."""
    global _PROC_STOP, _PROC_COUNTER
    gc.disable()
    _PROC_STOP, _PROC_COUNTER = stop, counter


class _SharedCounter:
    def __init__(self, value) -> None:
        self.value = value

    def add(self, n: int) -> None:
        with self.value.get_lock():
            self.value.value += n


def _proc_job(job, sides, settings):
    """One partition pair, in a worker process; returns its tally (pickled back).

    The worker keeps one consumer per side for all its jobs: a fresh librdkafka client
    per partition costs a connection and, measured, grows the process by megabytes each
    time (its allocations are not given back).
    """
    source = Side(*sides["source"])
    target = Side(*sides["target"])
    if not _PROC_CONSUMERS:
        _PROC_CONSUMERS.update(source=source.consumer(), target=target.consumer())
    try:
        return align_partition(
            job,
            source,
            target,
            _PROC_CONSUMERS,
            settings,
            _PROC_STOP,
            _SharedCounter(_PROC_COUNTER),
        )
    except BaseException:
        # A consumer left mid-stream is in an unknown state: the next job gets new ones.
        for consumer in _PROC_CONSUMERS.values():
            consumer.close()
        _PROC_CONSUMERS.clear()
        raise
    finally:
        gc.collect()


def _run_in_processes(jobs, source, target, settings, cancel, progress, count, total):
    # spawn, not fork: the parent runs librdkafka and maybe Textual threads.
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    counter = ctx.Value("q", 0)
    sides = {
        "source": (source.name, source.spec, source.password),
        "target": (target.name, target.spec, target.password),
    }
    tallies: dict[str, dict[int, PartitionTally]] = {}
    vanished: dict[str, str] = {}
    errors: list[BaseException] = []
    began = time.monotonic()
    with ProcessPoolExecutor(
        max_workers=count, mp_context=ctx, initializer=_proc_init, initargs=(stop, counter)
    ) as pool:
        pending = {
            pool.submit(_proc_job, job, sides, settings): job
            for job in sorted(jobs, key=lambda j: -j.estimate)
        }
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    tallies.setdefault(job.topic, {})[job.partition] = fut.result()
                except TopicVanished as exc:
                    vanished[job.topic] = str(exc)
                except BrokenProcessPool:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    stop.set()
            if cancel.is_set():
                stop.set()
            if stop.is_set():
                for fut in pending:
                    fut.cancel()
            _report(progress, counter.value, total, began)
    return _outcome(tallies, vanished, errors, cancel, counter.value)


def align_partition(job, source, target, consumers, settings, cancel, counter) -> PartitionTally:
    """Stream one partition pair through the aligner."""
    aligner = PartitionAligner(job.topic, job.partition, settings, job.bounds)
    src = PartitionReader(
        consumers["source"], "source", job.topic, job.partition, *job.source, source.timeout
    )
    tgt = PartitionReader(
        consumers["target"], "target", job.topic, job.partition, *job.target, target.timeout
    )
    need = aligner.run()
    while need:
        if need & NEED_SOURCE:
            batch, ended = src.next_batch(cancel)
            aligner.feed_source(batch, ended)
            counter.add(len(batch))
        if need & NEED_TARGET:
            batch, ended = tgt.next_batch(cancel)
            aligner.feed_target(batch, ended)
        need = aligner.run()
    tally = aligner.finish()
    return tally


def _after(windows, source, target, topics, src_states, tgt_states, vanished):
    """Look again once read: retention that ran or a topic re-created during the window."""
    tgt_now = target.topic_states(topics)
    src_now = source.topic_states(topics)
    out = {}
    for topic, window in windows.items():
        if window.missing_side:
            out[topic] = window
            continue
        recreated = window.recreated
        then, now = tgt_states[topic], tgt_now[topic]
        if not now.exists or now.topic_id != then.topic_id or topic in vanished:
            recreated = recreated or "the target topic was deleted or re-created during the window"
        source_recreated = window.source_recreated
        s_then, s_now = src_states[topic], src_now[topic]
        if not s_now.exists or s_now.topic_id != s_then.topic_id:
            source_recreated = (
                source_recreated or "the source topic was deleted or re-created during the window"
            )
        parts = {}
        for p, pw in window.partitions.items():
            src_note, tgt_note = pw.source_truncated, pw.target_truncated
            sp = s_now.partitions.get(p)
            tp = now.partitions.get(p)
            if sp is not None and sp.log_start > pw.source_lo and not src_note:
                src_note = (
                    f"source retention removed records up to offset {sp.log_start} during the "
                    "window"
                )
            if tp is not None and tp.log_start > pw.target_lo and not tgt_note:
                tgt_note = (
                    f"target retention removed records up to offset {tp.log_start} during the "
                    "window"
                )
            if recreated:
                tgt_note = recreated
            parts[p] = PartitionWindow(
                pw.partition,
                pw.source_lo,
                pw.source_hi,
                pw.target_lo,
                pw.target_hi,
                sp.log_start if sp is not None else pw.source_log_start,
                tp.log_start if tp is not None else pw.target_log_start,
                src_note,
                tgt_note,
                pw.exists_on_target,
                pw.exists_on_source,
            )
        out[topic] = TopicWindow(
            topic,
            window.source_partitions,
            window.target_partitions,
            parts,
            window.open_end,
            window.time_lo_ms,
            window.time_hi_ms,
            recreated,
            source_recreated,
        )
    return out


def _classifier(source, topic, window, tallies, cancel, progress):
    """The second read of the source, for unmatched target records only."""

    def classify(candidates):
        ranges = {
            p: (pw.source_lo, pw.source_hi)
            for p, pw in window.partitions.items()
            if pw.exists_on_source
        }
        # A copy naming a source record before the window (a mirror that re-copied
        # after a restart) is looked up where it points.
        for e in candidates:
            if e.prov is not None and e.prov[0] in ranges:
                lo, hi = ranges[e.prov[0]]
                start = max(window.partitions[e.prov[0]].source_log_start, e.prov[1])
                ranges[e.prov[0]] = (min(lo, start), hi)
        gaps = any(t.source_skipped_offsets for t in tallies.values())
        progress(f"{topic}: looking up {len(candidates):,} unmatched target records on the source")
        return classify_extras(source, topic, ranges, candidates, with_aborted=gaps, cancel=cancel)

    return classify


# -- the run database ----------------------------------------------------------------------


def _previous(store, request: CompareRequest) -> dict[str, dict]:
    """Per topic: the topic ids seen last time and, for live windows, where it stopped."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT id, spec FROM compare_windows WHERE status = 'done' ORDER BY id DESC LIMIT 50"
        ).fetchall()
    out: dict[str, dict] = {}
    for window_id, spec_text in rows:
        spec = json.loads(spec_text)
        for topic, ids in spec.get("topic_ids", {}).items():
            entry = out.setdefault(topic, {})
            if "topic_ids" not in entry:
                entry["topic_ids"] = ids
                entry["window"] = window_id
        if spec.get("request", {}).get("live") and spec.get("cursors"):
            for topic, cursors in spec["cursors"].items():
                entry = out.setdefault(topic, {})
                if "cursors" not in entry:
                    entry["cursors"] = cursors
                    entry["live"] = True
                    entry["chain"] = spec.get("chain", window_id)
    return out


def _open_window(store, request: CompareRequest, started_at: str, previous) -> int:
    chain = None
    if request.live:
        chains = [v.get("chain") for v in previous.values() if v.get("chain")]
        chain = max(chains) if chains else None
    spec = {"request": request.to_json(), "label": request.label(), "chain": chain}
    with store.lock:
        cur = store.conn.execute(
            "INSERT INTO compare_windows(started_at, status, spec) VALUES (?, 'running', ?)",
            (started_at, json.dumps(spec, sort_keys=True)),
        )
        window_id = int(cur.lastrowid)
        if request.live and chain is None:
            spec["chain"] = window_id
            store.conn.execute(
                "UPDATE compare_windows SET spec = ? WHERE id = ?",
                (json.dumps(spec, sort_keys=True), window_id),
            )
    return window_id


def _close_window(store, window_id, status: str, finished_at: str, extra: dict) -> None:
    with store.lock:
        row = store.conn.execute(
            "SELECT spec FROM compare_windows WHERE id = ?", (window_id,)
        ).fetchone()
        spec = json.loads(row[0]) if row else {}
        spec.update(redact.value(extra))
        store.conn.execute(
            "UPDATE compare_windows SET status = ?, finished_at = ?, spec = ? WHERE id = ?",
            (status, finished_at, json.dumps(spec, sort_keys=True), window_id),
        )


def _save(store, report: Report, src_states, tgt_states, previous) -> None:
    rows = [
        (
            report.window_id,
            r.topic,
            r.partition,
            r.check,
            r.verdict.value,
            redact.text(r.reason),
            json.dumps(r.counts, sort_keys=True),
            json.dumps(redact.value([e.to_json() for e in r.examples])),
        )
        for r in report.results
    ]
    extra = {
        "ranges": {t: {str(p): v for p, v in parts.items()} for t, parts in report.ranges.items()},
        "cursors": {
            t: {str(p): v for p, v in parts.items()} for t, parts in report.cursors.items()
        },
        "topic_ids": {t: [src_states[t].topic_id, tgt_states[t].topic_id] for t in report.ranges},
        "records": report.records,
        "elapsed_s": round(report.elapsed_s, 3),
        "summary": report.summary()["verdicts"],
    }
    with store.lock:
        conn = store.conn
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT INTO compare_results(window_id, topic, partition, check_name, verdict, "
                "reason, counts, examples) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        _close_window(store, report.window_id, "done", report.finished_at, extra)


def load_results(store, window_id: int) -> list[CheckResult]:
    """The stored results of one window, in the order they were judged."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT topic, partition, check_name, verdict, reason, counts, examples "
            "FROM compare_results WHERE window_id = ? ORDER BY rowid",
            (window_id,),
        ).fetchall()
    return [
        CheckResult(
            topic,
            partition,
            check,
            Verdict(verdict),
            reason,
            json.loads(counts),
            [Example.from_json(e) for e in json.loads(examples)],
        )
        for topic, partition, check, verdict, reason, counts, examples in rows
    ]


def windows(store, limit: int = 50) -> list[WindowInfo]:
    """The latest comparison windows, newest first."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [_info(*row) for row in rows]


def _info(window_id, started_at, finished_at, status, spec_text) -> WindowInfo:
    spec = json.loads(spec_text or "{}")
    return WindowInfo(
        window_id,
        started_at,
        finished_at,
        status,
        spec.get("label", ""),
        int(spec.get("records", 0)),
    )


def load_view(
    store, window_id: int | None = None, *, progress: str | None = None
) -> ComparisonView:
    """What the comparison pane shows: a window's results (the latest finished one by
    default); a live window shows its whole chain, counts added up. Reads only."""
    with store.lock:
        if window_id is None:
            row = store.conn.execute(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "WHERE status = 'done' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        else:
            row = store.conn.execute(
                "SELECT id, started_at, finished_at, status, spec FROM compare_windows "
                "WHERE id = ?",
                (window_id,),
            ).fetchone()
    if row is None:
        return ComparisonView(None, progress=progress)
    info = _info(*row)
    spec = json.loads(row[4] or "{}")
    chain = spec.get("chain")
    if chain is None or info.status != "done":
        return build_view(info, load_results(store, info.id), progress)
    with store.lock:
        members = store.conn.execute(
            "SELECT id, spec FROM compare_windows WHERE status = 'done' AND id <= ? ORDER BY id",
            (info.id,),
        ).fetchall()
    ids = [i for i, s in members if json.loads(s or "{}").get("chain") == chain]
    records = sum(int(json.loads(s or "{}").get("records", 0)) for i, s in members if i in ids)
    results = _fold_chain([load_results(store, i) for i in ids], store.plan.thresholds)
    label = f"live since window #{chain}, {len(ids)} window(s)"
    info = WindowInfo(info.id, info.started_at, info.finished_at, info.status, label, records)
    return build_view(info, results, progress)


_SUMMED = {
    "missing": "missing",
    "duplicates": "duplicates",
    "extra": "extra",
    "order": "reordered",
    "values": "values",
    "headers": "headers",
    "timestamps": "timestamps",
    "nulls": "nulls",
    "aborted": "aborted",
}


def _fold_chain(per_window: list[list[CheckResult]], thresholds) -> list[CheckResult]:
    """A live chain as one window: counts added up and judged again against thresholds;
    for everything else the latest window that saw data speaks."""
    if len(per_window) == 1:
        return per_window[0]
    order: list[tuple] = []
    merged: dict[tuple, CheckResult] = {}
    for results in per_window:
        for r in results:
            key = (r.topic, r.partition, r.check)
            old = merged.get(key)
            if key not in merged:
                order.append(key)
            if old is None or (old.counts.get("idle") and not r.counts.get("idle")):
                merged[key] = r
                continue
            if r.counts.get("idle"):
                continue
            merged[key] = _merge(old, r, thresholds)
    return [merged[k] for k in order]


def _merge(old: CheckResult, new: CheckResult, thresholds) -> CheckResult:
    counts = dict(new.counts)
    name = _SUMMED.get(new.check)
    if new.check == "counts":
        for k in ("source", "target", "matched"):
            counts[k] = old.counts.get(k, 0) + new.counts.get(k, 0)
        return CheckResult(
            new.topic, new.partition, new.check, new.verdict, new.reason, counts, new.examples
        )
    examples = (old.examples + new.examples)[:5]
    if name is None or new.verdict is Verdict.NO_DATA or old.verdict is Verdict.NO_DATA:
        verdict = new.verdict if new.verdict is not Verdict.OK else old.verdict
        reason = new.reason if verdict is new.verdict else old.reason
        return CheckResult(new.topic, new.partition, new.check, verdict, reason, counts, examples)
    total = old.counts.get(name, 0) + new.counts.get(name, 0)
    counts[name] = total
    limit = threshold(thresholds, CHECK_BY_NAME[new.check].threshold)
    verdict = judge_count(total, limit)
    reason = new.reason if total == new.counts.get(name, 0) else old.reason
    if total and total != new.counts.get(name, 0):
        reason = f"{total:,} over the live windows (limit {limit:,}); latest: {new.reason}"
    return CheckResult(new.topic, new.partition, new.check, verdict, reason, counts, examples)


# -- helpers for the console and the step ------------------------------------------------------


def resolve_passwords(plan: Plan) -> dict[str, str | None]:
    """Both clusters' passwords (environment or keyring); raises CredentialError."""
    from console.plan import credentials

    return {name: credentials.resolve_password(plan, name) for name in ("source", "target")}


def compare_live(
    store, *, cancel: threading.Event | None = None, progress: Progress = lambda _m: None
) -> Report:
    """One live increment: compare what is new since the last live window, record it.

    The console calls this in a thread worker on a timer while the mirror runs, and
    then :func:`load_view`; setting ``cancel`` stops it after the current batch.
    """
    plan = store.plan
    return compare(
        plan,
        resolve_passwords(plan),
        CompareRequest(live=True),
        store=store,
        cancel=cancel,
        progress=progress,
    )


def step_window(plan: Plan, now: datetime | None = None) -> CompareRequest:
    """The window the runbook's Comparison step judges: the plan's last N minutes."""
    now = now or datetime.now(UTC)
    start = now - timedelta(minutes=plan.thresholds.comparison_window_minutes)
    return CompareRequest(start=Bound("time", int(start.timestamp() * 1000)))
