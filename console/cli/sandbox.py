"""``cutover sandbox up | status | down | restart``: run the local two-cluster Kafka sandbox.

Wired into the top-level ``cutover`` parser via :func:`add_subparser`. Every sub-command
takes ``--dir`` (default ``$CUTOVER_SANDBOX_DIR`` or ``~/.local/state/cutover/sandbox``)
and ``--json``. Failures print a single ``cutover: <what went wrong>; <what to do>`` line
on stderr and exit non-zero (:mod:`console.cli.handler`); they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from console.cli.handler import command
from console.errors import ExitCode
from console.sandbox import demo
from console.sandbox.cluster import Sandbox
from console.sandbox.connect import CONNECT_DIR, ConnectWorker, connect_worker
from console.sandbox.restart import restart_broker
from console.sandbox.state import (
    ADMIN_USER,
    APP_TOPIC_PREFIX,
    APP_USER,
    BILLING_USER,
    CHECKOUT_USER,
    SANDBOX_PASSWORDS,
    SandboxState,
    default_sandbox_dir,
)

EXIT_DOWN = ExitCode.FAILED  # `status`: the sandbox is not (fully) running

_CREDENTIALS_NOTE = "sandbox-only throwaway credentials for the loopback clusters"


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Add ``sandbox`` with ``up``, ``status`` and ``down`` to a top-level parser's subparsers.

    Each leaf parser sets ``func`` (taking the parsed namespace, returning an exit code),
    so the top-level CLI can dispatch with ``sys.exit(args.func(args))``.
    """
    sandbox = subparsers.add_parser(
        "sandbox",
        help="run a local Kafka 3.9 source and Kafka 4.1 target for trying things out",
        description="Local two-cluster Kafka sandbox (real Apache Kafka, loopback only).",
    )
    commands = sandbox.add_subparsers(dest="sandbox_command", metavar="{up,status,down,restart}")
    commands.required = True
    # What Ctrl-C in the middle of `up` leaves behind is cleaned up by `down`.
    sandbox.set_defaults(on_interrupt="run `cutover sandbox down` to clean up")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="sandbox directory (default: $CUTOVER_SANDBOX_DIR or "
            "~/.local/state/cutover/sandbox)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    up = commands.add_parser(
        "up", help="start both clusters (or reuse running ones) and print how to connect"
    )
    common(up)
    up.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for readiness (180)"
    )
    up.add_argument(
        "--connect",
        action="store_true",
        help="also run a Kafka Connect worker (MirrorMaker 2) on the target",
    )
    up.set_defaults(func=_run_up)

    status = commands.add_parser("status", help="check both clusters; exit 1 unless both are up")
    common(status)
    status.set_defaults(func=_run_status)

    down = commands.add_parser("down", help="stop both clusters")
    common(down)
    down.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before SIGKILL (default 30)"
    )
    down.set_defaults(func=_run_down)

    restart = commands.add_parser(
        "restart",
        help="stop one cluster's broker and start it again with the same data (failure drills)",
    )
    common(restart)
    restart.add_argument("--cluster", choices=["source", "target"], default="target")
    restart.add_argument(
        "--down-for", type=float, default=0.0, help="seconds to keep it down (default 0)"
    )
    restart.add_argument("--hard", action="store_true", help="SIGKILL instead of SIGTERM")
    restart.set_defaults(func=_run_restart)
    return sandbox


def _sandbox(args: argparse.Namespace) -> Sandbox:
    return Sandbox(args.dir if args.dir is not None else default_sandbox_dir())


def _credentials() -> dict[str, Any]:
    return {
        "note": _CREDENTIALS_NOTE,
        "mechanism": "SCRAM-SHA-512",
        "users": {
            ADMIN_USER: {"password": SANDBOX_PASSWORDS[ADMIN_USER], "role": "super user"},
            APP_USER: {
                "password": SANDBOX_PASSWORDS[APP_USER],
                "role": f"READ/WRITE/DESCRIBE topics {APP_TOPIC_PREFIX}*, READ groups "
                f"{APP_TOPIC_PREFIX}*",
            },
            BILLING_USER: {
                "password": SANDBOX_PASSWORDS[BILLING_USER],
                "role": "READ/DESCRIBE topic orders, READ group billing (the demo's consumers)",
            },
            CHECKOUT_USER: {
                "password": SANDBOX_PASSWORDS[CHECKOUT_USER],
                "role": "WRITE/DESCRIBE topic orders (the demo's checkout producers)",
            },
        },
    }


