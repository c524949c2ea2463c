"""The ``cutover`` command line: plans, credentials, audit, headless steps, the console.

Every failure an operator can cause (a bad plan, a wrong path, a missing password,
an unreachable cluster) ends as one line ``cutover: <what>; <what to do>`` on
stderr and a non-zero exit, never a traceback: tracebacks can carry secrets.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from console import __version__
from console.plan import PlanError, credentials, load_plan
from console.plan.steps import STEPS
from console.runbook import execute as steps
from console.store import Store, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command could not do its job; the message is shown as is."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def _emit(data: dict) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


# -- plan -------------------------------------------------------------------------------------


def cmd_plan_validate(args) -> int:
    plan = load_plan(args.file)
    print(
        f"OK: {args.file} is a valid plan '{plan.name}' with {len(plan.topics)} topics "
        f"and {len(plan.groups)} consumer groups"
    )
    return EXIT_OK


def cmd_plan_import(args) -> int:
    plan = load_plan(args.file)
    text = Path(args.file).read_text(encoding="utf-8")
    store = Store.create(args.db, text, plan)
    store.close()
    print(f"Imported plan '{plan.name}' into {args.db}; open it with: cutover run {args.db}")
    return EXIT_OK


# -- credentials --------------------------------------------------------------------------------


def _plan_from(args):
    if args.plan:
        return load_plan(args.plan)
    if args.db:
        store = Store.open(args.db, readonly=True)
        try:
            return store.plan
        finally:
            store.close()
    raise CommandError("say which plan: --plan PLAN.toml or --db RUN.db", EXIT_USAGE)


def cmd_credentials_set(args) -> int:
    plan = _plan_from(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not sys.stdin.isatty():
            raise CommandError(
                "no terminal to ask for the password on; pipe it in with --stdin", EXIT_USAGE
            )
        password = getpass.getpass(f"Password for {args.cluster} ({plan.name}): ")
    where = credentials.store_password(plan, args.cluster, password)
    print(f"Stored the {args.cluster} password in the OS keyring ({where})")
    return EXIT_OK


# -- audit --------------------------------------------------------------------------------------


def cmd_audit_verify(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        verdict = store.audit_verify()
    finally:
        store.close()
    if verdict.ok:
        print(f"OK: {verdict.count} audit entries, chain intact; head {verdict.head_hash[:16]}")
        return EXIT_OK
    print(f"BROKEN: {verdict.problem}", file=sys.stderr)
    print(f"(the first {verdict.count} entries verify)", file=sys.stderr)
    return EXIT_FAILED


def cmd_audit_export(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        lines = store.audit_export()
    finally:
        store.close()
    if args.output and args.output != "-":
        tmp = Path(f"{args.output}.tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(tmp, args.output)
        print(f"Wrote {len(lines)} entries to {args.output}", file=sys.stderr)
    else:
        for line in lines:
            print(line)
    return EXIT_OK


# -- steps --------------------------------------------------------------------------------------


def cmd_status(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        rows = store.steps()
        verdict = store.audit_verify()
        plan = store.plan
    finally:
        store.close()
    if args.json:
        _emit(
            {
                "plan": plan.name,
                "audit": {"ok": verdict.ok, "entries": verdict.count, "problem": verdict.problem},
                "steps": [
                    {"step": r.id, "phase": r.phase, "state": r.state.value, "reason": r.reason}
                    for r in rows
                ],
            }
        )
        return EXIT_OK
    print(f"Plan {plan.name}  audit: {'OK' if verdict.ok else 'BROKEN'} ({verdict.count} entries)")
    for r in rows:
        reason = f"  {r.reason}" if r.reason else ""
        print(f"  {r.state.value.upper():8} {r.phase:22} {r.id}{reason}")
    return EXIT_OK


def cmd_step(args) -> int:
    store = Store.open(args.db)
    try:
        for message in steps.recover(store):
            print(f"note: {message}", file=sys.stderr)
        opened, message = steps.decide(store, args.step, args.confirm, via="cli")
        if not opened:
            raise CommandError(f"gate for '{args.step}' stayed shut: {message}", EXIT_USAGE)
        progress = (lambda m: print(m, file=sys.stderr)) if not args.json else (lambda m: None)
        outcome = steps.run(store, args.step, progress=progress)
    finally:
        store.close()
    if args.json:
        _emit(
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
        if outcome.detail and outcome.step == "inventory":
            _print_inventory(outcome.detail)
    return EXIT_OK if outcome.state.value == "passed" else EXIT_FAILED


def _print_inventory(body: dict) -> None:
    for side in ("source", "target"):
        inv = body.get(side)
        if not inv:
            continue
        brokers = ", ".join(
            f"{b['id']}@{b['host']}:{b['port']} Kafka {b['release']}" for b in inv["brokers"]
        )
        user_topics = [t for t in inv["topics"] if not t["internal"]]
        print(
            f"  {side}: cluster {inv['cluster_id']}  brokers {brokers}  "
            f"{len(user_topics)} topics  {len(inv['groups'])} groups"
        )
    for problem in body.get("problems", []):
        print(f"  problem: {problem}")
    for note in body.get("notes", []):
        print(f"  note: {note}")


# -- console ------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    from console.tui.app import run_console  # Textual loads only for the console itself

    return run_console(Path(args.db), replay=args.replay)


def cmd_demo(args) -> int:
    from console.sandbox import demo

    db = demo.prepare(Path(args.dir), path=args.path, progress=lambda m: print(m, file=sys.stderr))
    if args.prepare_only:
        print(db)
        return EXIT_OK
    from console.tui.app import run_console

    return run_console(db, replay=False)


# -- wiring -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutover",
        description="Drive a Kafka shadowing migration runbook with gates and an audit log.",
    )
    parser.add_argument("--version", action="version", version=f"cutover {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="validate and import plan files").add_subparsers(
        dest="plan_command", required=True, metavar="ACTION"
    )
    p = plan.add_parser("validate", help="check a plan file and list every problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_plan_validate)
    p = plan.add_parser("import", help="create a run database from a plan")
    p.add_argument("file")
    p.add_argument("--db", required=True, help="run database to create (must not exist)")
    p.set_defaults(func=cmd_plan_import)

    cred = sub.add_parser("credentials", help="store cluster passwords in the OS keyring")
    cred_sub = cred.add_subparsers(dest="cred_command", required=True, metavar="ACTION")
    p = cred_sub.add_parser("set", help="store a cluster's password (prompted, never echoed)")
    p.add_argument("cluster", choices=["source", "target"])
    p.add_argument("--plan", help="plan file naming the cluster")
    p.add_argument("--db", help="run database naming the cluster (instead of --plan)")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_credentials_set)

    aud = sub.add_parser("audit", help="verify or export the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    p = aud.add_parser("verify", help="check the hash chain; names the first bad entry")
    p.add_argument("db")
    p.set_defaults(func=cmd_audit_verify)
    p = aud.add_parser("export", help="write the audit log as JSON Lines")
    p.add_argument("db")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_audit_export)

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

    p = sub.add_parser("run", help="open the console on a run database")
    p.add_argument("db")
    p.add_argument("--replay", action="store_true", help="read-only: change nothing")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="start the sandbox clusters, seed them, open the console")
    p.add_argument("--dir", default=".cutover/demo", help="where the demo's run database lives")
    p.add_argument("--prepare-only", action="store_true", help="set up, print the db, exit")
    p.add_argument(
        "--path",
        choices=["builtin", "mirrormaker2"],
        default="builtin",
        help="shadow path of the demo plan (mirrormaker2 also starts a Connect worker)",
    )
    p.set_defaults(func=cmd_demo)

    # Sub-commands that live beside their engine modules.
    import importlib

    for module in (
        "console.cli.sandbox",
        "console.cli.mirror",
        "console.cli.mm2",
        "console.cli.compare",
        "console.cli.lag",
    ):
        try:
            importlib.import_module(module).add_subparser(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PlanError as exc:
        for problem in exc.problems:
            print(f"cutover: {problem}", file=sys.stderr)
        print(
            f"cutover: {len(exc.problems)} problem(s); fix the plan and run again", file=sys.stderr
        )
        return EXIT_FAILED
    except CommandError as exc:
        print(f"cutover: {exc}", file=sys.stderr)
        return exc.code
    except (StoreError, credentials.CredentialError) as exc:
        print(f"cutover: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("cutover: interrupted; nothing more was done", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing to say, and nowhere to say it.
        sys.stderr.close()
        return 141
    except Exception as exc:  # noqa: BLE001 - last line of defence: no tracebacks on screen
        from console import redact

        print(
            f"cutover: internal error ({type(exc).__name__}: {redact.text(str(exc))}); "
            "nothing more was done — please report this with the command you ran",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
