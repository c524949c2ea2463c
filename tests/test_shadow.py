"""The Shadow path steps with real processes and real clusters, on the external path
(an application's dual write the console only observes): the sampler runs as its own
process, lag is measured from both sides, judged, and the gated stop stops it."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from console import processes
from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store
from tests.helpers import CountedProducer, demo_plan_text

PASSWORD = "admin-sandbox-pw"
TOPIC = "ext.orders"


def external_plan(source, target) -> str:
    text = demo_plan_text(source.sasl_bootstrap, target.sasl_bootstrap)
    head = text[: text.index("[[topics]]")]
    tail = text[text.index("[thresholds]") :]  # no consumer groups in this plan
    return (
        head
        + f'[[topics]]\nname = "{TOPIC}"\nowner = "team"\nexternal_side_effects = false\n\n'
        + tail
        + '\n[shadow]\npath = "external"\nsample_interval_s = 0.5\n'
    )


def fill(bootstrap: str, topic: str, *, partitions: int, records: int) -> CountedProducer:
    """Create ``topic`` if it is missing and write ``records`` keyed records to it; returns
    the producer, for records written later."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = CountedProducer(bootstrap)
    for i in range(records):
        producer.produce(topic, key=f"k{i}".encode(), value=b"v")
    assert producer.flush_all(30) == records
    return producer


def produce(bootstrap: str, count: int) -> None:
    producer = CountedProducer(bootstrap)
    for i in range(count):
        producer.produce(TOPIC, key=f"k{i}".encode(), value=b"v", partition=0)
    assert producer.flush_all(30) == count


