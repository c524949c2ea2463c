"""Kafka client plumbing shared by the engine: client configs, admin clients, error wording.

Everything here takes explicit timeouts and runs off the UI thread. Errors are
turned into :class:`ClusterError` whose message names the cluster, the problem
and what to do, so no caller has to show a librdkafka code to an operator.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from console import redact
from console.errors import CutoverError
from console.plan import ClusterSpec


class ClusterError(CutoverError):
    """A cluster could not be used; the message says which, why and what to do."""


@dataclass
class ErrorTrap:
    """Collects librdkafka's asynchronous errors (authentication, all brokers down)."""

    errors: list[KafkaError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, err: KafkaError) -> None:
        with self._lock:
            self.errors.append(err)

    def auth_failure(self) -> KafkaError | None:
        with self._lock:
            return next((e for e in self.errors if e.code() == KafkaError._AUTHENTICATION), None)


def client_config(
    spec: ClusterSpec, password: str | None, *, client_id: str, trap: ErrorTrap | None = None
) -> dict:
    """A confluent-kafka config for a cluster in the plan."""
    conf: dict = {
        "bootstrap.servers": spec.bootstrap_servers,
        "security.protocol": spec.security_protocol,
        "client.id": client_id,
        "socket.timeout.ms": int(spec.request_timeout_s * 1000),
        # librdkafka logs connection failures on its own; we report them once, in words.
        "log_level": 0,
    }
    if spec.security_protocol.startswith("SASL"):
        conf.update(
            {
                "sasl.mechanism": spec.sasl_mechanism,
                "sasl.username": spec.sasl_username,
                "sasl.password": password or "",
            }
        )
    if trap is not None:
        conf["error_cb"] = trap
    return conf


def remaining(deadline: float, cap: float = 15.0) -> float:
    """Seconds left until a ``time.monotonic()`` deadline, for one request's timeout: at
    least half a second (a request needs some), at most ``cap``."""
    return max(0.5, min(cap, deadline - time.monotonic()))


_STALE_LEADER = frozenset(
    {
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError._NOENT,  # "Failed to query partition leaders: No leaders found", cached
    }
)
"""Errors that mean "your idea of the partition's leader is old" (a broker restarted or
leadership moved), not that the partition cannot be read."""


GROUP_NOT_READY = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._WAIT_COORD,  # the client's own: still looking for the coordinator
    }
)
"""What a group's coordinator answers while it is not ready (a fresh cluster creating
``__consumer_offsets``, a broker just restarted loading its partitions, leadership
moving): ask again shortly."""
GROUP_NOT_READY_NAMES = frozenset(KafkaError(code).name() for code in GROUP_NOT_READY)


def group_not_ready(error: KafkaError | None) -> bool:
    """Whether ``error`` (a request's, or one partition's in a group answer) means the
    group's coordinator is not ready yet, so the same request should be sent again.

    An error carried per partition in a group answer (``alter_consumer_group_offsets``
    succeeds with partitions refused) is not flagged retriable by the client even when
    it is COORDINATOR_LOAD_IN_PROGRESS (seen on the sandbox: a first commit on a fresh
    broker), so the code is what decides, not ``retriable()``."""
    return isinstance(error, KafkaError) and error.code() in GROUP_NOT_READY


class Admin(AdminClient):
    """An admin client that outlives a broker restart.

    librdkafka's ListOffsets keeps sending the leader epoch it had cached: once a broker
    restarts (its partitions' leader epochs go up), every offsets request of a client kept
    open across it fails with FENCED_LEADER_EPOCH, for good, until the client fetches the
    topic's metadata again (seen on the sandbox with confluent-kafka 2.16: the offsets
    sampler said "cannot be read" for a group from the operations drill onwards), and a
    client that looked while the broker was down keeps answering "no leaders found". Here
    a partition answered so is asked again after its topic's metadata is read anew, a
    few times (``STALE_RETRIES``) within the request's timeout.

    ``list_offsets`` therefore waits for its answers (every caller waits for them anyway)
    and returns the futures, settled or still pending, as confluent-kafka does.
    """

    def list_offsets(self, topic_partition_offsets, **kwargs):
        return self.list_offsets_many([(topic_partition_offsets, kwargs)])[0]

    def list_offsets_many(self, requests):
        """Several ``list_offsets`` requests (``requests``: (partitions -> spec, keyword
        arguments) each) sent at once from the calling thread, then each awaited and
        asked again where stale, as :meth:`list_offsets` does: the round trips overlap
        (e.g. the ends and the log starts of the same partitions, which one request
        cannot ask for: one spec per partition). Futures per request, in order."""
        sent = [super(Admin, self).list_offsets(offsets, **kw) for offsets, kw in requests]
        return [
            self._again_if_stale(offsets, kw, futures)
            for (offsets, kw), futures in zip(requests, sent, strict=True)
        ]

    def _again_if_stale(self, topic_partition_offsets, kwargs, futures):
        timeout = float(kwargs.get("request_timeout") or 10.0)
        deadline = time.monotonic() + timeout
        for attempt in range(STALE_RETRIES):
            stale = [tp for tp, future in futures.items() if _stale_leader(future, timeout)]
            if not stale or time.monotonic() > deadline:
                break
            if attempt:
                # Just after a restart the broker may not yet have applied the leader
                # epoch its own metadata announces (UNKNOWN_LEADER_EPOCH): a moment later.
                time.sleep(0.25 * attempt)
            for topic in sorted({tp.topic for tp in stale}):
                with contextlib.suppress(Exception):  # the retry below reports what is wrong
                    self.list_topics(topic=topic, timeout=timeout)
            again = super().list_offsets(
                {tp: topic_partition_offsets[tp] for tp in stale}, **kwargs
            )
            futures = {**futures, **again}
        return futures


