"""Tests for the local Kafka sandbox, against the real 3.9.1 and 4.1.1 brokers."""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import console.sandbox.jars as jars_mod
import console.sandbox.templates as templates_mod
from console.cli.sandbox import add_subparser
from console.sandbox import (
    APP_USER,
    SANDBOX_PASSWORDS,
    ClusterInfo,
    Sandbox,
    SandboxError,
    SandboxState,
    admin_config,
    api_versions,
    fetch_jars,
)

CLUSTERS = ["source", "target"]
# librdkafka logs go to Python logging, which pytest captures, instead of raw stderr.
QUIET = {"logger": logging.getLogger("tests.librdkafka")}


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _create_topics(cluster: ClusterInfo, *names: str) -> None:
    """Create topics as admin and wait until the broker serves their metadata.

    CreateTopics returns once the controller has committed the records; the broker's
    metadata cache catches up a moment later, and until then clients see
    UNKNOWN_TOPIC_OR_PART.
    """
    admin = AdminClient({**admin_config(cluster), **QUIET})
    futures = admin.create_topics([NewTopic(n, 1, 1) for n in names], operation_timeout=10)
    for future in futures.values():
        future.result()
    deadline = time.monotonic() + 10
    for name in names:
        while True:
            topic = admin.list_topics(topic=name, timeout=5).topics[name]
            if topic.error is None and topic.partitions:
                break
            assert time.monotonic() < deadline, f"{name} not visible on the broker: {topic.error}"
            time.sleep(0.05)


