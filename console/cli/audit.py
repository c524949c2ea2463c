"""``cutover audit verify | export``: check the hash chain, or write it out as JSON Lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.runbook import witness
from console.store import Store


@command
def cmd_audit_verify(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        for note in store.notes:
            print(f"note: {note}", file=sys.stderr)
        # Always the whole chain, whatever checkpoint is recorded; and it writes nothing.
        verdict = store.audit_verify(full=True)
        if args.witness and not store.plan.audit.witness_topic:
            raise CommandError(
                "the plan names no [audit] witness_topic, so there is no witness to compare "
                "with; drop --witness",
                ExitCode.USAGE,
            )
        report = witness.check(store) if args.witness else None
        deep = None
        if args.deep:
            print(
                "checking SQLite's own structures (every page, table and index; several "
                "seconds a million entries; Ctrl-C stops it)...",
                file=sys.stderr,
            )
            deep = store.sqlite_problems()
    finally:
        store.close()
    code = ExitCode.OK
    if verdict.ok:
        print(f"OK: {verdict.count} audit entries, chain intact; head {verdict.head_hash[:16]}")
        if verdict.note:
            print(f"note: {verdict.note}")
    else:
        print(f"BROKEN: {verdict.problem}", file=sys.stderr)
        print(f"(the first {verdict.count} entries verify)", file=sys.stderr)
        code = ExitCode.FAILED
    if deep:
        shown = "; ".join(deep[:5]) + (f"; and {len(deep) - 5} more" if len(deep) > 5 else "")
        print(f"BROKEN (SQLite): {shown}", file=sys.stderr)
        print(
            "the file disagrees with itself below SQL (edited bytes, a definition swapped "
            "after it was built, or damage): what it shows cannot be trusted; restore it "
            "from a copy, and compare heads with the witness",
            file=sys.stderr,
        )
        code = ExitCode.FAILED
    elif deep is not None:
        print("SQLite: every page, table and index agrees with itself")
    if report is not None:
        if report.broken:
            print(f"BROKEN (witness): {report.broken}", file=sys.stderr)
            return ExitCode.FAILED
        for line in report.lines:
            print(line)
        if report.unwitnessed_from is not None and code == ExitCode.OK:
            code = ExitCode.NO_DATA
    return code


@command
def cmd_audit_export(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        if args.output and args.output != "-":
            # Written line by line to a file beside the target, which replaces the target
            # only once complete: a failed export leaves no half file under its name.
            tmp = Path(f"{args.output}.tmp")
            count = 0
            try:
                with tmp.open("w", encoding="utf-8") as out:
                    for line in store.audit_export():
                        out.write(line + "\n")
                        count += 1
                os.replace(tmp, args.output)
            except OSError as exc:
                raise CommandError(
                    f"cannot write {args.output} ({exc.strerror or exc}); nothing was written "
                    "there and the run database is unchanged: choose another -o path, or free "
                    "space"
                ) from None
            finally:
                tmp.unlink(missing_ok=True)
            print(f"Wrote {count} entries to {args.output}", file=sys.stderr)
        else:
            for line in store.audit_export():
                print(line)
    finally:
        store.close()
    return ExitCode.OK


def add_subparser(sub) -> None:
    """Add ``audit verify`` and ``audit export``."""
    aud = sub.add_parser("audit", help="verify or export the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    p = aud.add_parser("verify", help="check the hash chain; names the first bad entry")
    p.add_argument("db")
    p.add_argument(
        "--witness",
        action="store_true",
        help="also read the plan's witness topic on the target and compare every head it "
        "recorded with the chain (exit 1 cut or rewritten, 3 unwitnessed gates)",
    )
    p.add_argument(
        "--deep",
        action="store_true",
        help="also run SQLite's integrity check over the whole file (every page, table "
        "and index): damage below SQL that the chain cannot see (exit 1)",
    )
    p.set_defaults(func=cmd_audit_verify)
    p = aud.add_parser("export", help="write the audit log as JSON Lines")
    p.add_argument("db")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_audit_export)
