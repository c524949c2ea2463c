"""Local Kafka sandbox: two real single-node KRaft clusters on loopback.

The sandbox stands in for a migration's two sides: the **source** runs Apache Kafka 3.9.1
and the **target** Apache Kafka 4.1.1, both as combined broker+controller JVMs launched
straight from jars that Maven fetches from Maven Central (no tarball, no mock).

Each cluster has three listeners on free 127.0.0.1 ports:

* ``PLAINTEXT`` - inter-broker and for tests/scripts; its clients are ``User:ANONYMOUS``,
  a super user, so treat it as the "root shell" of the sandbox;
* ``SASL_PLAINTEXT`` with SCRAM-SHA-512 - what the console itself uses, with ACLs enforced
  by ``StandardAuthorizer`` (``allow.everyone.if.no.acl.found=false``);
* ``CONTROLLER`` - the KRaft quorum (static voters).

Three SCRAM users exist from format time: ``admin`` (super user), ``app``, which may only
read/write/describe topics prefixed ``app.`` and read groups prefixed ``app.``, and the
demo's ``billing``, which may read and describe ``orders`` and read the group ``billing``.

The brokers run in their own sessions, so ``cutover sandbox up`` can return while they keep
running; ``<root>/state.json`` records ports, pids and versions (never passwords) so later
commands can find, probe and stop them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from console.pids import command_line_has, pid_alive
from console.sandbox import templates
from console.sandbox.jars import JVM_OPTIONS, fetch_jars, find_java, tail_file
from console.sandbox.state import (
    ADMIN_USER,
    APP_TOPIC_PREFIX,
    APP_USER,
    BILLING_GROUP,
    BILLING_TOPICS,
    BILLING_USER,
    CHECKOUT_TOPICS,
    CHECKOUT_USER,
    CLUSTER_VERSIONS,
    SANDBOX_PASSWORDS,
    SCRAM_MECHANISM,
    STATE_FILE,
    ClusterHealth,
    ClusterInfo,
    SandboxError,
    SandboxState,
    admin_config,
    default_sandbox_dir,
)

# librdkafka logs every refused connection while a broker boots; route those lines into
# Python logging (silent unless a caller configures it) instead of stderr.
_rdkafka_log = logging.getLogger("console.sandbox.librdkafka")

# JVMs started by this Python process, by pid. Once such a child exits it stays a zombie
# until reaped, and a zombie still "exists" for kill(pid, 0); Popen.poll() reaps it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


# --------------------------------------------------------------------------- probes


def _split_hostport(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    return host, int(port)


def _port_open(bootstrap: str) -> bool:
    try:
        with socket.create_connection(_split_hostport(bootstrap), timeout=0.5):
            return True
    except OSError:
        return False


def _metadata_error(config: dict[str, Any], timeout: float) -> str | None:
    """None when a metadata request succeeds, else why it did not."""
    admin = AdminClient({**config, "logger": _rdkafka_log})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return str(exc.args[0]) if exc.args else repr(exc)
    if not metadata.brokers:
        return "metadata response lists no brokers"
    return None


def probe_cluster(info: ClusterInfo, timeout: float = 3.0) -> ClusterHealth:
    """Check the JVM is alive and both listeners answer a metadata request."""
    alive = _pid_alive(info.pid) and _is_our_jvm(info.pid, info.root_dir)
    if not alive:
        return ClusterHealth(
            info.name, False, False, False, f"its broker (pid {info.pid}) is not running"
        )
    problems = []
    plain_err = _metadata_error(admin_config(info, "plaintext"), timeout)
    if plain_err:
        problems.append(f"PLAINTEXT {info.plaintext_bootstrap}: {plain_err}")
    sasl_err = _metadata_error(admin_config(info, "sasl"), timeout)
    if sasl_err:
        problems.append(f"SASL {info.sasl_bootstrap}: {sasl_err}")
    return ClusterHealth(info.name, True, plain_err is None, sasl_err is None, "; ".join(problems))


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    return pid_alive(pid)


def _is_our_jvm(pid: int, cluster_root: Path) -> bool:
    """Guard against pid reuse: the recorded pid must still be the JVM for this cluster."""
    return command_line_has(pid, str(cluster_root / "server.properties"))


def _free_ports(count: int) -> list[int]:
    # Hold every socket open until all are bound so the kernel hands out distinct ports.
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 bytes without padding. Kafka itself
    # never hands out ids starting with '-', because they read as command-line options.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


# --------------------------------------------------------------------------- the sandbox


class _PortClash(Exception):
    """A broker lost a race for one of its ports; the caller retries with fresh ports."""


@dataclass
class _Launch:
    """A cluster being started: its facts and, once launched, its JVM process."""

    info: ClusterInfo
    java_cmd: list[str]
    proc: subprocess.Popen[bytes] | None = None


class Sandbox:
    """The two-cluster sandbox recorded in ``root`` (see the module docstring)."""

    def __init__(self, root: Path | str | None = None, cache_dir: Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_sandbox_dir()
        self.cache_dir = cache_dir

    @property
    def state_file(self) -> Path:
        """Where ports, pids and versions are recorded."""
        return self.root / STATE_FILE

    # ----------------------------------------------------------------- public API

    def load(self) -> SandboxState | None:
        """The recorded state, unprobed, or None when nothing is recorded."""
        try:
            return SandboxState.from_json(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise SandboxError(
                f"cannot read {self.state_file}: {exc}",
                hint="run `cutover sandbox down` and `cutover sandbox up` to start afresh",
            ) from exc

    def status(self, timeout: float = 3.0) -> SandboxState | None:
        """Probe the recorded clusters; None when no sandbox is recorded in ``root``."""
        state = self.load()
        if state is None:
            return None
        health = {name: probe_cluster(info, timeout) for name, info in state.clusters.items()}
        return SandboxState(root=state.root, clusters=state.clusters, health=health)

    def up(self, timeout: float = 180) -> SandboxState:
        """Start both clusters (or return the live ones already recorded) within ``timeout``."""
        deadline = time.monotonic() + timeout
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            current = self.status()
            if current is not None and current.is_up:
                return current
            if current is not None:
                # Half-alive or stale: stop what is left, then start clean.
                self._stop(current, timeout=30)
            java = find_java()
            jar_dirs = {
                version: fetch_jars(version, self.cache_dir)
                for version in dict.fromkeys(CLUSTER_VERSIONS.values())
            }
            for attempt in range(3):
                try:
                    return self._start(java, jar_dirs, deadline)
                except _PortClash:
                    if attempt == 2:
                        raise SandboxError(
                            "brokers kept losing their ports to other processes",
                            hint="retry `cutover sandbox up`",
                        ) from None
            raise AssertionError("unreachable")

    def down(self, timeout: float = 30) -> dict[str, str]:
        """Stop the recorded clusters: SIGTERM, wait up to ``timeout``, then SIGKILL.

        Returns what happened per cluster (``stopped``, ``killed`` or ``not running``).
        Logs stay in place; the next ``up`` wipes the old data.
        """
        if not self.root.exists():
            return {}
        with self._lock():
            state = self.load()
            if state is None:
                return {}
            outcome = self._stop(state, timeout)
            self.state_file.unlink(missing_ok=True)
            return outcome

    def admin_config(
        self, cluster: str | ClusterInfo, listener: str = "sasl", user: str = ADMIN_USER
    ) -> dict[str, Any]:
        """:func:`admin_config` for a cluster given by name (``source``/``target``) or info."""
        if isinstance(cluster, str):
            state = self.load()
            if state is None or cluster not in state.clusters:
                raise SandboxError(
                    f"no {cluster!r} cluster recorded in {self.root}",
                    hint="run `cutover sandbox up`",
                )
            cluster = state.clusters[cluster]
        return admin_config(cluster, listener, user)

    # ----------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `up`s on one root would format each other's data dirs; serialise them.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _prepare(self, java: str, jar_dirs: dict[str, Path]) -> list[_Launch]:
        ports = iter(_free_ports(3 * len(CLUSTER_VERSIONS)))
        launches = []
        for name, version in CLUSTER_VERSIONS.items():
            plain, sasl, controller = next(ports), next(ports), next(ports)
            cluster_root = self.root / name
            shutil.rmtree(cluster_root, ignore_errors=True)
            data_dir, log_dir = cluster_root / "data", cluster_root / "logs"
            data_dir.mkdir(parents=True)
            log_dir.mkdir(parents=True)
            props = cluster_root / "server.properties"
            props.write_text(
                templates.server_properties(version, data_dir, plain, sasl, controller)
            )
            if int(version.split(".")[0]) >= 4:
                log_conf = cluster_root / "log4j2.properties"
                log_conf.write_text(templates.LOG4J2)
                log_flag = f"-Dlog4j2.configurationFile={log_conf}"
            else:
                log_conf = cluster_root / "log4j.properties"
                log_conf.write_text(templates.LOG4J1)
                log_flag = f"-Dlog4j.configuration=file:{log_conf}"
            java_cmd = [
                java,
                *JVM_OPTIONS,
                f"-Dkafka.logs.dir={log_dir}",
                log_flag,
                "-cp",
                f"{jar_dirs[version]}/*",
            ]
            info = ClusterInfo(
                name=name,
                kafka_version=version,
                plaintext_bootstrap=f"127.0.0.1:{plain}",
                sasl_bootstrap=f"127.0.0.1:{sasl}",
                controller_port=controller,
                pid=0,
                root_dir=cluster_root,
                log_dir=log_dir,
                cluster_id=_new_cluster_id(),
            )
            launches.append(_Launch(info, java_cmd))
        return launches

    def _format(self, launches: list[_Launch], deadline: float) -> None:
        # Format both concurrently: each is a JVM start (~1.5 s) and there are two cores.
        running = []
        for launch in launches:
            info = launch.info
            cmd = [
                *launch.java_cmd,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                info.cluster_id,
                "-c",
                str(info.root_dir / "server.properties"),
            ]
            # The passwords appear on this short-lived command line only (sandbox-only
            # credentials, loopback cluster); Kafka stores salted SCRAM hashes of them.
            for user, password in SANDBOX_PASSWORDS.items():
                cmd += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
            out_path = info.log_dir / "format.log"
            with out_path.open("wb") as out:
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            running.append((info, proc, out_path))
        failures = []
        for info, proc, out_path in running:
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
            if rc != 0:
                failures.append((info, rc, out_path))
        if failures:
            info, rc, out_path = failures[0]
            what = "timed out" if rc is None else f"failed with exit code {rc}"
            raise SandboxError(
                f"formatting the {info.name} cluster (Kafka {info.kafka_version}) {what}",
                hint=f"see {out_path}",
                details=tail_file(out_path),
            )

    def _launch(self, launch: _Launch) -> None:
        info = launch.info
        out_path = info.log_dir / "jvm-stdout.log"
        with out_path.open("wb") as out:
            # A new session keeps the broker running after `cutover sandbox up` exits and
            # out of reach of the terminal's Ctrl-C and hang-up signals.
            proc = subprocess.Popen(
                [*launch.java_cmd, "kafka.Kafka", str(info.root_dir / "server.properties")],
                cwd=info.root_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        launch.proc = proc
        launch.info = replace(info, pid=proc.pid)

    def _start(self, java: str, jar_dirs: dict[str, Path], deadline: float) -> SandboxState:
        launches = self._prepare(java, jar_dirs)
        self._format(launches, deadline)
        try:
            for launch in launches:
                self._launch(launch)
            state = SandboxState(self.root, {ln.info.name: ln.info for ln in launches})
            # Record the pids before waiting, so `down` can still find the JVMs if this
            # process is killed while they boot.
            self.state_file.write_text(state.to_json(with_health=False) + "\n")
            self._wait_ready(launches, deadline)
            for launch in launches:
                self._create_acls(launch.info, deadline)
            health = {name: ClusterHealth(name, True, True, True) for name in state.clusters}
            return SandboxState(state.root, state.clusters, health)
        except BaseException:
            # Includes KeyboardInterrupt: never leave half-started JVMs behind.
            self._stop(
                SandboxState(self.root, {ln.info.name: ln.info for ln in launches if ln.proc}),
                timeout=10,
            )
            self.state_file.unlink(missing_ok=True)
            raise

    def _wait_ready(self, launches: list[_Launch], deadline: float) -> None:
        pending = list(launches)
        while pending:
            for launch in list(pending):
                info, proc = launch.info, launch.proc
                assert proc is not None
                rc = proc.poll()
                if rc is not None:
                    log_tail = tail_file(info.server_log)
                    out_tail = tail_file(info.log_dir / "jvm-stdout.log")
                    if "Address already in use" in log_tail + out_tail:
                        raise _PortClash(info.name)
                    raise SandboxError(
                        f"the {info.name} broker (Kafka {info.kafka_version}) exited during "
                        f"startup with code {rc}",
                        hint=f"see {info.server_log}",
                        details="\n".join(t for t in (log_tail, out_tail) if t),
                    )
                if self._answers(info):
                    pending.remove(launch)
            if not pending:
                return
            if time.monotonic() > deadline:
                info = pending[0].info
                raise SandboxError(
                    f"the {info.name} broker (Kafka {info.kafka_version}) was not ready in time",
                    hint=f"see {info.server_log}",
                    details=tail_file(info.server_log),
                )
            time.sleep(0.2)  # poll interval, not a startup guess

    @staticmethod
    def _answers(info: ClusterInfo) -> bool:
        # A cheap TCP connect first: metadata requests against a closed port make
        # librdkafka retry with backoff and would only slow the polling loop down.
        if not (_port_open(info.plaintext_bootstrap) and _port_open(info.sasl_bootstrap)):
            return False
        return (
            _metadata_error(admin_config(info, "plaintext"), 2.0) is None
            and _metadata_error(admin_config(info, "sasl"), 2.0) is None
        )

    @staticmethod
    def _wanted_acls() -> dict[str, list[AclBinding]]:
        """Per principal, the bindings the sandbox gives it: ``app`` its prefix, the demo's
        ``billing`` user its topic and group, ``checkout`` WRITE on its topic (literal
        names)."""

        def allow(rtype, name, pattern, principal, op) -> AclBinding:
            return AclBinding(rtype, name, pattern, principal, "*", op, AclPermissionType.ALLOW)

        app, billing = f"User:{APP_USER}", f"User:{BILLING_USER}"
        checkout = f"User:{CHECKOUT_USER}"
        prefixed, literal = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
        wanted = {
            app: [
                allow(ResourceType.TOPIC, APP_TOPIC_PREFIX, prefixed, app, op)
                for op in (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
            ]
            + [allow(ResourceType.GROUP, APP_TOPIC_PREFIX, prefixed, app, AclOperation.READ)],
            billing: [
                allow(ResourceType.TOPIC, topic, literal, billing, op)
                for topic in BILLING_TOPICS
                for op in (AclOperation.READ, AclOperation.DESCRIBE)
            ]
            + [allow(ResourceType.GROUP, BILLING_GROUP, literal, billing, AclOperation.READ)],
            checkout: [
                allow(ResourceType.TOPIC, topic, literal, checkout, op)
                for topic in CHECKOUT_TOPICS
                for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
            ],
        }
        return wanted

    @staticmethod
    def _create_acls(info: ClusterInfo, deadline: float) -> None:
        wanted = Sandbox._wanted_acls()
        admin = AdminClient({**admin_config(info, "sasl"), "logger": _rdkafka_log})
        request_timeout = max(1.0, deadline - time.monotonic())
        try:
            bindings = [b for group in wanted.values() for b in group]
            for future in admin.create_acls(bindings, request_timeout=request_timeout).values():
                future.result()
        except KafkaException as exc:
            raise SandboxError(
                f"creating the sandbox ACLs on the {info.name} cluster failed: {exc}",
                hint=f"see {info.server_log}",
            ) from exc
        # CreateAcls returns once the controller commits; the broker's authorizer applies
        # the records a moment later. DescribeAcls is answered from that authorizer, so
        # seeing all bindings there means tests can rely on them straight away.
        for principal, bindings in wanted.items():
            match = AclBindingFilter(
                ResourceType.ANY,
                None,
                ResourcePatternType.ANY,
                principal,
                None,
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
            while True:
                found = admin.describe_acls(match, request_timeout=10).result()
                if len(found) >= len(bindings):
                    break
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"the {info.name} broker did not apply the sandbox ACLs in time",
                        hint=f"see {info.server_log}",
                    )
                time.sleep(0.1)

    def _stop(self, state: SandboxState, timeout: float) -> dict[str, str]:
        outcome: dict[str, str] = {}
        signalled = []
        for name, info in state.clusters.items():
            if info.pid and _pid_alive(info.pid) and _is_our_jvm(info.pid, info.root_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(info.pid, signal.SIGTERM)
                signalled.append(info)
            else:
                outcome[name] = "not running"
        # Both brokers shut down in parallel: signal all first, then wait.
        end = time.monotonic() + timeout
        while time.monotonic() < end and any(_pid_alive(i.pid) for i in signalled):
            time.sleep(0.1)
        for info in signalled:
            if _pid_alive(info.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(info.pid, signal.SIGKILL)
                outcome[info.name] = "killed"
            else:
                outcome[info.name] = "stopped"
        end = time.monotonic() + 10
        while time.monotonic() < end and any(_pid_alive(i.pid) for i in signalled):
            time.sleep(0.05)
        for info in signalled:
            if _pid_alive(info.pid):
                raise SandboxError(
                    f"the {info.name} broker (pid {info.pid}) survived SIGKILL",
                    hint=f"stop it by hand: kill -9 {info.pid}",
                )
            _CHILDREN.pop(info.pid, None)
        return outcome
