"""A real Kafka Connect worker for the sandbox, so MirrorMaker 2 runs the way it does in
production: as connectors on a distributed Connect cluster, deployed over REST.

One ``org.apache.kafka.connect.cli.ConnectDistributed`` JVM (Kafka 4.1.1 jars, the same
classpath as the sandbox's target broker, which already holds ``connect-mirror``) joins a
fresh Connect group on the sandbox **target** cluster. Connect workers always produce to
the cluster that backs them, and MirrorMaker 2's source connector writes its records
through the worker's producer, so backing the worker by the target is not a choice: it is
what makes the target the destination. The worker uses the target's PLAINTEXT listener
(super user, sandbox only) for its own internal topics, with replication factor 1.

The REST API listens on a free 127.0.0.1 port. ``exactly.once.source.support`` is enabled
by default (KIP-618), which makes *every* source task on this worker transactional; pass
``exactly_once=False`` for a worker that runs MirrorMaker 2 at-least-once.

The worker's state (REST URL, pid, log) is recorded in ``<root>/state.json`` (no secrets)
so another process can find and stop it. Passwords a connector config refers to through
Connect's ``EnvVarConfigProvider`` (``${env:NAME}``) reach the worker as environment
variables given to :meth:`ConnectWorker.start`, never through a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from console.pids import command_line_has, pid_alive
from console.sandbox.jars import JVM_OPTIONS, fetch_jars, find_java, tail_file
from console.sandbox.state import ADMIN_USER, SANDBOX_PASSWORDS, SandboxError, SandboxState

__all__ = [
    "CONNECT_DIR",
    "CONNECT_VERSION",
    "ENV_PROVIDER",
    "MIRROR_SOURCE_CLASS",
    "ConnectWorker",
    "connect_worker",
]

CONNECT_VERSION = "4.1.1"
MIRROR_SOURCE_CLASS = "org.apache.kafka.connect.mirror.MirrorSourceConnector"
# The name connector configs use for the environment-variable provider: ${env:NAME}.
ENV_PROVIDER = "env"
STATE_FILE = "state.json"

# Workers started by this process, by pid, so liveness checks reap exited children.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

# The brokers' JVM options (console.sandbox.cluster.JVM_OPTIONS) suit the worker too: with
# C2 allowed, the MirrorMaker benchmark (bench/mm2_part.py) got slower, not faster, as its
# compiler threads competed with the tasks for the two cores.

# log4j2 in properties format (no YAML parser needed). The client config dumps that
# Kafka logs at INFO for every consumer/producer/admin are silenced: MirrorMaker creates
# many clients and those dumps would drown the lines that explain a failed task.
_LOG4J2 = """\
name=cutover-connect
appender.connect.type=RollingFile
appender.connect.name=connect
appender.connect.fileName=${sys:kafka.logs.dir}/connect.log
appender.connect.filePattern=${sys:kafka.logs.dir}/connect.log.%i
appender.connect.layout.type=PatternLayout
appender.connect.layout.pattern=[%d] %p %X{connector.context}%m (%c)%n
appender.connect.policies.type=Policies
appender.connect.policies.size.type=SizeBasedTriggeringPolicy
appender.connect.policies.size.size=20MB
appender.connect.strategy.type=DefaultRolloverStrategy
appender.connect.strategy.max=2
rootLogger.level=INFO
rootLogger.appenderRef.connect.ref=connect
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
logger.reflections.name=org.reflections
logger.reflections.level=ERROR
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL
        return json.loads(resp.read().decode())


