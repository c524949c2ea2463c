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

Two SCRAM users exist from format time: ``admin`` (super user) and ``app``, which may only
read/write/describe topics prefixed ``app.`` and read groups prefixed ``app.``.

The brokers run in their own sessions, so ``cutover sandbox up`` can return while they keep
running; ``<root>/state.json`` records ports, pids and versions (never passwords) so later
commands can find, probe and stop them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from console.pids import command_line_has, pid_alive

__all__ = [
    "ADMIN_USER",
    "APP_TOPIC_PREFIX",
    "APP_USER",
    "CLUSTER_VERSIONS",
    "SANDBOX_PASSWORDS",
    "SUPPORTED_VERSIONS",
    "ClusterHealth",
    "ClusterInfo",
    "Sandbox",
    "SandboxError",
    "SandboxState",
    "admin_config",
    "api_versions",
    "default_cache_dir",
    "default_sandbox_dir",
    "fetch_jars",
    "find_java",
    "probe_cluster",
]

# Sandbox-only throwaway credentials. They protect nothing: the clusters listen on
# 127.0.0.1 only and are wiped on every `up`. They are fixed so that tests, the demo and a
# person at the terminal can all log in without a secret store. We never write them to a
# file; Kafka stores only SCRAM hashes of them in its metadata log.
ADMIN_USER = "admin"
APP_USER = "app"
SANDBOX_PASSWORDS: dict[str, str] = {
    ADMIN_USER: "admin-sandbox-pw",
    APP_USER: "app-sandbox-pw",
}
SCRAM_MECHANISM = "SCRAM-SHA-512"
APP_TOPIC_PREFIX = "app."

# Kafka version -> Maven profile in pom.xml (one classpath per version).
SUPPORTED_VERSIONS: dict[str, str] = {"3.9.1": "kafka-3.9", "4.1.1": "kafka-4.1"}
# Cluster name -> Kafka version. Ordered: the source is started (and listed) first.
CLUSTER_VERSIONS: dict[str, str] = {"source": "3.9.1", "target": "4.1.1"}

POM_PATH = Path(__file__).with_name("pom.xml")
FETCH_MARKER = "cutover-fetch.json"
STATE_FILE = "state.json"
MIN_JAVA = 17  # Kafka 4.x brokers need Java 17; 3.9 runs on it too.

# Measured on a 2-core box (two brokers starting at once): C1-only JIT
# (TieredStopAtLevel=1) halves `up` from ~7 s to ~4 s, because C2 compiler threads no longer
# compete with startup for the cores, and it cost no measurable throughput with a Python
# producer at ~0.6M msg/s. SerialGC skips G1's helper threads, which matter on 2 cores.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

_log = logging.getLogger(__name__)
# librdkafka logs every refused connection while a broker boots; route those lines into
# Python logging (silent unless a caller configures it) instead of stderr.
_rdkafka_log = logging.getLogger("console.sandbox.librdkafka")

# JVMs started by this Python process, by pid. Once such a child exits it stays a zombie
# until reaped, and a zombie still "exists" for kill(pid, 0); Popen.poll() reaps it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(Exception):
    """The sandbox could not be fetched, started, probed or stopped.

    ``message`` says what went wrong and ``hint`` what to do, both one line; ``details``
    (possibly many lines, e.g. a log tail) only appears in ``str()``.
    """

    def __init__(self, message: str, *, hint: str = "", details: str = "") -> None:
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(message)

    def one_line(self) -> str:
        """Message and hint on a single line, for CLI output."""
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        text = self.one_line()
        return f"{text}\n{self.details}" if self.details else text


# --------------------------------------------------------------------------- locations


