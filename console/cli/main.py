"""The ``cutover`` command line: the parser, built from an explicit list of command groups.

Each group module (one per command group) adds its sub-commands with
``add_subparser``; :data:`GROUPS` lists them in the order ``cutover --help`` shows
them. Every command runs under the one error handler (:mod:`console.cli.handler`), so
every failure an operator can cause (a bad plan, a wrong path, a missing password, an
unreachable cluster) ends as one line ``cutover: <what>; <what to do>`` on stderr, never
a traceback: tracebacks can carry secrets.

Exit codes, the one table (:class:`console.errors.ExitCode`):

====  =================================================================================
   0  done, nothing wrong
   1  ran and found a problem (RED, a failed step, a broken chain), or an error stopped it
   2  could not run as asked (gate shut, arguments that cannot work, no comparison, sandbox)
   3  ran, nothing RED, but evidence is missing (NO DATA, a GREY scorecard area)
 130  interrupted (Ctrl-C) or cancelled
 141  the reader of the output went away (``| head``)
====  =================================================================================
"""

from __future__ import annotations

import argparse

from console import __version__
from console.cli import (
    audit,
    compare,
    credentials,
    governance,
    lag,
    mirror,
    mm2,
    offsets,
    plan,
    safe,
    sandbox,
    scorecard,
    steps,
    traffic,
)
from console.cli import console as console_commands

GROUPS = (
    plan,
    credentials,
    audit,
    steps,
    scorecard,
    console_commands,
    sandbox,
    mirror,
    mm2,
    safe,
    compare,
    lag,
    governance,
    traffic,
    offsets,
)
"""The command groups, in ``--help`` order. A new command goes into one of them, or a
new module listed here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutover",
        description="Drive a Kafka shadowing migration runbook with gates and an audit log.",
    )
    parser.add_argument("--version", action="version", version=f"cutover {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``cutover`` command; returns its exit code (see the table above)."""
    args = build_parser().parse_args(argv)
    return args.func(args)
