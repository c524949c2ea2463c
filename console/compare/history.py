"""Comparison windows in the run database: recorded as they run, read back afterwards.

Each window is recorded when it opens (``running``) and closed as ``done``, ``failed``
or ``cancelled``; a done window's results are stored one row per partition and check.
Reading back gives one window's results, the list of windows, or what the comparison
pane shows: the latest window, or a live chain folded into one with its counts added
up. The SQL itself is the store's (:mod:`console.store.results`).
"""

from __future__ import annotations

import json

from console import redact
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


def open_window(store, request: CompareRequest, started_at: str, previous) -> int:
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


def close_window(store, window_id, status: str, finished_at: str, extra: dict) -> None:
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


def record(store, report: Report, src_states, tgt_states) -> None:
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
        close_window(store, report.window_id, "done", report.finished_at, extra)


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
