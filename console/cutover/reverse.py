"""The reverse map: from a group's committed offsets on the target back to the source.

A rollback (moving a group back to the source after it ran on the target for a while)
needs, for each partition, the source position that corresponds to where the group
stands on the target. It is exact where the map covers the target offset:

* on the built-in mirror, the exact map in both directions (every copy is in a run);
* on MirrorMaker 2 and external links, the pieces of exact map that aligning records
  found (stored as runs under the ``aligned`` path whenever a translation was refined),
  and the reverse points stored with every applied offset plan.

Elsewhere the answer is None with the reason, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.cutover import translate
from console.cutover.positions import ALIGNED, BUILTIN
from console.store import Store

TP = tuple[str, int]


@dataclass(frozen=True)
class ReversePoint:
    """Where a target position maps back to on the source."""

    topic: str
    partition: int
    target_offset: int
    source_offset: int | None
    exact: bool
    reason: str


def source_offsets(
    store: Store,
    group_id: str,
    target_offsets: dict[TP, int],
    *,
    mirrored: dict[TP, int] | None = None,
) -> dict[TP, ReversePoint]:
    """For a group's committed offsets on the target, the source offsets to resume at,
    exactly where the map covers them. ``mirrored``: the copy's source position per
    partition (the built-in mirror's), so a group that read everything copied maps to
    where the copy stands."""
    path = store.plan.shadow.path
    mirrored = mirrored or {}
    stored = store.cutover.latest_plan(group_id)
    plan_points = {}
    if stored is not None:
        for row in stored.rows:
            if row["target_offset"] is not None and row["reverse_source"] is not None:
                plan_points[(row["topic"], row["partition"])] = (
                    row["target_offset"],
                    row["reverse_source"],
                    row["exact"],
                )
    out = {}
    for tp, target in target_offsets.items():
        topic, partition = tp
        point = plan_points.get(tp)
        if point is not None and point[0] == target:
            out[tp] = ReversePoint(
                topic,
                partition,
                target,
                point[1],
                bool(point[2]),
                f"the reverse point stored with offset plan #{stored.id}"
                + ("" if point[2] else " (bounded translation: not exact)"),
            )
            continue
        map_path = BUILTIN if path == BUILTIN else ALIGNED
        runs = sorted(store.offsets.runs_around_target(topic, partition, target, map_path))
        if not runs:
            out[tp] = ReversePoint(topic, partition, target, None, False, "no map covers it")
            continue
        if map_path == BUILTIN:
            source, how = translate.reverse_in(runs, target, mirrored_to=mirrored.get(tp))
            out[tp] = ReversePoint(topic, partition, target, source, source is not None, how)
            continue
        # Aligned pieces are exact only inside a run: between pieces nobody checked the
        # records, so the gap is not known to be empty.
        inside = next((r for r in runs if r[1] <= target < r[1] + r[2]), None)
        if inside is None:
            out[tp] = ReversePoint(
                topic,
                partition,
                target,
                None,
                False,
                "outside the records aligned so far: refine a translation near it first",
            )
            continue
        out[tp] = ReversePoint(
            topic,
            partition,
            target,
            inside[0] + target - inside[1],
            True,
            "aligned record by record",
        )
    return out
