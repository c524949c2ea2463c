"""A recorded run of the demo plan, for the replay tests and snapshots.

Written through the run database's own methods, in the order a real run writes them
(gate decision, ``step.started``, evidence, ``step.finished``; process starts with
their intent and result entries; lag sample rounds with the byte counts beside them;
the safe consumer's reports; comparison windows), with a clock
that ticks one second per reading, so every replay of it shows the same thing. The
scorecard decisions go through the real gate and step path. Nothing here talks to
Kafka: the figures are made up, the shapes are the real ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console import runbook
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store, audit
from tests.helpers import demo_plan_text


class TickingClock:
    """One second per reading, from a fixed start."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> str:
        self.now += timedelta(seconds=1)
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def logged_in_as(user: str) -> Iterator[None]:
    """Record entries as another OS login (what another terminal session is)."""
    saved = audit.current_actor
    audit.current_actor = lambda: (user, None)
    try:
        yield
    finally:
        audit.current_actor = saved


@dataclass(frozen=True)
class Recorded:
    """The run database and the entries worth stopping at."""

    path: Path
    after_inventory: int
    """The inventory has passed; nothing else has run."""
    safe_started: int
    """The safe consumer reports RUNNING; it has not reported any figures yet."""
    red_comparison: int
    """The first comparison finished RED: correctness is red, the step failed. The safe
    consumer has made its first five reports by then."""
    end: int
    """The last entry: the second comparison passed, the drill ran, a waiver is in force;
    the safe consumer has made ten reports, the sampler fifteen rounds."""


INVENTORY = {
    "problems": [],
    "notes": [],
    "risk": {"orders": "high", "payments": "high", "customers": "low"},
    "source": {
        "brokers": [{"id": 1, "host": "127.0.0.1", "port": 19093, "release": "3.9"}],
        "topics": [
            {
                "name": name,
                "internal": False,
                "partitions": [
                    {"id": i, "leader": 1, "replicas": 1, "isr": 1, "earliest": 0, "latest": 500}
                    for i in range(count)
                ],
                "configs": {"cleanup.policy": "compact" if name == "customers" else "delete"},
            }
            for name, count in (("orders", 6), ("payments", 3), ("customers", 3))
        ],
        "groups": [
            {"id": "billing", "state": "EMPTY", "members": [], "offsets": {"orders:0": 250}}
        ],
    },
}
INVENTORY["target"] = {
    **INVENTORY["source"],
    "brokers": [{"id": 1, "host": "127.0.0.1", "port": 29093, "release": "4.1"}],
    "groups": [],
}


def _step(store: Store, key: str, state: StepState, reason: str, evidence=()) -> None:
    """A step as the runbook records it: decision, start, evidence, finish."""
    store.log("gate.confirmed", step=key, params={"via": "console"}, outcome="confirmed")
    started = store.claim_step(key, 1, {"pid": 1})
    for kind, body in evidence:
        store.add_evidence(key, kind, body)
    outcome = f"{state.value}: {reason}" if reason else state.value
    store.finish_step(key, state, reason, ref=started.seq, outcome=outcome)


def _process(store: Store, name: str) -> None:
    intent = store.log("process.start", step="shadow-start", params={"process": name})
    store.log("process.start", step="shadow-start", ref=intent.seq, outcome="running")


SAFE = "safe-consumer:billing-shadow"
SAFE_EVIDENCE = {
    "prefix": "shadow.",
    "consumers": [
        {
            "name": "billing-shadow",
            "principal": "User:shadow-billing",
            "group_id": "shadow.billing",
            "topics": ["orders"],
            "shadows": "billing",
            "run": "builtin",
            "sink": {"kind": "topic", "name": "shadow.billing-out", "safe": True,
                     "why": "a shadow topic; the principal may write nothing outside 'shadow.'"},
        }
    ],
    "refusals": [],
    "all_sinks_safe": True,
    "all_principals_safe": True,
}  # fmt: skip


def _safe_consumers(store: Store) -> None:
    """The safe-consumers step: the consumer's process starts (the step's intent, the
    process's own run entry, the step's result), then the source-group sampler."""
    store.log("gate.confirmed", step="safe-consumers", outcome="confirmed")
    started = store.claim_step("safe-consumers", 1, {"pid": 1})
    intent = store.log("process.start", step="safe-consumers", params={"process": SAFE})
    store.log("safe-consumer.run", step="safe-consumers", params={"consumer": "billing-shadow"})
    store.log("process.start", step="safe-consumers", ref=intent.seq, outcome="running")
    intent = store.log("process.start", step="safe-consumers", params={"process": "safe-sampler"})
    store.log("process.start", step="safe-consumers", ref=intent.seq, outcome="running")
    store.add_evidence("safe-consumers", "safe-consumers", SAFE_EVIDENCE)
    store.finish_step(
        "safe-consumers", StepState.PASSED, "1 shadow consumer running", ref=started.seq,
        outcome="passed: 1 shadow consumer running",
    )  # fmt: skip


