"""``cutover credentials set``: a cluster's password into the OS keyring, never a file."""

from __future__ import annotations

import getpass
import sys

from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.plan import Plan, credentials, load_plan
from console.store import Store


def _plan_from(args) -> Plan:
    if args.plan:
        return load_plan(args.plan)
    if args.db:
        store = Store.open(args.db, readonly=True)
        try:
            return store.plan
        finally:
            store.close()
    raise CommandError("say which plan: --plan PLAN.toml or --db RUN.db", ExitCode.USAGE)


@command
def cmd_credentials_set(args) -> int:
    plan = _plan_from(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise CommandError(
                "no terminal to ask for the password on; pipe it in with --stdin", ExitCode.USAGE
            )
        password = getpass.getpass(f"Password for {args.cluster} ({plan.name}): ")
    where = credentials.store_password(plan, args.cluster, password)
    print(f"Stored the {args.cluster} password in the OS keyring ({where})")
    return ExitCode.OK


def add_subparser(sub) -> None:
    """Add ``credentials set``."""
    cred = sub.add_parser("credentials", help="store cluster passwords in the OS keyring")
    cred_sub = cred.add_subparsers(dest="cred_command", required=True, metavar="ACTION")
    p = cred_sub.add_parser("set", help="store a cluster's password (prompted, never echoed)")
    p.add_argument("cluster", choices=list(credentials.CLUSTERS))
    p.add_argument("--plan", help="plan file naming the cluster")
    p.add_argument("--db", help="run database naming the cluster (instead of --plan)")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_credentials_set)
