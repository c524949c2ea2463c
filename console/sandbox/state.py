"""What the sandbox is made of and where it is recorded: users, versions, cluster facts.

``<root>/state.json`` records ports, pids and versions (never passwords) so later
commands can find, probe and stop the clusters. The sandbox-only users and passwords are
fixed here; they protect nothing but throwaway loopback clusters.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import CutoverError, ExitCode

# Sandbox-only throwaway credentials. They protect nothing: the clusters listen on
# 127.0.0.1 only and are wiped on every `up`. They are fixed so that tests, the demo and a
# person at the terminal can all log in without a secret store. We never write them to a
# file; Kafka stores only SCRAM hashes of them in its metadata log.
ADMIN_USER = "admin"
APP_USER = "app"
BILLING_USER = "billing"
"""The demo's billing consumers: an ordinary user (a fence on a super user would hold
nothing), allowed to read ``orders`` and use the ``billing`` group, on both clusters."""
CHECKOUT_USER = "checkout"
"""The demo's checkout producers (the producer class that moves): an ordinary user, so
the producer cutover's DENY WRITE fence really stops it; may write ``orders``."""
SANDBOX_PASSWORDS: dict[str, str] = {
    ADMIN_USER: "admin-sandbox-pw",
    APP_USER: "app-sandbox-pw",
    BILLING_USER: "billing-sandbox-pw",
    CHECKOUT_USER: "checkout-sandbox-pw",
}
CHECKOUT_TOPICS = ("orders",)
BILLING_TOPICS = ("orders",)
BILLING_GROUP = "billing"
SCRAM_MECHANISM = "SCRAM-SHA-512"
APP_TOPIC_PREFIX = "app."

# Cluster name -> Kafka version. Ordered: the source is started (and listed) first.
CLUSTER_VERSIONS: dict[str, str] = {"source": "3.9.1", "target": "4.1.1"}

STATE_FILE = "state.json"


class SandboxError(CutoverError):
    """The sandbox could not be fetched, started, probed or stopped.

    ``message`` says what went wrong and ``hint`` what to do, both one line; ``details``
    (possibly many lines, e.g. a log tail) only appears in ``str()``, never on the
    command line.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str = "", *, details: str = "") -> None:
        super().__init__(message, hint)
        self.details = details

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n{self.details}" if self.details else text


def default_sandbox_dir() -> Path:
    """Sandbox root for people: ``$CUTOVER_SANDBOX_DIR`` or ``~/.local/state/cutover/sandbox``."""
    env = os.environ.get("CUTOVER_SANDBOX_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "state" / "cutover" / "sandbox"


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
