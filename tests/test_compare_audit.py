"""Comparisons leave an audit trail: who compared which window, the verdict summary and
the id the results are stored under. One-off windows get an entry each; live increments
are audited in groups, and every window ends up covered, in order.

Pure store logic: the windows are recorded as the engine records them (open, then
results or a failure), without brokers. ``test_compare.py`` checks the same entries
from real comparisons.
"""

from __future__ import annotations

from console.compare import history
from console.compare.model import CheckResult, CompareRequest, Report, Verdict
from console.plan import parse_plan
from console.store import Store
from tests.helpers import demo_plan_text


def store(tmp_path) -> Store:
    text = demo_plan_text()
    return Store.create(tmp_path / "run.db", text, parse_plan(text))


def window(db: Store, request: CompareRequest, *, red: int = 0, fail: str = "") -> int:
    """Record one window as the engine does; returns its id."""
    previous = history.previous(db, request)
    window_id = history.open_window(db, request, "2026-11-25T12:00:00Z", previous)
    if fail:
        history.close_window(db, window_id, "failed", "2026-11-25T12:00:01Z", {"reason": fail})
        return window_id
    results = [CheckResult("orders", 0, "counts", Verdict.OK, "fine", {"source": 5})]
    results += [
        CheckResult("orders", 0, "missing", Verdict.RED, f"{red} missing", {"missing": red})
        for _ in range(red)
    ]
    report = Report(window_id, "done", request.label(), "t0", "t1", results, records=5)
    report.cursors = {"orders": {0: [5, 5]}}  # where the next live increment starts
    history.record(db, report, {}, {})
    return window_id


def entries(db: Store, action: str):
    return [e for e in db.audit_latest(500) if e.action == action]


def covered(db: Store) -> list[int]:
    """Every window id an audit entry names, in the order the entries were written."""
    ids = []
    for e in db.audit_latest(500):
        if e.action == "compare.window":
            ids.append(e.params["window"])
        elif e.action == "compare.live":
            first, last = e.params["windows"]
            ids.extend(range(first, last + 1))
    return ids


def test_a_one_off_window_is_audited_with_its_summary_and_result_id(tmp_path):
    db = store(tmp_path)
    first = window(db, CompareRequest(topics=("orders",)))
    second = window(db, CompareRequest(), red=2)
    one, two = entries(db, "compare.window")
    assert one.params["window"] == first and one.params["request"]["topics"] == ["orders"]
    assert one.outcome == f"done: 0 RED, 0 NO DATA; results stored as window #{first}"
    assert two.params["window"] == second
    assert two.params["verdicts"]["RED"] == 2 and two.params["red"]
    assert two.outcome.startswith("done: 2 RED")
    assert one.actor  # who: the OS user (and the SSH client's address in a session)
    failed = window(db, CompareRequest(), fail="target: no broker answered")
    (*_, three) = entries(db, "compare.window")
    assert three.params["window"] == failed
    assert three.outcome == "failed: target: no broker answered"
    assert db.audit_verify().ok
    db.close()


def test_live_increments_are_audited_in_groups_and_all_covered(tmp_path):
    db = store(tmp_path)
    live = CompareRequest(live=True)
    ids = [window(db, live) for _ in range(25)]
    groups = entries(db, "compare.live")
    # The chain's first increment at once, then a group every LIVE_GROUP increments.
    assert [g.params["windows"] for g in groups] == [[1, 1], [2, 11], [12, 21]]
    assert groups[1].params["increments"] == history.LIVE_GROUP
    assert groups[1].outcome.startswith("live windows #2..#11 (10): done: 0 RED")
    # A RED increment is audited at once, with the quiet ones before it.
    red = window(db, live, red=1)
    assert entries(db, "compare.live")[-1].params["windows"] == [22, red]
    assert entries(db, "compare.live")[-1].params["verdicts"]["RED"] == 1
    # Back to 0 RED is a change too; a failed increment is audited at once.
    calm = window(db, live)
    assert entries(db, "compare.live")[-1].params["windows"] == [calm, calm]
    failed = window(db, live, fail="cancelled by the operator")
    last = entries(db, "compare.live")[-1]
    assert last.params["windows"] == [failed, failed] and last.params["status"] == "failed"
    assert last.outcome.endswith("failed: cancelled by the operator")
    quiet = [window(db, live) for _ in range(3)]
    # A one-off window first closes the live group, so entries keep the true order.
    one_off = window(db, CompareRequest())
    assert covered(db) == [*ids, red, calm, failed, *quiet, one_off]
    # Stopping live comparison flushes what no entry covers yet.
    more = [window(db, live) for _ in range(2)]
    history.flush_live_audit(db)
    assert covered(db)[-2:] == more
    assert db.audit_verify().ok
    db.close()
