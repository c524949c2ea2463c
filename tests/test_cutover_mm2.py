"""Moving a group over MirrorMaker 2 (real Connect worker, exactly-once), on the sandbox.

MirrorMaker's own translation of a committed offset is coarse: the nearest offset sync
at or before it, plus one. The move refines it by aligning the records around it. On one
partition the group stopped between two syncs with distinct records around it: the
refinement is exact and, once the application runs on the target, it re-reads nothing,
where MirrorMaker's checkpoint would have made it re-read dozens. On the other it
stopped in the middle of ten identical records: the gate says AMBIGUOUS with the bound,
applies the end that skips nothing, and the records re-read after the move are exactly
the number the gate showed. Before the move, MirrorMaker's group offset sync is switched
on and the gate refuses.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer

from console.cli.main import main
from console.plan import parse_plan
from console.sandbox import ADMIN_USER, SANDBOX_PASSWORDS
from console.sandbox import consumer as demo
from console.sandbox.plans import sandbox_plan_text
from console.shadow import mm2
from console.store import Store
from console.store.audit import current_actor
from tests.connect_fixture import CONNECT_ENV
from tests.test_cutover import (
    commit,
    committed,
    create_topic,
    end_offsets,
    group_toml,
    record_offsets,
    step,
    whole_topic_compared,
)

PASSWORD = SANDBOX_PASSWORDS[ADMIN_USER]
PASSWORDS = {"source": PASSWORD, "target": PASSWORD}
PER_PARTITION = 600
SAME = range(300, 310)
"""Source offsets of partition 1 holding identical records (key, value, headers, time)."""
COMMITTED = {0: 250, 1: 305}


def fill(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for p in (0, 1):
        for n in range(PER_PARTITION):
            same = p == 1 and n in SAME
            producer.produce(
                topic,
                b"same" if same else f"{p}:{n}".encode(),
                b"k-same" if same else f"k{n % 13}".encode(),
                p,
                headers=[("seq", b"same" if same else f"{p}-{n}".encode())],
                timestamp=1_700_000_000_000 if same else 0,
            )
    assert producer.flush(30) == 0


def connector_url(connect, plan, role: str) -> str:
    return f"{connect.rest_url}/connectors/{mm2.connector_names(plan)[role]}/config"


def put_config(url: str, config: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(config).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the Connect group is rebalancing; it asks to retry


def wait_for(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def mm2_env(monkeypatch):
    for name, value in CONNECT_ENV.items():
        monkeypatch.setenv(name, value)


def test_mm2_move_is_exact_where_records_tell_and_bounded_where_they_cannot(
    tmp_path, source, target, connect, mm2_env, capsys
):
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"app.mm2c-{suffix}", f"app.mm2g-{suffix}"
    create_topic(source, topic, 2)
    fill(source.plaintext_bootstrap, topic)
    commit(source, group, {(topic, p): o for p, o in COMMITTED.items()})
    text = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        {topic: True},
        name=f"cutmm2-{suffix}",
        # The plan's approver works from this test's login: a move's gate needs one.
        logins=(current_actor()[0],),
        extra=group_toml(group, [topic])
        + f"""[shadow]
