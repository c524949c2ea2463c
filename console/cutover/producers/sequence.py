"""What a move, a rollback and a drill share: sub-steps that survive ``kill -9``, and the
waits on a fenced cluster (open transactions, quiet, the first write elsewhere).

A run (:class:`Sequence`) is a row in the run database; each of its sub-steps is marked
``started`` before its side effect and ``done`` with its result after. Run again after a
crash at any point, it skips what is done and re-does what was only started, and every
sub-step checks the clusters before it changes them, so nothing happens twice (an ACL
that is listed is not created again, a record already copied is not copied again).

For crash tests only, ``CUTOVER_TEST_KILL_AFTER_LOGS=N`` makes the process kill itself
(``SIGKILL``, as ``kill -9`` would) right after the run's Nth sub-step audit entry, so a
test can stop a real run at every point and show that running it again converges.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from console.cutover.producers.cluster import (
    NO_TRANSACTIONS_API,
    TP,
    Cluster,
    Record,
    StillOpen,
    until_settled,
)
from console.errors import Cancelled, Progress
from console.kafka import provenance
from console.plan import Plan, ProducerClass
from console.store import Store

KILL_ENV = "CUTOVER_TEST_KILL_AFTER_LOGS"
"""Crash tests only: SIGKILL this process after this many sub-step audit entries."""

POLL_S = 0.05
"""How often end offsets are read while waiting on a cluster (seconds)."""


class SequenceFailed(Exception):
    """A run stopped; ``reason`` says why and what to do. What it did stays recorded, and
    running the step again resumes where it stopped."""

    def __init__(self, reason: str, detail: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or {}


def now_s() -> float:
    """Wall-clock seconds: the facts of a run outlive the process that measured them."""
    return time.time()


@dataclass
class Sequence:
    """One run of a move, rollback or drill, with its sub-steps."""

    store: Store
    plan: Plan
    cls: ProducerClass | None
    kind: str
    run_id: int
    source: Cluster
    target: Cluster
    log_step: Callable[..., Any]
    passwords: dict[str, str | None] = field(default_factory=dict)
    progress: Progress = lambda _m: None
    cancel: threading.Event = field(default_factory=threading.Event)
    _logged: int = 0

    @property
    def name(self) -> str:
        return self.cls.name if self.cls is not None else "drill"

    # -- audit, with the crash-test hook -------------------------------------------------

    def log(self, action: str, **kwargs: Any):
        entry = self.log_step(action, **kwargs)
        self._logged += 1
        limit = os.environ.get(KILL_ENV)
        if limit and self._logged >= int(limit):
            print(f"killed after {self._logged} audit entries ({action})", file=sys.stderr)
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return entry

    # -- facts and sub-steps -------------------------------------------------------------

    @property
    def facts(self) -> dict[str, Any]:
        row = self.store.producers.run(self.run_id)
        return row.facts if row is not None else {}

    def remember(self, **facts: Any) -> dict[str, Any]:
        return self.store.producers.update_facts(self.run_id, facts)

    def substep(self, name: str, body: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
        """Run a sub-step once: its stored result when it is done, else ``body(resumed)``
        (``resumed``: an earlier run started it and stopped before it was done), audited
        before and after."""
        done = self.store.producers.substeps(self.run_id).get(name)
        if done is not None and done.state == "done":
            return done.result
        self.check_cancel()
        resumed = done is not None
        self.store.producers.substep_started(self.run_id, name)
        intent = self.log(
            f"producers.{name}",
            params={"run": self.run_id, "kind": self.kind, "resumed": resumed},
        )
        try:
            result = body(resumed)
        except SequenceFailed as exc:
            self.log(f"producers.{name}", ref=intent.seq, outcome=f"failed: {exc.reason}")
            raise
        except Cancelled:
            self.log(f"producers.{name}", ref=intent.seq, outcome="cancelled")
            raise
        except Exception as exc:
            self.log(f"producers.{name}", ref=intent.seq, outcome=f"failed: {exc}")
            raise
        self.store.producers.substep_done(self.run_id, name, result)
        self.log(
            f"producers.{name}",
            ref=intent.seq,
            params=_short(result),
            outcome=result.get("summary", "done"),
        )
        return result

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled between sub-steps; run the step again to resume")

    # -- waits on a cluster --------------------------------------------------------------

    def settle(self, cluster: Cluster, tps: list[TP], wait_s: float) -> dict[str, Any]:
        """Wait until no partition has an open transaction (the read_committed and
        read_uncommitted end offsets agree), at most ``wait_s``."""
        began = time.monotonic()
        try:
            first = until_settled(cluster, tps, began + wait_s, check=self.check_cancel)
        except StillOpen as open_now:
            where = ", ".join(f"{t}[{p}] {lo}<{hi}" for (t, p), (lo, hi) in open_now.still.items())
            raise SequenceFailed(
                f"{len(open_now.still)} partition(s) on the {cluster.name} still have an open "
                f"transaction after {wait_s:g} s ({where}); its producer neither "
                "commits nor aborts and transaction.timeout.ms has not run out: raise "
                "transaction_wait_seconds or stop that producer, then run the step again"
            ) from None
        waited = time.monotonic() - began
        return {
            "open_after_fence": {f"{t}:{p}": hi - lo for (t, p), (lo, hi) in first.items()},
            "settled_after_s": round(waited, 3),
            "cannot_see": NO_TRANSACTIONS_API,
        }

    def quiet(
        self,
        cluster: Cluster,
        tps: list[TP],
        quiet_s: float,
        *,
        shared: dict[str, list[str]],
        wait_s: float,
        since: dict[TP, int] | None = None,
    ) -> dict[str, Any]:
        """Watch the end offsets (read_uncommitted) stay unchanged for ``quiet_s``.

        ``since``: the end offsets read once the fence was proven (or where an earlier
        watch of this run found records and stopped); what the source took after them
        (while open transactions settled) is looked at first, as if written during the
        watch.

        When they move, the new offsets are read: a data record is a write that got past
        the fence (the run stops and names it); offsets that hold no record are markers
        of transactions that ended after the fence (committed, aborted or timed out), not
        writes, and the quiet clock starts again. Topics ``shared`` with classes that
        still write them cannot be proven quiet from end offsets: they are left out and
        named."""
        watched = [tp for tp in tps if tp[0] not in shared]
        ends = cluster.ends(tps, time.monotonic() + 15, committed=False)
        if not watched:
            return {"fence_point": keyed(ends), "markers": 0, "quiet_s": 0, **_shared(shared)}
        markers = 0
        deadline = time.monotonic() + wait_s + quiet_s
        quiet_since = time.monotonic()
        since = since or {}
        last = {tp: min(since.get(tp, ends[tp]), ends[tp]) for tp in watched}
        while time.monotonic() - quiet_since < quiet_s:
            self.check_cancel()
            if time.monotonic() > deadline:
                raise SequenceFailed(
                    f"the {cluster.name} did not stay quiet for {quiet_s:g} s within "
                    f"{wait_s + quiet_s:g} s (transaction markers kept arriving); run the "
                    "step again"
                )
            time.sleep(POLL_S)
            now = cluster.ends(watched, time.monotonic() + 15, committed=False)
            moved = {tp: (last[tp], now[tp]) for tp in watched if now[tp] != last[tp]}
            if not moved:
                continue
            found = cluster.records(
                {tp: rng for tp, rng in moved.items()}, time.monotonic() + 30, committed=False
            )
            if found:
                # Named now: a run after this one (the operator found the producer) watches
                # from here, not from the fence again, or it would stop on these for good.
                self.remember(quiet_from=keyed({**last, **now}))
                raise SequenceFailed(
                    f"{len(found)} record(s) reached the {cluster.name} after the fence, e.g. "
                    f"{found[0].example()}: a producer bypasses the fence (a super user, a "
                    "principal the class does not name, or an ANONYMOUS listener); find it "
                    "before going on",
                    {"bypass": [r.example() for r in found[:10]]},
                )
            markers += sum(hi - lo for lo, hi in moved.values())
            self.log(
                "producers.quiet.markers",
                params={
                    "cluster": cluster.name,
                    "partitions": {f"{t}:{p}": [lo, hi] for (t, p), (lo, hi) in moved.items()},
                },
                outcome="transaction markers (transactions that ended after the fence), "
                "not writes; the quiet clock starts again",
            )
            last.update({tp: hi for tp, (_lo, hi) in moved.items()})
            quiet_since = time.monotonic()
        ends.update(last)
        return {
            "fence_point": keyed(ends),
            "markers": markers,
            "quiet_s": quiet_s,
            **_shared(shared),
        }

    def first_write_reader(self, cluster: Cluster, starts: dict[TP, int]):
        """The reader :meth:`first_write` waits with, made (logged in, assigned) before
        the class is told to switch, so its login is not part of the wait."""
        consumer = cluster.reader(committed=False, client="first-write")
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        return consumer

    def first_write(
        self,
        cluster: Cluster,
        starts: dict[TP, int],
        timeout_s: float,
        *,
        own_only: bool,
        consumer=None,
    ) -> tuple[float, Record]:
        """Wait for the first record written on ``cluster`` at or after ``starts`` (with
        ``own_only``, one without the mirror's provenance header: not a copy). Returns the
        wall-clock time it was seen and the record. ``consumer``: one from
        :meth:`first_write_reader`, which its caller closes; without it, one is made and
        closed here."""
        deadline = time.monotonic() + timeout_s
        own = consumer is None
        if consumer is None:
            consumer = self.first_write_reader(cluster, starts)
        try:
            while True:
                self.check_cancel()
                if time.monotonic() > deadline:
                    raise SequenceFailed(
                        f"no write of class {self.name} reached the {cluster.name} within "
                        f"{timeout_s:g} s; check the producers were switched, then run the "
                        "step again to keep waiting"
                    )
                for msg in consumer.consume(100, 0.05):
                    if msg.error() is not None:
                        continue
                    if own_only and provenance.find(msg.headers()) is not None:
                        continue
                    return now_s(), Record.of(msg)
        finally:
            if own:
                consumer.close()


def keyed(offsets: dict[TP, int]) -> dict[str, int]:
    return {f"{t}:{p}": o for (t, p), o in sorted(offsets.items())}


def _shared(shared: dict[str, list[str]]) -> dict[str, Any]:
    if not shared:
        return {}
    return {
        "not_provable": {
            topic: (
                f"quiet cannot be proven from end offsets: class(es) {', '.join(classes)} "
                "still write it"
            )
            for topic, classes in shared.items()
        }
    }


def unkey(keyed: dict[str, int]) -> dict[TP, int]:
    """``{"topic:partition": offset}`` (as stored) back to ``{(topic, partition): offset}``."""
    out = {}
    for key, offset in keyed.items():
        topic, _, partition = key.rpartition(":")
        out[(topic, int(partition))] = offset
    return out


def _short(result: dict[str, Any]) -> dict[str, Any]:
    """What of a sub-step's result goes into its audit entry (the evidence has it all)."""
    return {k: v for k, v in result.items() if k != "summary" and len(str(v)) < 2000}
