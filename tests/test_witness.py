"""The audit witness on the real target cluster.

A witness principal that may only write the witness topic; the witness step behind its
own gate; every later gate's head on the topic, written before the step's work; a cut
tail and a re-chained log that verify locally but that the witness catches; an
unreachable witness said at the gate, in the audit entry and by ``verify --witness``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from console.cli.main import main
from console.kafka import witness as witness_topic
from console.plan import parse_plan
from console.sandbox.plans import sandbox_plan_text
from console.store import Store, audit
from tests.helpers import forge_fields
from tests.test_drill_tamper import rechain

PASSWORD = "admin-sandbox-pw"
WITNESS_PASSWORD = "witness-sandbox-pw"


def said(capsys) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.fixture
def principal(target) -> str:
    """A SASL user on the target with no rights at all, until the witness step grants some."""
    name = f"witness-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(name, info, WITNESS_PASSWORD.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    return name


@pytest.fixture
def run(tmp_path, source, target, principal, monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_TEST_WITNESS_PASSWORD", WITNESS_PASSWORD)
    topic = f"wit.orders-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    witness = f"wit.audit-{uuid.uuid4().hex[:6]}"
    text = sandbox_plan_text(
        source.sasl_bootstrap,
        target.sasl_bootstrap,
        {topic: True},
        name="witnessed",
        extra=(
            f'[audit]\nwitness_topic = "{witness}"\nwitness_principal = "{principal}"\n'
            'witness_password = { env = "CUTOVER_TEST_WITNESS_PASSWORD" }\n'
        ),
    )
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    return db, witness


def entries(db) -> list[audit.Entry]:
    store = Store.open(db, readonly=True)
    try:
        return store.audit_since(0)
    finally:
        store.close()


def heads_on_topic(db) -> list[witness_topic.Head]:
    store = Store.open(db, readonly=True)
    try:
        plan = store.plan
        first = store.audit_at(1)
        return witness_topic.read(
            plan, {"target": PASSWORD, "source": PASSWORD}, run=first.hash, timeout=10
        )
    finally:
        store.close()


def test_every_gate_is_witnessed_and_a_cut_tail_is_caught_only_by_the_witness(
    run, target, principal, capsys
):
    db, witness = run
    # Until the witness exists, gates that change a cluster stay shut (one that waits for
    # no other step, so the witness is what it waits for).
    assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 2
    assert "blocked by: witness" in said(capsys)[1]

    assert main(["step", str(db), "witness", "--confirm", "witness"]) == 0, said(capsys)
    out, _ = said(capsys)
    assert f"witness: PASSED: created topic {witness}" in out
    assert f"as User:{principal}" in out

    # The topic is append-only, and the principal may write and describe it, nothing more.
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, witness)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert {k: configs[k].value for k in witness_topic.TOPIC_CONFIG} == witness_topic.TOPIC_CONFIG
    acls = admin.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            f"User:{principal}",
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )  # fmt: skip
    ).result(30)
    assert sorted((a.name, a.operation.name, a.permission_type.name) for a in acls) == [
        (witness, "DESCRIBE", "ALLOW"),
        (witness, "WRITE", "ALLOW"),
    ]
    as_principal = Producer(
        {
            "bootstrap.servers": target.sasl_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": principal,
            "sasl.password": WITNESS_PASSWORD,
            "message.timeout.ms": 10000,
        }
    )
    errors = []
    as_principal.produce(
        f"{witness}-other", b"x", on_delivery=lambda err, _m: errors.append(err)
    )  # fmt: skip
    as_principal.flush(15)
    assert errors and errors[0] is not None
    assert "AUTHORIZATION" in errors[0].name()

    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0, said(capsys)
    said(capsys)
    log = entries(db)
    gate = [e for e in log if e.action == "gate.confirmed"][-1]
    assert gate.step == "inventory" and gate.params["witness"] == witness
    after_gate = log[gate.seq : gate.seq + 2]  # the witness entry, then the step's start
    assert [e.action for e in after_gate] == ["audit.witness", "step.started"]
    assert after_gate[0].outcome == f"witnessed entry {gate.seq}"
    heads = heads_on_topic(db)
    # One head for the witness step itself, one per later gate: nothing else is written.
    assert [h.seq for h in heads] == [
        e.ref for e in log if e.action == "audit.witness" and e.outcome.startswith("witnessed")
    ]
    assert heads[-1].seq == gate.seq and heads[-1].head == gate.hash

    assert main(["audit", "verify", str(db), "--witness"]) == 0
    out, _ = said(capsys)
    assert f"witness {witness}: {len(heads)} head(s) of this run, all in the chain" in out
    assert f"entries {gate.seq + 1} to {log[-1].seq} came after the last witnessed head" in out

    # Cut everything from the inventory gate on, and cover it locally: the step back to
    # PENDING, its evidence gone, the head pointer moved back, no checkpoint.
    conn = sqlite3.connect(db, isolation_level=None)
    keep = gate.seq - 1
    conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    conn.execute(
        "UPDATE steps SET state = 'pending', reason = '', runner_pid = NULL WHERE id = 'inventory'"
    )
    conn.execute("DELETE FROM evidence WHERE step = 'inventory'")
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{keep}:{log[keep - 1].hash}",)
    )
    conn.execute("DELETE FROM meta WHERE key = 'audit_checkpoint'")
    conn.close()
    assert main(["audit", "verify", str(db)]) == 0  # nothing local can tell
    assert f"OK: {keep} audit entries, chain intact" in said(capsys)[0]
    assert main(["audit", "verify", str(db), "--witness"]) == 1
    _, err = said(capsys)
    assert (
        f"BROKEN (witness): the witness recorded entry {gate.seq} (head {gate.hash[:16]}, "
        f"{gate.ts}), but the log ends at entry {keep}: the newest entries were removed"
    ) in err


def test_a_rewritten_and_rechained_log_is_caught_by_the_witness(run, capsys):
    db, _ = run
    assert main(["step", str(db), "witness", "--confirm", "witness"]) == 0, said(capsys)
    said(capsys)
    witnessed = heads_on_topic(db)[-1]
    conn = sqlite3.connect(db, isolation_level=None)
    forge_fields(conn, 2, outcome="cancelled")
    conn.close()
    rechain(db, 2)
    assert main(["audit", "verify", str(db)]) == 0  # re-chained: intact as far as it knows
    said(capsys)
    assert main(["audit", "verify", str(db), "--witness"]) == 1
    _, err = said(capsys)
    assert (
        f"BROKEN (witness): entry {witnessed.seq} is not the one the witness recorded at "
        f"{witnessed.time}"
    ) in err


def test_an_unreachable_witness_is_said_at_the_gate_and_by_verify(run, monkeypatch, capsys):
    db, witness = run
    assert main(["step", str(db), "witness", "--confirm", "witness"]) == 0, said(capsys)
    said(capsys)
    monkeypatch.setenv("CUTOVER_TEST_WITNESS_PASSWORD", "not-the-password")
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
    _, err = said(capsys)
    log = entries(db)
    gate = [e for e in log if e.action == "gate.confirmed"][-1]
    assert f"warning: the witness {witness} could not be reached (" in err
    assert f"this gate (entry {gate.seq}) is unwitnessed" in err
    note = log[gate.seq]
    assert note.action == "audit.witness" and note.outcome.startswith("unwitnessed: ")
    assert "not-the-password" not in json.dumps([e.params for e in log]) + err
    assert main(["audit", "verify", str(db), "--witness"]) == 3
    out, _ = said(capsys)
    assert f"UNWITNESSED from entry {gate.seq}: the head of gate 'inventory'" in out
    assert "no later head was witnessed" in out
    # A later gate whose head gets through covers what came before; the gap is still said.
    monkeypatch.setenv("CUTOVER_TEST_WITNESS_PASSWORD", WITNESS_PASSWORD)
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
    said(capsys)
    assert main(["audit", "verify", str(db), "--witness"]) == 3
    out, _ = said(capsys)
    later = [e for e in entries(db) if e.action == "gate.confirmed"][-1]
    assert f"UNWITNESSED from entry {gate.seq}" in out
    assert f"entry {later.seq} was witnessed later" in out


def test_an_existing_compacted_topic_is_refused_as_a_witness(run, target, capsys):
    db, witness = run
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    admin.create_topics([NewTopic(witness, 1, 1, config={"cleanup.policy": "compact"})])[
        witness
    ].result(30)
    assert main(["step", str(db), "witness", "--confirm", "witness"]) == 1
    out, _ = said(capsys)
    assert f"the topic {witness} exists but is not append-only (cleanup.policy=compact, " in out
    assert "compaction or retention would erase witnessed heads" in out
