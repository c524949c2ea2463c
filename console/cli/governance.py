"""``cutover governance RUN.db``: the governance diff with each item's decision, and
deciding items from the command line (``--decide N --as accept|apply|skip``).

Exit 0 when the diff was read whole and every item is decided, 1 when something could
not be read or an item is still undecided, 3 when there is no diff yet. A decision is
written with its audit entry (who, from where) in one transaction; applying the items
decided 'apply' is the gated step ``governance-apply``.
"""

from __future__ import annotations

import json

from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.governance import evidence
from console.governance.diff import DECISIONS
from console.store import Store


def add_subparser(sub) -> None:
    p = sub.add_parser(
        "governance", help="governance diff (ACLs, users, configs, quotas, subjects) and decisions"
    )
    p.add_argument("db")
    p.add_argument("--json", action="store_true")
    p.add_argument("--decide", metavar="ITEM", help="an item's number in the listing, or its key")
    p.add_argument("--as", dest="decision", choices=DECISIONS, help="the decision for --decide")
    p.add_argument("--reason", default="", help="why (kept with the decision)")
    p.set_defaults(func=cmd_governance)


@command
def cmd_governance(args) -> int:
    if args.decide is not None or args.decision is not None:
        if args.decide is None or args.decision is None:
            raise CommandError(
                "--decide and --as go together, e.g. --decide 3 --as accept", ExitCode.USAGE
            )
        store = Store.open(args.db)
        try:
            item = evidence.decide(store, args.decide, args.decision, reason=args.reason, via="cli")
        finally:
            store.close()
        print(f"{item['key']}: {item['decision']} (by {item['decided_by']})")
        return ExitCode.OK
    store = Store.open(args.db, readonly=True)
    try:
        found = evidence.latest(store)
    finally:
        store.close()
    if found is None:
        if args.json:
            print(json.dumps({"governance": None}, indent=2))
        else:
            print("No governance diff yet: run the 'governance' step (Compare governance).")
        return ExitCode.NO_DATA
    body = found.body
    if args.json:
        print(json.dumps({"as_of": found.created_at, **body}, indent=2, sort_keys=True))
    else:
        for line in lines(body, found.created_at):
            print(line)
    if body.get("problems") or body.get("summary", {}).get("undecided"):
        return ExitCode.FAILED
    return ExitCode.OK


def lines(body: dict, as_of: str) -> list[str]:
    """The diff as text: one numbered item a line, then what was not compared."""
    s = body.get("summary", {})
    out = [
        f"Governance diff as of {as_of}: {s.get('items', 0)} difference(s), "
        f"{s.get('undecided', 0)} undecided"
    ]
    for n, item in enumerate(body.get("items", []), start=1):
        decision = item.get("decision") or "UNDECIDED"
        by = f" by {item['decided_by']}" if item.get("decided_by") else ""
        out.append(f"{n:>3}. [{decision}{by}] {item['what']}")
        out.append(f"     source: {item['source']}  target: {item['target']}  key: {item['key']}")
        fix = f"apply: {item['fix']}" if item.get("fix") else f"cannot apply: {item['why_not']}"
        out.append(f"     {fix}")
    for what, why in body.get("not_compared", {}).items():
        out.append(f"NOT COMPARED {what}: {why}")
    out += [f"PROBLEM {p}" for p in body.get("problems", [])]
    return out