@pytest.fixture
def run(tmp_path, source, target, monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    for cluster in (source, target):
        admin = AdminClient({"bootstrap.servers": cluster.plaintext_bootstrap})
        if TOPIC not in admin.list_topics(timeout=10).topics:
            admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(30)
    text = external_plan(source, target)
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    yield db
    store = Store.open(db)
    processes.stop(store, "sampler", timeout=10)
    store.close()


def lag_json(db, capsys) -> dict:
    main(["lag", str(db), "--json", "--all"])
    captured = capsys.readouterr()
    assert captured.out.strip(), captured.err
    return json.loads(captured.out)


# Each wait below covers a background process starting (seconds on a loaded 2-core
# machine, 7-11 s measured at load average 15-45) and a few 0.5 s samples; met in seconds
# when the machine is idle, so a generous deadline costs nothing when the test passes.
DEADLINE_S = 120.0


def wait_for(predicate, timeout=DEADLINE_S, describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout:g} s; {describe()}")


def test_observed_copy_lag_is_measured_judged_and_stopped(run, source, target, capsys):
    db = run
    produce(source.plaintext_bootstrap, 100)
    produce(target.plaintext_bootstrap, 40)
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
    assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
    capsys.readouterr()

    def lagging():
        parts = lag_json(db, capsys)["partitions"]
        return parts if parts and parts[0]["trend"] != "no data" else None

    parts = wait_for(lagging)
    assert parts[0]["topic"] == TOPIC and parts[0]["lag_records"] >= 60

    # The copy catches up: the judged trend turns OK and the gated check passes.
    produce(target.plaintext_bootstrap, 60)
    wait_for(lambda: lag_json(db, capsys)["partitions"][0]["verdict"] == "OK")
    assert main(["step", str(db), "shadow-lag", "--confirm", "shadow-lag"]) == 0
    capsys.readouterr()

    assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 0
    store = Store.open(db, readonly=True)
    info = processes.get(store, "sampler")
    actions = [e.action for e in store.audit_latest(50)]
    store.close()
    assert not info.alive and info.state == "stopped"
    assert actions.count("process.start") == 2  # intent, then result
    assert actions.index("gate.confirmed") < actions.index("process.start")
    assert "process.stop" in actions


def test_lag_check_without_samples_fails_and_says_why(run, capsys):
    # The copy is external (nothing of ours runs on the clusters) and was started, but the
    # sampler has not written a round: what the check must say no to.
    store = Store.open(run)
    store.set_step("inventory", StepState.PASSED)
    store.set_step("shadow-start", StepState.PASSED)
    store.close()
    assert main(["step", str(run), "shadow-lag", "--confirm", "shadow-lag", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["reason"].startswith("no lag samples yet")


# New each run: a target topic holding an earlier run's copy keeps the start gate shut.
MM2_TOPIC = f"mm2s.orders.{uuid.uuid4().hex[:8]}"


def mm2_plan(source, target, connect_url: str) -> str:
    text = external_plan(source, target).replace(TOPIC, MM2_TOPIC)
    return text.replace(
        '[shadow]\npath = "external"\n',
        f'[shadow]\npath = "mirrormaker2"\nconnect_url = "{connect_url}"\n'
        "mm2_replication_factor = 1\nmm2_interval_s = 1\nmm2_tasks_max = 1\n",
    ).replace(f'name = "{MM2_TOPIC}"\n', f'name = "{MM2_TOPIC}"\ncreate_on_target = true\n')


def test_mirrormaker2_path_is_deployed_watched_and_removed(
    tmp_path, source, target, connect, monkeypatch, capsys
):
    from console.shadow import mm2

    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    fill(source.plaintext_bootstrap, MM2_TOPIC, partitions=1, records=50)
    text = mm2_plan(source, target, connect.rest_url)
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    try:
        assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
        assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
        assert "MirrorMaker 2 deployed" in capsys.readouterr().out
        plan = parse_plan(text)
        assert all(s.running for s in mm2.status(plan, connect.rest_url))

        end = Consumer({"bootstrap.servers": source.plaintext_bootstrap, "group.id": "x"})
        source_end = end.get_watermark_offsets(TopicPartition(MM2_TOPIC, 0), timeout=10)[1]
        end.close()

        def caught_up():
            parts = lag_json(db, capsys)["partitions"]
            # Lag comes from Connect's committed source position: exact at exactly-once.
            return parts and parts[0]["mirrored"] == source_end and parts[0]["verdict"] == "OK"

        wait_for(caught_up, describe=lambda: lag_json(db, capsys))
        store = Store.open(db, readonly=True)
        watched = processes.get(store, "mm2")
        store.close()
        assert watched.state == "running" and "RUNNING" in watched.detail
        assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 0
        assert {s.state for s in mm2.status(plan, connect.rest_url)} == {"ABSENT"}
    finally:
        mm2.remove(parse_plan(text), connect.rest_url)
        store = Store.open(db)
        processes.stop(store, "sampler", timeout=10)
        actions = [e.action for e in store.audit_latest(100)]
        store.close()
    assert actions.count("mm2.deploy") == 2 and actions.count("mm2.remove") == 2


BUILTIN_TOPIC = f"bi.orders.{uuid.uuid4().hex[:8]}"  # new each run: the mirror creates it


def test_builtin_mirror_is_started_measured_exactly_and_stopped(
    tmp_path, source, target, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    producer = fill(source.plaintext_bootstrap, BUILTIN_TOPIC, partitions=2, records=200)
    text = (
        external_plan(source, target)
        .replace(TOPIC, BUILTIN_TOPIC)
        .replace('path = "external"', 'path = "builtin"')
        .replace(
            f'name = "{BUILTIN_TOPIC}"\n', f'name = "{BUILTIN_TOPIC}"\ncreate_on_target = true\n'
        )
    )
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    try:
        assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
        assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
        assert "built-in mirror started" in capsys.readouterr().out
        consumer = Consumer({"bootstrap.servers": source.plaintext_bootstrap, "group.id": "x"})
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(BUILTIN_TOPIC, p), timeout=10)[1]
            for p in (0, 1)
        }
        consumer.close()

        def caught_up():
            parts = lag_json(db, capsys)["partitions"]
            mirrored = {p["partition"]: p["mirrored"] for p in parts}
            return mirrored == ends and all(p["verdict"] == "OK" for p in parts)

        wait_for(caught_up, describe=lambda: lag_json(db, capsys))
        assert main(["step", str(db), "shadow-lag", "--confirm", "shadow-lag"]) == 0
        capsys.readouterr()

        # Throttle the mirror to a standstill while the source keeps receiving records:
        # the pane must call it stalled (RED), and the lag check must fail.
        store = Store.open(db, readonly=True)
        mirror_pid = processes.get(store, "mirror").pid
        store.close()
        os.kill(mirror_pid, signal.SIGSTOP)
        try:
            for i in range(100):
                producer.produce(BUILTIN_TOPIC, key=f"late{i}".encode(), value=b"v")
            assert producer.flush_all(30) == 200 + 100

            def stalled():
                parts = lag_json(db, capsys)["partitions"]
                return parts and all(p["trend"] == "stalled" for p in parts)

            wait_for(stalled, describe=lambda: lag_json(db, capsys))
            assert lag_json(db, capsys)["partitions"][0]["verdict"] == "RED"
            assert main(["step", str(db), "shadow-lag", "--confirm", "shadow-lag"]) == 1
            assert "stalled" in capsys.readouterr().out
        finally:
            os.kill(mirror_pid, signal.SIGCONT)

        def recovered():
            parts = lag_json(db, capsys)["partitions"]
            return all(p["lag_records"] == 0 and p["verdict"] == "OK" for p in parts)

        wait_for(recovered, describe=lambda: lag_json(db, capsys))
        assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 0
    finally:
        store = Store.open(db)
        for name in ("mirror", "sampler"):
            processes.stop(store, name, timeout=15)
        mirror_info = processes.get(store, "mirror")
        actions = [e.action for e in store.audit_latest(200)]
        store.close()
    assert not mirror_info.alive and mirror_info.state == "stopped"
    # The mirror logged the topic it created before creating it, inside the gated step.
    assert actions.index("gate.confirmed") < actions.index("mirror.create_topic")
