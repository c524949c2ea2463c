"""Restart one sandbox broker in place, for failure drills and tests.

A broker restart is the failure a shadow copy must ride through, so tests (and anyone
rehearsing at the terminal) need to stop one cluster's JVM and start it again with the
same data, ports and command line. ``restart_broker`` does that and records the new
pid in ``state.json`` (under the sandbox's lock), so ``cutover sandbox status|down``
keep finding it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from console.pids import pid_alive
from console.sandbox.cluster import Sandbox, probe_cluster
from console.sandbox.state import STATE_FILE, ClusterInfo, SandboxError, SandboxState


def restart_broker(
    root: Path,
    cluster: str,
    *,
    hard: bool = False,
    down_for_s: float = 0.0,
    timeout: float = 120.0,
) -> ClusterInfo:
    """Stop ``cluster``'s broker (SIGTERM, or SIGKILL with ``hard``), keep it down for
    ``down_for_s`` seconds, start it again with the same command line, and wait until
    both its listeners answer. Returns the cluster's info with the new pid."""
    sandbox = Sandbox(root)
    deadline = time.monotonic() + timeout
    with (root / ".lock").open("w") as lock:
        # The same lock `cutover sandbox up/down` take: never race a start or a stop.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = sandbox.load()
            if state is None or cluster not in state.clusters:
                raise SandboxError(f"no {cluster!r} cluster recorded in {root}")
            info = state.clusters[cluster]
            try:
                raw = Path(f"/proc/{info.pid}/cmdline").read_bytes()
            except OSError:
                raise SandboxError(
                    f"the {cluster} broker (pid {info.pid}) is not running"
                ) from None
            command = [part.decode() for part in raw.split(b"\0") if part]
            if str(info.root_dir / "server.properties") not in command:
                raise SandboxError(f"pid {info.pid} is not the {cluster} broker of {root}")
            os.kill(info.pid, signal.SIGKILL if hard else signal.SIGTERM)
            while pid_alive(info.pid):
                if time.monotonic() > deadline:
                    os.kill(info.pid, signal.SIGKILL)
                time.sleep(0.05)
            if down_for_s > 0:
                time.sleep(down_for_s)  # the outage itself is what is being drilled
            with (info.log_dir / "jvm-stdout.log").open("ab") as out:
                proc = subprocess.Popen(
                    command,
                    cwd=info.root_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            fresh = replace(info, pid=proc.pid)
            clusters = {**state.clusters, cluster: fresh}
            (root / STATE_FILE).write_text(
                SandboxState(state.root, clusters).to_json(with_health=False) + "\n"
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    while True:
        if proc.poll() is not None:
            raise SandboxError(
                f"the restarted {cluster} broker exited with code {proc.returncode}",
                hint=f"see {info.server_log}",
            )
        if probe_cluster(fresh, timeout=2.0).up:
            return fresh
        if time.monotonic() > deadline:
            raise SandboxError(
                f"the restarted {cluster} broker did not answer within {timeout:g} s",
                hint=f"see {info.server_log}",
            )
        time.sleep(0.2)  # poll interval while the JVM boots