def default_cache_dir() -> Path:
    """Jar cache: ``$CUTOVER_CACHE_DIR`` or ``~/.cache/cutover``."""
    env = os.environ.get("CUTOVER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cutover"


def default_sandbox_dir() -> Path:
    """Sandbox root for people: ``$CUTOVER_SANDBOX_DIR`` or ``~/.local/state/cutover/sandbox``."""
    env = os.environ.get("CUTOVER_SANDBOX_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "state" / "cutover" / "sandbox"


# --------------------------------------------------------------------------- tools


def find_java() -> str:
    """Path of a Java 17+ ``java`` binary ($JAVA_HOME first, then PATH), or SandboxError."""
    java: str | None = None
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            java = str(candidate)
    java = java or shutil.which("java")
    if java is None:
        raise SandboxError(
            "Java not found (no java on PATH or in $JAVA_HOME)",
            hint=f"install a Java {MIN_JAVA}+ runtime "
            "(e.g. `apt-get install openjdk-17-jre-headless`)",
        )
    major = _java_major(java)
    if major is not None and major < MIN_JAVA:
        raise SandboxError(
            f"{java} is Java {major}, but Kafka 4.x needs Java {MIN_JAVA}+",
            hint=f"install a Java {MIN_JAVA}+ runtime and put it first on PATH or in $JAVA_HOME",
        )
    return java


def _java_major(java: str) -> int | None:
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # `java -version` writes to stderr, e.g. 'openjdk version "17.0.15"' or '"1.8.0_392"'.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _find_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SandboxError(
            "Maven (mvn), needed once to fetch the Kafka jars, is not on PATH",
            hint="install Apache Maven 3.6+, e.g. `apt-get install maven`",
        )
    return mvn


# --------------------------------------------------------------------------- jars


def fetch_jars(version: str, cache_dir: Path | None = None) -> Path:
    """Fetch the runtime jars of Kafka ``version`` into ``<cache>/kafka-<version>/``.

    Returns that folder (use ``<folder>/*`` as the classpath). A marker file written after
    a complete fetch makes later calls return at once without Maven, Java or the network;
    the marker records the pom.xml digest so editing the pom triggers a re-fetch.
    """
    profile = SUPPORTED_VERSIONS.get(version)
    if profile is None:
        raise SandboxError(
            f"unsupported Kafka version {version!r}",
            hint=f"use one of {', '.join(SUPPORTED_VERSIONS)}",
        )
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / f"kafka-{version}"
    pom_digest = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    if _fetch_complete(dest, pom_digest):
        return dest

    mvn = _find_maven()
    find_java()  # Maven needs a JVM too; fail with the install hint rather than Maven's.
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # Fetch into a private folder and rename it into place, so an interrupted or
        # concurrent fetch never leaves a half-filled classpath behind the final name.
        tmp = Path(tempfile.mkdtemp(prefix=f".kafka-{version}-", dir=cache))
    except OSError as exc:
        raise SandboxError(
            f"cannot create the jar cache in {cache}: {exc.strerror}",
            hint="set $CUTOVER_CACHE_DIR to a writable directory",
        ) from exc
    try:
        jars = _maven_copy_dependencies(mvn, profile, version, tmp)
        marker = {
            "kafka_version": version,
            "profile": profile,
            "pom_sha256": pom_digest,
            "jars": jars,
        }
        (tmp / FETCH_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError as exc:
            # Another process may have finished the same fetch first; theirs is as good.
            if not _fetch_complete(dest, pom_digest):
                raise SandboxError(
                    f"cannot move the fetched jars into {dest}: {exc.strerror}",
                    hint="check the permissions of the jar cache ($CUTOVER_CACHE_DIR)",
                ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already after a successful rename
    return dest


def _maven_copy_dependencies(mvn: str, profile: str, version: str, out_dir: Path) -> list[str]:
    """Run Maven's copy-dependencies for one profile; return the jar names it wrote."""
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "-P",
        profile,
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        "-DincludeScope=runtime",
    ]
    _log.info("fetching Kafka %s jars: %s", version, " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(
            f"Maven took over 30 minutes fetching the Kafka {version} jars",
            hint="check network access to Maven Central",
        ) from exc
    jars = sorted(p.name for p in out_dir.glob("*.jar"))
    if proc.returncode != 0 or not jars:
        raise SandboxError(
            f"Maven could not fetch the Kafka {version} jars (exit code {proc.returncode})",
            hint="check network access to Maven Central and ~/.m2/settings.xml",
            details=_tail_text(proc.stdout + proc.stderr, 15),
        )
    return jars


def _fetch_complete(dest: Path, pom_digest: str) -> bool:
    try:
        marker = json.loads((dest / FETCH_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("pom_sha256") == pom_digest


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class ClusterInfo:
    """Where one sandbox cluster listens and lives. Holds no secrets."""

    name: str
    kafka_version: str
    plaintext_bootstrap: str
    sasl_bootstrap: str
    controller_port: int
    pid: int
    root_dir: Path
    log_dir: Path
    cluster_id: str = ""

    @property
    def server_log(self) -> Path:
        """The broker's main log file."""
        return self.log_dir / "server.log"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        return {
            "name": self.name,
            "kafka_version": self.kafka_version,
            "plaintext_bootstrap": self.plaintext_bootstrap,
            "sasl_bootstrap": self.sasl_bootstrap,
            "controller_port": self.controller_port,
            "pid": self.pid,
            "root_dir": str(self.root_dir),
            "log_dir": str(self.log_dir),
            "cluster_id": self.cluster_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            kafka_version=data["kafka_version"],
            plaintext_bootstrap=data["plaintext_bootstrap"],
            sasl_bootstrap=data["sasl_bootstrap"],
            controller_port=int(data["controller_port"]),
            pid=int(data["pid"]),
            root_dir=Path(data["root_dir"]),
            log_dir=Path(data["log_dir"]),
            cluster_id=data.get("cluster_id", ""),
        )


@dataclass(frozen=True)
class ClusterHealth:
    """Result of probing one cluster: process alive, and a metadata request per listener."""

    name: str
    pid_alive: bool
    plaintext_ok: bool
    sasl_ok: bool
    detail: str = ""

    @property
    def up(self) -> bool:
        """True when the JVM runs and both listeners answered a metadata request."""
        return self.pid_alive and self.plaintext_ok and self.sasl_ok

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "up": self.up,
            "pid_alive": self.pid_alive,
            "plaintext_ok": self.plaintext_ok,
            "sasl_ok": self.sasl_ok,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SandboxState:
    """A recorded sandbox; ``health`` is filled in when it was just probed."""

    root: Path
    clusters: dict[str, ClusterInfo]
    health: dict[str, ClusterHealth] = field(default_factory=dict)

    @property
    def source(self) -> ClusterInfo:
        """The Kafka 3.9 cluster."""
        return self.clusters["source"]

    @property
    def target(self) -> ClusterInfo:
        """The Kafka 4.1 cluster."""
        return self.clusters["target"]

    @property
    def is_up(self) -> bool:
        """True when every cluster was probed and answered on both listeners."""
        return bool(self.clusters) and all(
            name in self.health and self.health[name].up for name in self.clusters
        )

    def to_dict(self, *, with_health: bool = True) -> dict[str, Any]:
        """JSON-ready dict; ``with_health=False`` gives what ``state.json`` holds."""
        clusters = {}
        for name, info in self.clusters.items():
            entry = info.to_dict()
            if with_health and name in self.health:
                entry["health"] = self.health[name].to_dict()
            clusters[name] = entry
        data: dict[str, Any] = {"root": str(self.root), "clusters": clusters}
        if with_health and self.health:
            data["up"] = self.is_up
        return data

    def to_json(self, *, with_health: bool = True) -> str:
        """The state as indented JSON text (no passwords)."""
        return json.dumps(self.to_dict(with_health=with_health), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SandboxState:
        """Parse what :meth:`to_json` wrote (health is not restored)."""
        data = json.loads(text)
        clusters = {name: ClusterInfo.from_dict(c) for name, c in data["clusters"].items()}
        return cls(root=Path(data["root"]), clusters=clusters)


def admin_config(
    cluster: ClusterInfo, listener: str = "sasl", user: str = ADMIN_USER
) -> dict[str, Any]:
    """A confluent-kafka client config for ``cluster``.

    ``listener="sasl"`` logs in over SCRAM-SHA-512 as ``user`` (``admin`` or ``app``) with
    the sandbox-only password. ``listener="plaintext"`` needs no login: its clients are
    ``User:ANONYMOUS``, a super user, so asking for another user there is an error rather
    than silently handing out super-user rights.
    """
    if listener == "plaintext":
        if user != ADMIN_USER:
            raise ValueError(
                f"the PLAINTEXT listener has no users (clients are User:ANONYMOUS); "
                f"use listener='sasl' to connect as {user!r}"
            )
        return {"bootstrap.servers": cluster.plaintext_bootstrap}
    if listener != "sasl":
        raise ValueError(f"listener must be 'sasl' or 'plaintext', not {listener!r}")
    if user not in SANDBOX_PASSWORDS:
        raise ValueError(f"unknown sandbox user {user!r}; known: {', '.join(SANDBOX_PASSWORDS)}")
    return {
        "bootstrap.servers": cluster.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.username": user,
        "sasl.password": SANDBOX_PASSWORDS[user],
    }


# --------------------------------------------------------------------------- probes


def api_versions(host: str, port: int, timeout: float = 5.0) -> list[tuple[int, int, int]]:
    """Send a raw ApiVersions v0 request; return the broker's ``(api_key, min, max)`` list.

    v0 is used because every broker still accepts it and its response is fixed-width, so no
    Kafka client library is needed. Ranges differ between releases (4.0 dropped many old
    versions, KIP-896), which makes them an observable fingerprint of the broker version.
    """
    client_id = b"cutover-sandbox"
    correlation_id = 0x5AFE
    # Request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id.
    body = (
        (18).to_bytes(2, "big", signed=True)
        + (0).to_bytes(2, "big", signed=True)
        + correlation_id.to_bytes(4, "big", signed=True)
        + len(client_id).to_bytes(2, "big", signed=True)
        + client_id
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(len(body).to_bytes(4, "big", signed=True) + body)
        size = int.from_bytes(_recv_exact(sock, 4), "big", signed=True)
        data = _recv_exact(sock, size)
    got_id = int.from_bytes(data[0:4], "big", signed=True)
    error_code = int.from_bytes(data[4:6], "big", signed=True)
    count = int.from_bytes(data[6:10], "big", signed=True)
    if got_id != correlation_id:
        raise SandboxError(f"ApiVersions answer from {host}:{port} has a foreign correlation id")
    if error_code != 0:
        raise SandboxError(f"ApiVersions on {host}:{port} failed with error code {error_code}")
    result = []
    for i in range(count):
        off = 10 + 6 * i
        key, low, high = (
            int.from_bytes(data[off + j : off + j + 2], "big", signed=True) for j in (0, 2, 4)
        )
        result.append((key, low, high))
    return result


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        buf.extend(chunk)
    return bytes(buf)


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
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

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


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tail_file(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a (possibly large) log file, or '' if unreadable."""
    try:
        with path.open("rb") as fh:
            # Logs can be large; the last 64 KiB hold far more than `lines` lines.
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return _tail_text(text, lines)


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


# --------------------------------------------------------------------------- config files


def _server_properties(version: str, data_dir: Path, plain: int, sasl: int, controller: int) -> str:
    lines = [
        "# Written by cutover's sandbox for a throwaway loopback cluster. No secrets here:",
        "# SCRAM users were added at format time and live hashed in the metadata log.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        "listeners="
        f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},"
        f"CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}",
        "listener.security.protocol.map="
        "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        # The server side of SCRAM only needs the login module; credentials come from the
        # metadata log, so no password belongs in this file.
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        # ANONYMOUS is the broker itself on PLAINTEXT/CONTROLLER (and any PLAINTEXT client).
        f"super.users=User:{ADMIN_USER};User:ANONYMOUS",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "default.replication.factor=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
    ]
    if int(version.split(".")[0]) >= 4:
        lines += [
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ]
    return "\n".join(lines) + "\n"


# Kafka 3.9 logs through reload4j (log4j 1.x API); authorizer decisions get their own file
# as in the release tarball, which makes ACL denials easy to find when a test fails.
_LOG4J1 = """\
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File=${kafka.logs.dir}/server.log
log4j.appender.server.MaxFileSize=20MB
log4j.appender.server.MaxBackupIndex=2
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.authorizer=org.apache.log4j.RollingFileAppender
log4j.appender.authorizer.File=${kafka.logs.dir}/authorizer.log
log4j.appender.authorizer.MaxFileSize=20MB
log4j.appender.authorizer.MaxBackupIndex=2
log4j.appender.authorizer.layout=org.apache.log4j.PatternLayout
log4j.appender.authorizer.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.authorizer.logger=INFO, authorizer
log4j.additivity.kafka.authorizer.logger=false
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

# Kafka 4.x logs through log4j2. The properties format needs no YAML parser on the path.
_LOG4J2 = """\
name=cutover-sandbox
appender.server.type=RollingFile
appender.server.name=server
appender.server.fileName=${sys:kafka.logs.dir}/server.log
appender.server.filePattern=${sys:kafka.logs.dir}/server.log.%i
appender.server.layout.type=PatternLayout
appender.server.layout.pattern=[%d] %p %m (%c)%n
appender.server.policies.type=Policies
appender.server.policies.size.type=SizeBasedTriggeringPolicy
appender.server.policies.size.size=20MB
appender.server.strategy.type=DefaultRolloverStrategy
appender.server.strategy.max=2
appender.authorizer.type=RollingFile
appender.authorizer.name=authorizer
appender.authorizer.fileName=${sys:kafka.logs.dir}/authorizer.log
appender.authorizer.filePattern=${sys:kafka.logs.dir}/authorizer.log.%i
appender.authorizer.layout.type=PatternLayout
appender.authorizer.layout.pattern=[%d] %p %m (%c)%n
appender.authorizer.policies.type=Policies
appender.authorizer.policies.size.type=SizeBasedTriggeringPolicy
appender.authorizer.policies.size.size=20MB
appender.authorizer.strategy.type=DefaultRolloverStrategy
appender.authorizer.strategy.max=2
rootLogger.level=INFO
rootLogger.appenderRef.server.ref=server
logger.authorizer.name=kafka.authorizer.logger
logger.authorizer.level=INFO
logger.authorizer.additivity=false
logger.authorizer.appenderRef.authorizer.ref=authorizer
logger.request.name=kafka.request.logger
logger.request.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
"""


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
            props.write_text(_server_properties(version, data_dir, plain, sasl, controller))
            if int(version.split(".")[0]) >= 4:
                log_conf = cluster_root / "log4j2.properties"
                log_conf.write_text(_LOG4J2)
                log_flag = f"-Dlog4j2.configurationFile={log_conf}"
            else:
                log_conf = cluster_root / "log4j.properties"
                log_conf.write_text(_LOG4J1)
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
    def _create_acls(info: ClusterInfo, deadline: float) -> None:
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

        principal = f"User:{APP_USER}"
        wanted = [
            AclBinding(
                ResourceType.TOPIC,
                APP_TOPIC_PREFIX,
                ResourcePatternType.PREFIXED,
                principal,
                "*",
                op,
                AclPermissionType.ALLOW,
            )
            for op in (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
        ]
        wanted.append(
            AclBinding(
                ResourceType.GROUP,
                APP_TOPIC_PREFIX,
                ResourcePatternType.PREFIXED,
                principal,
                "*",
                AclOperation.READ,
                AclPermissionType.ALLOW,
            )
        )
        admin = AdminClient({**admin_config(info, "sasl"), "logger": _rdkafka_log})
        request_timeout = max(1.0, deadline - time.monotonic())
        try:
            for future in admin.create_acls(wanted, request_timeout=request_timeout).values():
                future.result()
        except KafkaException as exc:
            raise SandboxError(
                f"creating the sandbox ACLs on the {info.name} cluster failed: {exc}",
                hint=f"see {info.server_log}",
            ) from exc
        # CreateAcls returns once the controller commits; the broker's authorizer applies
        # the records a moment later. DescribeAcls is answered from that authorizer, so
        # seeing all bindings there means tests can rely on them straight away.
        match_app = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            principal,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        while True:
            found = admin.describe_acls(match_app, request_timeout=10).result()
            if len(found) >= len(wanted):
                return
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
