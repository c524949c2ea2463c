"""``cutover run`` and ``cutover demo``: the Textual console on a run database."""

from __future__ import annotations

import sys
from pathlib import Path

from console.cli.handler import command
from console.errors import ExitCode
from console.sandbox import demo
from console.store import Store


def _run_console(store: Store) -> int:
    # Textual and the panes load only for these two commands. Importing them costs about
    # 0.28 s of CPU (measured, median of 7: `/usr/bin/time python -c "import
    # console.cli.main, console.tui.app"` 0.79 s user+sys against 0.51 s without the
    # app), which every other `cutover` command and every mirror, sampler and workload
    # process would otherwise pay at each start.
    from console.tui.app import run_console

    return run_console(store)


@command
def cmd_run(args) -> int:
    store = Store.open(Path(args.db), readonly=args.replay)
    try:
        note = demo.use_sandbox_passwords(store)
        if note:
            print(note, file=sys.stderr)
        return _run_console(store)
    finally:
        store.close()


@command
def cmd_demo(args) -> int:
    db = demo.prepare(Path(args.dir), path=args.path, progress=lambda m: print(m, file=sys.stderr))
    if args.prepare_only:
        print(db)
        return ExitCode.OK
    store = Store.open(db)
    try:
        return _run_console(store)
    finally:
        store.close()


def add_subparser(sub) -> None:
    """Add ``run`` and ``demo``."""
    p = sub.add_parser("run", help="open the console on a run database")
    p.add_argument("db")
    p.add_argument("--replay", action="store_true", help="read-only: change nothing")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="start the sandbox clusters, seed them, open the console")
    p.add_argument("--dir", default=".cutover/demo", help="where the demo's run database lives")
    p.add_argument("--prepare-only", action="store_true", help="set up, print the db, exit")
    p.add_argument(
        "--path",
        choices=["builtin", "mirrormaker2"],
        default="builtin",
        help="shadow path of the demo plan (mirrormaker2 also starts a Connect worker)",
    )
    p.set_defaults(func=cmd_demo)
