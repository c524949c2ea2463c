"""``cutover safe-consumer`` and ``cutover safe-sampler``: the background processes of the
safe consumers phase, run in the foreground until SIGTERM.

The "Start safe consumers" step starts them in the background; run by hand they need
what the step gives them (a shadow consumer takes its principal's password from its
environment only).
"""

from __future__ import annotations

from pathlib import Path

from console.cli import signals
from console.cli.handler import command
from console.safe import process


@command
def cmd_safe_consumer(args) -> int:
    return process.run(Path(args.db), args.name, signals.stop_on_signals())


@command
def cmd_safe_sampler(args) -> int:
    return process.sample(Path(args.db), signals.stop_on_signals())


def add_subparser(sub) -> None:
    """Add ``safe-consumer`` and ``safe-sampler``."""
    p = sub.add_parser(
        "safe-consumer",
        help="run one shadow consumer in the foreground (the safe-consumers step starts it)",
    )
    p.add_argument("db", help="run database whose plan names the shadow consumer")
    p.add_argument("name", help="the shadow consumer's name in the plan")
    p.set_defaults(func=cmd_safe_consumer)

    p = sub.add_parser(
        "safe-sampler",
        help="read the source groups the shadow consumers stand in for (until SIGTERM)",
    )
    p.add_argument("db")
    p.set_defaults(func=cmd_safe_sampler)
