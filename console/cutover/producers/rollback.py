"""Rolling one producer class back to the source after it moved. Each sub-step is
audited before and after and survives ``kill -9`` (:mod:`~console.cutover.producers.sequence`).

1. **preflight**: the move it undoes (its cutover points), the groups that read the
   class's topics, and what happens to target-only records (``copy-back`` or ``list``).
2. **fence-target**: ``DENY WRITE`` for the class's principals on its topics on the
   target, proven as the principals; the rollback's write unavailability starts here.
3. **settle**: open transactions on the target end (commit, abort or time out); the
   target's end offsets then bound the target-only records.
4. **copy-back** (or **export** with ``list``): the reverse copy
   (:mod:`~console.cutover.producers.reverse`), exactly once.
5. **groups-back**: each group that reads the class's topics gets committed offsets on
   the source where it stands on the target: before the cutover point through the reverse
   map (:mod:`console.cutover.reverse`), after it at the reverse copy of the first record
   it has not read; then its source fence (issue 10's DENY READ) is lifted.
6. **unfence**: the source fence of the move is removed, and the cutover points are
   marked rolled back, so the mirror resumes those partitions (it passes over the reverse
   copies).
7. **switch-back**: the demo workload is told (or the operator's word stands for the
   redeploy), then the first write of the class on the source is awaited.
8. **verify**: every target-only record is on the source exactly once (copy-back), and
   the source takes the class's writes again.

The move is then marked ``undone``: the class can move again later.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from console.cutover import fence as group_fence
from console.cutover import groups as cutover_groups
from console.cutover import reverse as reverse_map
from console.cutover.clients import Side
from console.cutover.producers import acls, checks, switch
from console.cutover.producers import reverse as rev
from console.cutover.producers.cluster import TP
from console.cutover.producers.move import iso_s
from console.cutover.producers.sequence import Sequence, SequenceFailed, now_s
from console.kafka.client import GROUP_NOT_READY_NAMES, ClusterError
from console.shadow.mirror.positions import read_positions

SETTLE_S = 60.0


def points_of(store, move_id: int) -> dict[TP, tuple[int, int]]:
    """The cutover points of a move: ``{(topic, partition): (source end, target start)}``."""
    return {
        (p.topic, p.partition): (p.source_offset, p.target_offset)
        for p in store.producers.points(run_id=move_id)
    }


class Rollback(Sequence):
    """One rollback of one class (see the module docstring)."""

    move_id: int = 0

    def go(self) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        pre = self.substep("preflight", self._preflight)
        self.move_id = pre["move"]
        points = points_of(self.store, self.move_id)
        tps = sorted(points)
        self.substep("fence-target", lambda resumed: self._fence_target(tps))
        settled = self.substep("settle", lambda resumed: self._settle(tps))
        ends = {tp: settled["ends"][f"{tp[0]}:{tp[1]}"] for tp in tps}
        mode = pre["target_only"]
        if mode == "copy-back":
            copied = self.substep("copy-back", lambda resumed: self._copy_back(points, ends))
        else:
            copied = self.substep("export", lambda resumed: self._export(points, ends))
        groups = self.substep(
            "groups-back", lambda resumed: self._groups_back(pre["groups"], points, ends, mode)
        )
        self.substep("unfence", lambda resumed: self._unfence())
        switched = self.substep("switch-back", lambda resumed: self._switch_back(tps))
        verified = self.substep("verify", lambda resumed: self._verify(points, ends, mode))
        self.store.producers.set_run_state(self.move_id, "undone")
        self.store.producers.set_run_state(self.run_id, "done")
        facts = self.facts
        return {
            "target": cls.name,
            "run": self.run_id,
            "move": self.move_id,
            "target_only": mode,
            "target_only_records": copied.get("target_only", copied.get("exported", 0)),
            "copied_back": copied.get("copied_now", 0) + copied.get("copied_before", 0),
            "export": copied.get("file"),
            "groups": groups["groups"],
            "duration_s": round(switched["first_write_at"] - facts["fence_at"], 3),
            "unavailability_s": switched["unavailability_s"],
            "verify": verified,
        }

    # -- 1 ----------------------------------------------------------------------------------

    def _preflight(self, resumed: bool) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        if self.plan.shadow.path != "builtin":
            raise SequenceFailed(checks.BUILTIN_ONLY)
        move = self.store.producers.latest_run(cls.name, "move")
        if move is None or move.state not in ("done", "failed", "running"):
            raise SequenceFailed(f"class {cls.name} has no move to roll back")
        if not self.store.producers.points(run_id=move.id):
            raise SequenceFailed(
                f"move #{move.id} of {cls.name} recorded no cutover point: it never fenced "
                "and drained; lift its fence with the move's record instead"
            )
        mode = self.plan.producer_setting(cls, "target_only")
        groups = checks.groups_reading(self.plan, cls)
        return {
            "summary": f"undoes move #{move.id}; target-only records: {mode}; groups: "
            f"{', '.join(groups) or 'none'}",
            "move": move.id,
            "target_only": mode,
            "groups": groups,
        }

    # -- 2 ----------------------------------------------------------------------------------

    def _fence_target(self, tps: list[TP]) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        if "fence_at" not in self.facts:
            self.remember(fence_at=now_s())
        done = []
        for data in acls.fence_bindings(cls):
            done.append(
                acls.ensure(
                    self.store,
                    self.run_id,
                    cls.name,
                    self.target,
                    "target-fence",
                    data,
                    log=self.log,
                    deadline=time.monotonic() + 20,
                )
            )
        holds, proof = acls.prove(
            lambda: acls.write_denied(
                acls.read_rights(self.plan, cls, self.target), list(cls.topics)
            )
        )
        if not holds:
            raise SequenceFailed(
                "the target fence does not hold: "
                + next((line for line in proof if "STILL ALLOWED" in line), proof[0]),
                {"proof": proof},
            )
        return {
            "summary": f"{len(done)} DENY binding(s) on the target; the principals are refused",
            "acls": done,
            "proof": proof,
        }

    # -- 3 ----------------------------------------------------------------------------------

    def _settle(self, tps: list[TP]) -> dict[str, Any]:
        self.settle(self.target, tps, self.plan.producer_defaults.transaction_wait_seconds)
        ends = self.target.ends(tps, time.monotonic() + 15, committed=True)
        return {
            "summary": "no transaction open on the target; its ends bound the target-only records",
            "ends": {f"{t}:{p}": o for (t, p), o in ends.items()},
        }

    # -- 4 ----------------------------------------------------------------------------------

    def _target_only(self, points, ends) -> rev.TargetOnly:
        starts = {tp: point[1] for tp, point in points.items()}
        return rev.target_only(self.target, starts, ends, time.monotonic() + 60)

    def _copy_back(self, points, ends) -> dict[str, Any]:
        only = self._target_only(points, ends)
        fence_point = {tp: point[0] for tp, point in points.items()}
        result = rev.copy_back(
            self.source,
            only,
            fence_point,
            f"cutover-rollback-{self.plan.name}-{self.run_id}",
            deadline=time.monotonic() + 120,
            log=self.log,
            progress=self.progress,
        )
        return {
            "summary": f"{only.count:,} target-only record(s): {result['copied_now']:,} copied "
            f"back now, {result['copied_before']:,} before",
            "counts": only.counts(),
            "examples": only.examples(),
            **result,
        }

    def _export(self, points, ends) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        only = self._target_only(points, ends)
        path = switch.control_dir(self.store).parent / f"rollback-{cls.name}-{self.run_id}.jsonl"
        result = rev.export(path, only)
        return {
            "summary": f"{only.count:,} target-only record(s) listed in {path.name} for their "
            "owners (not copied to the source)",
            "counts": only.counts(),
            "examples": only.examples(),
            **result,
        }

    # -- 5 ----------------------------------------------------------------------------------

    def _groups_back(self, names: list[str], points, ends, mode: str) -> dict[str, Any]:
        out = []
        if not names:
            return {"summary": "no plan group reads the class's topics", "groups": []}
        source = Side("source", self.plan.clusters.source, self.passwords.get("source"))
        target = Side("target", self.plan.clusters.target, self.passwords.get("target"))
        try:
            for name in names:
                out.append(self._group_back(name, source, target, points, mode))
        finally:
            source.close()
            target.close()
        moved = [g for g in out if g["moved"]]
        return {
            "summary": f"{len(moved)} group(s) back on the source: "
            + ", ".join(g["group"] for g in moved),
            "groups": out,
        }

    def _group_back(self, name, source: Side, target: Side, points, mode) -> dict[str, Any]:
        group = next(g for g in self.plan.groups if g.id == name)
        deadline = time.monotonic() + 30
        try:
            on_target = cutover_groups.committed_offsets(target, name, group.topics, deadline)
        except ClusterError as exc:
            raise SequenceFailed(f"group {name}: {exc}") from None
        if not on_target:
            return {"group": name, "moved": False, "why": "no committed offsets on the target"}
        fence_point = {tp: point[0] for tp, point in points.items()}
        copies = rev.copied_back(self.source, fence_point, deadline) if mode == "copy-back" else {}
        source_end = self.source.ends(list(points), deadline, committed=True)
        others = {tp: o for tp, o in on_target.items() if tp not in points or o < points[tp][1]}
        mapped = reverse_map.source_offsets(self.store, name, others) if others else {}
        wanted: dict[TP, int] = {}
        how: dict[str, str] = {}
        for tp, offset in sorted(on_target.items()):
            key = f"{tp[0]}:{tp[1]}"
            if tp in points and offset >= points[tp][1]:
                wanted[tp], how[key] = rev.source_position(
                    offset,
                    points[tp],
                    copies.get(tp, []),
                    source_end[tp],
                    copied=mode == "copy-back",
                )
                continue
            found = mapped.get(tp)
            if found is None or found.source_offset is None:
                raise SequenceFailed(
                    f"group {name}: target offset {offset} of {tp[0]}[{tp[1]}] has no exact "
                    f"source offset ({found.reason if found else 'not mapped'}); move it back "
                    "by hand with the reverse map shown at the offsets pane"
                )
            wanted[tp], how[key] = found.source_offset, found.reason
        intent = self.log(
            "producers.group.back",
            params={"group": name, "offsets": {f"{t}:{p}": o for (t, p), o in wanted.items()}},
        )
        errors = cutover_groups.alter_offsets(source, name, wanted, time.monotonic() + 30)
        failed = {f"{t}:{p}": e for (t, p), e in errors.items() if e}
        if failed:
            self.log("producers.group.back", ref=intent.seq, outcome=f"failed: {failed}")
            first = next(iter(failed.values()))
            if first == "UNKNOWN_MEMBER_ID":
                what = "stop its consumers on both clusters (a group with members cannot be moved)"
            elif first in GROUP_NOT_READY_NAMES:
                what = "the source's group coordinator was not ready for 30 s: check the source"
            else:
                what = "check the source cluster and the console's rights on the group"
            raise SequenceFailed(
                f"group {name}: the source refused its offsets ({first}); {what}, "
                "then run the step again"
            )
        self.log("producers.group.back", ref=intent.seq, outcome="offsets written on the source")
        lifted = []
        for row in self.store.cutover.fences(name, active_only=True):
            if row.cluster != "source":
                continue
            lifted.append(group_fence.remove(self.store, source, row.id, log=self.log))
        return {
            "group": name,
            "moved": True,
            "target": {f"{t}:{p}": o for (t, p), o in on_target.items()},
            "source": {f"{t}:{p}": o for (t, p), o in wanted.items()},
            "how": how,
            "fences_lifted": lifted,
        }

    # -- 6 ----------------------------------------------------------------------------------

    def _unfence(self) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        done = []
        for row in self.store.producers.acls(
            cls=cls.name, purpose="fence", cluster="source", live_only=True
        ):
            done.append(
                acls.remove(
                    self.store, row, self.source, log=self.log, deadline=time.monotonic() + 20
                )
            )
        self.store.producers.set_points_state(self.move_id, "rolled-back")
        self.log(
            "producers.mirror.resume",
            params={"move": self.move_id},
            outcome="cutover points rolled back: the mirror resumes those partitions and "
            "passes over the reverse copies",
        )
        allowed, proof = acls.prove(
            lambda: acls.write_allowed(
                acls.read_rights(self.plan, cls, self.source), list(cls.topics)
            )
        )
        if not allowed:
            raise SequenceFailed(
                "the source still refuses the class after the fence was removed: "
                + next((line for line in proof if "NOT allowed" in line), proof[0]),
                {"proof": proof},
            )
        return {
            "summary": "source fence removed; the class may write there",
            "acls": done,
            "proof": proof,
        }

    # -- 7 ----------------------------------------------------------------------------------

    def _switch_back(self, tps: list[TP]) -> dict[str, Any]:
        cls = self.cls
        assert cls is not None
        facts = self.facts
        starts = facts.get("source_starts")
        if starts is None:
            ends = self.source.ends(tps, time.monotonic() + 15, committed=False)
            starts = {f"{t}:{p}": o for (t, p), o in ends.items()}
            facts = self.remember(source_starts=starts)
        if "told_at" not in facts:
            facts = self.remember(told_at=now_s())
        if cls.switch == "demo-workload":
            body = switch.instruction(
                self.plan, cls.name, "source", iso_s(facts["told_at"]), self.run_id
            )
            path = switch.tell(self.store, cls.name, body)
            self.log(
                "producers.switch.told",
                params={"file": str(path), "cluster": "source"},
                outcome="the demo workload was told to write to the source again",
            )
        else:
            self.log(
                "producers.switch.redeploy",
                params={"bootstrap_servers": self.plan.clusters.source.bootstrap_servers},
                outcome="the operator confirmed at the gate that the team redeploys the class "
                "with the source's bootstrap servers",
            )
        timeout = self.plan.producer_defaults.switch_timeout_minutes * 60
        start_at = {}
        for key, offset in starts.items():
            topic, _, partition = key.rpartition(":")
            start_at[(topic, int(partition))] = offset
        seen_at, record = self.first_write(self.source, start_at, timeout, own_only=True)
        self.remember(first_write_at=seen_at)
        return {
            "summary": f"first write on the source {seen_at - facts['fence_at']:.2f} s after "
            "the target fence",
            "first_write": record.example(),
            "first_write_at": seen_at,
            "unavailability_s": round(seen_at - facts["fence_at"], 3),
        }

    # -- 8 ----------------------------------------------------------------------------------

    def _verify(self, points, ends, mode: str) -> dict[str, Any]:
        if mode != "copy-back":
            return {"summary": "target-only records were listed, not copied: nothing to count"}
        only = self._target_only(points, ends)
        fence_point = {tp: point[0] for tp, point in points.items()}
        copies = rev.copied_back(self.source, fence_point, time.monotonic() + 60)
        problems = []
        for tp, recs in only.records.items():
            seen = [t for _s, t in copies.get(tp, [])]
            wanted = [r.offset for r in recs]
            if sorted(seen) != wanted:
                twice = len(seen) - len(set(seen))
                missing = len(set(wanted) - set(seen))
                problems.append(f"{tp[0]}[{tp[1]}]: {missing} missing, {twice} twice")
        if problems:
            raise SequenceFailed(
                "the source does not hold every target-only record exactly once: "
                + "; ".join(problems[:4])
            )
        mirrored = {}
        # Shown as unknown when unreadable: the mirror's position is a courtesy here.
        with contextlib.suppress(ClusterError):
            mirrored = read_positions(self.plan, self.passwords, set(points), timeout=15)
        return {
            "summary": f"{only.count:,} target-only record(s) on the source exactly once",
            "checked": only.count,
            "mirror_positions": {f"{t}:{p}": o for (t, p), o in mirrored.items()},
        }
