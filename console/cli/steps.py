"""``cutover status`` and ``cutover step``: the run's steps, and one step run headless
behind the same gate and with the same audit entries as in the console."""

from __future__ import annotations

import json
import sys

from console import runbook
from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.plan.steps import STEPS, StepState, step_def, step_key, targets
from console.sandbox import demo
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
        notes = list(store.notes)
        waiting = {
            r.key: runbook.waiting_on(store, r.key)
            for r in rows
            if r.state not in (StepState.PASSED, StepState.RUNNING)
        }
    finally:
        store.close()
    _remember_verified(args.db, verdict)
    code = ExitCode.OK if verdict.ok else ExitCode.FAILED
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
                    {
                        "step": r.id,
                        "target": r.target or None,
                        "key": r.key,
                        "phase": r.phase,
                        "state": _state(r),
                        "reason": _reason(r),
                        "blocked": waiting.get(r.key),
                    }
                    for r in rows
                ],
            }
        )
        return code
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"Plan {plan.name}  audit: {'OK' if verdict.ok else 'BROKEN'} ({verdict.count} entries)")
    if not verdict.ok:
        print(f"  CHAIN BROKEN: {verdict.problem}")
        print(
            "  Gates that change a cluster stay shut (undo steps stay open); "
            f"'cutover audit verify {args.db}' checks every entry"
        )
    elif verdict.note:
        print(f"  note: {verdict.note}")
    if verdict.since:
        print(
            f"  (up to entry {verdict.since} verified earlier; 'cutover audit verify' checks all)"
        )
    for r in rows:
        reason = _reason(r)
        reason = f"  {reason}" if reason else ""
        print(f"  {_state(r).upper():11} {r.phase:22} {r.key}{reason}")
        why = waiting.get(r.key)
        if why:
            print(f"  {'':11} {'':22}   {why if why.startswith('blocked') else 'blocked: ' + why}")
    return code


def _state(row) -> str:
    """A step's state as a reader sees it: one whose process is gone reads interrupted
    (recorded as such at the next writable open)."""
    return "interrupted" if row.interrupted else row.state.value


def _reason(row) -> str:
    if row.interrupted:
        return f"its process (pid {row.runner_pid}) is gone; run the step again"
    return row.reason


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


def _step_key(args) -> str:
    """The step instance the command names: ``STEP`` or ``STEP --group G`` and the like."""
    step = step_def(args.step)
    target = args.target or ""
    if step.target and not target:
        names = ", ".join(targets_of(args, step)) or "none in the plan"
        raise CommandError(
            f"step '{step.id}' runs on one {step.target} at a time: add --{step.target} NAME "
            f"({names})",
            ExitCode.USAGE,
        )
    if not step.target and target:
        raise CommandError(
            f"step '{step.id}' runs once; drop the --group/--class option", ExitCode.USAGE
        )
    return step_key(step.id, target)


def targets_of(args, step) -> list[str]:
    store = Store.open(args.db, readonly=True)
    try:
        return targets(store.plan, step)
    finally:
        store.close()


@command
def cmd_step(args) -> int:
    key = _step_key(args)
    store = Store.open(args.db)
    try:
        note = demo.use_sandbox_passwords(store)
        if note and not args.json:
            print(note, file=sys.stderr)
        for message in runbook.recover(store):
            print(f"note: {message}", file=sys.stderr)
        try:
            store.step(key)
        except KeyError as exc:
            raise CommandError(str(exc).strip("'\""), ExitCode.USAGE) from None
        decision = runbook.decide(store, key, args.confirm, via="cli")
        if not decision.opened:
            raise CommandError(f"gate for '{key}' stayed shut: {decision.message}", ExitCode.USAGE)
        for warning in decision.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        progress = (lambda m: print(m, file=sys.stderr)) if not args.json else (lambda m: None)
        try:
            outcome = runbook.run(
                store, key, progress=progress, reveal=_reveal(), notes=decision.notes
            )
        except runbook.StepBusy as exc:
            store.log("step.refused", step=key, outcome=str(exc))
            raise CommandError(str(exc), ExitCode.USAGE) from None
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


def _reveal():
    """Show a generated secret on the terminal, once; None when stderr is not a terminal
    (a pipeline's log would keep it), and then a step must not generate one."""
    if not sys.stderr.isatty():
        return None

    def reveal(what: str, secret: str) -> None:
        print(
            f"\nNEW {what}, shown once; cutover keeps it nowhere, store it now "
            f"(e.g. 'cutover credentials set shadow:NAME --db RUN.db'):\n  {secret}\n",
            file=sys.stderr,
            flush=True,
        )

    return reveal


def add_subparser(sub) -> None:
    """Add ``status`` and ``step``."""
    p = sub.add_parser("status", help="the steps of a run and their states")
    p.add_argument("db")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("step", help="run one step headless, behind the same gate")
    p.add_argument("db")
    p.add_argument("step", choices=[s.id for s in STEPS])
    p.add_argument(
        "--confirm",
        required=True,
        help="the word the gate asks for (for a step run per group or class: its name)",
    )
    which = p.add_mutually_exclusive_group()
    for flag in sorted({s.target for s in STEPS if s.target}):
        which.add_argument(
            f"--{flag}",
            dest="target",
            metavar="NAME",
            help=f"the {flag} a step run per {flag} acts on",
        )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_step, target=None)
