"""The ``cutover safe-consumer RUN.db NAME`` process: one shadow consumer, until stopped.

Started by the "Start safe consumers" step with an environment holding the shadow
principal's password and nothing of the console's own secrets. It records itself in the
run database (heartbeat, state), writes progress and error examples there every few
seconds, and ends with a one-line reason wherever the operator looks. Closing the
console does not stop it; the console re-attaches by reading the run database.

Also the ``cutover safe-sampler RUN.db`` process: it reads, with the console's own
source credentials, the source groups the shadow consumers stand in for, so the pane
shows like beside like. The shadow consumers themselves never hold a source credential.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from console import processes, redact
from console.kafka.client import admin_client, error_name
from console.plan import credentials
from console.safe import (
    PASSWORD_ENV,
    REGISTRY_PASSWORD_ENV,
    RUN_ACTION,
    SAMPLER,
    STEP,
    process_name,
)
from console.safe.command import TeamCommand
from console.safe.consumer import Tally, ValidationConsumer
from console.store import Store


def run(db_path: Path, name: str, stop: threading.Event) -> int:
    """Run one shadow consumer until ``stop``; the exit code."""
    store = Store.open(db_path)
    try:
        return _run(store, name, stop)
    finally:
        store.close()


def _run(store: Store, name: str, stop: threading.Event) -> int:
    me = process_name(name)
    processes.heartbeat(store, me, "starting", state="starting")
    password = os.environ.pop(PASSWORD_ENV, "")
    registry_password = os.environ.pop(REGISTRY_PASSWORD_ENV, "") or None
    if registry_password:
        redact.register(registry_password)
    if not password:
        return _failed(
            store,
            me,
            "started without its principal's password; start it with the Start safe consumers step",
        )
    redact.register(password)
    try:
        spec = store.plan.shadow_consumer(name)
    except KeyError as exc:
        return _failed(store, me, str(exc).strip("'\""))
    base = store.path.resolve().parent
    intent = store.log(
        RUN_ACTION,
        step=STEP,
        params={
            "consumer": name,
            "principal": spec.kafka_principal,
            "group": spec.group_id,
            "sink": spec.sink,
            "run": spec.run,
            "pid": os.getpid(),
        },
    )

    def beat(tally: Tally, lag: int | None, detail: str) -> None:
        with tally.lock:
            errors = dict(tally.errors)
        store.shadow.report(
            name,
            "shadow",
            processed=tally.processed,
            lag=lag,
            state="running",
            errors=errors,
            examples=tally.take_examples(),
        )
        processes.heartbeat(store, me, detail)

    try:
        if spec.run == "command":
            worker = TeamCommand(store.plan, spec, password, base)
            code = worker.run(stop, beat)
            detail = worker.describe()
            if code != 0 and not stop.is_set():
                message = f"the team's command exited with code {code}: {detail}"
                store.log(RUN_ACTION, step=STEP, ref=intent.seq, outcome=message)
                return _failed(store, me, message)
        else:
            consumer = ValidationConsumer(store.plan, spec, password, base, registry_password)
            consumer.run(stop, beat)
            detail = consumer.describe()
    except KafkaException as exc:
        message = redact.text(f"Kafka error {error_name(exc)}; start it again")
        store.log(RUN_ACTION, step=STEP, ref=intent.seq, outcome=f"failed: {message}")
        return _failed(store, me, message)
    except Exception as exc:  # noqa: BLE001 - a background process must say why it died
        message = redact.text(f"internal error {type(exc).__name__}: {exc}")
        store.log(RUN_ACTION, step=STEP, ref=intent.seq, outcome=f"failed: {message}")
        return _failed(store, me, message)
    store.log(RUN_ACTION, step=STEP, ref=intent.seq, outcome=f"stopped: {detail}")
    processes.finished(store, me, "stopped", f"stopped: {detail}")
    return 0


def _failed(store: Store, me: str, message: str) -> int:
    processes.finished(store, me, "failed", message)
    print(f"cutover safe-consumer: {message}", file=sys.stderr, flush=True)
    return 1


# -- the source groups' sampler -------------------------------------------------------------


def sample(db_path: Path, stop: threading.Event) -> int:
    """Read the source groups the shadow consumers stand in for, until ``stop``."""
    store = Store.open(db_path)
    try:
        processes.heartbeat(store, SAMPLER, "starting", state="starting")
        plan = store.plan
        try:
            password = credentials.resolve_password(plan, "source")
        except credentials.CredentialError as exc:
            processes.finished(store, SAMPLER, "failed", str(exc))
            return 1
        admin, _trap = admin_client(
            plan.clusters.source, password, client_id="cutover-safe-sampler"
        )
        watched = [c for c in plan.shadow_consumers if c.shadows]
        interval = plan.shadow.sample_interval_s
        while not stop.is_set():
            notes = []
            for consumer in watched:
                lag, committed, state = _source_group(admin, consumer.shadows, consumer.topics)
                if state in ("_TIMED_OUT", "REQUEST_TIMED_OUT"):
                    # An admin client kept across a broker restart times out on group
                    # requests for good: read this round again with a new one.
                    admin, _trap = admin_client(
                        plan.clusters.source, password, client_id="cutover-safe-sampler"
                    )
                    lag, committed, state = _source_group(admin, consumer.shadows, consumer.topics)
                store.shadow.report(
                    consumer.name, "source", processed=committed, lag=lag, state=state
                )
                notes.append(f"{consumer.shadows} {state}")
            processes.heartbeat(store, SAMPLER, "; ".join(notes) or "no source group to read")
            stop.wait(interval)
        processes.finished(store, SAMPLER, "stopped", "stopped on request")
        return 0
    except Exception as exc:  # noqa: BLE001 - a background process must say why it died
        message = redact.text(f"{type(exc).__name__}: {exc}")
        processes.finished(store, SAMPLER, "failed", message)
        print(f"cutover safe-sampler: {message}", file=sys.stderr, flush=True)
        return 1
    finally:
        store.close()


def _source_group(
    admin, group: str | None, topics: list[str]
) -> tuple[int | None, int | None, str]:
    """The group's lag over the topics, its committed offsets summed, and its state."""
    try:
        described = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
        state = described.state.name.lower()
    except KafkaException as exc:
        return None, None, error_name(exc)
    try:
        listed = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=5
        )[group].result()
    except KafkaException as exc:
        return None, None, error_name(exc)
    committed = [tp for tp in listed.topic_partitions if tp.offset >= 0 and tp.topic in topics]
    if not committed:
        return None, None, state
    try:
        ends = admin.list_offsets(
            {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in committed},
            request_timeout=5,
        )
        lag = sum(
            max(0, ends[TopicPartition(tp.topic, tp.partition)].result().offset - tp.offset)
            for tp in committed
        )
    except KafkaException:
        lag = None
    return lag, sum(tp.offset for tp in committed), state
