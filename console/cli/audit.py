"""``cutover audit verify | export``: check the hash chain, or write it out as JSON Lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from console.cli.handler import command
from console.errors import ExitCode
from console.store import Store


@command
def cmd_audit_verify(args) -> int:
    store = Store.open(args.db, readonly=True)
    try:
        # Always the whole chain, whatever checkpoint is recorded; and it writes nothing.
        verdict = store.audit_verify(full=True)
    finally:
        store.close()
    if verdict.ok:
        print(f"OK: {verdict.count} audit entries, chain intact; head {verdict.head_hash[:16]}")
        return ExitCode.OK
    print(f"BROKEN: {verdict.problem}", file=sys.stderr)
    print(f"(the first {verdict.count} entries verify)", file=sys.stderr)
    return ExitCode.FAILED


@command
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
    return ExitCode.OK


def add_subparser(sub) -> None:
    """Add ``audit verify`` and ``audit export``."""
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
