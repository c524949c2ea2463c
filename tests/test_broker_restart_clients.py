"""Clients kept open across a broker restart, on the real sandbox.

The samplers, the safe consumers' watchers and a step's clients live for minutes or
hours; a target broker restarted under them (the operations drill does exactly that)
must not leave them failing. librdkafka's offsets requests kept the leader epoch they had
cached and were refused with FENCED_LEADER_EPOCH for good after a restart: the offsets
sampler said a group "cannot be read" from the drill onwards. Group requests on such a
client timed out for good, whatever metadata it read again: the target side of every group
read "unreadable", and a group whose target cannot be read is RED.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import NewTopic, OffsetSpec

from console.compare.reader import Side as CompareSide
from console.cutover.clients import Side
from console.cutover.groups import read_group
from console.kafka import client as kafka
from console.kafka.client import ClusterError
from console.plan import ClusterSpec
from console.sandbox import SANDBOX_PASSWORDS
from console.sandbox.restart import restart_broker
from console.sandbox.state import ADMIN_USER
from tests.helpers import sandbox_spec, wait_for

PASSWORD = SANDBOX_PASSWORDS[ADMIN_USER]


def _wait_for_leaders(spec: ClusterSpec, topic: str) -> None:
    """Until the restarted broker leads the topic's partitions again, asked on a client of
    its own: asking on the clients under test would refresh their metadata for them."""
    watcher, _ = kafka.admin_client(spec, PASSWORD, client_id="restart-test-watch")

    def led() -> bool:
        try:
            parts = watcher.list_topics(topic=topic, timeout=5).topics[topic].partitions
        except Exception:  # noqa: BLE001 - not answering yet
            return False
        return bool(parts) and all(p.leader >= 0 for p in parts.values())

    wait_for(led, 60, f"a leader for every partition of {topic}")


def _commit(admin, group: str, tp: TopicPartition) -> None:
    """Commit one offset for a group, asked again while the answer carries a retriable
    error for the partition: the first group on a fresh broker creates __consumer_offsets,
    and until its coordinator has loaded the call succeeds with the partition refused."""
    deadline = time.monotonic() + 30
    while True:
        done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [tp])])
        error = done[group].result(30).topic_partitions[0].error
        if error is None:
            return
        # Per partition, COORDINATOR_LOAD_IN_PROGRESS is not flagged retriable by the client.
        assert (
            error.retriable() or kafka.group_not_ready(error)
        ) and time.monotonic() < deadline, error
        time.sleep(0.2)


def _offsets(admin, tps, spec) -> list[int]:
    futures = admin.list_offsets({tp: spec for tp in tps}, request_timeout=10)
    return [future.result(timeout=11).offset for future in futures.values()]


def test_offsets_are_read_again_on_clients_kept_open_across_a_target_restart(sandbox, target):
    spec = sandbox_spec(target.sasl_bootstrap)
    admin, _trap = kafka.admin_client(spec, PASSWORD, client_id="restart-test")
    topic = f"restart.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    _wait_for_leaders(spec, topic)  # a new topic's leaders are elected after it is created
    tps = [TopicPartition(topic, p) for p in range(2)]
    side = Side("target", spec, PASSWORD)
    try:
        assert _offsets(admin, tps, OffsetSpec.latest()) == [0, 0]
        before = side.for_times({(topic, 0): 0, (topic, 1): 0}, time.monotonic() + 20)
        assert before == {(topic, 0): 0, (topic, 1): 0}
        group = f"restart-group-{uuid.uuid4().hex[:6]}"
        _commit(admin, group, TopicPartition(topic, 0, 0))
        seen = read_group(side, group, [topic], time.monotonic() + 20)
        assert seen.error is None and seen.committed == {(topic, 0): 0}, seen

        restart_broker(sandbox.root, "target", down_for_s=1)
        _wait_for_leaders(spec, topic)

        # The same clients, as a sampler would use them in its next round.
        assert _offsets(admin, tps, OffsetSpec.latest()) == [0, 0]
        assert _offsets(admin, tps, OffsetSpec.earliest()) == [0, 0]
        after = side.for_times({(topic, 0): 0, (topic, 1): 0}, time.monotonic() + 20)
        assert after == {(topic, 0): 0, (topic, 1): 0}
        # A group's state and offsets, as the offsets sampler reads them each round.
        seen = read_group(side, group, [topic], time.monotonic() + 20)
        assert seen.error is None, seen.error
        assert seen.committed == {(topic, 0): 0}
    finally:
        side.close()
        admin.delete_topics([topic])


def test_a_partition_answered_with_an_error_is_refused_not_read_as_past_its_end(source):
    """Looking up offsets by time, a partition the broker answers with an error (here one
    that does not exist) must not come back as "no record after that time": the window
    built from it would be empty and the comparison would say NO DATA for a full topic."""
    spec = sandbox_spec(source.sasl_bootstrap)
    admin, _trap = kafka.admin_client(spec, PASSWORD, client_id="for-times-test")
    topic = f"for-times.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    _wait_for_leaders(spec, topic)
    side = CompareSide("source", spec, PASSWORD)
    try:
        assert side.offsets_for_times({(topic, 0): 0}) == {(topic, 0): None}  # empty topic
        with pytest.raises(ClusterError, match=rf"{topic}.*UNKNOWN_PARTITION"):
            side.offsets_for_times({(topic, 0): 0, (topic, 3): 0})
    finally:
        admin.delete_topics([topic])
