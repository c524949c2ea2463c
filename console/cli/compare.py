"""``cutover compare RUN.db``: the comparison, headless, for operators and CI.

Prints one line per topic and check (or, with ``--json``, one object whose
``results`` list holds every partition's and topic's checks), records the window in
the run database, and exits 0 when every check passed, 1 when something is RED, 3 when
nothing is RED but a required check had no data (missing evidence is never a pass for
a pipeline), 2 when the comparison could not run (cluster down, no password, bad
window).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from console.cli.handler import CommandError, command
from console.compare.engine import compare
from console.compare.model import CompareError, CompareRequest, Verdict, parse_bound
from console.compare.view import build_view
from console.errors import Cancelled, ExitCode
from console.plan import credentials
from console.plan.credentials import CredentialError
from console.sandbox import demo
from console.store import Store, StoreError
from console.views.status import status


def add_subparser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare",
        help="compare source and target copies of the plan's topics over a window",
        description="Compare the source and target copies of each plan topic, partition by "
        "partition: counts, missing, duplicates, extra, order, placement, values, headers, "
        "timestamps, nulls, aborted transactions, schema ids, truncation. Exit 0 when "
        "every check passed, 1 when something is RED, 3 when nothing is RED but a required "
        "check had no data, 2 when the comparison could not run.",
    )
    p.add_argument("db", help="run database (cutover plan import ...)")
    p.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC",
        help="a plan topic to compare (repeatable; default: all)",
    )
    p.add_argument(
        "--from",
        dest="start",
        metavar="WHEN",
        help="window start: a source offset (the same in every partition), a UTC time "
        "(2026-11-25T12:00:00Z) or a span ago (15m, 2h); default: the oldest retained record",
    )
    p.add_argument(
        "--to",
        dest="end",
        metavar="WHEN",
        help="window end (exclusive), same forms as --from; default: now",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="compare only what is new since the last --live window",
    )
    p.add_argument("--workers", type=int, help="partitions compared at once (default: up to 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_compare)
    return p


@command
def cmd_compare(args) -> int:
    try:
        start, end = parse_bound(args.start), parse_bound(args.end)
        if start and end and start.kind != end.kind:
            raise CompareError(
                "--from and --to must both be offsets or both be times; give them alike"
            )
        if args.live and (start or end):
            raise CompareError("--live continues from the last live window; drop --from/--to")
        request = CompareRequest(tuple(args.topic), start, end, args.live, args.workers)
        store = Store.open(args.db)
    except (CompareError, StoreError) as exc:
        return _cannot(args, str(exc))
    cancel = threading.Event()
    progress = (lambda m: None) if args.json else _Progress()
    try:
        note = demo.use_sandbox_passwords(store)
        if note and not args.json:
            print(note, file=sys.stderr)
        passwords = credentials.resolve_passwords(store.plan)
        report = compare(
            store.plan, passwords, request, store=store, cancel=cancel, progress=progress
        )
    except (CompareError, CredentialError) as exc:
        return _cannot(args, str(exc))
    except (Cancelled, KeyboardInterrupt):
        cancel.set()
        raise CommandError(
            "comparison interrupted; the window is recorded as cancelled", ExitCode.INTERRUPTED
        ) from None
    finally:
        if isinstance(progress, _Progress):
            progress.done()
        store.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        _print(report)
    if report.red:
        return ExitCode.FAILED
    return ExitCode.NO_DATA if report.missing_evidence else ExitCode.OK


def _cannot(args, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message, "results": []}, indent=2))
    raise CommandError(f"comparison could not run: {message}", ExitCode.USAGE)


class _Progress:
    """Progress on stderr, on one rewritten line when it is a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, message: str) -> None:
        if self.tty:
            print(f"\r\x1b[2K{message}", end="", file=sys.stderr, flush=True)
            self.shown = True
        elif not message.startswith("compared "):
            print(message, file=sys.stderr)

    def done(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _print(report) -> None:
    view = build_view(None, report.results)
    print(
        f"Window #{report.window_id}: {report.label}; {report.records:,} source records "
        f"in {report.elapsed_s:.1f} s"
    )
    for row in view.rows:
        figure = "" if row.count is None else f"{row.count:>12,} "
        verdict = status(row.verdict).label
        print(f"  {verdict:<10} {row.topic:<16} {row.label:<10} {figure}{row.reason}")
        if row.verdict in (Verdict.RED.value, Verdict.WARN.value):
            for example in row.examples[:3]:
                print(f"{'':14}{example}")
    red = sum(1 for r in view.rows if r.verdict == Verdict.RED.value)
    gaps = sum(1 for r in view.rows if r.verdict == Verdict.NO_DATA.value)
    print(f"{red} RED, {gaps} NO DATA (window #{report.window_id}); --json gives every partition")
