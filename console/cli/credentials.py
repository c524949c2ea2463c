"""``cutover credentials set``: a cluster's or a shadow consumer's password into the OS
keyring, never a file."""

from __future__ import annotations

import argparse
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
    kind, _, name = args.cluster.partition(":")
    if kind == "shadow":
        try:
            plan.shadow_consumer(name)
        except KeyError as exc:
            raise CommandError(str(exc).strip("'\""), ExitCode.USAGE) from None
        where = credentials.store_shadow_password(plan, name, password)
    else:
        where = credentials.store_password(plan, args.cluster, password)
    print(f"Stored the {args.cluster} password in the OS keyring ({where})")
    return ExitCode.OK


def _cluster_or_shadow(value: str) -> str:
    """``source``, ``target`` or ``shadow:NAME`` (a shadow consumer's principal)."""
    if value in credentials.CLUSTERS or (value.startswith("shadow:") and len(value) > 7):
        return value
    raise argparse.ArgumentTypeError(
        f"'{value}' is not source, target or shadow:NAME (a shadow consumer of the plan)"
    )


def add_subparser(sub) -> None:
    """Add ``credentials set``."""
    cred = sub.add_parser("credentials", help="store cluster passwords in the OS keyring")
    cred_sub = cred.add_subparsers(dest="cred_command", required=True, metavar="ACTION")
    p = cred_sub.add_parser("set", help="store a cluster's password (prompted, never echoed)")
    p.add_argument(
        "cluster",
        type=_cluster_or_shadow,
        metavar="{source,target,shadow:NAME}",
        help="a cluster of the plan, or shadow:NAME for a shadow consumer's principal",
    )
    p.add_argument("--plan", help="plan file naming the cluster")
    p.add_argument("--db", help="run database naming the cluster (instead of --plan)")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_credentials_set)
