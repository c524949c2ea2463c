"""The rollback drill: the rollback path end to end on rehearsal topics, before the first
real move. Its evidence (``rollback-drill``) is what the "Move producers" gate requires.

It makes what it needs and removes it afterwards: a rehearsal topic on both clusters
(``cutover-rehearsal-<db>-<run>.orders``, see :func:`rehearsal_base`), a rehearsal SCRAM
user on both (a throwaway password held in memory only; reset when a killed drill is
resumed), its ACLs, and a rehearsal group. Then, with the same code the real rollback runs:

1. **setup**; 2. **source-writes**: records written on the source as the rehearsal user
and copied to the target with the mirror's provenance header; 3. **fence**: ``DENY
WRITE`` on the source, proven as the user (its write is refused); 4. **switch**: the user
writes on the target (target-only records) and the rehearsal group reads part of them
there; 5. **fence-target**; 6. **copy-back**: the reverse copy, exactly once; 7.
**group-back**: the group's offsets on the source at the reverse copy of the first record
it has not read; 8. **unfence**: the source fence removed, proven by a write as the user;
9. **verify**: the source holds every record once, the group stands where it should;
10. **cleanup**.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from console.cutover.producers import acls
from console.cutover.producers import reverse as rev
from console.cutover.producers.cluster import TP, Cluster
from console.cutover.producers.sequence import Sequence, SequenceFailed
from console.kafka import client as kafka
from console.kafka import provenance
from console.kafka import rights as kafka_rights
from console.kafka.rights import Login

PARTITIONS = 2
ON_SOURCE = 20
"""Records the rehearsal user writes on the source before the fence."""
ON_TARGET = 10
"""Records it writes on the target after the switch (the target-only ones)."""
READ_ON_TARGET = 3
"""Of those, per partition, how many the rehearsal group has read on the target."""


def rehearsal_base(store, run_id: int) -> str:
    """The name of a drill's rehearsal topic (with ``.orders``), user and group (with
    ``.group``): the run database's own tag (the start of its first entry's hash, made when
    the database was) and the drill's run number. Run numbers start at 1 in every run
    database, so two databases on the same clusters must not share names: a drill would
    take what another left behind for its own."""
    first = store.audit_since(0, limit=1)
    tag = first[0].hash[:8] if first else "0"
    return f"cutover-rehearsal-{tag}-{run_id}"


class Drill(Sequence):
    """One drill (see the module docstring)."""

    password: str | None = None

    @property
    def names(self) -> dict[str, str]:
        base = rehearsal_base(self.store, self.run_id)
        return {
            "topic": f"{base}.orders",
            "user": base,
            "group": f"{base}.group",
            "txn": f"cutover-drill-{self.plan.name}-{base.removeprefix('cutover-rehearsal-')}",
        }

    @property
    def principal(self) -> str:
        return f"User:{self.names['user']}"

    def go(self) -> dict[str, Any]:
        names = self.names
        tps = [(names["topic"], p) for p in range(PARTITIONS)]
        lines: list[str] = []
        try:
            for name, body in (
                ("setup", lambda r: self._setup(r)),
                ("source-writes", lambda r: self._source_writes(tps)),
                ("fence", lambda r: self._fence(tps)),
                ("switch", lambda r: self._switch(tps)),
                ("fence-target", lambda r: self._fence_target()),
                ("copy-back", lambda r: self._copy_back(tps)),
                ("group-back", lambda r: self._group_back(tps)),
                ("unfence", lambda r: self._unfence()),
                ("verify", lambda r: self._verify(tps)),
            ):
                result = self.substep(name, body)
                lines.append(f"{name}: {result.get('summary', 'done')}")
        finally:
            cleaned = self.substep("cleanup", lambda r: self._cleanup())
        lines.append(f"cleanup: {cleaned['summary']}")
        self.store.producers.set_run_state(self.run_id, "done")
        return {"summary_lines": lines, "run": self.run_id, "names": names}

    # -- helpers ----------------------------------------------------------------------------

    def _login(self) -> Login:
        if self.password is None:
            # Held in memory only; a resumed drill sets a new one (the user is throwaway).
            self.password = secrets.token_urlsafe(18)
            for cluster in (self.source, self.target):
                _upsert_user(cluster, self.names["user"], self.password)
        return Login(self.names["user"], self.password)

    def _producer(self, cluster: Cluster) -> Producer:
        login = self._login()
        conf = kafka.client_config(cluster.spec, None, client_id="cutover-shadow-drill")
        conf.update(
            {
                "sasl.username": login.username,
                "sasl.password": login.password,
                # Not idempotent: a fenced principal cannot even get a producer id (WRITE
                # on a topic is what grants IdempotentWrite), and the probe must see the
                # topic's own refusal. One in flight keeps the order.
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,
                "acks": "all",
                "linger.ms": 5,
            }
        )
        return Producer(conf)

    def _write(self, cluster: Cluster, tps: list[TP], n: int, tag: str) -> list[str]:
        """Write ``n`` records per partition as the rehearsal user; the errors, if any."""
        producer = self._producer(cluster)
        errors: list[str] = []

        def done(err, _msg):
            if err is not None:
                errors.append(err.name())

        try:
            for t, p in tps:
                for i in range(n):
                    producer.produce(t, f"{tag}-{i}".encode(), f"k{i}".encode(), p, done)
            producer.flush(30)
        except KafkaException as exc:
            errors.append(kafka.error_name(exc))
        return errors

    def _rights(self, cluster: Cluster):
        return kafka_rights.effective_rights(
            cluster.name,
            cluster.spec,
            cluster.password,
            self.principal,
            self._login(),
            topics=[self.names["topic"]],
            groups=[],
            probe_listeners=False,
        )

    def _acl(self, cluster: Cluster, purpose: str, data: dict[str, str]) -> str:
        return acls.ensure(
            self.store,
            self.run_id,
            "drill",
            cluster,
            purpose,
            data,
            log=self.log,
            deadline=time.monotonic() + 20,
        )

    # -- sub-steps --------------------------------------------------------------------------

    def _setup(self, resumed: bool) -> dict[str, Any]:
        names = self.names
        for cluster in (self.source, self.target):
            try:
                futures = cluster.admin.create_topics(
                    [NewTopic(names["topic"], PARTITIONS, 1)], request_timeout=20
                )
                for future in futures.values():
                    future.result(25)
            except KafkaException as exc:
                if kafka.error_name(exc) != "TOPIC_ALREADY_EXISTS":
                    raise cluster.fail("creating the rehearsal topic", exc) from None
            self._login()
        # The user may write on the source only: the switch opens the target as a real
        # move does (granted here as well, the open found them listed and recorded them
        # as "there before the console", which they were not).
        for op in ("WRITE", "DESCRIBE"):
            self._acl(
                self.source,
                "drill",
                acls.binding("TOPIC", names["topic"], self.principal, op, "ALLOW"),
            )
        return {
            "summary": f"topic {names['topic']} and user {names['user']} on both clusters",
            "topic": names["topic"],
        }

    def _source_writes(self, tps: list[TP]) -> dict[str, Any]:
        start = self.source.ends(tps, time.monotonic() + 15, committed=False)
        if all(start[tp] == 0 for tp in tps):
            errors = self._write(self.source, tps, ON_SOURCE, "src")
            if errors:
                raise SequenceFailed(f"the rehearsal user could not write: {errors[0]}")
        # The forward copy, as the mirror makes it: same partition, provenance header.
        ends = self.source.ends(tps, time.monotonic() + 15, committed=True)
        copied = self.target.ends(tps, time.monotonic() + 15, committed=True)
        records = self.source.records(
            {tp: (copied[tp], ends[tp]) for tp in tps}, time.monotonic() + 30, committed=True
        )
        producer = Producer(
            kafka.client_config(
                self.target.spec, self.target.password, client_id="cutover-shadow-drill"
            )
        )
        for r in records:
            headers = [*r.headers, (provenance.HEADER, provenance.encode(r.partition, r.offset))]
            producer.produce(r.topic, r.value, r.key, r.partition, headers=headers)
        producer.flush(30)
        points = self.target.ends(tps, time.monotonic() + 15, committed=True)
        self.remember(points={f"{t}:{p}": [ends[(t, p)], points[(t, p)]] for t, p in tps})
        return {
            "summary": f"{sum(ends.values())} record(s) on the source, copied to the target",
            "points": {f"{t}:{p}": [ends[(t, p)], points[(t, p)]] for t, p in tps},
        }

    def _points(self) -> dict[TP, tuple[int, int]]:
        out = {}
        for key, (src, tgt) in self.facts["points"].items():
            topic, _, partition = key.rpartition(":")
            out[(topic, int(partition))] = (src, tgt)
        return out

    def _fence(self, tps: list[TP]) -> dict[str, Any]:
        data = acls.binding("TOPIC", self.names["topic"], self.principal, "WRITE", "DENY")
        self._acl(self.source, "fence", data)
        refused = _until(lambda: self._write(self.source, tps[:1], 1, "fenced"))
        if not refused:
            raise SequenceFailed("the rehearsal fence did not hold: a write was accepted")
        rights = self._rights(self.source)
        grant = rights.allows("topic", self.names["topic"], "WRITE")
        return {
            "summary": f"DENY WRITE on the source; the user's write is refused ({refused[0]}); "
            f"effective rights as the user: WRITE {'allowed' if grant else 'denied'}",
            "refused": refused[0],
        }

    def _switch(self, tps: list[TP]) -> dict[str, Any]:
        names = self.names
        points = self._points()
        for op in ("WRITE", "DESCRIBE"):
            self._acl(
                self.target,
                "open",
                acls.binding("TOPIC", names["topic"], self.principal, op, "ALLOW"),
            )
        now = self.target.ends(tps, time.monotonic() + 15, committed=True)
        if all(now[tp] == points[tp][1] for tp in tps):
            errors = self._write(self.target, tps, ON_TARGET, "tgt")
            if errors:
                raise SequenceFailed(
                    f"the rehearsal user could not write on the target: {errors[0]}"
                )
        # The rehearsal group read part of the target-only records on the target.
        offsets = {tp: points[tp][1] + READ_ON_TARGET for tp in tps}
        _commit(self.target, names["group"], offsets)
        return {
            "summary": f"{ON_TARGET} record(s) per partition written on the target; group "
            f"{names['group']} read {READ_ON_TARGET} per partition there",
            "group_on_target": {f"{t}:{p}": o for (t, p), o in offsets.items()},
        }

    def _fence_target(self) -> dict[str, Any]:
        data = acls.binding("TOPIC", self.names["topic"], self.principal, "WRITE", "DENY")
        self._acl(self.target, "target-fence", data)
        return {"summary": "DENY WRITE on the target"}

    def _copy_back(self, tps: list[TP]) -> dict[str, Any]:
        points = self._points()
        ends = self.target.ends(tps, time.monotonic() + 15, committed=True)
        only = rev.target_only(
            self.target, {tp: p[1] for tp, p in points.items()}, ends, time.monotonic() + 30
        )
        result = rev.copy_back(
            self.source,
            only,
            {tp: p[0] for tp, p in points.items()},
            self.names["txn"],
            deadline=time.monotonic() + 60,
            log=self.log,
        )
        return {
            "summary": f"{only.count} target-only record(s) copied back "
            f"({result['copied_now']} now, {result['copied_before']} before)",
            **result,
        }

    def _group_back(self, tps: list[TP]) -> dict[str, Any]:
        points = self._points()
        copies = rev.copied_back(
            self.source, {tp: p[0] for tp, p in points.items()}, time.monotonic() + 30
        )
        ends = self.source.ends(tps, time.monotonic() + 15, committed=True)
        wanted = {}
        for tp in tps:
            at, _how = rev.source_position(
                points[tp][1] + READ_ON_TARGET, points[tp], copies[tp], ends[tp], copied=True
            )
            wanted[tp] = at
        _commit(self.source, self.names["group"], wanted)
        return {
            "summary": "group offsets on the source at the reverse copy of its next record",
            "group_on_source": {f"{t}:{p}": o for (t, p), o in wanted.items()},
        }

    def _unfence(self) -> dict[str, Any]:
        removed = []
        for row in self.store.producers.acls(run_id=self.run_id, purpose="fence", live_only=True):
            removed.append(
                acls.remove(
                    self.store, row, self.source, log=self.log, deadline=time.monotonic() + 20
                )
            )
        tps = [(self.names["topic"], 0)]
        if not _until(lambda: not self._write(self.source, tps, 1, "after")):
            raise SequenceFailed("the rehearsal user still cannot write on the source")
        return {"summary": "source fence removed; the user writes on the source again"}

    def _verify(self, tps: list[TP]) -> dict[str, Any]:
        points = self._points()
        copies = rev.copied_back(
            self.source, {tp: p[0] for tp, p in points.items()}, time.monotonic() + 30
        )
        problems = []
        for tp in tps:
            seen = [t for _s, t in copies[tp]]
            wanted = list(range(points[tp][1], points[tp][1] + ON_TARGET))
            if sorted(seen) != wanted:
                problems.append(f"{tp[0]}[{tp[1]}]: copies of {seen} for {wanted}")
        group = _committed(self.source, self.names["group"], tps)
        for tp in tps:
            expected = next(s for s, t in copies[tp] if t == points[tp][1] + READ_ON_TARGET)
            if group.get(tp) != expected:
                problems.append(f"group at {group.get(tp)} on {tp}, expected {expected}")
        if problems:
            raise SequenceFailed("the drill's rollback was not exact: " + "; ".join(problems))
        return {
            "summary": f"every target-only record on the source exactly once "
            f"({ON_TARGET * len(tps)}); the group resumes at the next unread record"
        }

    def _cleanup(self) -> dict[str, Any]:
        names = self.names
        done = []
        for row in self.store.producers.acls(run_id=self.run_id, live_only=True):
            cluster = self.source if row.cluster == "source" else self.target
            acls.remove(self.store, row, cluster, log=self.log, deadline=time.monotonic() + 20)
        for cluster in (self.source, self.target):
            for call in (
                lambda c=cluster: c.admin.delete_consumer_groups([names["group"]]),
                lambda c=cluster: c.admin.delete_topics([names["topic"]]),
                lambda c=cluster: c.admin.alter_user_scram_credentials(
                    [UserScramCredentialDeletion(names["user"], ScramMechanism.SCRAM_SHA_512)]
                ),
            ):
                try:
                    for future in call().values():
                        future.result(20)
                except KafkaException as exc:
                    done.append(f"{cluster.name}: {kafka.error_name(exc)}")
        left = [d for d in done if "NOT_FOUND" not in d and "UNKNOWN" not in d]
        return {
            "summary": "rehearsal topic, group, user and ACLs removed on both clusters"
            + (f" (left: {', '.join(left)})" if left else ""),
        }


def _upsert_user(cluster: Cluster, user: str, password: str) -> None:
    change = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    try:
        for future in cluster.admin.alter_user_scram_credentials([change]).values():
            future.result(20)
    except KafkaException as exc:
        raise cluster.fail("creating the rehearsal user", exc) from None
    deadline = time.monotonic() + 20
    while cluster.scram_user(user, deadline) != "exists":
        if time.monotonic() > deadline:
            raise SequenceFailed(f"the rehearsal user is not listed on the {cluster.name}")
        time.sleep(0.1)  # the controller's record reaches the broker


def _commit(cluster: Cluster, group: str, offsets: dict[TP, int]) -> None:
    """Write the rehearsal group's offsets. The answer carries an error per partition (the
    call itself succeeds when, say, the group coordinator is still loading), so each is
    checked; a retriable one is asked again for a while."""
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            done = cluster.admin.alter_consumer_group_offsets([request])[group].result(20)
        except KafkaException as exc:
            raise cluster.fail("writing the rehearsal group's offsets", exc) from None
        refused = [tp for tp in done.topic_partitions if tp.error is not None]
        if not refused:
            return
        first = refused[0]
        if (
            first.error.retriable() or kafka.group_not_ready(first.error)
        ) and time.monotonic() < deadline:
            time.sleep(0.2)  # the coordinator is loading; the deadline bounds this
            continue
        raise SequenceFailed(
            f"the {cluster.name} refused the rehearsal group's offset for "
            f"{first.topic}[{first.partition}] ({first.error.name()})"
        )


def _committed(cluster: Cluster, group: str, tps: list[TP]) -> dict[TP, int]:
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in tps])
    found = cluster.admin.list_consumer_group_offsets([request])[group].result(20)
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}


def _until(attempt, timeout: float = 15.0):
    """Retry until ``attempt`` returns something truthy (an ACL takes a moment to reach
    the authorizer), else its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = attempt()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
