"""Group offsets answered partition by partition, without a broker.

``alter_consumer_group_offsets`` and ``list_consumer_group_offsets`` succeed as calls
while single partitions in the answer carry an error. While a group's coordinator loads
(a broker just restarted, a fresh cluster creating ``__consumer_offsets``) that error is
COORDINATOR_LOAD_IN_PROGRESS, and the client does not flag it retriable (seen on the
sandbox: a first commit on a fresh broker). These tests give the code such answers from a
stand-in admin client and check what a consumer cutover, a rollback or a group read then
does: the same request is sent again until the deadline, and any other partition error
is reported, never read as "nothing committed".
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError

from console.cutover.groups import alter_offsets, committed_offsets
from console.kafka.client import ClusterError, group_not_ready

LOADING = KafkaError.COORDINATOR_LOAD_IN_PROGRESS


@dataclass
class _Partition:
    """A partition of a group answer as the client gives it (the client's own
    ``TopicPartition`` cannot be made with an error from Python)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None


@dataclass
class _Answer:
    topic_partitions: list[_Partition]


def _answer(errors: dict[tuple[str, int], int | None], offset: int = 7) -> Future:
    future: Future = Future()
    future.set_result(
        _Answer(
            [
                _Partition(t, p, offset, None if code is None else KafkaError(code))
                for (t, p), code in sorted(errors.items())
            ]
        )
    )
    return future


class _Admin:
    """Answers each group request with the next of ``answers`` (the last one repeats)."""

    def __init__(self, answers: list[dict[tuple[str, int], int | None]]):
        self.answers = answers
        self.asked = 0

    def _next(self, group: str) -> dict[str, Future]:
        errors = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return {group: _answer(errors)}

    def alter_consumer_group_offsets(self, requests, request_timeout=None):
        return self._next(requests[0].group_id)

    def list_consumer_group_offsets(self, requests, request_timeout=None):
        return self._next(requests[0].group_id)


class _Side:
    name = "target"

    def __init__(self, admin: _Admin):
        self.admin = admin

    def renew_admin(self) -> None:
        pass


TPS = {("orders", 0): 5, ("orders", 1): 9}


def test_the_client_does_not_flag_a_loading_coordinator_retriable_so_the_code_decides():
    assert not KafkaError(LOADING).retriable()
    assert group_not_ready(KafkaError(LOADING))
    assert group_not_ready(KafkaError(KafkaError.NOT_COORDINATOR))
    assert not group_not_ready(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))
    assert not group_not_ready(None)


def test_offsets_refused_while_the_coordinator_loads_are_written_again():
    admin = _Admin([dict.fromkeys(TPS, LOADING), dict.fromkeys(TPS, LOADING), dict.fromkeys(TPS)])
    answers = alter_offsets(_Side(admin), "billing", TPS, time.monotonic() + 10)
    assert answers == dict.fromkeys(TPS)
    assert admin.asked == 3


def test_one_partition_refused_while_loading_sends_the_whole_request_again():
    admin = _Admin([{("orders", 0): None, ("orders", 1): LOADING}, dict.fromkeys(TPS)])
    answers = alter_offsets(_Side(admin), "billing", TPS, time.monotonic() + 10)
    assert answers == dict.fromkeys(TPS)
    assert admin.asked == 2


def test_a_group_with_members_is_reported_at_once_not_asked_again():
    admin = _Admin([dict.fromkeys(TPS, KafkaError.UNKNOWN_MEMBER_ID)])
    answers = alter_offsets(_Side(admin), "billing", TPS, time.monotonic() + 10)
    assert answers == dict.fromkeys(TPS, "UNKNOWN_MEMBER_ID")
    assert admin.asked == 1


def test_a_coordinator_that_never_finishes_loading_is_reported_when_the_deadline_passes():
    admin = _Admin([dict.fromkeys(TPS, LOADING)])
    started = time.monotonic()
    answers = alter_offsets(_Side(admin), "billing", TPS, started + 1.0)
    assert answers == dict.fromkeys(TPS, "COORDINATOR_LOAD_IN_PROGRESS")
    assert 1.0 <= time.monotonic() - started < 5
    assert admin.asked >= 2


def test_committed_offsets_are_read_again_while_the_coordinator_loads():
    admin = _Admin([{("orders", 0): LOADING, ("orders", 1): None}, dict.fromkeys(TPS)])
    found = committed_offsets(_Side(admin), "billing", ["orders"], time.monotonic() + 10)
    assert found == {("orders", 0): 7, ("orders", 1): 7}
    assert admin.asked == 2


def test_a_partition_refused_for_another_reason_is_an_error_not_nothing_committed():
    admin = _Admin([{("orders", 0): None, ("orders", 1): KafkaError.UNSTABLE_OFFSET_COMMIT}])
    with pytest.raises(ClusterError) as caught:
        committed_offsets(_Side(admin), "billing", ["orders"], time.monotonic() + 10)
    assert "orders[1]" in str(caught.value) and "UNSTABLE_OFFSET_COMMIT" in str(caught.value)
    assert admin.asked == 1


def test_partitions_of_other_topics_in_the_answer_do_not_matter():
    admin = _Admin([{("orders", 0): None, ("audit", 0): KafkaError.UNSTABLE_OFFSET_COMMIT}])
    found = committed_offsets(_Side(admin), "billing", ["orders"], time.monotonic() + 10)
    assert found == {("orders", 0): 7}