def _print_clusters(state: SandboxState) -> None:
    for info in state.clusters.values():
        health = state.health.get(info.name)
        mark = "" if health is None else ("  up" if health.up else "  DOWN")
        print(f"{info.name:<7} Kafka {info.kafka_version}{mark}  (pid {info.pid})")
        print(f"  SASL_PLAINTEXT (SCRAM-SHA-512)  {info.sasl_bootstrap}")
        print(f"  PLAINTEXT (no auth, super user) {info.plaintext_bootstrap}")
        print(f"  logs                            {info.log_dir}")
        if health is not None and health.detail:
            print(f"  problem: {health.detail}")


@command
def _run_up(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    started = time.monotonic()
    state = sandbox.up(timeout=args.timeout)
    worker = connect_worker(state) if args.connect else None
    elapsed = time.monotonic() - started
    if args.json:
        data = state.to_dict()
        data["credentials"] = _credentials()
        if worker is not None:
            data["connect"] = {"rest_url": worker.rest_url, "pid": worker.pid}
        print(json.dumps(data, indent=2))
        return ExitCode.OK
    print(f"Sandbox up in {state.root} ({elapsed:.1f} s)")
    _print_clusters(state)
    if worker is not None:
        print(f"connect Kafka Connect 4.1.1 with MirrorMaker 2  (pid {worker.pid})")
        print(f"  REST                            {worker.rest_url}")
        print(f"  logs                            {worker.log_path}")
    print(f"Credentials ({_CREDENTIALS_NOTE}), SCRAM-SHA-512:")
    print(f"  {ADMIN_USER} / {SANDBOX_PASSWORDS[ADMIN_USER]}  (super user)")
    print(
        f"  {APP_USER} / {SANDBOX_PASSWORDS[APP_USER]}  (topics and groups "
        f"{APP_TOPIC_PREFIX}* only)"
    )
    print(
        f"  {BILLING_USER} / {SANDBOX_PASSWORDS[BILLING_USER]}  (reads orders as group billing: "
        "the demo's consumers)"
    )
    print(
        f"  {CHECKOUT_USER} / {SANDBOX_PASSWORDS[CHECKOUT_USER]}  (writes orders: the demo's "
        "checkout producers)"
    )
    print("Stop with: cutover sandbox down" + (f" --dir {args.dir}" if args.dir else ""))
    return ExitCode.OK


@command
def _run_status(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    state = sandbox.status()
    if state is None:
        if args.json:
            print(json.dumps({"root": str(sandbox.root), "up": False, "clusters": {}}))
        print(
            f"cutover: no sandbox is running in {sandbox.root}; run `cutover sandbox up`",
            file=sys.stderr,
        )
        return EXIT_DOWN
    if args.json:
        print(json.dumps(state.to_dict(), indent=2))
    else:
        _print_clusters(state)
    if not state.is_up:
        down = [n for n, h in state.health.items() if not h.up]
        print(
            f"cutover: sandbox cluster(s) {', '.join(down)} in {sandbox.root} are not up; "
            "run `cutover sandbox up`",
            file=sys.stderr,
        )
        return EXIT_DOWN
    return ExitCode.OK


@command
def _run_down(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    # The demo's processes first (its workload, the mirror and sampler started in a demo
    # run): left running, they would retry against brokers that are gone.
    stopped = demo.stop_demo_processes(sandbox.root, timeout=args.timeout)
    worker = ConnectWorker.load(sandbox.root / CONNECT_DIR)
    connect_outcome = worker.stop(timeout=args.timeout) if worker is not None else None
    outcome = sandbox.down(timeout=args.timeout)
    if connect_outcome is not None:
        outcome = {"connect": connect_outcome, **outcome}
    if args.json:
        print(json.dumps({"root": str(sandbox.root), "clusters": outcome, "processes": stopped}))
        return ExitCode.OK
    for line in stopped:
        print(f"demo process {line}")
    if not outcome:
        what = "no cluster to stop" if stopped else "nothing to stop"
        print(f"No sandbox recorded in {sandbox.root}; {what}.")
    else:
        print(", ".join(f"{name}: {what}" for name, what in outcome.items()))
    return ExitCode.OK


@command
def _run_restart(args: argparse.Namespace) -> int:
    sandbox = _sandbox(args)
    started = time.monotonic()
    info = restart_broker(sandbox.root, args.cluster, hard=args.hard, down_for_s=args.down_for)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps({"cluster": args.cluster, "pid": info.pid, "seconds": elapsed}))
    else:
        print(f"{args.cluster} broker restarted in {elapsed:.1f} s (pid {info.pid})")
    return ExitCode.OK
