"""Shadow lag: the sampler that measures it and the trend verdicts judged from it.

The sampler runs as its own process (``cutover sampler RUN.db``), so the series keeps
growing while nobody watches; each round is written in one SQLite transaction, so
the console and a later replay read exactly the same data.

A single reading says little, so a partition's verdict is judged over the last
``lag_trend_window_samples`` rounds, in the manner of Burrow's consumer evaluation.
In order: a position that does not move while lag is non-zero is **stalled** (RED);
lag whose floor keeps rising is **growing** (RED, whatever its size: the runbook names
shadow lag that grows under normal load as evidence that blocks cutover); then lag
over the plan's limits is never OK (RED, or WARN while it is falling); under the
limits, falling lag is **catching up** and the rest **steady** (OK). Growth can only
be told over a whole window, so until the window is full a partition under its limits
is NO DATA, never OK; stalled and over-limit lag are RED from the third sample.

Growth is judged on the lower envelope, not on every sample, because copiers commit
in bursts: MirrorMaker 2 and the built-in mirror move their position a transaction at
a time, so lag is a sawtooth even when the copy keeps up. The window is cut into
thirds; the lag is growing when the lowest sample of each third is above the median of
the third before it **and** the lowest of the last third is above the highest of the
first (the rise is larger than the copier's own swing). A sawtooth that keeps coming
back down is therefore steady, however high its teeth (see :func:`growth`). When the
last window shows no growth, the test is asked again of the last two windows, each
third's lowest quarter set aside (unless the last window's floor fell): a slow fall
behind against a wide swing, or a rising floor with a rare deeper catch-up, is seen
over twice the time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from console import processes, redact
from console.kafka import traffic
from console.kafka.client import admin_client
from console.plan import Plan, Thresholds, credentials
from console.shadow import mm2
from console.shadow.mirror.positions import mirror_positions
from console.store import Store
from console.views.lag import LagRow

SAMPLER = "sampler"
STALE_AFTER_S = 30.0


@dataclass(frozen=True)
class Sample:
    """One partition in one sampling round."""

    round: int
    ts: str
    topic: str
    partition: int
    source_end: int | None
    mirrored: int | None
    lag_records: int | None
    lag_seconds: float | None


def growth(history: list[int], *, past_dips: bool = False) -> tuple[int, int, int, int] | None:
    """The lower envelope of a lag series (oldest first) when it rises across the whole
    window: the lowest sample of each third and the highest of the first third; None
    when the lag is not growing.

    Cut in thirds, the lag grows when the lowest sample of each third is above the
    median of the third before it, and the lowest of the last third is above every
    sample of the first: the floor rose all along, by more than the copier's own swing.
    A sawtooth that keeps coming back down, or lag that rose once and then stayed
    level, does not. With ``past_dips``, a third's floor is taken above its lowest
    quarter (one sample in four or more): a rare deeper catch-up does not hide a floor
    that otherwise rose.
    """
    n = len(history)
    if n < 3:
        return None
    thirds = [history[: n // 3], history[n // 3 : 2 * n // 3], history[2 * n // 3 :]]
    floors = tuple(sorted(third)[len(third) // 4 if past_dips else 0] for third in thirds)
    first, middle = thirds[0], thirds[1]
    rising = floors[1] > statistics.median(first) and floors[2] > statistics.median(middle)
    if rising and floors[2] > max(first):
        return (*floors, max(first))
    return None


def _slow_growth(
    samples: list[Sample], window: list[int], size: int
) -> tuple[tuple[int, int, int, int] | None, int]:
    """Growth judged over the last two windows, for a partition whose last window alone
    shows none. A copy falling behind slowly against its own swing, or one whose floor
    rose but for one deeper catch-up, clears the window's test; over twice the time the
    floor's rise is twice as large, the swing no larger, and the lowest quarter of each
    third is set aside (:func:`growth` with ``past_dips``). Not when the last window's
    own floor fell: a copy gaining ground now is catching up, not growing."""
    longer = [s.lag_records for s in samples[-2 * size :] if s.lag_records is not None]
    if len(longer) < 2 * size:
        return None, 0
    n = len(window)
    if min(window[2 * n // 3 :]) < min(window[: n // 3]):
        return None, 0
    return growth(longer, past_dips=True), len(longer)


def judge(samples: list[Sample], thresholds: Thresholds, *, interval_s: float) -> LagRow:
    """Judge one partition's recent samples (oldest first): its trend and verdict, as the
    row the lag pane shows."""
    window = samples[-thresholds.lag_trend_window_samples :]
    last = window[-1] if window else None
    known = [s for s in window if s.lag_records is not None]
    history = [s.lag_records for s in known]
    base = dict(
        topic=last.topic if last else "",
        partition=last.partition if last else -1,
        lag_records=last.lag_records if last else None,
        lag_seconds=last.lag_seconds if last else None,
        source_end=last.source_end if last else None,
        mirrored=last.mirrored if last else None,
        history=history,
    )
    if len(known) < 3 or last is None or last.lag_records is None:
        return LagRow(
            trend="no data",
            verdict="NO_DATA",
            reason=f"{len(known)} of at least 3 samples; lag is not judged on fewer",
            **base,
        )
    full = len(known) >= thresholds.lag_trend_window_samples
    lag, seconds = last.lag_records, last.lag_seconds or 0.0
    over_records = lag > thresholds.max_shadow_lag_records
    over_seconds = seconds > thresholds.max_shadow_lag_seconds
    over = over_records or over_seconds
    limits = (
        f"{lag:,} rec / {seconds:.1f} s against limits of "
        f"{thresholds.max_shadow_lag_records:,} rec / {thresholds.max_shadow_lag_seconds:g} s"
    )
    positions = [s.mirrored for s in known if s.mirrored is not None]
    if lag > 0 and len(positions) == len(known) and len(set(positions)) == 1:
        return LagRow(
            trend="stalled",
            verdict="RED",
            reason=f"position stuck at {positions[0]:,} for {len(positions)} samples "
            f"with {lag:,} rec behind",
            **base,
        )
    rise, span = (growth(history), len(history)) if full else (None, 0)
    if rise is None and full:
        rise, span = _slow_growth(samples, history, thresholds.lag_trend_window_samples)
    if rise is not None:
        low, mid, high, top = rise
        return LagRow(
            trend="growing",
            verdict="RED",
            reason=f"lag keeps growing: its floor rose {low:,} → {mid:,} → {high:,} rec over "
            f"{span} samples, above the {top:,} rec it started at; {limits}",
            **base,
        )
    falling = history[-1] < history[0]
    rate = (history[0] - history[-1]) / max(interval_s * (len(history) - 1), 1e-9)
    eta = history[-1] / rate if falling and rate > 0 else None
    if over:
        which = (
            "records and seconds"
            if over_records and over_seconds
            else ("records" if over_records else "seconds")
        )
        if falling:
            return LagRow(
                trend="catching up",
                verdict="WARN",
                reason=f"over the limit in {which} but falling about {rate:,.0f} rec/s; {limits}",
                eta_seconds=eta,
                **base,
            )
        return LagRow(
            trend="steady",
            verdict="RED",
            reason=f"over the limit in {which} and not falling; {limits}",
            **base,
        )
    if not full:
        # Under the limits, but whether it grows cannot be told yet: not OK until then.
        return LagRow(
            trend="no data",
            verdict="NO_DATA",
            reason=f"{len(known)} of {thresholds.lag_trend_window_samples} samples: too few "
            f"to tell whether lag grows; {limits}",
            **base,
        )
    if 0 in history[-3:]:
        return LagRow(
            trend="steady",
            verdict="OK",
            reason=f"caught up within the last samples; {limits}",
            **base,
        )
    if falling:
        return LagRow(
            trend="catching up",
            verdict="OK",
            reason=f"lag falling about {rate:,.0f} rec/s; {limits}",
            eta_seconds=eta,
            **base,
        )
    return LagRow(
        trend="steady",
        verdict="OK",
        reason=f"lag level (its floor is not rising); {limits}",
        **base,
    )


def latest_trends(store: Store, plan: Plan, *, until: str | None = None) -> list[LagRow]:
    """Verdicts for every sampled partition, worst first (on the samples taken by
    ``until``, a UTC timestamp, when given: a replay's moment)."""
    interval_s = plan.shadow.sample_interval_s
    window = plan.thresholds.lag_trend_window_samples
    rows = store.samples.recent(max(2 * window, 20), until=until)
    by_tp: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for row in rows:
        by_tp[(row[2], row[3])].append(Sample(*row))
    trends = []
    for series in by_tp.values():
        trend = judge(series, plan.thresholds, interval_s=interval_s)
        trends.append(replace(trend, history=[s.lag_records or 0 for s in series]))
    order = {"RED": 0, "NO_DATA": 1, "WARN": 2, "OK": 3}
    trends.sort(key=lambda t: (order[t.verdict], -(t.lag_records or 0), t.topic, t.partition))
    return trends


def row_json(row: LagRow) -> dict:
    """A partition's verdict as ``cutover lag --json`` and the step's evidence give it."""
    return {
        "topic": row.topic,
        "partition": row.partition,
        "trend": row.trend,
        "verdict": row.verdict,
        "reason": row.reason,
        "lag_records": row.lag_records,
        "lag_seconds": row.lag_seconds,
        "source_end": row.source_end,
        "mirrored": row.mirrored,
        "history": row.history,
        "eta_seconds": row.eta_seconds,
    }


def last_sample_time(store: Store, *, until: str | None = None) -> str | None:
    return store.samples.last_time(until=until)


def write_round(store: Store, ts: str, samples: Iterable[tuple]) -> int:
    """Store one round (topic, partition, source_end, mirrored, lag_records, lag_seconds)."""
    return store.samples.write_round(ts, samples)


# -- measuring --------------------------------------------------------------------------------

PositionReader = Callable[[], dict[tuple[str, int], int]]


def _ends(admin, tps: list[TopicPartition], spec, timeout: float) -> dict:
    out = {}
    futures = admin.list_offsets({tp: spec for tp in tps}, request_timeout=timeout)
    for tp, fut in futures.items():
        try:
            info = fut.result(timeout=timeout + 1)
        except Exception:  # noqa: BLE001 - a partition we cannot read stays unknown
            continue
        out[(tp.topic, tp.partition)] = (info.offset, info.timestamp)
    return out


def measure(
    plan: Plan,
    passwords: dict[str, str | None],
    partitions: list[tuple[str, int]],
    positions: PositionReader | None,
    *,
    timeout: float = 10.0,
) -> list[tuple]:
    """One round: per partition (topic, partition, source_end, mirrored, lag, lag_seconds).

    With ``positions`` (the built-in mirror's, or MirrorMaker 2's as Connect committed
    them) lag is measured from the copy's own committed source position. Without (an
    external link) it is estimated from end offsets, which assumes both sides started
    from the same point and counts transaction markers; lag in seconds comes from the
    newest record's timestamp on each side either way.
    """
    src_admin, _ = admin_client(plan.clusters.source, passwords["source"], client_id="cutover-lag")
    dst_admin, _ = admin_client(plan.clusters.target, passwords["target"], client_id="cutover-lag")
    tps = [TopicPartition(t, p) for t, p in partitions]
    # The copy's position first, the source's end after it: the lag is then never less
    # than it was. Read the other way round, a round held up by a slow or restarting
    # target read the end before the stall and the position after the copy caught up,
    # and showed no lag at all for the very moment the copy was stuck.
    mirrored_at = positions() if positions else {}
    src_end = _ends(src_admin, tps, OffsetSpec.latest(), timeout)
    src_newest = _ends(src_admin, tps, OffsetSpec.max_timestamp(), timeout)
    dst_end = _ends(dst_admin, tps, OffsetSpec.latest(), timeout)
    dst_newest = _ends(dst_admin, tps, OffsetSpec.max_timestamp(), timeout)
    rows = []
    for key in partitions:
        end = src_end.get(key, (None, None))[0]
        if positions is not None:
            mirrored = mirrored_at.get(key, 0)
        else:
            target_end = dst_end.get(key, (None, None))[0]
            mirrored = target_end if target_end is not None and end is not None else None
        lag = max(0, end - mirrored) if end is not None and mirrored is not None else None
        seconds = None
        if lag is not None:
            seconds = 0.0
            s_ts = src_newest.get(key, (None, -1))[1]
            d_ts = dst_newest.get(key, (None, -1))[1]
            if lag > 0 and s_ts and s_ts > 0:
                seconds = max(0.0, (s_ts - (d_ts if d_ts and d_ts > 0 else s_ts)) / 1000.0)
        rows.append((key[0], key[1], end, mirrored, lag, seconds))
    return rows


def sample_traffic(
    store: Store, plan: Plan, passwords: dict[str, str | None], number: int, ts: str
) -> None:
    """Beside lag round ``number``: each side's log sizes and end offsets of the plan's
    topics, and its committed offsets of the plan's groups (the cost scope's input)."""
    topics = [t.name for t in plan.topics]
    groups = [g.id for g in plan.groups]
    sizes: list[tuple] = []
    positions: list[tuple] = []
    for side in ("source", "target"):
        spec = getattr(plan.clusters, side)
        sizes += [(side, *r) for r in traffic.log_sizes(spec, passwords[side], topics, timeout=10)]
        if groups:
            found = traffic.committed(spec, passwords[side], groups, timeout=10)
            positions += [(side, *r) for r in found]
    store.traffic.write_round(number, ts, sizes, positions)


def plan_partitions(plan: Plan, passwords: dict[str, str | None], timeout: float) -> list:
    """Every partition of the plan's topics on the source."""
    admin, _ = admin_client(plan.clusters.source, passwords["source"], client_id="cutover-lag")
    metadata = admin.list_topics(timeout=timeout)
    out = []
    for topic in plan.topics:
        meta = metadata.topics.get(topic.name)
        if meta is not None and meta.error is None:
            out.extend((topic.name, p) for p in sorted(meta.partitions))
    return out


def run_sampler(db_path: Path, stop: threading.Event, *, interval_s: float | None = None) -> int:
    """The sampler process body: a round every ``interval_s`` until stopped."""
    store = Store.open(db_path)
    plan = store.plan
    interval_s = interval_s or plan.shadow.sample_interval_s
    passwords = credentials.resolve_passwords(plan)
    positions: PositionReader | None = None
    if plan.shadow.path == "builtin":
        # The built-in mirror knows its own positions.
        def positions() -> dict[tuple[str, int], int]:
            return mirror_positions(plan, passwords)

    elif plan.shadow.path == "mirrormaker2":
        # Connect's committed source offsets: exact at exactly-once.
        def positions() -> dict[tuple[str, int], int]:
            return mm2.source_positions(plan, timeout=10)

    partitions: list = []
    refreshed = 0.0
    rounds = 0
    processes.heartbeat(store, SAMPLER, "starting")
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not partitions or started - refreshed > 60:
                    partitions = plan_partitions(plan, passwords, timeout=10)
                    refreshed = started
                ts = store.clock()  # when the round began: its figures are of then
                rows = measure(plan, passwords, partitions, positions)
                number = write_round(store, ts, rows)
                if plan.shadow.path == "mirrormaker2":
                    _watch_mm2(store, plan, passwords, collect_syncs=number % 10 == 1)
                rounds += 1
                behind = sum(r[4] or 0 for r in rows)
                try:
                    sample_traffic(store, plan, passwords, number, ts)
                    bytes_note = ""
                except Exception as exc:  # noqa: BLE001 - lag goes on; say why bytes did not
                    bytes_note = f"; bytes not sampled: {redact.text(str(exc))}"
                processes.heartbeat(
                    store,
                    SAMPLER,
                    f"round {number}: {len(rows)} partitions, {behind:,} rec behind{bytes_note}",
                )
            except Exception as exc:  # noqa: BLE001 - keep sampling; say why this round failed
                processes.heartbeat(store, SAMPLER, f"round failed: {type(exc).__name__}: {exc}")
            # Re-arm only after the round finished, so a slow cluster never stacks rounds.
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
        processes.finished(store, SAMPLER, "stopped", f"stopped after {rounds} rounds")
        return 0
    finally:
        store.close()


MM2 = "mm2"


def _watch_mm2(store: Store, plan: Plan, passwords: dict, *, collect_syncs: bool) -> None:
    """Record the connectors' state for the console (a row named ``mm2`` in processes),
    and now and then keep our own copy of MM2's offset syncs: its topic is compacted."""
    try:
        states = mm2.status(plan, timeout=5)
    except mm2.Mm2Error as exc:
        processes.record(store, MM2, "failed", str(exc))
    else:
        worst = "running" if states and all(s.running for s in states) else "failed"
        processes.record(store, MM2, worst, "; ".join(s.summary() for s in states))
    if collect_syncs:
        mm2.collect_offset_syncs(store, plan, passwords, timeout=10)


def sampler_main(db_path: Path, interval_s: float | None, stop: threading.Event) -> int:
    """Entry point for ``cutover sampler``: stops cleanly once ``stop`` is set (the command
    line sets it on SIGTERM or SIGINT)."""
    try:
        return run_sampler(db_path, stop, interval_s=interval_s)
    except Exception as exc:  # noqa: BLE001 - the log and the processes table say why, in a line
        message = redact.text(f"{type(exc).__name__}: {exc}")
        print(f"cutover sampler: stopped on an error: {message}", flush=True)
        try:
            store = Store.open(db_path)
            processes.finished(store, SAMPLER, "failed", message)
            store.close()
        except Exception:  # noqa: BLE001 - the database itself may be the problem
            pass
        return 1
