"""``cutover plan validate | import``: check a plan file, and turn it into a run database."""

from __future__ import annotations

from pathlib import Path

from console.cli.handler import command
from console.errors import ExitCode
from console.plan import load_plan
from console.store import Store


@command
def cmd_plan_validate(args) -> int:
    plan = load_plan(args.file)
    print(
        f"OK: {args.file} is a valid plan '{plan.name}' with {len(plan.topics)} topics "
        f"and {len(plan.groups)} consumer groups"
    )
    return ExitCode.OK


@command
def cmd_plan_import(args) -> int:
    plan = load_plan(args.file)
    text = Path(args.file).read_text(encoding="utf-8")
    store = Store.create(args.db, text, plan)
    store.close()
    print(f"Imported plan '{plan.name}' into {args.db}; open it with: cutover run {args.db}")
    return ExitCode.OK


def add_subparser(sub) -> None:
    """Add ``plan validate`` and ``plan import``."""
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
