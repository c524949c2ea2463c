"""An admin request that gets no answer in time fails as a Kafka error, not as Python's
TimeoutError.

Seen in CI (ci46): the mirror renewing its target producer read the topics' configs
again while the target was still waking from a pause; the future returned by
``describe_configs`` was not answered within the wait, ``concurrent.futures`` raised
TimeoutError, which no ``except KafkaException`` catches, and the mirror process ended
with "internal error TimeoutError" instead of trying again. ``client.answer`` waits a
second past the request's own timeout and raises a retriable ``_TIMED_OUT``
KafkaException, which every handler written for Kafka errors already reads.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException

from console.kafka.client import answer, error_name, timed_out
from console.shadow.mirror import topics


class SilentAdmin:
    """An admin client whose requests are never answered."""

    def describe_configs(self, resources, request_timeout):
        return {resource: Future() for resource in resources}


def test_an_unanswered_future_is_a_timed_out_kafka_error():
    with pytest.raises(KafkaException) as err:
        answer(Future(), 0.1)
    assert error_name(err.value) == "_TIMED_OUT"
    assert timed_out(err.value)
    kafka_error = err.value.args[0]
    assert kafka_error.code() == KafkaError._TIMED_OUT and kafka_error.retriable()
    assert "no answer within 0.1 s" in kafka_error.str()


def test_an_answered_future_gives_its_result_or_its_kafka_error():
    done = Future()
    done.set_result(42)
    assert answer(done, 0.1) == 42
    refused = Future()
    refused.set_exception(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    with pytest.raises(KafkaException) as err:
        answer(refused, 0.1)
    assert error_name(err.value) == "TOPIC_AUTHORIZATION_FAILED"


def test_reading_topic_configs_that_never_arrive_is_a_kafka_error():
    """The read the mirror's renewal ended on: now a KafkaException, which check_topics
    words for the operator and the renewal asks again."""
    with pytest.raises(KafkaException) as err:
        topics._describe(SilentAdmin(), ["orders"], 0.1)
    assert timed_out(err.value)
