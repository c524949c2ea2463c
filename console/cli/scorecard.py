"""``cutover scorecard`` and the decisions recorded on it: ``owner``, ``waive``,
``judge`` and ``approve``.

``cutover scorecard RUN.db [--json | --format md] [--at N]`` prints the six areas as of
now (or as of audit entry N) for the pre-cutover meeting, verifying the whole audit chain
first. Its exit code says whether the cutover gates may open as far as the scorecard
goes: 0 yes, 1 an area is RED and not waived, 3 none is RED but one is GREY (missing
evidence) and not waived.

The decisions run the LOCAL step ``scorecard:<area>`` behind the same gate as in the
console (type the area's name); ``approve`` records an approval of a cutover step or of
a waiver as the login running it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from console import runbook
from console.cli.handler import CommandError, command
from console.cli.steps import emit
from console.errors import ExitCode
from console.plan import AREAS
from console.plan.steps import StepState, step_key
from console.scorecard import approvals
from console.scorecard.card import chain_state, compute
from console.scorecard.export import Section, to_json, to_markdown, to_text
from console.scorecard.model import Colour
from console.store import Store
from console.traffic.load import load as load_traffic
from console.traffic.scope import as_json as traffic_json
from console.traffic.scope import markdown as traffic_markdown


def sections(store: Store, upto: int | None) -> tuple[Section, ...]:
    """What the export shows beside the areas: the network and cost scope, when the plan
    places its parts ([topology]), from the newest sampling rounds (with --at: those
    taken by that entry's time, as a replay shows them)."""
    if store.plan.topology is None:
        return ()
    entry = store.history.entry(upto) if upto is not None else None
    view = load_traffic(store, until=entry.ts if entry else None)
    lines = traffic_markdown(view)
    if entry is not None:
        lines = [*lines[:2], f"(As of entry {upto}, {entry.ts}.)", "", *lines[2:]]
    return (Section("network_and_cost", tuple(lines), traffic_json(view)),)


@command
def cmd_scorecard(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        upto = args.at
        head = store.history.head()
        if upto is not None and not 1 <= upto <= head:
            raise CommandError(
                f"--at {upto}: the audit log has entries 1 to {head}", ExitCode.USAGE
            )
        card = compute(store, chain_state(store, full=True, upto=upto), upto=upto)
        extra = sections(store, upto)
    finally:
        store.close()
    if args.json:
        emit(to_json(card, extra))
    elif args.format == "md":
        text = to_markdown(card, extra)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    else:
        for line in to_text(card):
            print(line)
    blocking = card.blocking
    if any(a.colour is Colour.RED for a in blocking):
        return ExitCode.FAILED
    if blocking:
        return ExitCode.NO_DATA
    return ExitCode.OK


def _decide(args, area: str, params: dict) -> int:
    if area not in AREAS:
        raise CommandError(
            f"no scorecard area '{area}'; the areas are: {', '.join(AREAS)}", ExitCode.USAGE
        )
    key = step_key("scorecard", area)
    store = Store.open(args.db)
    try:
        # As 'cutover step' does: a decision whose process died mid-run (kill -9, a lost
        # SSH session) is marked interrupted, or its gate would say "already running"
        # for ever.
        for message in runbook.recover(store):
            print(f"note: {message}", file=sys.stderr)
        decision = runbook.decide(store, key, args.confirm, via="cli", params=params)
        if not decision.opened:
            raise CommandError(f"gate for '{key}' stayed shut: {decision.message}", ExitCode.USAGE)
        outcome = runbook.run(store, key, params=params)
    finally:
        store.close()
    print(f"{key}: {outcome.state.value.upper()}: {outcome.reason}")
    return ExitCode.OK if outcome.state is StepState.PASSED else ExitCode.FAILED


@command
def cmd_owner(args) -> int:
    return _decide(args, args.area, {"action": "owner", "owner": args.owner, "retest": args.retest})


@command
def cmd_waive(args) -> int:
    if args.withdraw:
        return _decide(args, args.area, {"action": "withdraw", "note": args.reason or ""})
    if not args.expires:
        raise CommandError("a waiver needs --expires DATE (YYYY-MM-DD)", ExitCode.USAGE)
    return _decide(
        args, args.area, {"action": "waive", "reason": args.reason or "", "expires": args.expires}
    )


@command
def cmd_judge(args) -> int:
    return _decide(args, args.area, {"action": "judge", "colour": args.colour, "note": args.note})


@command
def cmd_approve(args) -> int:
    store = Store.open(args.db)
    try:
        result = approvals.approve(store, args.subject, args.confirm, via="cli")
    finally:
        store.close()
    if not result.granted:
        raise CommandError(f"not approved: {result.message}", ExitCode.USAGE)
    print(result.message)
    return ExitCode.OK


def add_subparser(sub) -> None:
    """Add ``scorecard``, ``owner``, ``waive``, ``judge`` and ``approve``."""
    p = sub.add_parser("scorecard", help="the readiness scorecard: six areas, never averaged")
    p.add_argument("db")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object")
    out.add_argument("--format", choices=["text", "md"], default="text")
    p.add_argument("--at", type=int, metavar="N", help="as of audit entry N (a replay's view)")
    p.add_argument("-o", "--output", help="with --format md: write to this file")
    p.set_defaults(func=cmd_scorecard)

    area_help = f"the area: {', '.join(AREAS)}"
    p = sub.add_parser("owner", help="record the owner and retest date of a red area")
    p.add_argument("db")
    p.add_argument("area", help=area_help)
    p.add_argument("--owner", required=True)
    p.add_argument("--retest", required=True, metavar="DATE", help="YYYY-MM-DD")
    p.add_argument("--confirm", required=True, help="the area's name, as the gate asks")
    p.set_defaults(func=cmd_owner)

    p = sub.add_parser("waive", help="waive a red or grey area (an approver, from their login)")
    p.add_argument("db")
    p.add_argument("area", help=area_help)
    p.add_argument("--reason", help="why it is acceptable to go on (required)")
    p.add_argument("--expires", metavar="DATE", help="YYYY-MM-DD (the end of that day, UTC)")
    p.add_argument("--withdraw", action="store_true", help="end the waiver in force")
    p.add_argument("--confirm", required=True, help="the area's name, as the gate asks")
    p.set_defaults(func=cmd_waive)

    p = sub.add_parser("judge", help="judge an area the plan has judged by hand")
    p.add_argument("db")
    p.add_argument("area", help=area_help)
    p.add_argument("colour", choices=["green", "yellow", "red"])
    p.add_argument("--note", required=True, help="what the judgement rests on")
    p.add_argument("--confirm", required=True, help="the area's name, as the gate asks")
    p.set_defaults(func=cmd_judge)

    p = sub.add_parser(
        "approve", help="approve a cutover step or a waiver as the login running this"
    )
    p.add_argument("db")
    p.add_argument("subject", help="a cutover step (move-group:billing) or a waiver (waiver:N)")
    p.add_argument("--confirm", required=True, help="the subject again, as the gate asks")
    p.set_defaults(func=cmd_approve)