STALE_RETRIES = 4
"""How many times a partition answered with a stale-leader error is asked again (after
its topic's metadata is read anew, and from the second time a little later each time)."""


def _stale_leader(future, timeout: float) -> bool:
    try:
        future.result(timeout=timeout + 1)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        return isinstance(err, KafkaError) and err.code() in _STALE_LEADER
    except Exception:  # noqa: BLE001 - a timeout or another error: the caller reads it
        return False
    return False


def answer(future, timeout: float):
    """The result of an admin client's future for a request sent with ``timeout``.

    Waits a second past the request's own timeout, so that the client's error (which
    names the cause) comes first. A future still unanswered then raises
    ``concurrent.futures``' TimeoutError, which is not a KafkaException: handlers
    written for Kafka errors miss it and it surfaced as "internal error". It is raised
    here as the KafkaException a timed-out request gives (``_TIMED_OUT``)."""
    try:
        return future.result(timeout=timeout + 1)
    except TimeoutError:
        raise KafkaException(
            KafkaError(KafkaError._TIMED_OUT, f"no answer within {timeout:g} s", retriable=True)
        ) from None


def timed_out(exc: BaseException) -> bool:
    """Whether a request failed by timing out (the client's or the broker's)."""
    if isinstance(exc, TimeoutError):
        return True
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return isinstance(err, KafkaError) and err.code() in (
        KafkaError._TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
    )


def assigned_reader_config(
    spec: ClusterSpec,
    password: str | None,
    *,
    client_id: str,
    committed: bool = True,
    fetch_wait_ms: int = 10,
) -> dict:
    """A consumer config for reading partitions by ``assign()`` only: it never joins or
    commits a group (its group id is unique and named after the client), reports the end
    of each partition, and reports an offset outside the log instead of resetting it."""
    conf = client_config(spec, password, client_id=client_id)
    conf.update(
        {
            "group.id": f"{client_id}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "fetch.wait.max.ms": fetch_wait_ms,
        }
    )
    return conf


def admin_client(
    spec: ClusterSpec, password: str | None, *, client_id: str
) -> tuple[AdminClient, ErrorTrap]:
    trap = ErrorTrap()
    return Admin(client_config(spec, password, client_id=client_id, trap=trap)), trap


def connect_error(
    name: str, spec: ClusterSpec, client, trap: ErrorTrap, exc: Exception
) -> ClusterError:
    """Word a failed first request: wrong password, or nobody answering.

    A wrong password surfaces from a metadata call as a transport error; the real
    cause only reaches ``error_cb``, which librdkafka calls from ``poll``.
    """
    client.poll(0.5)
    auth = trap.auth_failure()
    if auth is not None:
        return ClusterError(
            f"{name}: authentication failed for user '{spec.sasl_username}' "
            f"({spec.sasl_mechanism}); check the password "
            f"('cutover credentials set {name} --plan PLAN' or the plan's password.env variable)"
        )
    detail = redact.text(_reason(exc))
    return ClusterError(
        f"{name}: no broker answered at {spec.bootstrap_servers} within "
        f"{spec.request_timeout_s:g} s ({detail}); check bootstrap_servers in the plan and "
        "that the cluster is running and reachable from this host"
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].str()
    return str(exc) or type(exc).__name__


def error_name(exc: BaseException) -> str:
    """The Kafka error name of an admin future's exception (e.g. TOPIC_AUTHORIZATION_FAILED)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].name()
    return type(exc).__name__


def is_denied(exc: BaseException) -> bool:
    return "AUTHORIZATION_FAILED" in error_name(exc)
