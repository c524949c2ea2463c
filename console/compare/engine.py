"""The comparison engine: source and target copies of each topic, partition by partition.

``compare`` reads both clusters over a window and judges the checks listed in
:data:`console.compare.model.CHECKS` against the plan's thresholds. It works whatever
made the copy: the built-in mirror (its ``cutover.src`` provenance header names each
record's source offset), MirrorMaker 2 or an external link (same order, other
offsets), or a dual write (independent producer sessions): without provenance the
two sides are aligned by content, in order (:mod:`console.compare.align`).

A window is, per partition, a source offset range and a target offset range:

* nothing given: the whole retained log, ending "now" (records the copy has not
  reached yet are lag, not missing);
* ``--from``/``--to`` offsets: that source range; the target range is found by the
  records' timestamps, padded, and target records outside the source range are left
  out;
* ``--from``/``--to`` times: the records with timestamps in that span on both sides;
* live: from where the previous live window stopped, so a running mirror is compared
  incrementally, only what is new.

Partitions are compared in parallel (:mod:`~console.compare.executor`), each as two
streams whose memory does not grow with the window; a worker reads many small partitions
at once through one consumer per side, and lookups by time or offset are made for all
topics in one round trip, so hundreds of small topics do not each pay a fixed wait.
Results go to the run database
(:mod:`~console.compare.history`), one row per partition and check plus topic-wide rows,
so the scorecard and replay see the history. Read-only on Kafka; every call has a
timeout.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from console.compare import executor, history, windows
from console.compare.align import AlignSettings
from console.compare.model import (
    Bound,
    CheckResult,
    CompareError,
    CompareRequest,
    Report,
    threshold,
)
from console.compare.reader import Side, classify_extras
from console.compare.resolve import TopicOutcome, resolve_topic, schema_locations
from console.compare.schema import registry_result
from console.errors import Cancelled, Progress
from console.kafka.client import ClusterError
from console.plan import Plan, credentials
from console.store import audit


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
    topic not in the plan) and :class:`~console.errors.Cancelled` when cancelled;
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
    previous = history.previous(store, request) if store is not None else {}
    started_at = clock()
    window_id = None
    if store is not None:
        window_id = history.open_window(store, request, started_at, previous)
    began = time.monotonic()
    try:
        progress("reading topic offsets on both sides")
        # The target first: a copy trails the source, so everything on the target at this
        # moment is on the source at the next.
        tgt_states = target.topic_states(topics)
        src_states = source.topic_states(topics)
        spans, jobs = windows.plan_windows(
            plan,
            request,
            topics,
            source,
            target,
            src_states,
            tgt_states,
            previous,
            cutover=cutover_points(store) if store is not None else {},
        )
        tallies, vanished, records = executor.run_jobs(
            jobs, source, target, settings, cancel, progress, request
        )
        progress("checking what the logs did during the window")
        spans = windows.recheck(spans, source, target, topics, src_states, tgt_states, vanished)
        results: list[CheckResult] = []
        outcomes: dict[str, TopicOutcome] = {}
        registry_cache: dict = {}
        for topic in topics:
            if cancel.is_set():
                raise Cancelled("cancelled while resolving the results")
            window = spans[topic]
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
                    cache=registry_cache,
                    where=schema_locations(topic_tallies),
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
            history.close_window(store, window_id, "cancelled", clock(), {"reason": "cancelled"})
        raise
    except (ClusterError, CompareError) as exc:
        if store is not None:
            history.close_window(store, window_id, "failed", clock(), {"reason": str(exc)})
        raise CompareError(str(exc)) from None
    except BaseException as exc:
        if store is not None:
            history.close_window(
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
                for p, w in spans[t].partitions.items()
            }
            for t in topics
        },
        cursors={t: {p: list(c) for p, c in o.cursors.items()} for t, o in outcomes.items()},
    )
    if store is not None:
        history.record(store, report, src_states, tgt_states)
    progress(
        f"compared {records:,} source records in {elapsed:.1f} s: "
        f"{len(report.red)} RED, {len(report.missing_evidence)} NO DATA"
    )
    return report


def cutover_points(store) -> dict[tuple[str, int], tuple[int, int, bool]]:
    """The producer cutover points in force, per partition: ``(source offset, target
    offset, mirror stopped)``; the newest move's when a partition has several."""
    out = {}
    for row in store.producers.points(active_only=True):
        out[(row.topic, row.partition)] = (row.source_offset, row.target_offset, row.mirror_stopped)
    return out


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


def compare_live(
    store, *, cancel: threading.Event | None = None, progress: Progress = lambda _m: None
) -> Report:
    """One live increment: compare what is new since the last live window, record it.

    The console calls this in a thread worker on a timer while the mirror runs, and then
    :func:`console.compare.history.load_view`; setting ``cancel`` stops it after the
    current batch.
    """
    plan = store.plan
    return compare(
        plan,
        credentials.resolve_passwords(plan),
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