def _safe_reports(store: Store, first: int, count: int) -> None:
    """Reports ``first`` .. ``first + count - 1`` of the shadow consumer (50 records and
    one schema error more each time) and of the source group it shadows."""
    for n in range(first, first + count):
        store.shadow.report(
            "billing-shadow", "shadow", processed=1000 + 50 * n, lag=100 - 5 * n,
            state="running", errors={"schema": n},
        )  # fmt: skip
        store.shadow.report(
            "billing-shadow", "source", processed=900 + 50 * n, lag=80, state="stable"
        )


def _rounds(store: Store, first: int, count: int) -> None:
    """Lag sampling rounds ``first`` .. with the byte counts the sampler records beside
    them (same round, same time): orders grows 20 records and 20 kB a round on each of
    two partitions, billing reads 10 records a round on the source."""
    for n in range(first, first + count):
        ts = store.clock()
        number = store.samples.write_round(
            ts,
            [
                ("orders", p, 500 + 20 * n, 500 + 20 * n - max(0, 40 - 4 * n), max(0, 40 - 4 * n),
                 2.0)
                for p in range(2)
            ],
        )  # fmt: skip
        store.traffic.write_round(
            number,
            ts,
            [
                (side, "orders", p, 1_000_000 + 20_000 * n, 500 + 20 * n)
                for side in ("source", "target")
                for p in range(2)
            ],
            [("source", "billing", "orders", p, 250 + 10 * n) for p in range(2)],
        )


def _window(store: Store, red: bool) -> None:
    window = store.results.open_window(store.clock(), {"label": "last 15 min"}, own_chain=False)
    rows = []
    for topic in ("orders", "payments", "customers"):
        for check in ("counts", "missing", "duplicates", "order"):
            bad = red and topic == "orders" and check == "missing"
            verdict, reason = ("RED", "3 source records absent on target") if bad else ("OK", "")
            counts = {"source": 120, "target": 117 if bad else 120, "missing": 3 if bad else 0}
            rows.append((topic, 2 if bad else None, check, verdict, reason, counts, []))
    store.results.save_results(window, rows, store.clock(), {"records": 360})
    store.log("compare.window", step="compare", params={"window": window}, outcome="done")


def record(path: Path) -> Recorded:
    """Write the recorded run to ``path`` (a new run database)."""
    text = demo_plan_text()
    store = Store.create(path, text, parse_plan(text), clock=TickingClock())
    try:
        with logged_in_as("alice"):
            _step(store, "inventory", StepState.PASSED, "", [("inventory", INVENTORY)])
            after_inventory = store.history.head()
            store.log("gate.confirmed", step="shadow-start", outcome="confirmed")
            started = store.claim_step("shadow-start", 1, {"pid": 1})
            _process(store, "mirror")
            _process(store, "sampler")
            store.add_evidence("shadow-start", "shadow", {"path": "builtin"})
            store.finish_step(
                "shadow-start", StepState.PASSED, "built-in mirror running", ref=started.seq,
                outcome="passed: built-in mirror running",
            )  # fmt: skip
            _rounds(store, 0, 10)
            lag_body = {
                "partitions": [
                    {"topic": "orders", "partition": p, "verdict": "OK", "trend": "catching up"}
                    for p in range(2)
                ]
            }
            _step(store, "shadow-lag", StepState.PASSED, "2 partitions within thresholds",
                  [("lag", lag_body)])  # fmt: skip
            _safe_consumers(store)
            safe_started = store.history.head()
            _safe_reports(store, 0, 5)
            store.log("gate.confirmed", step="compare", outcome="confirmed")
            started = store.claim_step("compare", 1, {"pid": 1})
            _window(store, red=True)
            store.add_evidence("compare", "comparison", {"window_id": 1})
            store.finish_step(
                "compare", StepState.FAILED, "RED orders[2] missing: 3 source records absent",
                ref=started.seq, outcome="failed: RED orders[2] missing: 3 source records absent",
            )  # fmt: skip
            red_comparison = store.history.head()
            params = {"action": "owner", "owner": "checkout-team", "retest": "2026-11-27"}
            assert runbook.decide(
                store, "scorecard:correctness", "correctness", via="console", params=params
            ).opened
            runbook.run(store, "scorecard:correctness", params=params)
            _safe_reports(store, 5, 5)
            _rounds(store, 10, 5)
            store.log("gate.confirmed", step="compare", outcome="confirmed")
            started = store.claim_step("compare", 1, {"pid": 1})
            _window(store, red=False)
            store.finish_step("compare", StepState.PASSED, "", ref=started.seq, outcome="passed")
            drill = {
                "recovered": True,
                "recovery_s": 14.0,
                "limit_s": 120.0,
                "peak_lag_records": 420,
                "disruption_seen": True,
                "timeline": ["12:01:10 target broker stopped", "12:01:24 recovered"],
            }
            _step(store, "ops-drill", StepState.PASSED, "recovered in 14 s", [("ops-drill", drill)])
            params = {"action": "waive", "reason": "no rollback drill before the pilot",
                      "expires": "2026-11-30"}  # fmt: skip
            assert runbook.decide(
                store, "scorecard:rollback", "rollback", via="console", params=params
            ).opened
            runbook.run(store, "scorecard:rollback", params=params)
        return Recorded(path, after_inventory, safe_started, red_comparison, store.history.head())
    finally:
        store.close()
