"""The demo workload's transactional writer told to switch while its cluster refuses it.

A fenced cluster answers the abort of a refused transaction with INVALID_TXN_STATE now and
then, which is fatal for that producer. The workload's switch flushed the producer it
replaces, and a transactional producer's flush raises that fatal error: the whole
workload ended ("Kafka refused the workload (INVALID_TXN_STATE)") just as the producer
cutover told the payments class to write to the target, and the Move producers step
waited in vain for the class's first write there (seen in CI under load).

Real clusters: the class is fenced (DENY WRITE) on both, told to switch from one to the
other again and again, then the target's fence is lifted and it is told once more: every
switch goes through, and every record of every refused transaction reaches the target
exactly once.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from console.sandbox import workload
from tests.producer_scene import (
    WRITER_PW,
    add_acls,
    allow,
    counts,
    create_topics,
    create_user,
    delete_acls,
    read_all,
    uid,
)

pytestmark = pytest.mark.kafka

ROUNDS = 12
"""Switches while fenced: the fatal abort comes in about half of the refused
transactions, so the old flush failed within the first few."""


def fence(topic: str, user: str) -> AclBinding:
    return AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        f"User:{user}",
        "*",
        AclOperation.WRITE,
        AclPermissionType.DENY,
    )


def to(cluster, name: str) -> dict:
    """A control file's instruction (as console.cutover.producers.switch writes it)."""
    return {
        "cluster": name,
        "bootstrap_servers": cluster.sasl_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
    }


def test_a_fenced_transactional_writer_switches_every_time_and_writes_each_record_once(
    source, target, monkeypatch
):
    topic = f"sw{uid()}.payments"
    user = f"txn-{uid()}"
    prefix = f"payments-{topic}"
    monkeypatch.setenv(f"CUTOVER_WORKLOAD_PW_{user.upper().replace('-', '_')}", WRITER_PW)
    create_topics(source, {topic: 2})
    create_topics(target, {topic: 2})
    rights = [
        allow(ResourceType.TOPIC, topic, f"User:{user}", op)
        for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ] + [
        allow(
            ResourceType.TRANSACTIONAL_ID, prefix, f"User:{user}", op, ResourcePatternType.PREFIXED
        )
        for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    for cluster in (source, target):
        create_user(cluster, user, WRITER_PW)
        add_acls(cluster, [*rights, fence(topic, user)])
    spec = workload.WorkloadSpec(
        group=None,
        duration_s=600,
        topics={"orders": f"sw{uid()}.orders", "payments": topic, "customers": "unused"},
        roles=("payments",),
        writers=(workload.Writer("payments", "payments", user),),
    )
    work = workload._Workload(source.sasl_bootstrap, spec, {})
    role = work.roles["payments"]
    seq = 0
    written: list[int] = []
    for n in range(ROUNDS):
        records = [(b"k", b"v", [("seq", str(seq + i).encode())], seq + i) for i in range(3)]
        seq += 3
        written += [r[3] for r in records]
        assert role.transaction(topic, records, False) == "refused"
        name, cluster = ("target", target) if n % 2 == 0 else ("source", source)
        # Fenced there too: what it writes again is refused again and kept.
        assert role.switch(to(cluster, name)) == 0
        assert role.cluster == name
    delete_acls(target, [fence(topic, user)])
    resent = role.switch(to(target, "target"))
    # The broker applies the lifted fence a moment after the controller took it.
    deadline = time.monotonic() + 30
    while role.refused and time.monotonic() < deadline:
        time.sleep(0.2)
        resent += role.switch(to(target, "target"))
    assert resent == len(written)
    assert role.refused == []
    on_target = counts(read_all(target, topic))
    assert sorted(on_target) == written
    assert set(on_target.values()) == {1}, "a record written twice"
    assert counts(read_all(source, topic)) == {}
    role.close()
