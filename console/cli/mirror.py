"""``cutover mirror`` and ``cutover workload``: the mirror's process body and a load generator.

``cutover mirror RUN.db`` runs the built-in mirror in the foreground until SIGTERM or
SIGINT, when it commits the transaction in flight and exits 0. The shadow-start step
starts it in the background with ``processes.spawn(store, "mirror", ["mirror", db])``.

``cutover workload --bootstrap HOST:PORT`` writes production-shaped traffic to the
demo's topics for a bounded time (see :mod:`console.sandbox.workload`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from console.cli import signals
from console.cli.handler import CommandError, command
from console.sandbox import workload
from console.shadow import mirror


@command
def cmd_mirror(args) -> int:
    return mirror.run(Path(args.db), signals.stop_on_signals())


@command
def cmd_workload(args) -> int:
    progress = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    spec = workload.WorkloadSpec(
        rate=args.rate,
        duration_s=args.duration,
        max_records=args.records,
        aborted_every=args.abort_every,
        group=None if args.no_group else args.group,
        topics={r: f"{args.prefix}{r}" for r in ("orders", "payments", "customers")},
        seq_start=args.seq_start,
        writers=tuple(workload.Writer.parse(w) for w in args.writer),
        control_dir=args.control_dir,
        ledger=args.ledger,
        roles=tuple(args.roles.split(",")) if args.roles else workload.ROLES,
    )
    result = workload.run(
        args.bootstrap, spec, signals.stop_on_signals(), config=_security(args), progress=progress
    )
    print(result.summary())
    return 0


def _security(args) -> dict:
    """Client settings for a SASL listener; the password only from the environment."""
    if not args.sasl_username:
        return {}
    password = os.environ.get(args.password_env or "")
    if not password:
        raise CommandError(
            f"--sasl-username needs the password in ${args.password_env}; "
            f"export {args.password_env} and retry"
        )
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": args.sasl_username,
        "sasl.password": password,
    }


def add_subparser(sub) -> None:
    """Add ``mirror`` and ``workload`` to the ``cutover`` command line."""
    p = sub.add_parser(
        "mirror",
        help="run the built-in exactly-once mirror in the foreground (until SIGTERM)",
    )
    p.add_argument("db", help="run database whose plan names the clusters and topics")
    p.set_defaults(func=cmd_mirror)

    p = sub.add_parser(
        "workload",
        help="write production-shaped traffic to the demo topics (bounded, for demos and tests)",
    )
    p.add_argument("--bootstrap", required=True, help="HOST:PORT of the cluster to write to")
    p.add_argument("--rate", type=float, default=200.0, help="records per second (default 200)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--records", type=int, default=None, help="stop after this many records")
    p.add_argument(
        "--abort-every",
        type=int,
        default=5,
        help="abort every Nth payments transaction (default 5; 0 never)",
    )
    p.add_argument(
        "--group", default="billing", help="consumer group that reads orders and commits"
    )
    p.add_argument("--no-group", action="store_true", help="run no consumer group")
    p.add_argument(
        "--prefix", default="", help="prefix for the topic names (default: the demo's names)"
    )
    p.add_argument("--sasl-username", help="log in with SCRAM-SHA-512 as this user")
    p.add_argument(
        "--password-env",
        default="CUTOVER_WORKLOAD_PASSWORD",
        help="environment variable holding the SASL password",
    )
    p.add_argument(
        "--writer",
        action="append",
        default=[],
        metavar="ROLE=CLASS[:USER]",
        help="write ROLE (orders, payments, customers) as producer class CLASS, logged in "
        "over SASL as USER (default: the class name); repeatable",
    )
    p.add_argument(
        "--control-dir",
        help="where the producer cutover's switch files are (RUN.db.logs/switch): a writer "
        "switches clusters when its class's file says so",
    )
    p.add_argument("--ledger", help="write every acknowledged seq per topic here at the end")
    p.add_argument("--roles", help="write only these roles (comma-separated)")
    p.add_argument("--seq-start", type=int, help="the first seq header value")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=cmd_workload)
