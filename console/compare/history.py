"""Comparison windows in the run database: recorded as they run, read back afterwards.

Each window is recorded when it opens (``running``) and closed as ``done``, ``failed``
or ``cancelled``; a done window's results are stored one row per partition and check.
Reading back gives one window's results, the list of windows, or what the comparison
pane shows: the latest window, or a live chain folded into one with its counts added
up. The SQL itself is the store's (:mod:`console.store.results`).
"""

from __future__ import annotations

from console.compare.model import (
    CHECK_BY_NAME,
    CheckResult,
    CompareRequest,
    Example,
    Report,
    Verdict,
    judge_count,
    threshold,
)
from console.compare.view import ComparisonView, WindowInfo, build_view


def previous(store, request: CompareRequest) -> dict[str, dict]:
    """Per topic: the topic ids seen last time and, for live windows, where it stopped."""
    out: dict[str, dict] = {}
    for window_id, spec in store.results.done_specs(50):
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


def open_window(store, request: CompareRequest, started_at: str, previous) -> int:
    """Record a window as running; a live window joins the chain of the last live one,
    or starts its own."""
    chain = None
    if request.live:
        chains = [v.get("chain") for v in previous.values() if v.get("chain")]
        chain = max(chains) if chains else None
    spec = {"request": request.to_json(), "label": request.label(), "chain": chain}
    return store.results.open_window(started_at, spec, own_chain=request.live and chain is None)


def close_window(store, window_id, status: str, finished_at: str, extra: dict) -> None:
    """Mark a window failed or cancelled, and audit it."""
    store.results.close_window(window_id, status, finished_at, extra)
    _audit(store, window_id)


def record(store, report: Report, src_states, tgt_states) -> None:
    """Store a finished window's results and mark it done, in one transaction."""
    results = [
        (
            r.topic,
            r.partition,
            r.check,
            r.verdict.value,
            r.reason,
            r.counts,
            [e.to_json() for e in r.examples],
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
        # Required checks without data: what makes a window NO DATA for a pipeline.
        "gaps": len(report.missing_evidence),
    }
    store.results.save_results(report.window_id, results, report.finished_at, extra)
    _audit(store, report.window_id, report)


# -- the audit trail of comparisons ----------------------------------------------------------

LIVE_GROUP = 10
"""Live increments one ``compare.live`` audit entry covers at most."""


def _audit(store, window_id: int, report: Report | None = None) -> None:
    """Audit a finished window: at once for a one-off window, grouped for live ones."""
    row = store.results.window(window_id)
    if row is None:
        return
    _id, _started, _finished, status, spec = row
    if spec.get("chain") is None:
        flush_live_audit(store)
        params = {
            "window": window_id,
            "label": spec.get("label", ""),
            "request": spec.get("request", {}),
            "status": status,
            **_verdicts(spec, report),
        }
        entry = store.log("compare.window", params=params, outcome=_outcome(status, spec, report))
        store.results.mark_audited([window_id], entry.seq)
        return
    pending = store.results.unaudited_live()
    older = [w for w in pending if w[4].get("chain") != spec["chain"]]
    if older:
        _log_live(store, older)
    mine = [w for w in pending if w[4].get("chain") == spec["chain"]]
    if not mine:
        return
    previous, audited_before = store.results.chain_before(spec["chain"], window_id)
    changed = previous is not None and (_reds(previous[4]) != _reds(spec) or previous[3] != status)
    if not audited_before or status != "done" or changed or len(mine) >= LIVE_GROUP:
        _log_live(store, mine)


def flush_live_audit(store) -> None:
    """Audit the live windows no entry covers yet (call when live comparison stops)."""
    pending = store.results.unaudited_live()
    if pending:
        _log_live(store, pending)


def _log_live(store, group: list) -> None:
    """One ``compare.live`` entry per chain for these windows, the latest one speaking."""
    by_chain: dict[int, list] = {}
    for w in group:
        by_chain.setdefault(w[4].get("chain"), []).append(w)
    for chain, windows in by_chain.items():
        ids = [w[0] for w in windows]
        last_status, last_spec = windows[-1][3], windows[-1][4]
        params = {
            "chain": chain,
            "windows": [ids[0], ids[-1]],
            "increments": len(ids),
            "records": sum(int(w[4].get("records", 0)) for w in windows),
            "statuses": sorted({w[3] for w in windows}),
            "status": last_status,
            **_verdicts(last_spec, None),
        }
        outcome = (
            f"live windows #{ids[0]}..#{ids[-1]} ({len(ids)}): "
            f"{_outcome(last_status, last_spec, None)}"
        )
        entry = store.log("compare.live", params=params, outcome=outcome)
        store.results.mark_audited(ids, entry.seq)


def _reds(spec: dict) -> int:
    return int(spec.get("summary", {}).get("RED", 0))


def _verdicts(spec: dict, report: Report | None) -> dict:
    if report is not None:
        summary = report.summary()
        return {
            "records": report.records,
            "verdicts": summary["verdicts"],
            "red": summary["red"][:5],
            "no_data": summary["no_data"][:5],
        }
    return {"records": int(spec.get("records", 0)), "verdicts": spec.get("summary", {})}


def _outcome(status: str, spec: dict, report: Report | None) -> str:
    if status != "done":
        reason = spec.get("reason", "")
        return f"{status}: {reason}" if reason and reason != status else status
    if report is not None:
        red, gaps = len(report.red), len(report.missing_evidence)
        stored = f"; results stored as window #{report.window_id}"
    else:
        red, gaps, stored = _reds(spec), int(spec.get("gaps", 0)), ""
    return f"done: {red} RED, {gaps} NO DATA{stored}"


def load_results(store, window_id: int) -> list[CheckResult]:
    """The stored results of one window, in the order they were judged."""
    return [
        CheckResult(
            topic,
            partition,
            check,
            Verdict(verdict),
            reason,
            counts,
            [Example.from_json(e) for e in examples],
        )
        for topic, partition, check, verdict, reason, counts, examples in store.results.results(
            window_id
        )
    ]


def windows(store, limit: int = 50) -> list[WindowInfo]:
    """The latest comparison windows, newest first."""
    return [_info(*row) for row in store.results.windows(limit)]


def _info(window_id, started_at, finished_at, status, spec: dict) -> WindowInfo:
    return WindowInfo(
        window_id,
        started_at,
        finished_at,
        status,
        spec.get("label", ""),
        int(spec.get("records", 0)),
    )


def load_view(
    store, window_id: int | None = None, *, progress: str | None = None, until: str | None = None
) -> ComparisonView:
    """What the comparison pane shows: a window's results (the latest finished one by
    default, or the latest finished by ``until``, a replay's moment); a live window shows
    its whole chain, counts added up. Reads only."""
    row = store.results.window(window_id, until=until)
    if row is None:
        return ComparisonView(None, progress=progress)
    info = _info(*row)
    chain = row[4].get("chain")
    if chain is None or info.status != "done":
        return build_view(info, load_results(store, info.id), progress)
    members = store.results.done_up_to(info.id)
    ids = [i for i, spec in members if spec.get("chain") == chain]
    records = sum(int(spec.get("records", 0)) for i, spec in members if i in ids)
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
