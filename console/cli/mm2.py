"""``cutover mm2 config | status | syncs``: look at the MirrorMaker 2 shadow path headless.

There is deliberately no ``deploy`` here: deploying connectors changes the target (and
starts copying production traffic), so it only happens through the gated shadow-start
step, which calls :func:`console.shadow.mm2.deploy` after the typed confirmation is logged.

* ``config`` prints the connector configs the plan produces, passwords masked.
* ``status`` shows each connector and task state (exit 0 only when all run).
* ``syncs`` reads MirrorMaker's offset-syncs and checkpoints into the run database and
  says, per partition, how coarse the offset map is.

Failures end as one ``cutover: <what>; <what to do>`` line on stderr and exit code 1,
never a traceback (:mod:`console.cli.handler`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from console import redact
from console.cli.handler import CommandError, command
from console.errors import ExitCode
from console.plan import credentials
from console.shadow import mm2
from console.store import Store


def add_subparser(sub) -> argparse.ArgumentParser:
    """Add ``mm2`` with ``config``, ``status`` and ``syncs`` to the top-level parser."""
    parser = sub.add_parser(
        "mm2",
        help="MirrorMaker 2 shadow path: connector configs, their state, the offset map",
        description="Inspect the MirrorMaker 2 connectors of a run (deploying is a gated step).",
    )
    commands = parser.add_subparsers(dest="mm2_command", required=True, metavar="ACTION")

    p = commands.add_parser("config", help="print the connector configs (passwords masked)")
    p.add_argument("db", help="run database")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replication factor for the topics MirrorMaker 2 creates (default 3)",
    )
    p.add_argument(
        "--secrets",
        choices=["inline", "env-provider"],
        default="inline",
        help="passwords in the config, or ${env:NAME} for the workers' EnvVarConfigProvider",
    )
    p.add_argument(
        "--sandbox", action="store_true", help="1-second intervals and replication factor 1"
    )
    p.set_defaults(func=_cmd_config)

    p = commands.add_parser("status", help="connector and task states (exit 1 unless all run)")
    p.add_argument("db", help="run database")
    p.add_argument("--json", action="store_true")
    p.add_argument("--connect-url", help="Kafka Connect REST URL (default: shadow.connect_url)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    p.set_defaults(func=_cmd_status)

    p = commands.add_parser(
        "syncs", help="read offset syncs and checkpoints into the run database; show coarseness"
    )
    p.add_argument("db", help="run database")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--location",
        choices=["source", "target"],
        default=None,
        help="where the offset-syncs topic is (default: look on the target, then the source)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.set_defaults(func=_cmd_syncs)
    return parser


def _open(db: str, *, readonly: bool) -> Store:
    return Store.open(db, readonly=readonly)


def _emit(data: Any) -> None:
    print(json.dumps(redact.value(data), indent=2, sort_keys=True))


@command
def _cmd_config(args: argparse.Namespace) -> int:
    store = _open(args.db, readonly=True)
    try:
        plan = store.plan
    finally:
        store.close()
    settings = mm2.Mm2Settings.sandbox() if args.sandbox else mm2.Mm2Settings()
    overrides: dict[str, Any] = {"secrets": args.secrets}
    if args.replication_factor is not None:
        if args.replication_factor < 1:
            raise CommandError("--replication-factor must be 1 or more", ExitCode.USAGE)
        overrides["replication_factor"] = args.replication_factor
        overrides["internal_replication_factor"] = args.replication_factor
    settings = dataclasses.replace(settings, **overrides)
    # Rendered without passwords, then masked: nothing secret can reach the terminal.
    configs = redact.value(mm2.connector_configs(plan, None, settings))
    if args.json:
        _emit(configs)
        return ExitCode.OK
    for name, config in configs.items():
        print(f"# {name}")
        for key in sorted(config):
            print(f"{key}={config[key]}")
        print()
    return ExitCode.OK


@command
def _cmd_status(args: argparse.Namespace) -> int:
    store = _open(args.db, readonly=True)
    try:
        plan = store.plan
    finally:
        store.close()
    states = mm2.status(plan, args.connect_url, timeout=args.timeout)
    ok = bool(states) and all(s.running for s in states)
    if args.json:
        _emit({"running": ok, "connectors": [s.to_dict() for s in states]})
    else:
        for state in states:
            print(("OK   " if state.running else "WARN ") + state.summary())
    return ExitCode.OK if ok else ExitCode.FAILED


@command
def _cmd_syncs(args: argparse.Namespace) -> int:
    store = _open(args.db, readonly=False)
    try:
        plan = store.plan
        passwords = credentials.resolve_passwords(plan)
        read = mm2.read_offset_syncs(plan, passwords, location=args.location, timeout=args.timeout)
        added = mm2.store_offset_syncs(store, read)
        ends = mm2.source_end_offsets(plan, passwords, timeout=args.timeout)
        report = []
        empty: list[str] = []
        for topic in [t.name for t in plan.topics]:
            parts = sorted(
                {p for (t, p) in ends if t == topic} | set(mm2.partitions_with_syncs(store, topic))
            )
            if not parts:
                empty.append(topic)
            for part in parts:
                report.append(
                    mm2.coarseness(store, topic, part, source_end=ends.get((topic, part)))
                )
    finally:
        store.close()
    summary = {
        "new_rows": added,
        "offset_syncs_read": len(read.syncs),
        "checkpoints_read": len(read.checkpoints),
        "offset_syncs_location": read.offset_syncs_location or None,
        "missing_topics": read.missing_topics,
        "malformed_records": read.malformed,
    }
    if args.json:
        _emit({**summary, "partitions": [c.to_dict() for c in report], "unknown_topics": empty})
        return ExitCode.OK
    where = read.offset_syncs_location or "nowhere yet"
    print(
        f"Read {len(read.syncs)} offset sync(s) (topic on the {where}) and "
        f"{len(read.checkpoints)} checkpoint(s); {added} new row(s) stored in {args.db}"
    )
    for missing in read.missing_topics:
        print(f"NOTE not found: {missing} (MirrorMaker 2 creates it once it runs)")
    if read.malformed:
        print(f"WARN {read.malformed} record(s) were not in MirrorMaker's format and were skipped")
    for item in report:
        print(item.describe())
    for topic in empty:
        print(f"NOTE {topic}: not on the source and no offset syncs stored; check the plan")
    return ExitCode.OK