def _produce_one(conf: dict, topic: str, value: bytes) -> KafkaError | None:
    """Produce one record and return its delivery error (None when delivered)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf, **QUIET, "acks": "all", "message.timeout.ms": 10000})
    producer.produce(topic, value=value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(15)
    assert outcome, "no delivery report within 15 s"
    return outcome[0]


def _hostport(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cutover")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


# --------------------------------------------------------------------------- real clusters


@pytest.mark.parametrize("name", CLUSTERS)
@pytest.mark.parametrize("listener", ["plaintext", "sasl"])
def test_cluster_answers_metadata_on_each_listener(
    sandbox: SandboxState, name: str, listener: str
) -> None:
    cluster = sandbox.clusters[name]
    metadata = AdminClient({**admin_config(cluster, listener), **QUIET}).list_topics(timeout=10)
    expected = cluster.sasl_bootstrap if listener == "sasl" else cluster.plaintext_bootstrap
    assert [f"{b.host}:{b.port}" for b in metadata.brokers.values()] == [expected]


def test_source_is_kafka_39_and_target_is_kafka_41(
    source: ClusterInfo, target: ClusterInfo
) -> None:
    src = {
        key: (low, high) for key, low, high in api_versions(*_hostport(source.plaintext_bootstrap))
    }
    tgt = {
        key: (low, high) for key, low, high in api_versions(*_hostport(target.plaintext_bootstrap))
    }
    # Kafka 4.0 dropped old protocol versions (KIP-896): Fetch starts at v4 from then on,
    # and 4.x brokers speak Fetch v18, which 3.9 (max v17) does not.
    fetch = 1
    assert src[fetch] == (0, 17)
    assert tgt[fetch][0] == 4 and tgt[fetch][1] >= 18
    # Share groups (KIP-932) are served by 4.1 but not advertised by 3.9.
    share_group_heartbeat = 76
    assert share_group_heartbeat not in src and share_group_heartbeat in tgt
    # The exact release, as each broker reports it about itself at startup.
    for cluster, version in ((source, "3.9.1"), (target, "4.1.1")):
        assert cluster.kafka_version == version
        assert f"Kafka version: {version}" in cluster.server_log.read_text()


@pytest.mark.parametrize("name", CLUSTERS)
def test_admin_can_create_produce_and_consume_over_sasl(sandbox: SandboxState, name: str) -> None:
    cluster = sandbox.clusters[name]
    conf = admin_config(cluster, "sasl", "admin")
    topic = _unique("sandbox.roundtrip.")
    _create_topics(cluster, topic)
    value = f"hello from {name}".encode()
    assert _produce_one(conf, topic, value) is None

    consumer = Consumer(
        {**conf, **QUIET, "group.id": _unique("sandbox."), "enable.auto.commit": False}
    )
    # assign() rather than subscribe(): no group rebalance to wait for.
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        deadline = time.monotonic() + 15
        message = None
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
        assert message is not None, "no record consumed within 15 s"
        assert message.error() is None
        assert message.value() == value
    finally:
        consumer.close()


@pytest.mark.parametrize("name", CLUSTERS)
def test_app_user_is_confined_to_app_prefix(sandbox: SandboxState, name: str) -> None:
    cluster = sandbox.clusters[name]
    allowed, denied = _unique("app.sandbox-"), _unique("sandbox.private-")
    _create_topics(cluster, allowed, denied)
    app = admin_config(cluster, "sasl", APP_USER)
    app_admin = AdminClient({**app, **QUIET})

    described = app_admin.list_topics(topic=denied, timeout=10).topics[denied]
    assert described.error is not None
    assert described.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert app_admin.list_topics(topic=allowed, timeout=10).topics[allowed].error is None

    refused = _produce_one(app, denied, b"should not land")
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _produce_one(app, allowed, b"fine") is None


@pytest.mark.parametrize("name", CLUSTERS)
def test_wrong_password_is_an_authentication_error(sandbox: SandboxState, name: str) -> None:
    errors: list[KafkaError] = []
    conf = {
        **admin_config(sandbox.clusters[name], "sasl", APP_USER),
        **QUIET,
        "sasl.password": "not-the-password",
        "error_cb": errors.append,
    }
    # The client connects at once; the failure arrives through error_cb, served by poll().
    admin = AdminClient(conf)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        admin.poll(0.1)
    assert errors, "no client error reported within 10 s"
    assert errors[0].code() == KafkaError._AUTHENTICATION
    assert "invalid credentials" in errors[0].str()
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=1)


def test_status_reports_both_clusters_up(sandbox: SandboxState) -> None:
    state = Sandbox(sandbox.root).status()
    assert state is not None and state.is_up
    assert set(state.health) == {"source", "target"}
    for name, health in state.health.items():
        assert health.up and health.pid_alive, health.detail
        # The pid on record now (a test may have restarted a broker since the session
        # began, which rewrites state.json): status reports the live JVM, not a stale one.
        assert state.clusters[name].pid == Sandbox(sandbox.root).load().clusters[name].pid


def test_up_on_a_live_sandbox_returns_it_unchanged(sandbox: SandboxState) -> None:
    started = time.monotonic()
    recorded = Sandbox(sandbox.root).load()  # brokers may have been restarted since
    again = Sandbox(sandbox.root).up()
    assert time.monotonic() - started < 10
    assert again.clusters == recorded.clusters
    assert {n: c.sasl_bootstrap for n, c in again.clusters.items()} == {
        n: c.sasl_bootstrap for n, c in sandbox.clusters.items()
    }


def test_no_sandbox_password_is_written_to_disk(sandbox: SandboxState) -> None:
    # Kafka keeps salted SCRAM hashes in its metadata log; the plain passwords must appear
    # nowhere under the sandbox root: not in configs, logs, state.json or data files.
    needles = [p.encode() for p in SANDBOX_PASSWORDS.values()]
    # Offset/time indexes hold only numbers and are preallocated at 10 MB each: skip them.
    files = [
        p
        for p in sandbox.root.rglob("*")
        if p.is_file() and p.suffix not in {".index", ".timeindex"}
    ]
    assert (sandbox.root / "state.json") in files
    leaks = [str(p) for p in files for n in needles if n in p.read_bytes()]
    assert leaks == []


def test_cached_jars_need_neither_maven_nor_network(
    sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn, no java
    for version in ("3.9.1", "4.1.1"):
        started = time.monotonic()
        jar_dir = fetch_jars(version)
        assert time.monotonic() - started < 1
        assert (jar_dir / f"kafka_2.13-{version}.jar").is_file()


def test_cli_status_and_up_on_a_live_sandbox(
    sandbox: SandboxState, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(["sandbox", "status", "--dir", str(sandbox.root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["up"] is True

    assert _cli(["sandbox", "up", "--dir", str(sandbox.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["clusters"]["source"]["kafka_version"] == "3.9.1"
    assert data["clusters"]["target"]["kafka_version"] == "4.1.1"
    assert data["credentials"]["users"]["app"]["password"] == SANDBOX_PASSWORDS["app"]
    assert "sandbox-only" in data["credentials"]["note"]

    assert _cli(["sandbox", "up", "--dir", str(sandbox.root)]) == 0
    out = capsys.readouterr().out
    for info in sandbox.clusters.values():
        assert info.sasl_bootstrap in out and info.plaintext_bootstrap in out
    assert "sandbox-only" in out and SANDBOX_PASSWORDS["admin"] in out


def test_broker_that_dies_at_startup_is_reported_and_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = templates_mod.server_properties

    def broken(version: str, *args: object) -> str:
        text = real(version, *args)  # type: ignore[arg-type]
        if version.startswith("4."):
            # Format accepts this; the broker only loads the authorizer when it starts.
            text = text.replace(
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "com.example.Missing"
            )
        return text

    monkeypatch.setattr(templates_mod, "server_properties", broken)
    root = tmp_path / "sb"
    with pytest.raises(SandboxError) as raised:
        Sandbox(root).up(timeout=60)
    error = raised.value
    assert "target" in error.message and "exited during startup" in error.message
    assert str(root / "target" / "logs" / "server.log") in error.hint
    assert "ClassNotFoundException: com.example.Missing" in error.details
    # The healthy source JVM was stopped too, and nothing is left recorded.
    assert Sandbox(root).load() is None
    assert _processes_mentioning(root) == []


def _processes_mentioning(root: Path) -> list[int]:
    """Pids whose command line names a file under ``root`` (Linux /proc)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(root).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # the process ended while we looked
    return pids


