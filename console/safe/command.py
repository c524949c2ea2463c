"""A team's own consumer, run as a shadow consumer: its environment, its watch, its stop.

The command gets what it needs in environment variables and nothing else the console
holds: the target's bootstrap servers and security settings, the shadow principal's
user name and password, its group id, its topics and its sink. The rest of the
console's environment (its own cluster passwords above all) is not passed on: only the
few variables a program needs to start (:data:`PASSED_THROUGH`).

The console cannot see inside the command. It watches its output for the broker's
authorization errors (the isolation working: a write to production refused) and counts
them; and, logged in as the shadow principal, it reads the group's committed offsets
for progress and lag. A denial the command swallows without printing is not seen.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console import redact
from console.kafka.client import Admin
from console.plan import Plan, ShadowConsumerSpec
from console.safe.consumer import Tally, principal_config
from console.safe.validate import AUTHORIZATION

PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
"""The only variables of the console's environment a team's command inherits."""

ENV_PREFIX = "CUTOVER_SHADOW_"

AUTHORIZATION_MARKERS = re.compile(
    r"(TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID)_AUTHORIZATION_FAILED"
    r"|(Topic|Group|Cluster|TransactionalId)AuthorizationException"
    r"|[Aa]uthorization failed|[Nn]ot authorized to access"
)
"""How librdkafka and the Java client word a broker's authorization refusal."""

STOP_GRACE_S = 10.0


def command_environment(
    plan: Plan, spec: ShadowConsumerSpec, password: str, *, base: Path
) -> dict[str, str]:
    """The whole environment a team's command runs with."""
    target = plan.clusters.target
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        {
            f"{ENV_PREFIX}BOOTSTRAP_SERVERS": target.bootstrap_servers,
            f"{ENV_PREFIX}SECURITY_PROTOCOL": target.security_protocol,
            f"{ENV_PREFIX}SASL_MECHANISM": target.sasl_mechanism or "",
            f"{ENV_PREFIX}USERNAME": spec.principal,
            f"{ENV_PREFIX}PASSWORD": password,
            f"{ENV_PREFIX}GROUP_ID": spec.group_id,
            f"{ENV_PREFIX}TOPICS": ",".join(spec.topics),
            f"{ENV_PREFIX}SINK": spec.sink,
            f"{ENV_PREFIX}NAME": spec.name,
        }
    )
    if spec.sink == "topic" and spec.sink_topic:
        env[f"{ENV_PREFIX}SINK_TOPIC"] = spec.sink_topic
    if spec.sink == "file" and spec.sink_path:
        path = Path(spec.sink_path)
        env[f"{ENV_PREFIX}SINK_PATH"] = str(path if path.is_absolute() else base / path)
    if target.schema_registry_url:
        env[f"{ENV_PREFIX}SCHEMA_REGISTRY_URL"] = target.schema_registry_url
    return env


class TeamCommand:
    """Runs a team's consumer command and watches it."""

    def __init__(self, plan: Plan, spec: ShadowConsumerSpec, password: str, base: Path):
        self.plan = plan
        self.spec = spec
        self.base = base
        self.tally = Tally()
        self.exit_code: int | None = None
        self.state = "starting"
        self._env = command_environment(plan, spec, password, base=base)
        self._admin = Admin(  # kept for the consumer's life: outlives a broker restart
            principal_config(plan, spec, password, f"cutover-shadow-{spec.name}-watch")
        )
        self._start_committed: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    def run(self, stop: threading.Event, beat: Callable[[Tally, int | None, str], None]) -> int:
        """Run until the command ends or ``stop``; returns the command's exit code."""
        assert self.spec.command
        self._proc = subprocess.Popen(
            self.spec.command,
            env=self._env,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.state = "running"
        reader = threading.Thread(target=self._read, daemon=True, name="team-command-output")
        reader.start()
        try:
            while self._proc.poll() is None and not stop.is_set():
                processed, lag = self._progress()
                if processed is not None:
                    self.tally.processed = processed
                beat(self.tally, lag, self.describe())
                stop.wait(2.0)
        finally:
            if self._proc.poll() is None:
                self._terminate()
            reader.join(timeout=5)
        self.exit_code = self._proc.returncode
        processed, lag = self._progress()
        if processed is not None:
            self.tally.processed = processed
        beat(self.tally, lag, self.describe())
        return self.exit_code

    def describe(self) -> str:
        pid = self._proc.pid if self._proc else "-"
        auth = self.tally.errors.get(AUTHORIZATION, 0)
        ended = "" if self.exit_code is None else f", exited {self.exit_code}"
        return (
            f"command pid {pid}, group {self.spec.group_id}: {auth} authorization error(s){ended}"
        )

    def _read(self) -> None:
        """Pass the command's output to our log, counting the broker's refusals."""
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            text = redact.text(line.rstrip("\n"))
            print(f"[{self.spec.name}] {text}", flush=True)
            if AUTHORIZATION_MARKERS.search(text):
                self.tally.count(AUTHORIZATION, text[:300])

    def _terminate(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _progress(self) -> tuple[int | None, int | None]:
        """Records committed since start and the group's lag, read as the principal."""
        group = ConsumerGroupTopicPartitions(self.spec.group_id)
        try:
            future = self._admin.list_consumer_group_offsets([group], request_timeout=5)[
                self.spec.group_id
            ]
            committed = [tp for tp in future.result().topic_partitions if tp.offset >= 0]
            if not committed:
                return 0, None
            ends = self._admin.list_offsets(
                {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in committed},
                request_timeout=5,
            )
            lag = 0
            for tp in committed:
                end = ends[TopicPartition(tp.topic, tp.partition)].result().offset
                lag += max(0, end - tp.offset)
        except KafkaException:
            return None, None
        total = sum(tp.offset for tp in committed)
        if self._start_committed is None:
            self._start_committed = total
        return total - self._start_committed, lag
