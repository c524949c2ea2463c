"""What the offsets pane shows, built from the offsets sampler's stored figures: plain
data, no I/O (the console builds it in a worker; a replay builds the same from the same
rows).

Verdicts, per partition (worst first in the pane):

* RED: the position cannot be translated (the map and the records disagree, never
  mirrored), a move would skip a record or replay more than the topic tolerates, or the
  target's committed offset disagrees with the translation before the group was moved;
* WARN: not copied yet (the copy is behind the committed offset), only bounded, or a
  replay within what the topic tolerates;
* OK: exact, nothing re-read, nothing skipped; or nothing committed (nothing to move).

A group's row takes its worst partition's verdict; a group still active on the source
is at least WARN (it cannot move until its consumers stop), one active on the target
before it was moved is RED.
"""

from __future__ import annotations

from typing import Any

from console.cutover.model import GroupSide, Method, Position
from console.plan import Plan
from console.views.offsets import OffsetRow, OffsetsView

RANK = {"RED": 0, "NO_DATA": 1, "WARN": 2, "OK": 3}


def _worse(a: str, b: str) -> str:
    return a if RANK[a] <= RANK[b] else b


def judge(p: Position, tolerated: int, moved: bool, drift_limit: int, committed: int | None):
    """A partition's verdict and the note that explains it."""
    if p.method is Method.NONE:
        return "OK", p.reason
    if p.not_copied:
        records = f", {p.not_copied_records:,} record(s)" if p.not_copied_records else ""
        return "WARN", f"not copied yet: {p.not_copied:,} offset(s){records} to go"
    if p.target_offset is None:
        return "RED", p.reason
    if committed is not None and not moved:
        drift = committed - p.target_offset
        if abs(drift) > drift_limit:
            return "RED", (
                f"the target already has {committed:,} committed, the translation says "
                f"{p.target_offset:,}: something else writes this group's offsets there"
            )
    if p.skip is None or p.skip > 0:
        return "RED", p.reason
    if p.replay is None:
        return "RED", f"replay unknown: {p.reason}"
    if p.replay > tolerated:
        return "RED", f"would re-read {p.replay:,} record(s); the topic tolerates {tolerated:,}"
    if not p.exact or p.replay > 0:
        return "WARN", p.reason
    return "OK", p.evidence or p.reason


def _side_word(side: GroupSide) -> str:
    if side.error:
        return "unreadable"
    if side.state == "DEAD":
        return "absent"
    if side.members:
        return f"{len(side.members)} member" + ("s" if len(side.members) > 1 else "")
    if side.state == "UNKNOWN":
        return "UNKNOWN"
    return side.state.lower().replace("_", " ")


def build(
    plan: Plan,
    samples: dict[str, tuple[int, str, dict[str, Any]]],
    *,
    as_of: str | None,
    stale: bool,
    process_lines: list[str],
) -> OffsetsView:
    """The pane's view from the newest stored sample of each plan group."""
    tolerated = {t.name: t.tolerated_replay_records for t in plan.topics}
    limit = plan.thresholds.max_offset_drift_records
    groups = []
    lines = list(process_lines)
    for group in plan.groups:
        sample = samples.get(group.id)
        if sample is None:
            groups.append(
                (
                    "NO_DATA",
                    [
                        OffsetRow(
                            group.id,
                            None,
                            None,
                            "NO_DATA",
                            None,
                            None,
                            None,
                            None,
                            group.offset_strategy,
                            None,
                            None,
                            None,
                            "",
                            "not sampled yet",
                        )
                    ],
                )
            )
            continue
        _round, _ts, body = sample
        if "error" in body:
            groups.append(
                (
                    "NO_DATA",
                    [
                        OffsetRow(
                            group.id,
                            None,
                            None,
                            "NO_DATA",
                            "?",
                            "?",
                            None,
                            None,
                            group.offset_strategy,
                            None,
                            None,
                            None,
                            "",
                            body["error"],
                        )
                    ],
                )
            )
            lines.append(f"{group.id}: could not be read ({body['error'][:80]})")
            continue
        source = GroupSide.from_dict(body["source"])
        target = GroupSide.from_dict(body["target"])
        moved = body.get("moved") == "verified"
        found = [Position.from_dict(p) for p in body["positions"]]
        rows = []
        worst = "OK"
        for p in found:
            tp = (p.topic, p.partition)
            committed = target.committed.get(tp)
            verdict, note = judge(p, tolerated.get(p.topic, 0), moved, limit, committed)
            worst = _worse(worst, verdict)
            drift = (
                committed - p.target_offset
                if committed is not None and p.target_offset is not None
                else None
            )
            bound = ""
            if not p.exact and p.bound_lo is not None:
                hi = "?" if p.bound_hi is None else f"{p.bound_hi:,}"
                bound = f"{p.bound_lo:,}..{hi}"
            rows.append(
                OffsetRow(
                    group.id,
                    p.topic,
                    p.partition,
                    verdict,
                    p.source_committed,
                    p.target_offset,
                    p.replay,
                    p.skip,
                    p.method.value,
                    p.lag,
                    committed,
                    drift,
                    bound,
                    note,
                )
            )
        why = []
        if source.active and not moved:
            worst = _worse(worst, "WARN")
            why.append(f"active on the source ({_side_word(source)}): stop it to move")
        if target.active and not moved:
            worst = _worse(worst, "RED")
            why.append(f"active on the target before the move ({_side_word(target)})")
        if moved:
            why.append(f"moved (offset plan #{body.get('moved_plan')} verified)")
        copied = all(not p.not_copied for p in found)
        if not copied:
            why.append("position not copied yet")
        rows.sort(key=lambda r: (RANK[r.verdict], r.topic or "", r.partition or 0))
        written = [p for p in found if p.target_offset is not None]
        replay = (
            None if any(p.replay is None for p in written) else sum(p.replay or 0 for p in written)
        )
        skip = None if any(p.skip is None for p in written) else sum(p.skip or 0 for p in written)
        lags = [p.lag for p in found if p.lag is not None]
        heading = OffsetRow(
            group.id,
            None,
            None,
            worst,
            _side_word(source),
            _side_word(target),
            replay,
            skip,
            group.offset_strategy,
            sum(lags) if lags else None,
            None,
            None,
            "copied" if copied else "not copied",
            "; ".join(why) or "ready to move",
        )
        if why and not moved:
            lines.append(f"{group.id}: {'; '.join(why)}")
        groups.append((worst, [heading, *rows]))
    groups.sort(key=lambda g: (RANK[g[0]], g[1][0].group))
    rows = [row for _w, group_rows in groups for row in group_rows]
    return OffsetsView(as_of, stale, plan.shadow.path, lines, rows)
