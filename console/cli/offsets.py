"""``cutover offsets``, ``cutover offsets-sampler``, and the demo's consumer application.

* ``cutover offsets RUN.db [--group G] [--json]``: where each plan group stands and where it
  would start on the target if it moved now, from the offsets sampler's newest figures
  (read-only; works on a replayed run database). ``--now`` reads the clusters instead
  (changes nothing). Exit 1 when a partition is RED, 3 when nothing was sampled.
* ``cutover offsets RUN.db --group G --discard-plan``: set aside the offset plan an
  interrupted move of G left (audited), after looking into why it differs from now.
* ``cutover offsets-sampler RUN.db``: the sampler's process body (the shadow copy's step
  starts it).
* ``cutover demo-consumer RUN.db --group G --side source|target --sink FILE`` and
  ``cutover demo-sink RUN.db --group G --sink FILE``: the walk-through's consumer
  application and the check of its sink (:mod:`console.sandbox.consumer`).
"""

from __future__ import annotations

import json
from pathlib import Path

from console import processes
from console.cli.handler import CommandError, command
from console.cutover import sampler
from console.cutover import view as offsets_view
from console.cutover.clients import Sides
from console.cutover.evaluate import group_spec
from console.errors import ExitCode
from console.plan import credentials
from console.sandbox import consumer as demo
from console.sandbox import demo as demo_setup
from console.store import Store
from console.views.status import UNKNOWN, status


def add_subparser(sub) -> None:
    p = sub.add_parser("offsets", help="consumer groups: where they would start on the target")
    p.add_argument("db")
    p.add_argument("--group", help="one group of the plan (default: all)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--now", action="store_true", help="read the clusters now instead of the sampler's figures"
    )
    p.add_argument(
        "--discard-plan",
        action="store_true",
        help="set aside the offset plan an interrupted move of --group left (audited)",
    )
    p.set_defaults(func=cmd_offsets)

    p = sub.add_parser("offsets-sampler", help="sample the plan's groups (a process)")
    p.add_argument("db")
    p.add_argument("--interval", type=float, help="seconds between rounds")
    p.set_defaults(func=cmd_sampler)

    p = sub.add_parser(
        "demo-consumer", help="the demo's consumer application for a plan group (a process)"
    )
    p.add_argument("db")
    p.add_argument("--group", required=True)
    p.add_argument("--side", choices=("source", "target"), required=True)
    p.add_argument("--sink", required=True, type=Path, help="file the records are written to")
    p.add_argument("--password-env", help="variable holding the group principal's password")
    p.add_argument("--idle-exit", type=float, help="stop after this many seconds without records")
    p.add_argument("--records", type=int, help="stop after this many records")
    p.set_defaults(func=cmd_demo_consumer, on_interrupt="committed what was processed")

    p = sub.add_parser("demo-sink", help="check a demo consumer's sink against the source")
    p.add_argument("db")
    p.add_argument("--group", required=True)
    p.add_argument("--sink", required=True, type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo_sink)


@command
def cmd_sampler(args) -> int:
    return sampler.sampler_main(Path(args.db), args.interval)


def _print_view(view, only: str | None) -> None:
    if view.as_of:
        print(f"Offsets as of {view.as_of}{'  STALE' if view.stale else ''}  (worst first)")
    for line in view.lines:
        print(f"  {line}")
    print(
        f"{'VERDICT':9} {'GROUP / PARTITION':24} {'SOURCE':>10} {'TARGET':>10} "
        f"{'RE-READ':>8} {'SKIP':>6} {'METHOD':12} {'LAG':>8} {'TGT COMMIT':>10} BOUND"
    )

    def f(value) -> str:
        if value is None:
            return UNKNOWN
        return value if isinstance(value, str) else f"{value:,}"

    for row in view.rows:
        if only and row.group != only:
            continue
        label = row.group if row.partition is None else f"  {row.topic}:{row.partition}"
        print(
            f"{status(row.verdict).label:9} {label:24} {f(row.source):>10} {f(row.target):>10} "
            f"{f(row.replay):>8} {f(row.skip):>6} {row.method:12} {f(row.lag):>8} "
            f"{f(row.target_committed):>10} {row.bound}"
        )
        if row.partition is not None and row.verdict != "OK" and row.note:
            print(f"{'':9}   {row.note}")


