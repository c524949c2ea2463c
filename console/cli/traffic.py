"""``cutover traffic RUN.db``: the network and cost scope (what crosses which boundary,
per hour and per day, at the plan's prices) beside the measurements it rests on.

Markdown by default (readable as it is, and what the scorecard export includes),
``--json`` for pipelines. Exit 3 (NO DATA) while the plan has no ``[topology]`` or a
flow has not been measured yet; it is never a verdict, so never exit 1.
"""

from __future__ import annotations

import json

from console.cli.handler import command
from console.errors import ExitCode
from console.store import Store
from console.traffic.load import load
from console.traffic.scope import as_json, markdown


def add_subparser(sub) -> None:
    p = sub.add_parser("traffic", help="network and cost scope of the plan's topology")
    p.add_argument("db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_traffic)


@command
def cmd_traffic(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        view = load(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(as_json(view), indent=2, sort_keys=True))
    else:
        print("\n".join(markdown(view)))
    if not view.flows or view.cost_per_day is None:
        return ExitCode.NO_DATA
    return ExitCode.OK