# --------------------------------------------------------------------------- no clusters


def test_missing_java_is_a_one_line_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SandboxError) as raised:
        Sandbox(tmp_path / "sb").up(timeout=5)
    message = str(raised.value)
    assert "\n" not in message
    assert "Java not found" in message and "install a Java 17+" in message


def test_missing_maven_is_a_one_line_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError) as raised:
        fetch_jars("4.1.1", cache_dir=tmp_path / "empty-cache")
    message = str(raised.value)
    assert "\n" not in message and "mvn" in message and "install Apache Maven" in message


def test_unsupported_version_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="unsupported Kafka version '2.8.0'"):
        fetch_jars("2.8.0", cache_dir=tmp_path)


def test_cli_errors_are_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert _cli(["sandbox", "up", "--dir", str(tmp_path / "sb")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("cutover: Java not found") and err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_status_and_down_without_a_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(["sandbox", "status", "--dir", str(tmp_path)]) == 1
    assert "run `cutover sandbox up`" in capsys.readouterr().err
    assert _cli(["sandbox", "down", "--dir", str(tmp_path)]) == 0
    assert "nothing to stop" in capsys.readouterr().out


def test_state_json_round_trips_without_secrets(tmp_path: Path) -> None:
    info = ClusterInfo(
        name="source",
        kafka_version="3.9.1",
        plaintext_bootstrap="127.0.0.1:1",
        sasl_bootstrap="127.0.0.1:2",
        controller_port=3,
        pid=4,
        root_dir=tmp_path / "source",
        log_dir=tmp_path / "source" / "logs",
        cluster_id="abc",
    )
    state = SandboxState(root=tmp_path, clusters={"source": info})
    text = state.to_json(with_health=False)
    assert SandboxState.from_json(text) == state
    assert not any(p in text for p in SANDBOX_PASSWORDS.values())


def test_admin_config_shapes() -> None:
    info = ClusterInfo("t", "4.1.1", "127.0.0.1:1", "127.0.0.1:2", 3, 4, Path("/r"), Path("/l"))
    assert admin_config(info, "plaintext") == {"bootstrap.servers": "127.0.0.1:1"}
    sasl = admin_config(info, "sasl", APP_USER)
    assert sasl["sasl.mechanism"] == "SCRAM-SHA-512" and sasl["sasl.username"] == APP_USER
    assert sasl["security.protocol"] == "SASL_PLAINTEXT"
    with pytest.raises(ValueError):
        admin_config(info, "plaintext", APP_USER)
    with pytest.raises(ValueError):
        admin_config(info, "sasl", "nobody")


def test_maven_failure_is_reported_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_pom = tmp_path / "pom.xml"
    broken_pom.write_text("<project>this is not a POM")
    monkeypatch.setattr(jars_mod, "POM_PATH", broken_pom)
    cache = tmp_path / "cache"
    with pytest.raises(SandboxError) as raised:
        fetch_jars("3.9.1", cache_dir=cache)
    error = raised.value
    assert error.message.startswith("Maven could not fetch the Kafka 3.9.1 jars")
    assert "pom" in error.details.lower()
    # No half-filled folder is left behind to be mistaken for a classpath.
    assert list(cache.iterdir()) == []
