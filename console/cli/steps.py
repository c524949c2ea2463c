"""``cutover status`` and ``cutover step``: the run's steps, and one step run headless
behind the same gate and with the same audit entries as in the console."""

from __future__ import annotations

import json
import sys

from console import runbook
from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.plan.steps import STEPS, StepState
from console.store import Store, StoreError


def emit(data: dict) -> None:
    """One JSON object on stdout, the way every ``--json`` of ours looks."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


@command
def cmd_status(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        rows = store.steps()
        # Only what is new since the last intact verification; 'audit verify' walks it all.
        verdict = store.audit_verify(full=False)
        plan = store.plan
    finally:
        store.close()
    _remember_verified(args.db, verdict)
    if args.json:
        emit(
            {
                "plan": plan.name,
                "audit": {
                    "ok": verdict.ok,
                    "entries": verdict.count,
                    "problem": verdict.problem,
                    "checked": verdict.checked,
                    "checked_earlier": verdict.since,
                },
                "steps": [
                    {"step": r.id, "phase": r.phase, "state": r.state.value, "reason": r.reason}
                    for r in rows
                ],
            }
        )
        return ExitCode.OK
    print(f"Plan {plan.name}  audit: {'OK' if verdict.ok else 'BROKEN'} ({verdict.count} entries)")
    if verdict.since:
        print(
            f"  (up to entry {verdict.since} verified earlier; 'cutover audit verify' checks all)"
        )
    for r in rows:
        reason = f"  {r.reason}" if r.reason else ""
        print(f"  {r.state.value.upper():8} {r.phase:22} {r.id}{reason}")
    return ExitCode.OK


def _remember_verified(db: str, verdict) -> None:
    """Record where an intact verification ended, so the next ``status`` starts there.

    The checkpoint is a cache: on a file that cannot be written (a reviewer's read-only
    copy) nothing is recorded and nothing is said.
    """
    if not verdict.ok or not verdict.checked:
        return
    try:
        store = Store.open(db)
    except StoreError:
        return
    try:
        store.save_audit_checkpoint(verdict)
    finally:
        store.close()


@command
def cmd_step(args) -> int:
    store = Store.open(args.db)
    try:
        for message in runbook.recover(store):
            print(f"note: {message}", file=sys.stderr)
        opened, message = runbook.decide(store, args.step, args.confirm, via="cli")
        if not opened:
            raise CommandError(f"gate for '{args.step}' stayed shut: {message}", ExitCode.USAGE)
        progress = (lambda m: print(m, file=sys.stderr)) if not args.json else (lambda m: None)
        outcome = runbook.run(store, args.step, progress=progress)
    finally:
        store.close()
    if args.json:
        emit(
            {
                "step": outcome.step,
                "state": outcome.state.value,
                "reason": outcome.reason,
                "evidence_id": outcome.evidence_id,
                "evidence": outcome.detail,
            }
        )
    else:
        print(
            f"{outcome.step}: {outcome.state.value.upper()}"
            + (f": {outcome.reason}" if outcome.reason else "")
        )
        for line in runbook.report_lines(outcome):
            print(line)
    return ExitCode.OK if outcome.state is StepState.PASSED else ExitCode.FAILED


def add_subparser(sub) -> None:
    """Add ``status`` and ``step``."""
    p = sub.add_parser("status", help="the steps of a run and their states")
    p.add_argument("db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("step", help="run one step headless, behind the same gate")
    p.add_argument("db")
    p.add_argument("step", choices=[s.id for s in STEPS])
    p.add_argument("--confirm", required=True, help="the word the gate asks for")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_step)
