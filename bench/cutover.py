"""Producer cutover: write unavailability of a class move and the duration of its
rollback, with the demo workload writing at ``--rate`` records/s, and what was lost or
written twice, counted from an independent read of both clusters.

Each repeat builds a fresh scene on a running sandbox (its own topics, principals, plan
and run database: ``tests/producer_scene.py``), starts the built-in mirror and the
workload (class ``checkout`` idempotent on ``orders``, class ``payments`` transactional
on ``payments``, both as ordinary SCRAM users so the fence is real), compares, then:

- ``unavailability_s``: ``move-producers:checkout`` from its fence to the class's first
  write on the target (the step's own measure, stored as evidence);
- ``rollback_s``: ``rollback:checkout`` from the target fence to the class's first write
  on the source again, with ``copy-back``;
- ``lost`` / ``duplicated``: after the workload stops, every record it was acknowledged
  for (its ledger) is looked up by its ``seq`` header in a read of the source (which,
  after the rollback, must hold every record of the class once: its own writes and the
  reverse copies of target-only ones) and of the target (its copy up to the cutover
  point plus the class's own writes, before the rollback); a seq missing is lost, a seq
  seen twice on one cluster is duplicated. The console's bookkeeping is not used.

Beside the unavailability it prints the plan's quiet time and the delay from the fence
until the workload was told to switch: the unavailability is roughly their sum plus the
drain, the tail comparison and the producer's reconnection.

    python bench/cutover.py --sandbox-dir DIR [--rate 5000] [--repeat 3] [--quiet 1.0]

It prints what the workload really wrote beside the rate asked, per repeat and on the
last line: records the clusters acknowledged per second (acked, or ended with their
transaction), from the workload's ledger, before the fence (the load the move was
measured under; ``rate=NOT_REACHED`` when a repeat fell under 95 % of the asked rate)
and over the whole run (which includes the write unavailability, the rollback's fence
and the catch-up after them, so it reads lower on a busy machine). Under each repeat, the
move's sub-steps with their times, from their audit entries.

Last line: ``unavailability_s=<x> rollback_s=<x> lost=<n> duplicated=<n> asked_rps=<n>
achieved_rps=<n> over_run_rps=<n> rate=reached|NOT_REACHED`` (medians of the repeats for
the times and rates; totals over the repeats for the counts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.plan.steps import StepState  # noqa: E402
from console.sandbox import Sandbox  # noqa: E402
from console.scorecard.model import parse_time  # noqa: E402
from tests.producer_scene import (  # noqa: E402
    ADMIN_ENV,
    ADMIN_PW,
    WRITER_PW,
    Scene,
    counts,
    drill_passed_for_test,
    read_all,
    step,
    wait_for,
    waive_the_review,
)

REACHED = 0.95
"""The asked rate counts as reached when this share of it was acknowledged."""


def once(source, target, tmp: Path, rate: float, quiet: float) -> dict:
    scene = Scene(source, target, tmp)
    try:
        store = scene.build(quiet_s=quiet)
        assert step(store, "inventory", "inventory").state is StepState.PASSED
        assert step(store, "shadow-start", "start-mirror").state is StepState.PASSED
        scene.start_workload(rate=rate, duration=600)
        wait_for(
            lambda: counts(read_all(target, scene.orders)),
            120,
            "the mirror's first copies",
        )
        time.sleep(3)  # a few seconds of steady traffic before the comparison
        compared = step(store, "compare", "compare")
        assert compared.state is StepState.PASSED, compared.reason
        # The drill has its own test and runs once per plan; each repeat is a new plan.
        drill_passed_for_test(store)
        # Nor is each repeat a readiness review: the plan's approver waives what would
        # shut the move's gate, saying why, as the producer tests do.
        waive_the_review(scene.db)
        mark = store.audit_latest(1)[0].seq
        moved = step(store, "move-producers:checkout")
        assert moved.state is StepState.PASSED, moved.reason
        substeps = profile(store.audit_since(mark))
        time.sleep(3)  # the class writes on the target: target-only records
        before_rollback = read_all(target, scene.orders)
        rolled = step(store, "rollback:checkout")
        assert rolled.state is StepState.PASSED, rolled.reason
        time.sleep(2)
        ledger = scene.stop_workload()
        acked = set(ledger["topics"][scene.orders]["acked"])
        on_source = counts(read_all(source, scene.orders))
        on_target = counts(before_rollback)
        lost = len(acked - set(on_source))
        duplicated = sum(n - 1 for n in on_source.values() if n > 1) + sum(
            n - 1 for n in on_target.values() if n > 1
        )
        body = moved.detail
        told_at = body["fence_at"] + body["told_after_fence_s"]
        seen = next(
            (
                w
                for w in ledger.get("switches", [])
                if w["cluster"] == "target" and w["role"] == "orders"
            ),
            None,
        )
        return {
            # The switch sub-step from the workload's side: when it read its switch file,
            # and the first write on the target after that (its new producer's login, the
            # records the fenced source refused written again first).
            "noticed_s": seen["seen_at"] - told_at if seen else None,
            "first_write_after_noticed_s": body["first_write_at"] - seen["seen_at"]
            if seen
            else None,
            "unavailability_s": body["unavailability_s"],
            "told_after_fence_s": body["told_after_fence_s"],
            "quiet_s": body["quiet_s"],
            "rollback_s": rolled.detail["duration_s"],
            "target_only": rolled.detail["target_only_records"],
            "acked": len(acked),
            # What the workload really wrote: a writer on a busy machine may fall behind
            # the asked rate, and the figures above are only as heavy as this.
            **achieved(ledger, body["fence_at"]),
            "lost": lost,
            "duplicated": duplicated,
            "substeps": substeps,
            "drain": body["substeps"]["drain"].get("timings", {}),
            "early": body["substeps"]["drain"].get("tail", {}).get("early", "-"),
        }
    finally:
        scene.close()


def profile(entries) -> dict[str, float]:
    """Seconds each sub-step of the move took, from its audit entries (the intent and
    the outcome that refers to it)."""
    intents = {e.seq: e for e in entries if e.action.startswith("producers.")}
    out = {}
    for e in entries:
        began = intents.get(e.ref) if e.ref is not None else None
        if began is not None and began.action == e.action and e.action.count(".") == 1:
            out[e.action.partition(".")[2]] = (
                parse_time(e.ts) - parse_time(began.ts)
            ).total_seconds()
    return out


def achieved(ledger: dict, fence_at: float) -> dict:
    """The rate the clusters acknowledged, from the workload's ledger (records acked, or
    ended with their transaction, per wall-clock second; every topic it writes): over
    its whole run (the unavailability and the catch-up after it included) and before the
    fence. The first and last seconds, partly outside the run, are left out."""
    per_second = {int(k): v for k, v in ledger.get("acknowledged_per_second", {}).items()}
    if len(per_second) < 3:
        return {"achieved_rps": 0.0, "steady_rps": 0.0, "seconds": 0}
    first, last = min(per_second), max(per_second)
    run = range(first + 1, last)
    steady = range(first + 1, min(int(fence_at), last))
    return {
        "achieved_rps": sum(per_second.get(s, 0) for s in run) / len(run),
        "steady_rps": sum(per_second.get(s, 0) for s in steady) / max(1, len(steady)),
        "seconds": len(run),
    }


def reached(rps: float, asked: float) -> str:
    return "reached" if rps >= REACHED * asked else "NOT REACHED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sandbox-dir", required=True, help="a running sandbox (cutover sandbox up --dir DIR)"
    )
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=1.0, help="the plan's quiet_seconds")
    args = parser.parse_args()
    state = Sandbox(Path(args.sandbox_dir)).status()
    if state is None or not state.is_up:
        print(
            f"no running sandbox in {args.sandbox_dir}: cutover sandbox up --dir {args.sandbox_dir}"
        )
        return 2
    os.environ[ADMIN_ENV] = ADMIN_PW
    os.environ["PRODUCERS_TEST_WRITER_PASSWORD"] = WRITER_PW
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-cutover-") as tmp:
        for i in range(args.repeat):
            run = once(
                state.clusters["source"], state.clusters["target"], Path(tmp), args.rate, args.quiet
            )
            runs.append(run)
            print(
                f"run {i + 1}: unavailability {run['unavailability_s']:.2f} s (quiet "
                f"{run['quiet_s']:g} s, told to switch {run['told_after_fence_s']:.2f} s after "
                f"the fence), rollback {run['rollback_s']:.2f} s, {run['target_only']:,} "
                f"target-only, lost {run['lost']}, duplicated {run['duplicated']}; workload "
                f"asked {args.rate:,.0f} records/s, acknowledged {run['steady_rps']:,.0f}/s "
                f"before the fence: {reached(run['steady_rps'], args.rate)}; "
                f"{run['achieved_rps']:,.0f}/s over its {run['seconds']} s (the unavailability, "
                f"the rollback's fence and the catch-up after them included): "
                f"{reached(run['achieved_rps'], args.rate)}",
                flush=True,
            )
            print(
                "  move sub-steps: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in run["substeps"].items())
                + " (drain: "
                + ", ".join(f"{k} {v:.2f}" for k, v in run["drain"].items())
                + f"; tail comparison {run['early']})"
                + (
                    f"; the workload read its switch file {run['noticed_s']:.2f} s after it was "
                    f"told, its first write on the target was seen "
                    f"{run['first_write_after_noticed_s']:.2f} s later"
                    if run["noticed_s"] is not None
                    else ""
                ),
                flush=True,
            )
    unavailability = statistics.median(r["unavailability_s"] for r in runs)
    rollback = statistics.median(r["rollback_s"] for r in runs)
    told = statistics.median(r["told_after_fence_s"] for r in runs)
    # The load the move was measured under: the rate before the fence (the lowest repeat
    # decides whether it was reached); over the whole run beside it.
    rate = statistics.median(r["steady_rps"] for r in runs)
    lowest = min(r["steady_rps"] for r in runs)
    over_run = statistics.median(r["achieved_rps"] for r in runs)
    print(
        f"median over {len(runs)}: quiet {args.quiet:g} s, told to switch {told:.2f} s after "
        f"the fence, unavailability {unavailability:.2f} s (target under 5 s), rollback "
        f"{rollback:.2f} s; workload asked {args.rate:,.0f} records/s, acknowledged "
        f"{rate:,.0f}/s before the fence (lowest repeat {lowest:,.0f}/s): "
        f"{reached(lowest, args.rate)}; {over_run:,.0f}/s over the run: "
        f"{reached(over_run, args.rate)}"
    )
    print(
        f"unavailability_s={unavailability:.2f} rollback_s={rollback:.2f} "
        f"lost={sum(r['lost'] for r in runs)} duplicated={sum(r['duplicated'] for r in runs)} "
        f"asked_rps={args.rate:.0f} achieved_rps={rate:.0f} over_run_rps={over_run:.0f} "
        f"rate={reached(lowest, args.rate).replace(' ', '_')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