def _worker_properties(
    bootstrap: str, port: int, group: str, exactly_once: bool, env_names: list[str]
) -> str:
    allow = "|".join(re.escape(n) for n in env_names) or "^$"
    lines = [
        "# Written by cutover's sandbox for a throwaway Connect worker. No secrets here:",
        "# connector passwords arrive in REST requests or as ${env:NAME} references.",
        f"bootstrap.servers={bootstrap}",
        f"group.id={group}",
        f"config.storage.topic={group}-configs",
        f"offset.storage.topic={group}-offsets",
        f"status.storage.topic={group}-status",
        "config.storage.replication.factor=1",
        "offset.storage.replication.factor=1",
        "status.storage.replication.factor=1",
        # The default 25 partitions are for large clusters; 5 keeps startup quick.
        "offset.storage.partitions=5",
        "key.converter=org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter=org.apache.kafka.connect.converters.ByteArrayConverter",
        f"listeners=http://127.0.0.1:{port}",
        "rest.advertised.host.name=127.0.0.1",
        f"rest.advertised.port={port}",
        f"exactly.once.source.support={'enabled' if exactly_once else 'disabled'}",
        # Offsets (and MirrorMaker's delayed offset-syncs, which ride on offset commits)
        # every second instead of every minute, so the sandbox never looks stuck.
        "offset.flush.interval.ms=1000",
        # Kafka's own connectors declare themselves through ServiceLoader manifests; not
        # scanning the whole classpath reflectively saves seconds of startup.
        "plugin.discovery=service_load",
        # Connector configs may say ${env:NAME} instead of carrying a password, and only
        # the variables this worker was started with for that purpose can be read.
        f"config.providers={ENV_PROVIDER}",
        f"config.providers.{ENV_PROVIDER}.class="
        "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        f"config.providers.{ENV_PROVIDER}.param.allowlist.pattern={allow}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ConnectWorker:
    """A running sandbox Connect worker, as recorded in ``<root_dir>/state.json``."""

    rest_url: str
    """Base URL of the REST API, e.g. ``http://127.0.0.1:43123``."""
    pid: int
    """The worker JVM's process id."""
    root_dir: Path
    """Where its properties, logging config, state and logs live."""
    log_path: Path
    """The worker's log file (``connect.log``); kept after ``stop``."""
    group_id: str
    """The Connect group, also the prefix of its internal topics on the target."""
    exactly_once: bool
    """Whether ``exactly.once.source.support`` is enabled on this worker."""
    startup_s: float = 0.0
    """Seconds from launching the JVM until the REST API listed MirrorSourceConnector."""

    @property
    def properties(self) -> Path:
        return self.root_dir / "worker.properties"

    @property
    def offsets_topic(self) -> str:
        """The worker's ``offset.storage.topic`` (on the target), as its config says: where
        MirrorMaker 2's copy position is (a plan's ``shadow.connect_offsets_topic``)."""
        for line in self.properties.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "offset.storage.topic":
                return value.strip()
        return f"{self.group_id}-offsets"

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        state: SandboxState,
        root: Path,
        timeout: float = 120,
        *,
        exactly_once: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> ConnectWorker:
        """Start a worker backed by ``state``'s target cluster; return once it is ready.

        Ready means ``GET /health`` answers and ``GET /connector-plugins`` lists
        MirrorSourceConnector, polled until ``timeout`` seconds. ``env`` adds environment
        variables to the worker (e.g. passwords referenced as ``${env:NAME}``); their
        names, never their values, go into ``worker.properties``. A worker already
        recorded in ``root`` is stopped first.
        """
        root = Path(root)
        old = cls.load(root)
        if old is not None:
            old.stop()
        deadline = time.monotonic() + timeout
        java = find_java()
        jars = fetch_jars(CONNECT_VERSION)
        (root / "logs").mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            worker, started = cls._launch(state, root, java, jars, exactly_once, dict(env or {}))
            try:
                return worker._wait_ready(started, deadline)
            except _PortClash:
                worker.stop(timeout=5)
                if attempt == 2:
                    raise SandboxError(
                        "the Connect worker kept losing its REST port to other processes",
                        hint="retry",
                    ) from None
            except BaseException:
                worker.stop(timeout=10)
                raise
        raise AssertionError("unreachable")

    @classmethod
    def _launch(
        cls,
        state: SandboxState,
        root: Path,
        java: str,
        jars: Path,
        exactly_once: bool,
        env: dict[str, str],
    ) -> tuple[ConnectWorker, float]:
        port = _free_port()
        # A fresh group (and so fresh internal topics) per start: connectors left behind
        # by an earlier, crashed run must not come back to life on this worker.
        group = f"cutover-connect-{uuid.uuid4().hex[:8]}"
        props = root / "worker.properties"
        props.write_text(
            _worker_properties(
                state.target.plaintext_bootstrap, port, group, exactly_once, sorted(env)
            )
        )
        log_conf = root / "log4j2.properties"
        log_conf.write_text(_LOG4J2)
        log_dir = root / "logs"
        cmd = [
            java,
            *JVM_OPTIONS,
            f"-Dkafka.logs.dir={log_dir}",
            f"-Dlog4j2.configurationFile={log_conf}",
            "-cp",
            f"{jars}/*",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(props),
        ]
        started = time.monotonic()
        with (log_dir / "jvm-stdout.log").open("wb") as out:
            # Own session: the worker outlives this process and ignores the terminal's ^C.
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **env},
            )
        worker = cls(
            rest_url=f"http://127.0.0.1:{port}",
            pid=proc.pid,
            root_dir=root,
            log_path=log_dir / "connect.log",
            group_id=group,
            exactly_once=exactly_once,
        )
        _CHILDREN[proc.pid] = proc
        # Recorded before waiting, so `stop` from elsewhere finds a worker still booting.
        worker._write_state()
        return worker, started

    def _wait_ready(self, started: float, deadline: float) -> ConnectWorker:
        proc = _CHILDREN[self.pid]
        while True:
            rc = proc.poll()
            if rc is not None:
                tail = (
                    tail_file(self.log_path, 15)
                    + "\n"
                    + tail_file(self.root_dir / "logs/jvm-stdout.log", 15)
                )
                if "Address already in use" in tail:
                    raise _PortClash()
                raise SandboxError(
                    f"the Connect worker exited during startup with code {rc}",
                    hint=f"see {self.log_path}",
                    details=tail.strip(),
                )
            if self._ready():
                elapsed = time.monotonic() - started
                ready = replace(self, startup_s=round(elapsed, 2))
                ready._write_state()
                return ready
            if time.monotonic() > deadline:
                raise SandboxError(
                    "the Connect worker was not ready in time",
                    hint=f"see {self.log_path}",
                    details=tail_file(self.log_path, 15),
                )
            time.sleep(0.25)  # poll interval, not a startup guess

    def _ready(self) -> bool:
        try:
            _get_json(f"{self.rest_url}/health", 2.0)
            plugins = _get_json(f"{self.rest_url}/connector-plugins", 2.0)
        except (OSError, ValueError):  # refused, 503 while starting, half-written body
            return False
        return any(p.get("class") == MIRROR_SOURCE_CLASS for p in plugins)

    def alive(self) -> bool:
        """True while the recorded JVM runs (and is still ours, not a reused pid)."""
        proc = _CHILDREN.get(self.pid)
        if proc is not None:
            # Our own child: poll() also reaps it, so it does not linger as a zombie.
            return proc.poll() is None
        return pid_alive(self.pid) and command_line_has(self.pid, str(self.properties))

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns what happened.

        The worker leaves its group and stops its tasks on SIGTERM; connectors stay
        recorded in its config topic but no other worker ever joins that group.
        """
        outcome = "not running"
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.alive():
                time.sleep(0.1)
            outcome = "stopped"
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                outcome = "killed"
                end = time.monotonic() + 10
                while time.monotonic() < end and self.alive():
                    time.sleep(0.05)
        _CHILDREN.pop(self.pid, None)
        (self.root_dir / STATE_FILE).unlink(missing_ok=True)
        return outcome

    # ------------------------------------------------------------------ state

    @classmethod
    def load(cls, root: Path) -> ConnectWorker | None:
        """The worker recorded in ``root``, or None (nothing recorded, or it is gone)."""
        try:
            data = json.loads((Path(root) / STATE_FILE).read_text())
            worker = cls(
                rest_url=data["rest_url"],
                pid=int(data["pid"]),
                root_dir=Path(data["root_dir"]),
                log_path=Path(data["log_path"]),
                group_id=data["group_id"],
                exactly_once=bool(data["exactly_once"]),
                startup_s=float(data.get("startup_s", 0.0)),
            )
        except (OSError, ValueError, KeyError):
            return None
        return worker if worker.alive() else None

    def _write_state(self) -> None:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        (self.root_dir / STATE_FILE).write_text(json.dumps(data, indent=2) + "\n")


class _PortClash(Exception):
    """The REST port was taken between choosing it and the worker binding it."""


CONNECT_DIR = "connect"


def connect_worker(state: SandboxState) -> ConnectWorker:
    """The sandbox's Kafka Connect worker, started if it is not running. Its environment
    holds the sandbox admin password under the demo plan's variable names, so connector
    configs can say ${env:...} instead of carrying it (sandbox-only credentials)."""
    root = state.root / CONNECT_DIR
    worker = ConnectWorker.load(root)
    if worker is not None and worker.alive():
        return worker
    env = {
        "CUTOVER_DEMO_SOURCE_PASSWORD": SANDBOX_PASSWORDS[ADMIN_USER],
        "CUTOVER_DEMO_TARGET_PASSWORD": SANDBOX_PASSWORDS[ADMIN_USER],
    }
    return ConnectWorker.start(state, root, env=env)
