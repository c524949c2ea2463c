"""A consumer group on one cluster: its state, its members and its committed offsets.

Read with the admin API (``describe_consumer_groups``, ``list_consumer_group_offsets``),
never by joining the group. What counts as active is decided in
:class:`console.cutover.model.GroupSide`: any member, any state that is not at rest,
and UNKNOWN (librdkafka 2.16's word for a Kafka 4 ``consumer``-protocol group that is
assigning or reconciling). A group that does not exist comes back DEAD with no members.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition

from console.cutover.clients import Side
from console.cutover.model import GroupSide, Member
from console.kafka import client as kafka

# A fresh cluster answers kafka.GROUP_NOT_READY while it creates __consumer_offsets or
# loads the group's partition; the request is repeated until the deadline.
_NOT_READY = kafka.GROUP_NOT_READY


def _error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def _code(exc: BaseException) -> int | None:
    error = _error(exc)
    return error.code() if error is not None else None


def _state_word(state) -> str:
    return getattr(state, "name", str(state)).upper()


def read_group(side: Side, group_id: str, topics: Iterable[str], deadline: float) -> GroupSide:
    """The group on ``side``: state, members, and committed offsets for ``topics``."""
    return GroupRead(side, group_id, topics, deadline).result()


class GroupRead:
    """A group read in flight: its description and its committed offsets are asked for at
    once (two admin futures on the calling thread's client, one round trip instead of
    two), and the caller may send other requests on the same client meanwhile before
    taking :meth:`result`. Only the first try is sent at once; a coordinator still
    loading, or a request timed out on a kept client, is asked again as
    :func:`_ask_group` does, until the deadline.

    The offsets of a group found DEAD are not used (nothing is committed there); asking
    for them anyway costs nothing, the answer is empty."""

    def __init__(self, side: Side, group_id: str, topics: Iterable[str], deadline: float):
        self.side, self.group_id, self.deadline = side, group_id, deadline
        self.wanted = set(topics)
        self._desc = self._offsets = None
        timeout = max(0.5, kafka.remaining(deadline) / 2)
        try:
            self._desc = side.admin.describe_consumer_groups([group_id], request_timeout=timeout)[
                group_id
            ]
            self._offsets = side.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout
            )[group_id]
        except KafkaException:
            pass  # asked again one at a time by result(), which reports what fails

    def result(self) -> GroupSide:
        side, group_id, deadline = self.side, self.group_id, self.deadline
        renewed = False
        try:
            if self._desc is None:
                raise _Again()
            desc = self._desc.result(timeout=kafka.remaining(deadline) + 1)
        except (_Again, KafkaException, TimeoutError) as exc:
            renewed = self._before_again(exc)
            try:
                desc = _ask_group(
                    side,
                    deadline,
                    lambda timeout: side.admin.describe_consumer_groups(
                        [group_id], request_timeout=timeout
                    )[group_id],
                    renewed=renewed,
                )
            except (KafkaException, TimeoutError) as again:
                return GroupSide(side.name, group_id, "UNKNOWN", error=_why(again))
            self._offsets = None  # sent on a client that failed: asked again below
        members = tuple(
            Member(
                m.member_id,
                m.client_id,
                m.host,
                getattr(m, "group_instance_id", None) or None,
            )
            for m in desc.members
        )
        protocol = getattr(getattr(desc, "type", None), "name", "") or ""
        state = _state_word(desc.state)
        committed = {}
        if state != "DEAD":
            committed, error = self._committed(renewed)
            if error:
                return GroupSide(side.name, group_id, state, protocol.lower(), members, error=error)
        elif self._offsets is not None:
            # Nothing is committed in a group that does not exist; the answer is awaited
            # all the same, so no request is left in flight when the client is closed.
            with contextlib.suppress(KafkaException, TimeoutError):
                self._offsets.result(timeout=kafka.remaining(deadline) + 1)
        return GroupSide(side.name, group_id, state, protocol.lower(), members, committed)

    def _before_again(self, exc: BaseException) -> bool:
        """Ready the client for asking again after ``exc``; True when it was renewed."""
        if isinstance(exc, _Again):
            return False
        if kafka.timed_out(exc) and time.monotonic() < self.deadline:
            self.side.renew_admin()  # a kept client timed out: see _ask_group
            return True
        if _code(exc) in _NOT_READY:
            time.sleep(0.2)  # the coordinator is loading; the deadline bounds the retries
        return False

    def _committed(self, renewed: bool) -> tuple[dict[tuple[str, int], int], str | None]:
        if self._offsets is not None:
            try:
                result = self._offsets.result(timeout=kafka.remaining(self.deadline) + 1)
                found, refused = _offsets_of(result, self.wanted)
                if refused is None or not _again(refused[2], self.deadline):
                    return found, _refusal(refused)
            except (KafkaException, TimeoutError) as exc:
                renewed = self._before_again(exc) or renewed
        return _committed(self.side, self.group_id, self.wanted, self.deadline, renewed=renewed)


class _Again(Exception):
    """The first try could not be sent: ask again one request at a time."""


def _committed(
    side: Side, group_id: str, topics: set[str], deadline: float, *, renewed: bool = False
) -> tuple[dict[tuple[str, int], int], str | None]:
    while True:
        try:
            result = _ask_group(
                side,
                deadline,
                lambda timeout: side.admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group_id)], request_timeout=timeout
                )[group_id],
                renewed=renewed,
            )
        except (KafkaException, TimeoutError) as exc:
            return {}, _why(exc)
        found, refused = _offsets_of(result, topics)
        if refused is None or not _again(refused[2], deadline):
            return found, _refusal(refused)


def _offsets_of(
    result, topics: set[str]
) -> tuple[dict[tuple[str, int], int], tuple[str, int, KafkaError] | None]:
    """The committed offsets of ``topics`` in a group's answer, and the first of those
    partitions the answer carries an error for (topic, partition, error), if any: such a
    partition is not read as "nothing committed"."""
    out, refused = {}, None
    for tp in result.topic_partitions:
        if tp.topic not in topics:
            continue
        if tp.error is not None:
            refused = refused or (tp.topic, tp.partition, tp.error)
        elif tp.offset >= 0:
            out[(tp.topic, tp.partition)] = tp.offset
    return out, refused


def _again(error: KafkaError | None, deadline: float) -> bool:
    """Whether ``error`` (a request's or one partition's) is the coordinator still
    loading, with time left to ask again; the short pause before asking is taken here."""
    if kafka.group_not_ready(error) and time.monotonic() < deadline:
        time.sleep(0.2)
        return True
    return False


def _refusal(refused: tuple[str, int, KafkaError] | None) -> str | None:
    if refused is None:
        return None
    topic, partition, error = refused
    return f"the committed offset of {topic}[{partition}] was refused ({error.name()})"


def committed_offsets(
    side: Side, group_id: str, topics: Iterable[str], deadline: float
) -> dict[tuple[str, int], int]:
    """Only the committed offsets (for reading a move back); raises on failure."""
    found, error = _committed(side, group_id, set(topics), deadline)
    if error:
        raise kafka.ClusterError(
            f"{side.name}: reading the committed offsets of group {group_id} failed ({error})"
        )
    return found


def alter_offsets(
    side: Side, group_id: str, offsets: dict[tuple[str, int], int], deadline: float
) -> dict[tuple[str, int], str | None]:
    """Write committed offsets for a group (one request); per partition None when it was
    written, else the error's name. The call does not raise for a group with members:
    each partition then carries UNKNOWN_MEMBER_ID, which is why every one is checked."""
    request = ConsumerGroupTopicPartitions(
        group_id, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    while True:
        try:
            result = side.admin.alter_consumer_group_offsets(
                [request], request_timeout=kafka.remaining(deadline)
            )[group_id].result(timeout=kafka.remaining(deadline) + 1)
        except (KafkaException, TimeoutError) as exc:
            if _again(_error(exc), deadline):
                continue
            name = kafka.error_name(exc)
            return {tp: name for tp in offsets}
        # The call succeeds with each partition refused while the coordinator loads (a
        # broker just restarted, a fresh cluster): the same offsets are sent again.
        loading = next(
            (tp.error for tp in result.topic_partitions if kafka.group_not_ready(tp.error)), None
        )
        if not _again(loading, deadline):
            break
    out: dict[tuple[str, int], str | None] = {tp: "not in the answer" for tp in offsets}
    for tp in result.topic_partitions:
        key = (tp.topic, tp.partition)
        out[key] = tp.error.name() if tp.error is not None else None
    return out


def _ask_group(side: Side, deadline: float, ask, *, renewed: bool = False):
    """A group request's answer: ``ask(timeout)`` sends it and returns its future. While
    the coordinator loads, asked again until the deadline; timed out on the kept admin
    client (one kept across a broker restart times out for good), asked once more on a
    new one, so the first try gets half of what is left (a healthy coordinator answers in
    milliseconds). Raises what the last try raised. ``renewed``: the client was renewed
    already (by :class:`GroupRead`), so it is not renewed again."""
    while True:
        left = kafka.remaining(deadline)
        try:
            return ask(left if renewed else max(0.5, left / 2)).result(timeout=left + 1)
        except (KafkaException, TimeoutError) as exc:
            if _code(exc) in _NOT_READY and time.monotonic() < deadline:
                time.sleep(0.2)  # the coordinator is loading; the deadline bounds this
                continue
            if kafka.timed_out(exc) and not renewed and time.monotonic() < deadline:
                side.renew_admin()
                renewed = True
                continue
            raise


def _why(exc: BaseException) -> str:
    name = kafka.error_name(exc)
    if "AUTHORIZATION" in name:
        return f"{name}: the console's user may not describe the group"
    return name


def partitions_of(side: Side, topics: Iterable[str], deadline: float) -> dict[str, list[int]]:
    """Partition numbers of each topic that exists on ``side``."""
    try:
        meta = side.admin.list_topics(timeout=kafka.remaining(deadline))
    except KafkaException as exc:
        raise side.fail("reading metadata", exc) from None
    out = {}
    for topic in topics:
        tmeta = meta.topics.get(topic)
        if tmeta is not None and tmeta.error is None:
            out[topic] = sorted(tmeta.partitions)
    return out
