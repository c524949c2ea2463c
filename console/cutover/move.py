"""Moving one consumer group to the target: plan, apply, verify, fence. Converges when run
again after a crash at any point; never repeats a side effect.

The sequence, each change audited before it is made and its result after:

1. **Evaluate** both sides now (:mod:`console.cutover.evaluate`); any blocking
   precondition stops here, changing nothing.
2. **Store the offset plan** (every partition's offset, method, bound and reverse point)
   before anything is applied. A plan left by an interrupted run is resumed only when
   the translation now gives the same offsets; otherwise the step stops and says so.
3. **Apply** with ``alter_consumer_group_offsets`` on the target, after checking once
   more that neither side has members. The call does not raise for a group with members
   (each partition carries ``UNKNOWN_MEMBER_ID``), so every partition's answer is checked.
   Offsets already on the target from an interrupted run are not written twice.
4. **Verify**: read the offsets back; drift above ``max_offset_drift_records`` fails, and
   so does a member that joined the target group before the check.
5. **Fence** the group on the source (:mod:`console.cutover.fence`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from console.cutover import fence
from console.cutover.clients import Sides, at_once
from console.cutover.evaluate import evaluate, group_spec
from console.cutover.groups import alter_offsets, read_group
from console.cutover.model import Evaluation, Position
from console.errors import Cancelled
from console.kafka.client import ClusterError
from console.plan import credentials
from console.store import Store
from console.store.audit import Draft

TP = tuple[str, int]
APPLY_TIMEOUT_S = 30.0

PAUSE_ENV = "CUTOVER_TEST_PAUSE_AT"
"""For crash tests only: names a point (``after-plan``, ``after-apply``, ``after-verify``)
where a move stops for a while, so a test can kill it there with ``kill -9`` and show
that running the step again converges. Unset, nothing pauses."""


def _pause_point(name: str) -> None:
    if os.environ.get(PAUSE_ENV) == name:
        print(f"paused at {name}", file=sys.stderr, flush=True)
        time.sleep(120)  # long enough for the test to kill us; never reached in production


class MoveFailed(Exception):
    """The move stopped; ``reason`` says why and what to do. What it recorded stays."""

    def __init__(self, reason: str, detail: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or {}


@dataclass
class MoveResult:
    """What a move did, for the evidence and the operator."""

    group_id: str
    plan_id: int
    applied: dict[str, int] = field(default_factory=dict)
    """Partition key -> offset written now (empty when an earlier run had written them)."""
    verified: dict[str, int] = field(default_factory=dict)
    fence: str = ""
    already: bool = False
    """The move had been done before: nothing was changed."""
    evaluation: Evaluation | None = None

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "target": self.group_id,
            "plan_id": self.plan_id,
            "applied": self.applied,
            "verified": self.verified,
            "fence": self.fence,
            "already_done": self.already,
            "replay": sum((p.replay or 0) for p in ev.writes) if ev else None,
            "skip": sum((p.skip or 0) for p in ev.writes) if ev else None,
            "positions": [p.to_dict() for p in ev.positions] if ev else [],
        }


def plan_rows(positions: list[Position]) -> list[dict[str, Any]]:
    return [
        {
            "topic": p.topic,
            "partition": p.partition,
            "source_committed": p.source_committed,
            "target_offset": p.target_offset,
            "method": p.method.value,
            "exact": p.exact,
            "bound_lo": p.bound_lo,
            "bound_hi": p.bound_hi,
            "replay": p.replay,
            "replay_min": p.replay_min,
            "skip": p.skip,
            "reverse_source": p.reverse_source,
            "reason": p.reason,
        }
        for p in positions
        if p.target_offset is not None
    ]


def move_group(
    store: Store,
    group_id: str,
    *,
    log,
    started_seq: int | None = None,
    cancel=None,
    progress=lambda _m: None,
    sides: Sides | None = None,
    timeout: float = APPLY_TIMEOUT_S,
) -> MoveResult:
    """Move one group (see the module docstring). ``log(action, **kw)`` audits a sub-step
    of the running step (``StepContext.log``); ``started_seq`` is that step's start entry,
    which the per-partition entries refer to. Raises :class:`MoveFailed`."""
    plan = store.plan
    group = group_spec(plan, group_id)
    own = sides is None
    if sides is None:
        sides = Sides(plan, credentials.resolve_passwords(plan))
    # One move is one step run (one operator decision): what is kept per run starts afresh,
    # also when the caller keeps its clients open from group to group.
    sides.new_step()
    run = _Run(store, plan, group, sides, log, started_seq, cancel, progress, timeout)
    try:
        return run.move()
    finally:
        if own:
            sides.close()


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled before anything more was changed")


@dataclass
class _Run:
    store: Store
    plan: Any
    group: Any
    sides: Sides
    log: Any
    started_seq: int | None
    cancel: Any
    progress: Any
    timeout: float

    @property
    def step(self) -> str:
        return f"move-group:{self.group.id}"

    def move(self) -> MoveResult:
        store, group = self.store, self.group
        stored = store.cutover.latest_plan(group.id, live_only=True)
        fenced = [f for f in store.cutover.fences(group.id) if f.state == "active"]
        if stored is not None and stored.state == "verified":
            if fenced:
                self.progress(f"{group.id}: moved earlier (plan #{stored.id}); nothing to do")
                self.log(
                    "offsets.unchanged",
                    params={"plan_id": stored.id},
                    outcome="moved and fenced earlier: nothing changed",
                )
                return MoveResult(group.id, stored.id, fence="in place", already=True)
            # Offsets written and verified by an earlier run that stopped before the fence:
            # the group may already run on the target, so only the fence is left to do.
            self.log("offsets.resumed", params={"plan_id": stored.id, "state": stored.state})
            result = MoveResult(group.id, stored.id)
            self._fence(result)
            return result
        self.progress(f"{group.id}: reading both sides")
        evaluation = evaluate(store, self.plan, group, self.sides, timeout=self.timeout)
        wanted = {(p.topic, p.partition): p.target_offset for p in evaluation.writes}
        then = (
            {(r["topic"], r["partition"]): r["target_offset"] for r in stored.rows}
            if stored is not None
            else None
        )
        cancelled = self.cancel is not None and self.cancel.is_set()
        goes_on = not evaluation.blocked and not cancelled and then in (None, wanted)
        # The evidence, and (when the move goes on) the offset plan and its entry, commit
        # as one: nothing happens between these writes, so one disk sync serves them all,
        # and all are on disk before anything is applied.
        with store.together():
            store.add_evidence(
                self.step, "offset-plan", {"target": group.id, **evaluation.to_dict()}
            )
            if goes_on and stored is not None:
                plan_id = stored.id
                self.log("offsets.resumed", params={"plan_id": plan_id, "state": stored.state})
            elif goes_on:
                plan_id = store.cutover.save_plan(
                    group.id,
                    group.offset_strategy,
                    self.plan.shadow.path,
                    plan_rows(evaluation.writes),
                )
                self.log(
                    "offsets.planned",
                    params={
                        "plan_id": plan_id,
                        "strategy": group.offset_strategy,
                        "partitions": len(wanted),
                    },
                    outcome="stored before anything is applied",
                )
        if evaluation.blocked:
            first = evaluation.blocked[0]
            more = (
                f" (and {len(evaluation.blocked) - 1} more)" if len(evaluation.blocked) > 1 else ""
            )
            raise MoveFailed(f"{first.name}: {first.summary}{more}", evaluation.to_dict())
        _check_cancel(self.cancel if cancelled else None)
        if not goes_on:
            assert stored is not None
            raise MoveFailed(
                f"plan #{stored.id} of an interrupted move differs from the translation now; "
                "nothing was applied"
            )
        result = MoveResult(group.id, plan_id, evaluation=evaluation)
        _pause_point("after-plan")
        self._apply(plan_id, evaluation, wanted, result)
        _pause_point("after-apply")
        _check_cancel(self.cancel)
        self._verify(plan_id, wanted, result)
        _pause_point("after-verify")
        self._fence(result)
        return result

    def _fence(self, result: MoveResult) -> None:
        _check_cancel(self.cancel)
        group = self.group
        self.progress(f"{group.id}: fencing the group on the source")
        found = fence.ensure(
            self.store,
            self.sides.source,
            group.id,
            group.principal,
            log=self.log,
            password=credentials.resolve_principal_password(self.plan, group.id),
            timeout=min(15.0, self.timeout),
        )
        result.fence = ("added; " if found.added else "already in place; ") + found.verified
        if found.holds is False:
            raise MoveFailed(f"the fence does not hold: {found.verified}", result.to_dict())

    def _apply(self, plan_id, evaluation, wanted, result) -> None:
        store, sides, log, progress = self.store, self.sides, self.log, self.progress
        group_id, topics, timeout = self.group.id, self.group.topics, self.timeout
        deadline = time.monotonic() + timeout
        source, target = at_once(
            lambda: read_group(sides.source, group_id, topics, deadline),
            lambda: read_group(sides.target, group_id, topics, deadline),
        )
        for side in (source, target):
            if side.active:
                raise MoveFailed(
                    f"the group became active on the {side.cluster} just before applying "
                    f"({side.describe()}); nothing was applied"
                )
        before = dict(target.committed)
        todo = {tp: o for tp, o in wanted.items() if before.get(tp) != o}
        if not todo:
            log(
                "offsets.apply",
                params={"plan_id": plan_id},
                outcome="already on the target (written by an interrupted run): not written again",
            )
            store.cutover.set_plan_state(plan_id, "applied")
            return
        by_key = {(p.topic, p.partition): p for p in evaluation.writes}
        intents = store.log_many(
            [
                Draft(
                    "offsets.apply",
                    step=f"move-group:{group_id}",
                    params={
                        "plan_id": plan_id,
                        "topic": t,
                        "partition": p,
                        "from": before.get((t, p)),
                        "to": offset,
                        "method": by_key[(t, p)].method.value,
                        "exact": by_key[(t, p)].exact,
                        "source_committed": by_key[(t, p)].source_committed,
                    },
                    ref=self.started_seq,
                )
                for (t, p), offset in sorted(todo.items())
            ]
        )
        progress(f"{group_id}: writing {len(todo)} offset(s) on the target")
        answers = alter_offsets(sides.target, group_id, todo, time.monotonic() + timeout)
        failed = {tp: err for tp, err in answers.items() if err is not None}
        # The results and (all written) the plan's new state: one commit.
        with store.together():
            store.log_many(
                [
                    Draft(
                        "offsets.apply",
                        step=f"move-group:{group_id}",
                        params={"topic": t, "partition": p},
                        outcome="written"
                        if answers.get((t, p)) is None
                        else f"failed: {answers[(t, p)]}",
                        ref=entry.seq,
                    )
                    for entry, ((t, p), _offset) in zip(intents, sorted(todo.items()), strict=True)
                ]
            )
            if not failed:
                store.cutover.set_plan_state(plan_id, "applied")
        if failed:
            (t, p), err = sorted(failed.items())[0]
            why = (
                "the group has members on the target (UNKNOWN_MEMBER_ID)"
                if err == "UNKNOWN_MEMBER_ID"
                else err
            )
            raise MoveFailed(
                f"writing offsets on the target failed for {len(failed)} partition(s), first "
                f"{t}:{p}: {why}; the stored plan #{plan_id} is resumed when the step runs again"
            )
        result.applied = {f"{t}:{p}": o for (t, p), o in sorted(todo.items())}

    def _verify(self, plan_id, wanted, result) -> None:
        store, plan, sides, log, progress = (
            self.store,
            self.plan,
            self.sides,
            self.log,
            self.progress,
        )
        group_id, topics, timeout = self.group.id, self.group.topics, self.timeout
        progress(f"{group_id}: reading the offsets back")
        deadline = time.monotonic() + timeout
        intent = log("offsets.verify", params={"plan_id": plan_id, "partitions": len(wanted)})
        # The offsets and the members in one read (both requests at once, GroupRead).
        target = read_group(sides.target, group_id, topics, deadline)
        if target.error:
            raise ClusterError(
                f"target: reading the committed offsets of group {group_id} failed ({target.error})"
            )
        found = target.committed
        limit = plan.thresholds.max_offset_drift_records
        drift = {
            tp: (found.get(tp), offset)
            for tp, offset in wanted.items()
            if found.get(tp) is None or abs(found[tp] - offset) > limit
        }
        if drift:
            (t, p), (got, want) = sorted(drift.items())[0]
            log("offsets.verify", ref=intent.seq, outcome=f"drift on {len(drift)} partition(s)")
            raise MoveFailed(
                f"verification failed: {t}:{p} reads back {got}, the plan wrote {want} (drift over "
                f"{limit} record(s)) on {len(drift)} partition(s)"
            )
        if target.active:
            log("offsets.verify", ref=intent.seq, outcome=f"member joined: {target.describe()}")
            raise MoveFailed(
                f"a member joined the target group before the check ({target.describe()}): it may "
                "have read from offsets not yet verified; stop it and run the step again"
            )
        result.verified = {f"{t}:{p}": o for (t, p), o in sorted(found.items()) if (t, p) in wanted}
        # Within the limit is not the same as none: the entry says how far it was.
        most = max((abs(found[tp] - offset) for tp, offset in wanted.items()), default=0)
        with store.together():  # the result and the plan's new state: one commit
            log(
                "offsets.verify",
                ref=intent.seq,
                params={"read_back": result.verified},
                outcome=f"{len(wanted)} partition(s) as planned, drift {most} (limit {limit}), "
                "no member on the target",
            )
            store.cutover.set_plan_state(plan_id, "verified")