path = "mirrormaker2"
connect_url = "{connect.rest_url}"
mm2_exactly_once = true
mm2_replication_factor = 1
mm2_interval_s = 1
""",
    ).replace("create_on_target = true", "create_on_target = true\ntolerated_replay_records = 10")
    plan = parse_plan(text)
    db = tmp_path / "run.db"
    Store.create(db, text, plan).close()
    mm2.deploy(plan, PASSWORDS, timeout=120, settings=mm2.settings_from_plan(plan))
    try:
        ends = end_offsets(source, topic)
        wait_for(
            lambda: all(
                mm2.source_positions(plan, timeout=10).get((topic, p), 0) >= ends[p] for p in (0, 1)
            ),
            "MirrorMaker 2 to copy everything",
        )

        def checkpointed():
            read = mm2.read_offset_syncs(plan, PASSWORDS, timeout=30)
            return {(c.partition, c.upstream) for c in read.checkpoints if c.group == group} >= {
                (p, o) for p, o in COMMITTED.items()
            }

        wait_for(checkpointed, "MirrorMaker 2's checkpoints of the group")
        assert main(["compare", str(db), "--from", "0"]) == 0
        whole_topic_compared(db)  # MirrorMaker's copy, deployed above, is the copy

        # MirrorMaker's own group offset sync switched on: the move would be overwritten.
        url = connector_url(connect, plan, "checkpoint")
        with urllib.request.urlopen(url, timeout=30) as resp:
            original = json.loads(resp.read())
        put_config(url, {**original, "sync.group.offsets.enabled": "true"})
        capsys.readouterr()
        code, outcome = step(db, "move-group", group, capsys)
        assert code == 1
        checks = {c["name"]: c for c in outcome["evidence"]["checks"]}
        assert checks["MirrorMaker 2 group offset sync off"]["verdict"] == "RED"
        put_config(url, original)

        code, outcome = step(db, "move-group", group, capsys)
        assert code == 0, outcome
    finally:
        mm2.remove(plan, timeout=60)

    gate = {p["partition"]: p for p in outcome["evidence"]["positions"]}
    exact, identical = gate[0], gate[1]
    assert exact["method"] == "refined" and exact["exact"] and exact["replay"] == 0
    assert exact["coarse_replay"] and exact["coarse_replay"] > 0, exact
    assert identical["method"] == "refined" and not identical["exact"]
    assert "AMBIGUOUS" in identical["reason"] and identical["skip"] == 0
    assert identical["bound_lo"] < identical["bound_hi"]

    # The application goes on on the target. What it reads, against what the source group
    # would have read next from its committed offsets: the extra records at the front are
    # the re-read ones, and their number is the gate's.
    sink = tmp_path / "target.sink"
    demo.run(plan, group, "target", sink, threading.Event(), idle_exit_s=4, say=lambda _m: None)
    read: dict[int, list[str]] = {0: [], 1: []}
    for _side, _t, partition, _o, _k, seq in demo.read_sink(sink):
        read[partition].append(seq)
    source_records = record_offsets(source, topic)
    for p in (0, 1):
        expected = [
            "same" if p == 1 and o in SAME else f"{p}-{o}"
            for o in source_records[p]
            if o >= COMMITTED[p]
        ]
        replay = len(read[p]) - len(expected)
        assert replay >= 0 and read[p][replay:] == expected, (p, read[p][:12], expected[:12])
        assert replay == gate[p]["replay"], (p, replay, gate[p])
    print(
        f"partition 0: refined exact, re-read 0; MirrorMaker's checkpoint would re-read "
        f"{exact['coarse_replay']}. partition 1: bounded {identical['bound_lo']}.."
        f"{identical['bound_hi']}, re-read {identical['replay']} as the gate said"
    )
    assert committed(target, group, topic)


def connector_action(connect, plan, action: str) -> None:
    """Pause or resume the source connector (``PUT /connectors/<name>/<action>``)."""
    name = mm2.connector_names(plan)["source"]
    request = urllib.request.Request(f"{connect.rest_url}/connectors/{name}/{action}", method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_mm2_gate_refuses_a_position_past_what_connect_recorded_as_copied(
    tmp_path, source, target, connect, mm2_env, capsys
):
    """The copy position comes from Connect's offsets topic (the worker's
    offset.storage.topic, named in the plan), read_committed, not from the REST API. With
    the source connector paused and records written after it, a group committed past the
    copy is refused, with the records still to copy counted; the gate says where the
    position was read. Once MirrorMaker has copied them, the group moves."""
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"app.mm2p-{suffix}", f"app.mm2pg-{suffix}"
    create_topic(source, topic, 1)
    producer = Producer({"bootstrap.servers": source.plaintext_bootstrap})

    def write(first: int, n: int) -> None:
        for i in range(first, first + n):
            producer.produce(topic, f"v{i}".encode(), f"k{i}".encode(), 0)
        assert producer.flush(30) == 0

    write(0, 40)
    # MirrorMaker's checkpoint connector starts no task before the group exists.
    commit(source, group, {(topic, 0): 10})
    text = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        {topic: True},
        name=f"cutmm2p-{suffix}",
        logins=(current_actor()[0],),
        extra=group_toml(group, [topic])
        + f"""[shadow]
path = "mirrormaker2"
connect_url = "{connect.rest_url}"
connect_offsets_topic = "{connect.offsets_topic}"
mm2_exactly_once = true
mm2_replication_factor = 1
mm2_interval_s = 1
""",
    )
    plan = parse_plan(text)
    db = tmp_path / "run.db"
    Store.create(db, text, plan).close()
    mm2.deploy(plan, PASSWORDS, timeout=120, settings=mm2.settings_from_plan(plan))
    tail = mm2.Mm2Tail(plan, PASSWORDS)
    try:

        def copied_to() -> int:
            return tail.read(time.monotonic() + 30).positions.get((topic, 0), 0)

        wait_for(lambda: copied_to() >= 40, "MirrorMaker 2 to copy the first 40 records")
        assert main(["compare", str(db), "--from", "0"]) == 0
        whole_topic_compared(db)
        connector_action(connect, plan, "pause")
        wait_for(
            lambda: all(
                s.state == "PAUSED" and all(t.state == "PAUSED" for t in s.tasks)
                for s in mm2.status(plan, timeout=10)
                if s.role == "source"
            ),
            "the source connector to pause",
        )
        write(40, 30)
        commit(source, group, {(topic, 0): 55})
        at = copied_to()
        # The topic and Connect's REST API (which reads the same topic) agree.
        assert at == mm2.source_positions(plan, timeout=30)[(topic, 0)] == 40

        code, outcome = step(db, "move-group", group, capsys)
        assert code == 1, outcome
        checks = {c["name"]: c for c in outcome["evidence"]["checks"]}
        copied = checks["every position copied"]
        assert copied["verdict"] == "RED", copied
        assert f"Connect's offsets topic {connect.offsets_topic}" in copied["evidence"][0]
        assert (
            f"{topic}:0: committed 55, 15 offset(s), 15 record(s) still to copy"
            in (copied["evidence"])
        ), copied
        assert not any(o >= 0 for o in committed(target, group, topic).values())

        connector_action(connect, plan, "resume")
        wait_for(lambda: copied_to() >= 70, "MirrorMaker 2 to copy the rest")
        code, outcome = step(db, "move-group", group, capsys)
        assert code == 0, outcome  # every precondition held: the group moved
        assert committed(target, group, topic)[0] >= 0
    finally:
        tail.close()
        mm2.remove(plan, timeout=60)