@command
def cmd_offsets(args) -> int:
    if args.discard_plan:
        return _discard(args)
    readonly = not args.now
    store = Store.open(args.db, readonly=readonly)
    try:
        if args.now:
            demo_setup.use_sandbox_passwords(store)
        plan = store.plan
        if args.group:
            try:
                group_spec(plan, args.group)
            except KeyError as exc:
                raise CommandError(str(exc).strip("'\""), ExitCode.USAGE) from None
        if args.now:
            samples = {}
            with Sides(plan, credentials.resolve_passwords(plan)) as sides:
                for group in plan.groups:
                    if args.group and group.id != args.group:
                        continue
                    samples[group.id] = (
                        0,
                        store.clock(),
                        sampler.sample_group(store, plan, group, sides, {}),
                    )
            view = offsets_view.build(
                plan, samples, as_of=store.clock(), stale=False, process_lines=["read now"]
            )
        else:
            last = store.cutover.last_round()
            proc = processes.get(store, sampler.PROCESS)
            lines = []
            if proc is not None:
                lines.append(f"offsets sampler {proc.status} (pid {proc.pid}): {proc.detail}")
            view = offsets_view.build(
                plan,
                store.cutover.latest_samples(),
                as_of=last[1] if last else None,
                stale=last is not None and (proc is None or proc.status != "RUNNING"),
                process_lines=lines,
            )
    finally:
        store.close()
    rows = [r for r in view.rows if not args.group or r.group == args.group]
    if args.json:
        print(
            json.dumps(
                {
                    "as_of": view.as_of,
                    "stale": view.stale,
                    "lines": view.lines,
                    "rows": [r.__dict__ for r in rows],
                },
                indent=2,
                default=str,
            )
        )
    else:
        if not view.as_of:
            print(
                "No offsets sampled yet: start the shadow copy (it starts the sampler), or --now."
            )
        else:
            _print_view(view, args.group)
    if any(r.verdict == "RED" for r in rows):
        return ExitCode.FAILED
    if not view.as_of or any(r.verdict == "NO_DATA" for r in rows):
        return ExitCode.NO_DATA
    return ExitCode.OK


def _discard(args) -> int:
    if not args.group:
        raise CommandError("--discard-plan needs --group G", ExitCode.USAGE)
    store = Store.open(args.db)
    try:
        stored = store.cutover.latest_plan(args.group, live_only=True)
        if stored is None or stored.state == "verified":
            raise CommandError(
                f"group {args.group} has no interrupted offset plan to discard", ExitCode.USAGE
            )
        store.log(
            "offset-plan.discarded",
            step=f"move-group:{args.group}",
            params={"plan_id": stored.id, "state": stored.state},
            outcome="set aside by the operator; the next move translates afresh",
        )
        store.cutover.set_plan_state(stored.id, "discarded")
    finally:
        store.close()
    print(f"offset plan #{stored.id} of {args.group} set aside; the next move translates afresh")
    return ExitCode.OK


def _demo_plan(db: str):
    """The plan of a run database; on one ``cutover demo`` prepared, with the sandbox's
    fixed loopback passwords made visible as ``cutover run`` does."""
    store = Store.open(db)
    try:
        demo_setup.use_sandbox_passwords(store)
        return store.plan
    finally:
        store.close()


@command
def cmd_demo_consumer(args) -> int:
    plan = _demo_plan(args.db)
    return demo.main(
        plan,
        args.group,
        args.side,
        args.sink,
        password_env=args.password_env,
        idle_exit_s=args.idle_exit,
        max_records=args.records,
    )


@command
def cmd_demo_sink(args) -> int:
    plan = _demo_plan(args.db)
    if not args.sink.exists():
        raise CommandError(f"no sink file {args.sink}; run the demo consumer first", ExitCode.USAGE)
    found = demo.check_sink(
        plan, args.group, args.sink, password=credentials.resolve_password(plan, "source")
    )
    if args.json:
        print(json.dumps(found.__dict__, indent=2))
    else:
        print(found.summary())
        for seq in found.twice[:10]:
            print(f"  read twice: seq {seq}")
        for where in found.missing[:10]:
            print(f"  missing: {where}")
    return ExitCode.OK if found.ok else ExitCode.FAILED
