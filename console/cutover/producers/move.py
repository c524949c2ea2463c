"""Moving one producer class to the target: fence, quiet, drain, cutover point, open,
switch, verify. Each sub-step is audited before and after and survives ``kill -9``
(:mod:`console.cutover.producers.sequence`): running the step again resumes the same
run and converges, and no side effect happens twice.

1. **preflight**: the preconditions (:mod:`~console.cutover.producers.checks`), read
   again; nothing changes on a cluster until they all hold.
2. **fence**: open transactions noted (read_committed against read_uncommitted end
   offsets), then ``DENY WRITE`` on the class's topics for its principals on the source,
   and the proof that the principals are refused (asked as them when their passwords
   are at hand). The time of the fence is where the write unavailability starts.
3. **transactions**: wait until every open transaction committed, aborted or timed out
   (the copy reads committed records, so it could not reach the fence point before).
4. **quiet**: the end offsets stay unchanged for the plan's ``quiet_seconds``; a record
   written meanwhile is a producer that bypasses the fence and stops the move; offsets
   that hold no record are transaction markers, not writes.
5. **drain**: the mirror's stored position reaches the fence point; the cutover points
   are recorded *pending* and the mirror stops copying topics whose producers all moved;
   a final comparison of the tail (``tail_seconds`` before the fence, bounded at the
   cutover point) must find 0 missing.
6. **point**: the cutover points become active (per partition: source end at the fence
   ↔ target offset where the class's own writes begin); the first move opens the
   rollback window.
7. **open**: the principals exist on the target (created by the console when the plan
   says so, with a password from a secret reference), any target fence of an earlier
   rollback is lifted, the class's ACLs are in place (created when the plan allows), and
   the principals are proven to be allowed to write.
8. **switch**: the demo workload is told (a control file), or the operator's typed
   confirmation stands for the team's redeploy; then the first write of the class on
   the target is awaited. Fence to that write is the **write unavailability**.
9. **verify**: writes keep arriving on the target and none on the source.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from console.compare.engine import compare
from console.compare.model import Bound, CompareError, CompareRequest
from console.cutover.producers import acls, checks, principals, switch
from console.cutover.producers.cluster import TP, Cluster, binding_text
from console.cutover.producers.sequence import (
    POLL_S,
    Sequence,
    SequenceFailed,
    keyed,
    now_s,
    unkey,
)
from console.kafka.client import ClusterError
from console.plan import Plan, ProducerClass
from console.store import Store

DRAIN_TIMEOUT_S = 120.0
VERIFY_S = 2.0
"""How long the move watches both sides after the first write on the target (seconds)."""


def moved_classes(store: Store) -> set[str]:
    """Classes whose latest move is done and not rolled back."""
    out = set()
    for cls in store.plan.producers:
        run = store.producers.latest_run(cls.name, "move")
        if run is not None and run.state == "done":
            out.add(cls.name)
    return out


def shared_writers(plan: Plan, cls: ProducerClass, moved: set[str]) -> dict[str, list[str]]:
    """Per topic of the class, the other classes that write it and have not moved."""
    out: dict[str, list[str]] = {}
    for topic in cls.topics:
        others = [
            c.name
            for c in plan.producers
            if c.name != cls.name and topic in c.topics and c.name not in moved
        ]
        if others:
            out[topic] = others
    return out


class Move(Sequence):
    """One move of one class (see the module docstring)."""

    def go(self) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        plan = self.plan
        pre = self.substep("preflight", self._preflight)
        tps = [(t, p) for t, p in pre["partitions"]]
        fenced = self.substep("fence", lambda resumed: self._fence(tps))
        self.substep(
            "transactions",
            lambda resumed: self.settle(
                self.source, tps, plan.producer_defaults.transaction_wait_seconds
            ),
        )
        early = self._early_tail(tps)
        try:
            quiet = self.substep(
                "quiet",
                lambda resumed: self.quiet(
                    self.source,
                    tps,
                    plan.producer_setting(cls, "quiet_seconds"),
                    shared=shared_writers(plan, cls, moved_classes(self.store)),
                    wait_s=plan.producer_defaults.transaction_wait_seconds,
                    since=unkey(self.facts.get("quiet_from") or fenced.get("ends_at_fence", {})),
                ),
            )
            fence_point = unkey(quiet["fence_point"])
            drain = self.substep("drain", lambda resumed: self._drain(tps, fence_point, early))
        finally:
            if early is not None:
                early.stop()
        self.substep("point", lambda resumed: self._point(drain))
        self.substep("open", lambda resumed: self._open())
        switched = self.substep("switch", lambda resumed: self._switch(drain))
        verified = self.substep("verify", lambda resumed: self._verify(tps, fence_point, drain))
        facts = self.facts
        unavailability = switched["unavailability_s"]
        self.store.producers.set_run_state(self.run_id, "done")
        return {
            "target": cls.name,
            "run": self.run_id,
            "unavailability_s": unavailability,
            "quiet_s": quiet.get("quiet_s"),
            "told_after_fence_s": switched.get("told_after_fence_s"),
            "fence_at": facts.get("fence_at"),
            "first_write_at": facts.get("first_write_at"),
            "first_write": facts.get("first_write"),
            "points": drain["points"],
            "stopped_topics": drain["stopped_topics"],
            "verify": verified,
            "substeps": {
                name: row.result for name, row in self.store.producers.substeps(self.run_id).items()
            },
        }

    # -- 1 preflight --------------------------------------------------------------------

    def _preflight(self, resumed: bool) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        self.progress(f"{cls.name}: checking the preconditions")
        found = checks.preconditions(self.store, self.plan, cls, self.source, self.passwords)
        blocked = [c for c in found if c.blocks]
        if blocked:
            first = blocked[0]
            more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
            raise SequenceFailed(
                f"{first.name}: {first.summary}{more}; nothing was changed",
                {"preconditions": [c.to_dict() for c in found]},
            )
        tps = self.source.partitions(cls.topics, time.monotonic() + 20)
        return {
            "summary": "every precondition holds",
            "preconditions": [c.to_dict() for c in found],
            "partitions": [list(tp) for tp in tps],
        }

    # -- 2 fence --------------------------------------------------------------------------

    def _fence(self, tps: list[TP]) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        facts = self.facts
        if "open_before_fence" not in facts:
            before = self.source.open_transactions(tps, time.monotonic() + 15)
            facts = self.remember(
                open_before_fence={f"{t}:{p}": hi - lo for (t, p), (lo, hi) in before.items()}
            )
        if "fence_at" not in facts:
            facts = self.remember(fence_at=now_s())
        self.progress(f"{cls.name}: fencing its principals on the source (DENY WRITE)")
        done = []
        for data in acls.fence_bindings(cls):
            what = acls.ensure(
                self.store,
                self.run_id,
                cls.name,
                self.source,
                "fence",
                data,
                log=self.log,
                deadline=time.monotonic() + 20,
            )
            done.append(f"{data['principal']} DENY WRITE '{data['resource_name']}': {what}")
        holds, proof = acls.prove(
            lambda: acls.write_denied(
                acls.read_rights(self.plan, cls, self.source), list(cls.topics)
            )
        )
        if not holds:
            raise SequenceFailed(
                "the fence does not hold: "
                + next(line for line in proof if "STILL ALLOWED" in line)
                + "; roll back to lift it, or fix the principal",
                {"proof": proof},
            )
        # Once the principals are refused, every data record the source takes is a write
        # that got past the fence: the quiet check looks from here, not from when it
        # starts (after the open transactions settled), so a write in between is seen.
        ends = self.source.ends(tps, time.monotonic() + 15, committed=False)
        return {
            "summary": f"{len(done)} DENY binding(s) in place; the principals are refused WRITE",
            "acls": done,
            "proof": proof,
            "open_before_fence": facts.get("open_before_fence", {}),
            "fence_at": facts["fence_at"],
            "ends_at_fence": keyed(ends),
        }

    # -- 5 drain --------------------------------------------------------------------------

    def _early_tail(self, tps: list[TP]) -> EarlyTail | None:
        """Start the final comparison of the tail while the quiet check waits (see
        :class:`EarlyTail`); None when the drain is done already."""
        done = self.store.producers.substeps(self.run_id).get("drain")
        if done is not None and done.state == "done":
            return None
        try:
            ends = self.source.ends(tps, time.monotonic() + 15, committed=False)
        except ClusterError:
            return None  # the drain compares after the quiet check, as without it
        early = EarlyTail(self, tps, ends)
        early.start()
        return early

    def _drain(
        self, tps: list[TP], fence_point: dict[TP, int], early: EarlyTail | None = None
    ) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        plan = self.plan
        self.progress(f"{cls.name}: waiting for the copy to reach the fence point")
        began = time.monotonic()
        timings: dict[str, float] = {}
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        wanted = {tp for tp in tps if fence_point[tp] > 0}
        while True:
            self.check_cancel()
            try:
                mirrored = self.target.mirror_positions(plan, set(tps), timeout=15)
            except ClusterError as exc:
                raise SequenceFailed(f"reading the mirror's positions failed: {exc}") from None
            beyond = {
                tp: mirrored[tp] for tp in tps if tp in mirrored and mirrored[tp] > fence_point[tp]
            }
            if beyond:
                (t, p), at = sorted(beyond.items())[0]
                raise SequenceFailed(
                    f"the copy went past the fence point on {t}[{p}] (copied up to {at}, fence "
                    f"point {fence_point[(t, p)]}): records written after the fence reached "
                    "the target; a producer bypasses the fence; find it, then roll back"
                )
            behind = [tp for tp in wanted if mirrored.get(tp, 0) < fence_point[tp]]
            if not behind:
                break
            if time.monotonic() > deadline:
                raise SequenceFailed(
                    f"the copy did not reach the fence point within {DRAIN_TIMEOUT_S:g} s "
                    f"({len(behind)} partition(s) behind, e.g. {behind[0]}); check the mirror "
                    "(lag pane), then run the step again"
                )
            time.sleep(POLL_S)  # the mirror commits every few tens of milliseconds
        timings["copy_reached_s"] = round(time.monotonic() - began, 3)
        # The mirror's last commit markers land a moment after its positions are readable.
        self.settle(self.target, tps, 30)
        target_end = self.target.ends(tps, time.monotonic() + 15, committed=False)
        timings["target_settled_s"] = round(time.monotonic() - began, 3)
        moved = moved_classes(self.store) | {cls.name}
        stopped = [
            t for t in cls.topics if all(c.name in moved for c in plan.producers if t in c.topics)
        ]
        self.store.producers.record_points(
            self.run_id,
            cls.name,
            [(t, p, fence_point[(t, p)], target_end[(t, p)], t in stopped) for t, p in tps],
            state="pending",
        )
        self.log(
            "producers.mirror.stop",
            params={"topics": stopped},
            outcome="the mirror copies nothing of these topics beyond the fence point"
            if stopped
            else "no topic stops: other classes still write them",
        )
        tail = early.result(fence_point) if early is not None else None
        if tail is None:
            tail = self._tail_comparison()
            if early is not None:
                tail["early"] = f"not used: {early.why}"
        timings["tail_compared_s"] = round(time.monotonic() - began, 3)
        return {
            "timings": timings,
            "summary": f"copy at the fence point; {tail['missing']} missing in the tail; "
            f"mirroring stopped for {', '.join(stopped) or 'no topic'}",
            "points": {f"{t}:{p}": [fence_point[(t, p)], target_end[(t, p)]] for t, p in tps},
            "stopped_topics": stopped,
            "tail": tail,
        }

    def _tail_comparison(self) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        try:
            report = self._compare_tail(self.cancel, self.progress)
        except CompareError as exc:
            raise SequenceFailed(f"the final comparison of the tail could not run: {exc}") from None
        return self._judge_tail(tail_result(report))

    def _compare_tail(self, cancel, progress):
        cls = self.cls
        assert cls is not None
        tail_s = self.plan.producer_defaults.tail_seconds
        since = int((self.facts["fence_at"] - tail_s) * 1000)
        progress(f"{cls.name}: comparing the tail ({tail_s:g} s before the fence)")
        return compare(
            self.plan,
            self.passwords,
            CompareRequest(topics=tuple(cls.topics), start=Bound("time", since)),
            store=self.store,
            cancel=cancel,
            progress=progress,
        )

    def _judge_tail(self, result: dict[str, Any]) -> dict[str, Any]:
        missing = result["missing"]
        if missing:
            raise SequenceFailed(
                f"the final comparison of the tail (window #{result['window']}) found "
                f"{missing} record(s) missing on the target; roll back, or find why the copy "
                "lost them",
                result,
            )
        return result

    # -- 6 point --------------------------------------------------------------------------

    def _point(self, drain: dict[str, Any]) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        self.store.producers.set_points_state(self.run_id, "active")
        window = self.store.producers.window()
        opened = False
        if window is None or window.state != "open":
            minutes = self.plan.producer_setting(cls, "rollback_window_minutes")
            opened_at = datetime.now(UTC)
            deadline = opened_at + timedelta(minutes=minutes)
            window = self.store.producers.open_window(_iso(opened_at), _iso(deadline), self.run_id)
            opened = True
            self.log(
                "rollback_window.opened",
                params={"deadline": window.deadline, "minutes": minutes, "by": cls.name},
                outcome=f"open until {window.deadline}",
            )
        return {
            "summary": f"{len(drain['points'])} partition(s) cut over; rollback window "
            + (f"opened until {window.deadline}" if opened else f"open until {window.deadline}"),
            "points": drain["points"],
            "window_deadline": window.deadline,
        }

    # -- 7 open ---------------------------------------------------------------------------

    def _open(self) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        self.progress(f"{cls.name}: opening the target")
        users = principals.ensure_on_target(self, cls)
        lifted = []
        for row in self.store.producers.acls(
            cls=cls.name, purpose="target-fence", cluster="target", live_only=True
        ):
            lifted.append(
                acls.remove(
                    self.store, row, self.target, log=self.log, deadline=time.monotonic() + 20
                )
            )
        missing = [
            data
            for data in acls.open_bindings(cls)
            if not self.target.acl_present(data, time.monotonic() + 15)
        ]
        if missing and not cls.create_acls_on_target:
            from_text = "; ".join(_text(d) for d in missing[:4])
            raise SequenceFailed(
                f"the target lacks {len(missing)} ACL(s) the class needs ({from_text}); create "
                "them, or set create_acls_on_target in the plan, then run the step again"
            )
        done = []
        for data in acls.open_bindings(cls):
            done.append(
                f"{_text(data)}: "
                + acls.ensure(
                    self.store,
                    self.run_id,
                    cls.name,
                    self.target,
                    "open",
                    data,
                    log=self.log,
                    deadline=time.monotonic() + 20,
                )
            )
        allowed, proof = acls.prove(
            lambda: acls.write_allowed(
                acls.read_rights(self.plan, cls, self.target), list(cls.topics)
            )
        )
        if not allowed:
            raise SequenceFailed(
                "the class may not write on the target: "
                + next(line for line in proof if "NOT allowed" in line),
                {"proof": proof},
            )
        return {
            "summary": f"the target allows the class to write ({len(done)} ACL(s))",
            "users": users,
            "acls": done,
            "target_fences_lifted": lifted,
            "proof": proof,
        }

    # -- 8 switch -------------------------------------------------------------------------

    def _switch(self, drain: dict[str, Any]) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        starts = {tp: point[1] for tp, point in unkey_pairs(drain["points"]).items()}
        # Logged in and assigned before the class is told: its login is not in the wait.
        reader = self.first_write_reader(self.target, starts)
        try:
            return self._tell_and_wait(drain, starts, reader)
        finally:
            reader.close()

    def _tell_and_wait(self, drain: dict[str, Any], starts, reader) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        facts = self.facts
        if "told_at" not in facts:
            facts = self.remember(told_at=now_s())
        told_at = facts["told_at"]
        if cls.switch == "demo-workload":
            body = switch.instruction(self.plan, cls.name, "target", iso_s(told_at), self.run_id)
            path = switch.tell(self.store, cls.name, body)
            self.log(
                "producers.switch.told",
                params={"file": str(path), "cluster": "target"},
                outcome="the demo workload was told to write to the target",
            )
        else:
            self.log(
                "producers.switch.redeploy",
                params={"bootstrap_servers": self.plan.clusters.target.bootstrap_servers},
                outcome="the operator confirmed at the gate that the team redeploys the class "
                "with the target's bootstrap servers",
            )
            self.progress(
                f"{cls.name}: the target is open; redeploy it with bootstrap servers "
                f"{self.plan.clusters.target.bootstrap_servers}. Waiting for its first write"
            )
        timeout = self.plan.producer_defaults.switch_timeout_minutes * 60
        seen_at, record = self.first_write(
            self.target,
            starts,
            timeout,
            own_only=bool(set(cls.topics) - set(drain["stopped_topics"])),
            consumer=reader,
        )
        facts = self.remember(first_write_at=seen_at, first_write=record.example())
        unavailability = seen_at - facts["fence_at"]
        self.remember(unavailability_s=unavailability)
        return {
            "summary": f"first write on the target {unavailability:.2f} s after the fence",
            "unavailability_s": round(unavailability, 3),
            "told_after_fence_s": round(told_at - facts["fence_at"], 3),
            "first_write": record.example(),
            "method": cls.switch,
        }

    # -- 9 verify -------------------------------------------------------------------------

    def _verify(
        self, tps: list[TP], fence_point: dict[TP, int], drain: dict[str, Any]
    ) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        time.sleep(VERIFY_S)  # let writes accumulate so both sides say something
        points = unkey_pairs(drain["points"])
        target_end = self.target.ends(tps, time.monotonic() + 15, committed=False)
        on_target = sum(max(0, target_end[tp] - points[tp][1]) for tp in tps)
        stopped = set(drain["stopped_topics"])
        watched = [tp for tp in tps if tp[0] in stopped]
        source_end = self.source.ends(watched, time.monotonic() + 15, committed=False)
        moved = {
            tp: (fence_point[tp], source_end[tp])
            for tp in watched
            if source_end[tp] > fence_point[tp]
        }
        strays = self.source.records(moved, time.monotonic() + 30, committed=False) if moved else []
        if strays:
            raise SequenceFailed(
                f"{len(strays)} record(s) reached the source after the fence, e.g. "
                f"{strays[0].example()}: something still writes there; find it (the class "
                "writes on the target now)",
                {"strays": [r.example() for r in strays[:10]]},
            )
        if on_target == 0:
            raise SequenceFailed("no record of the class on the target after the cutover point")
        return {
            "summary": f"{on_target:,} offset(s) written on the target after the cutover point; "
            "none on the source",
            "target_offsets_after_point": on_target,
            "source_records_after_fence": 0,
            "source_not_watched": sorted({t for t, _p in tps} - stopped),
        }


def tail_result(report) -> dict[str, Any]:
    """What the drain keeps of the final comparison of the tail."""
    missing = sum(r.counts.get("missing", 0) for r in report.results if r.check == "missing")
    return {
        "window": report.window_id,
        "missing": missing,
        "red": [f"{r.topic}[{r.partition}] {r.check}: {r.reason}" for r in report.red[:5]],
        "records": report.records,
    }


class EarlyTail:
    """The final comparison of the tail, started when the quiet check starts instead of
    after it: the quiet check is a wait (end offsets read every few tens of milliseconds
    for the plan's ``quiet_seconds``), and the comparison, the move's heaviest read,
    then no longer adds its time to the write unavailability.

    In a thread of its own it waits for the copy to reach the source's end offsets read
    before the quiet check, for the target's transactions to settle, then compares the
    tail exactly as the drain would. The drain takes its result only when the comparison
    read the source up to the fence point itself (end offsets that did not move during
    the quiet check) and found nothing missing; otherwise (the ends moved: transaction
    markers; a record missing, which may be a copy not yet visible; an error; a crash)
    the drain compares again after the quiet check, as it always did. No check is
    skipped: the same comparison covers the same records."""

    WAIT_S = 30.0
    """How long it waits for the copy before it leaves the comparison to the drain."""

    def __init__(self, move: Move, tps: list[TP], ends: dict[TP, int]) -> None:
        self.move = move
        self.tps = tps
        self.ends = ends
        self.cancel = threading.Event()
        self.report = None
        self.error: str | None = None
        self.why = "it did not run"
        self.took_s: float | None = None
        # Clients of its own: the drain reads the target on the move's clients at the same
        # time, and two requests on one client from two threads crashed confluent-kafka.
        self.target = Cluster("target", move.plan.clusters.target, move.passwords.get("target"))
        self.thread = threading.Thread(target=self._run, name="producers-early-tail", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Cancel it if it still runs, and wait for it (never left running)."""
        if self.thread.is_alive():
            self.cancel.set()
        self.thread.join()

    def _run(self) -> None:
        try:
            self._compare()
        finally:
            self.target.close()

    def _compare(self) -> None:
        move = self.move
        deadline = time.monotonic() + self.WAIT_S
        wanted = {tp for tp in self.tps if self.ends[tp] > 0}
        try:
            while True:
                if self.cancel.is_set() or move.cancel.is_set():
                    self.error = "cancelled"
                    return
                if time.monotonic() > deadline:
                    self.error = "the copy did not reach the end offsets in time"
                    return
                mirrored = self.target.mirror_positions(move.plan, set(self.tps), timeout=15)
                if all(mirrored.get(tp, 0) >= self.ends[tp] for tp in wanted):
                    break
                time.sleep(POLL_S)
            while self.target.open_transactions(self.tps, time.monotonic() + 15):
                if self.cancel.is_set() or time.monotonic() > deadline:
                    self.error = "the target's transactions did not settle in time"
                    return
                time.sleep(POLL_S)
            began = time.monotonic()
            self.report = move._compare_tail(self.cancel, lambda _m: None)
            self.took_s = round(time.monotonic() - began, 3)
        except Exception as exc:  # noqa: BLE001 - the drain compares again, and says why
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self, fence_point: dict[TP, int]) -> dict[str, Any] | None:
        """Its result for the drain, or None when the drain must compare again."""
        self.thread.join()
        report = self.report
        if report is None:
            self.why = self.error or "it did not finish"
            return None
        result = tail_result(report)
        read_to = {
            (t, int(p)): bounds[1]
            for t, parts in (report.ranges or {}).items()
            for p, bounds in parts.items()
        }
        moved = [tp for tp in self.tps if read_to.get(tp) != fence_point[tp]]
        if moved:
            (t, p) = moved[0]
            self.why = (
                f"it read the source to {read_to.get((t, p))} on {t}[{p}], the fence point is "
                f"{fence_point[(t, p)]}"
            )
            return None
        if result["missing"]:
            self.why = f"window #{result['window']} found {result['missing']} missing"
            return None
        return {
            **result,
            "early": f"used: started with the quiet check, took {self.took_s} s; the source "
            "did not change after it began",
        }


def unkey_pairs(points: dict[str, list[int]]) -> dict[TP, tuple[int, int]]:
    out = {}
    for key, (src, tgt) in points.items():
        topic, _, partition = key.rpartition(":")
        out[(topic, int(partition))] = (src, tgt)
    return out


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def iso_s(seconds: float) -> str:
    return _iso(datetime.fromtimestamp(seconds, UTC))


def _text(data: dict[str, str]) -> str:
    return binding_text(data)


def start_or_resume(store: Store, cls: str, kind: str = "move") -> tuple[int, bool]:
    """The run to continue (an interrupted or failed one of this kind) or a new one;
    ``True`` when it resumes."""
    latest = store.producers.latest_run(cls, kind)
    if latest is not None and latest.state in ("running", "failed"):
        store.producers.set_run_state(latest.id, "running")
        return latest.id, True
    return store.producers.start_run(cls, kind), False


def make_clusters(plan: Plan, passwords: dict[str, str | None]) -> tuple[Cluster, Cluster]:
    return (
        Cluster("source", plan.clusters.source, passwords.get("source")),
        Cluster("target", plan.clusters.target, passwords.get("target")),
    )
