"""The two requests confluent-kafka lacks (DescribeLogDirs, DescribeClientQuotas), spoken
directly, and the SCRAM login they need: against the RFC's test vector and real brokers."""

from __future__ import annotations

import struct
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from console.kafka import wire
from console.plan import ClusterSpec
from console.sandbox import ADMIN_USER, APP_USER, SANDBOX_PASSWORDS
from tests.helpers import CountedProducer
from tests.helpers import sandbox_spec as _spec


def test_scram_sha_256_matches_rfc_7677():
    """The exchange of RFC 7677 section 3, byte for byte, and its server signature checked."""
    scram = wire.Scram("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert scram.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert scram.final(server_first) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(wire.WireError, match="signature does not match"):
        scram.verify(b"v=AAAA")


def set_quota(spec: ClusterSpec, password: str, user: str, key: str, value: float | None):
    """AlterClientQuotas v0 for one user (tests plant quotas with it; cutover never does)."""
    op = wire._string(key) + struct.pack(">d?", value or 0.0, value is None)
    body = (
        struct.pack(">ii", 1, 1)
        + wire._string("user")
        + wire._string(user)
        + struct.pack(">i", 1)
        + op
        + struct.pack(">?", False)
    )
    with wire.connect(spec, password) as conn:
        answer = conn.request(49, 0, body)
        answer.take(">i")
        assert answer.take(">i") == 1
        assert answer.take(">h") == 0, answer.string()


def wait_for_quota(spec: ClusterSpec, password: str, key: str, deadline_s: float = 15):
    """A quota's values once the broker serves them (it applies quotas from its metadata
    log, a moment after the change was accepted)."""
    deadline = time.monotonic() + deadline_s
    while True:
        with wire.connect(spec, password) as conn:
            found = {e.key: e.values for e in wire.describe_client_quotas(conn)}
        if key in found or time.monotonic() > deadline:
            return found.get(key)
        time.sleep(0.2)


class TestOnBrokers:
    def test_log_dir_sizes_grow_with_what_was_written(self, source):
        topic = f"wire-sizes-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
        producer = CountedProducer(source.plaintext_bootstrap, **{"linger.ms": 0})
        for i in range(500):
            producer.produce(topic, b"v" * 200, partition=i % 2)
        assert producer.flush_all(30) == 500
        spec = _spec(source.sasl_bootstrap)
        with wire.connect(spec, SANDBOX_PASSWORDS[ADMIN_USER]) as conn:
            sizes = wire.describe_log_dirs(conn, 1, {topic: [0, 1]})
        by_partition = {s.partition: s.size_bytes for s in sizes if not s.future}
        assert set(by_partition) == {0, 1}
        # 250 records of 200 value bytes per partition, plus record and batch framing.
        assert all(250 * 200 < size < 250 * 400 for size in by_partition.values())

    def test_quotas_are_read_back(self, target):
        spec = _spec(target.sasl_bootstrap)
        password = SANDBOX_PASSWORDS[ADMIN_USER]
        set_quota(spec, password, "wire-quota-user", "consumer_byte_rate", 2048.0)
        try:
            found = wait_for_quota(spec, password, "user=wire-quota-user")
            assert found == {"consumer_byte_rate": 2048.0}
        finally:
            set_quota(spec, password, "wire-quota-user", "consumer_byte_rate", None)

    def test_a_wrong_password_is_refused_in_words(self, source):
        with pytest.raises(wire.WireError, match="authentication failed for user 'admin'"):
            wire.connect(_spec(source.sasl_bootstrap), "not-the-password")

    def test_a_user_without_cluster_rights_is_told_what_is_needed(self, target):
        spec = _spec(target.sasl_bootstrap, APP_USER)
        with wire.connect(spec, SANDBOX_PASSWORDS[APP_USER]) as conn:
            with pytest.raises(wire.WireError, match="DESCRIBE_CONFIGS on the cluster"):
                wire.describe_client_quotas(conn)
            with pytest.raises(wire.WireError, match="DESCRIBE on the cluster"):
                wire.describe_log_dirs(conn, 1, {"app.x": [0]})
