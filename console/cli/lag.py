"""``cutover sampler`` (the lag sampler's process body) and ``cutover lag`` (the verdicts:
exit 1 when a partition is RED, 3 when none is but one has no verdict or nothing was
sampled yet)."""

from __future__ import annotations

import json
from pathlib import Path

from console.cli import signals
from console.cli.handler import command
from console.errors import ExitCode
from console.shadow import lag
from console.store import Store
from console.views.status import UNKNOWN


def add_subparser(sub) -> None:
    p = sub.add_parser("sampler", help="sample shadow lag into the run database (a process)")
    p.add_argument("db")
    p.add_argument("--interval", type=float, help="seconds between rounds (default: the plan's)")
    p.set_defaults(func=cmd_sampler)

    p = sub.add_parser("lag", help="shadow lag per partition with trend verdicts")
    p.add_argument("db")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="every partition, not the worst 20")
    p.set_defaults(func=cmd_lag)


@command
def cmd_sampler(args) -> int:
    return lag.sampler_main(Path(args.db), args.interval, signals.stop_on_signals())


@command
def cmd_lag(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        trends = lag.latest_trends(store, store.plan)
        as_of = lag.last_sample_time(store)
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {"as_of": as_of, "partitions": [lag.row_json(t) for t in trends]},
                indent=2,
                default=str,
            )
        )
    else:
        if not trends:
            print("No lag samples yet: start the shadow path (its step starts the sampler).")
            return ExitCode.NO_DATA
        print(f"Shadow lag as of {as_of}  (worst first)")
        print(f"{'VERDICT':8} {'TREND':12} {'TOPIC':>16} {'P':>4} {'LAG rec':>12} {'LAG s':>8}")
        for t in trends if args.all else trends[:20]:
            lag_rec = UNKNOWN if t.lag_records is None else f"{t.lag_records:,}"
            lag_s = UNKNOWN if t.lag_seconds is None else f"{t.lag_seconds:.1f}"
            print(
                f"{t.verdict:8} {t.trend:12} {t.topic:>16} {t.partition:>4} "
                f"{lag_rec:>12} {lag_s:>8}"
            )
    if any(t.verdict == "RED" for t in trends):
        return ExitCode.FAILED
    if not trends or any(t.verdict == "NO_DATA" for t in trends):
        return ExitCode.NO_DATA
    return ExitCode.OK
