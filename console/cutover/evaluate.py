"""Everything a group move rests on, read now: both sides of the group, every partition's
position, and each precondition with the evidence it rests on.

The gate shows it, the step re-reads it just before it changes anything, and the
offsets sampler records the part the pane shows. Preconditions, in the order the gate
lists them:

1. **no members on the source** (its consumers are stopped): any member, any state not at
   rest, and UNKNOWN (a Kafka 4 ``consumer``-protocol group assigning or reconciling, as
   librdkafka 2.16 reports it) count as active; a static member (``group.instance.id``)
   stays until its session times out, and the check says so;
2. **no members on the target**;
3. **every position copied**: each committed offset translated, none beyond the copy;
4. **a fresh comparison** of the group's topics (no older than
   ``max_comparison_age_minutes``) with nothing RED and no required check without data;
5. **MirrorMaker 2's group offset sync is off** for the group (it would overwrite what
   the move writes), on the MirrorMaker 2 path;
6. **the principal may READ** the group's topics and the group on the target (as the
   principal when its password is at hand, else from the ACLs, saying which);
7. **nothing skipped, replay within** each topic's ``tolerated_replay_records``;
8. **an interrupted move** of the group, if any, is resumed only with the same offsets.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from console.compare.model import CHECK_BY_NAME
from console.cutover import access, positions
from console.cutover.clients import Sides, at_once
from console.cutover.groups import GroupRead, partitions_of
from console.cutover.model import Check, Evaluation, GroupSide, Position
from console.plan import GroupSpec, Plan, credentials
from console.shadow import mm2
from console.store import Store

TIMEOUT_S = 30.0


def group_spec(plan: Plan, group_id: str) -> GroupSpec:
    for group in plan.groups:
        if group.id == group_id:
            return group
    raise KeyError(f"the plan has no group '{group_id}'")


def evaluate(
    store: Store,
    plan: Plan,
    group: GroupSpec,
    sides: Sides,
    *,
    timeout: float = TIMEOUT_S,
    checks: bool = True,
) -> Evaluation:
    """Read both sides and work out every partition's position (and, with ``checks``,
    every precondition). Raises ClusterError when a cluster cannot be read at all."""
    deadline = time.monotonic() + timeout

    # The two sides are read at the same time, each by its own clients (one thread per
    # side: never two requests on one client from two threads at once). On each side the
    # group's read is sent first (GroupRead: its two requests at once) and taken last,
    # so the side's other requests go out meanwhile, on the same client and thread:
    # on the source, the partitions, then their ends (and, where positions are refined
    # by aligning records, their log starts) in one round trip; on the target, what the
    # principal may do (for the gate).
    refines = plan.shadow.path != "builtin" and group.offset_strategy == "translate"

    def source_side():
        reading = GroupRead(sides.source, group.id, group.topics, deadline)
        layout = partitions_of(sides.source, group.topics, deadline)
        parts = [(t, p) for t in group.topics for p in layout.get(t, [])]
        ends, starts = (
            sides.source.ends_and_starts(parts, parts if refines else [], deadline)
            if parts
            else ({}, {})
        )
        return reading.result(), layout, parts, ends, starts

    def target_side():
        reading = GroupRead(sides.target, group.id, group.topics, deadline)
        principal = principal_check(plan, group, sides, deadline) if checks else None
        return reading.result(), principal

    # On MirrorMaker 2, its state (offset syncs, checkpoints and the copy position, with
    # clients of its own) and its checkpoint connector's config (REST) are read meanwhile.
    is_mm2 = plan.shadow.path == "mirrormaker2"
    calls = [source_side, target_side]
    if is_mm2 and group.offset_strategy == "translate":
        calls.append(lambda: positions.read_mm2(plan, sides, deadline))
    if is_mm2 and checks:
        calls.append(lambda: mm2_sync_check(plan, group))
    # Meanwhile, on this thread, the comparison the gate rests on (the run database only).
    compared = (lambda: comparison_check(store, plan, group)) if checks else None
    (source, layout, parts, ends, starts), (target, principal), *more = at_once(
        *calls, meanwhile=compared
    )
    comparison = more.pop() if checks else None
    found_mm2 = more.pop(0) if is_mm2 and group.offset_strategy == "translate" else None
    sync_check = more.pop(0) if is_mm2 and checks else None
    notes = [
        f"topic {t} is not on the source: its partitions are not moved"
        for t in group.topics
        if t not in layout
    ]
    ctx = positions.Context(
        store, plan, group, sides, deadline, dict(source.committed), parts, ends
    )
    ctx.source_starts = starts or None
    ctx.mm2_found = found_mm2
    found = positions.positions(ctx) if parts else []
    notes += ctx.notes
    at = store.clock()
    listed = (
        _checks(
            store,
            plan,
            group,
            source,
            target,
            found,
            principal,
            sync_check or mm2_sync_check(plan, group),
            ctx.mirrored_from,
            comparison,
        )
        if checks
        else []
    )
    return Evaluation(
        group.id,
        group.offset_strategy,
        plan.shadow.path,
        source,
        target,
        tuple(found),
        tuple(listed),
        at,
        tuple(notes),
    )


# -- the preconditions -------------------------------------------------------------------------


def _checks(
    store,
    plan,
    group,
    source,
    target,
    found,
    principal: Check,
    sync: Check,
    copy_from: str,
    comparison: Check,
) -> list[Check]:
    return [
        members_check("source", source),
        members_check("target", target),
        copied_check(found, group, copy_from),
        comparison,
        sync,
        principal,
        replay_check(plan, group, found),
        stored_plan_check(store, group, found),
    ]


def members_check(cluster: str, side: GroupSide) -> Check:
    name = f"no members on the {cluster}"
    if side.error:
        return Check(
            name, "NO_DATA", f"could not read the group ({side.error})", (side.describe(),)
        )
    evidence = [side.describe()]
    if side.protocol:
        evidence.append(f"group protocol: {side.protocol}")
    if not side.active:
        what = "absent" if side.state == "DEAD" else f"{side.state.lower()}, no members"
        return Check(name, "OK", what, tuple(evidence))
    if side.static_members:
        ids = ", ".join(m.instance_id or "" for m in side.static_members)
        evidence.append(
            f"static member(s) {ids} (group.instance.id) stay in the group after their process "
            "stops, until their session times out (session.timeout.ms, 45 s by default): stop "
            "them, wait that long and open the gate again"
        )
    if side.state == "UNKNOWN":
        evidence.append(
            "state UNKNOWN: librdkafka 2.16 reports a Kafka 4 consumer-protocol group that is "
            "assigning or reconciling so; counted as active"
        )
    stop = "stop its consumers" if cluster == "source" else "stop whatever consumes it there"
    return Check(
        name,
        "RED",
        f"{side.state.lower().replace('_', ' ')} with {len(side.members)} member(s): {stop} first",
        tuple(evidence),
    )


def copied_check(found: list[Position], group: GroupSpec, copy_from: str = "") -> Check:
    """``copy_from``: where the copy's position was read (MirrorMaker 2), shown first."""
    name = "every position copied"
    head = [f"copy position read from {copy_from}"] if copy_from else []
    committed = [p for p in found if p.source_committed is not None]
    if group.offset_strategy != "translate":
        return Check(name, "OK", f"not needed: the plan says {group.offset_strategy}")
    if not found:
        return Check(name, "NO_DATA", "none of the group's topics is on the source")
    behind = [p for p in committed if p.not_copied]
    failed = [p for p in committed if not p.translated and not p.not_copied]
    evidence = list(head)
    for p in behind:
        records = (
            f", {p.not_copied_records:,} record(s)" if p.not_copied_records is not None else ""
        )
        evidence.append(
            f"{p.key}: committed {p.source_committed:,}, {p.not_copied:,} offset(s){records} "
            "still to copy"
        )
    evidence += [f"{p.key}: {p.reason}" for p in failed]
    if behind:
        return Check(
            name,
            "RED",
            f"{len(behind)} partition(s) beyond what the copy has copied: wait for it",
            tuple(evidence),
        )
    if failed:
        return Check(
            name, "RED", f"{len(failed)} partition(s) could not be translated", tuple(evidence)
        )
    return Check(
        name,
        "OK",
        f"{len(committed)} committed position(s) copied and translated",
        tuple(head + [f"{p.key}: {p.evidence}" for p in committed if p.evidence][:6]),
    )


def _age_minutes(stamp: str | None) -> float | None:
    if not stamp:
        return None
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - then).total_seconds() / 60


def comparison_check(store: Store, plan: Plan, group: GroupSpec) -> Check:
    """The newest finished comparison window of each topic: fresh, nothing RED."""
    name = "fresh comparison, nothing RED"
    limit = plan.thresholds.max_comparison_age_minutes
    evidence: list[str] = []
    worst = "OK"
    # Topics whose producers moved: the comparison must be bounded at the cutover point
    # (the engine does that for windows opened after the point was recorded); after it,
    # the target holds the moved producers' own records, which no source record matches.
    moved: dict[str, str] = {}
    for point in store.producers.points(active_only=True):
        if point.topic in group.topics:
            moved[point.topic] = max(moved.get(point.topic, ""), point.recorded_at)
    for topic in group.topics:
        window = None
        for window_id, started, finished, status, spec in store.results.windows(100):
            if status == "done" and topic in spec.get("ranges", {}):
                window = (window_id, finished, started)
                break
        if window is None:
            evidence.append(f"{topic}: never compared; run Compare both sides")
            worst = _worse(worst, "NO_DATA")
            continue
        window_id, finished, started = window
        age = _age_minutes(finished)
        rows = store.results.results(window_id, topic)
        red = [r for r in rows if r[3] == "RED"]
        gaps = [
            r
            for r in rows
            if r[3] == "NO_DATA" and CHECK_BY_NAME.get(r[2]) and CHECK_BY_NAME[r[2]].required
        ]
        when = f"window #{window_id}, finished {finished[11:19] if finished else '?'} UTC"
        point_at = moved.get(topic)
        if point_at is not None and (started or "") < point_at:
            evidence.append(
                f"{topic}: {when} started before its producers moved (cutover point recorded "
                f"{point_at[11:19]} UTC), so it is not bounded at the cutover point; compare again"
            )
            worst = _worse(worst, "RED")
            continue
        if age is None or age > limit:
            evidence.append(
                f"{topic}: {when}, {age:.0f} min ago: older than {limit} min; compare again"
                if age is not None
                else f"{topic}: {when}: no finish time"
            )
            worst = _worse(worst, "RED")
        elif red:
            evidence.append(f"{topic}: {when}: {len(red)} RED, first {red[0][2]}: {red[0][4]}")
            worst = _worse(worst, "RED")
        elif gaps:
            evidence.append(f"{topic}: {when}: {gaps[0][2]} has no data ({gaps[0][4]})")
            worst = _worse(worst, "NO_DATA")
        else:
            bounded = (
                f"; bounded at the cutover point recorded {point_at[11:19]} UTC"
                if point_at is not None
                else ""
            )
            evidence.append(
                f"{topic}: {when} ({age:.0f} min ago): {len(rows)} result(s), none RED{bounded}"
            )
    if not moved:
        evidence.append(
            "no producer move is recorded for these topics, so the windows are not bounded"
        )
    summary = {
        "OK": f"compared within {limit} min, nothing RED",
        "RED": "a comparison is RED, too old, or from before a producer move",
        "NO_DATA": "no usable comparison",
    }[worst]
    return Check(name, worst, summary, tuple(evidence))


def _worse(a: str, b: str) -> str:
    rank = {"OK": 0, "WARN": 1, "NO_DATA": 2, "RED": 3}
    return a if rank[a] >= rank[b] else b


def _group_listed(patterns: str, group_id: str) -> bool:
    for pattern in (p.strip() for p in patterns.split(",")):
        if not pattern:
            continue
        try:
            if re.fullmatch(pattern, group_id):
                return True
        except re.error:
            if pattern == group_id:
                return True
    return False


def mm2_sync_check(plan: Plan, group: GroupSpec) -> Check:
    name = "MirrorMaker 2 group offset sync off"
    if plan.shadow.path != "mirrormaker2":
        return Check(name, "OK", f"not applicable: the shadow path is {plan.shadow.path}")
    try:
        config = mm2.connector_config(plan, "checkpoint", timeout=10)
    except mm2.Mm2Error as exc:
        return Check(
            name, "NO_DATA", "the checkpoint connector's config could not be read", (str(exc),)
        )
    if config is None:
        return Check(name, "OK", "no checkpoint connector is deployed: nothing syncs offsets")
    enabled = config.get("sync.group.offsets.enabled", "false").lower() == "true"
    listed = _group_listed(config.get("groups", ".*"), group.id)
    excluded = _group_listed(config.get("groups.exclude", ""), group.id)
    evidence = (
        f"sync.group.offsets.enabled={str(enabled).lower()}, groups={config.get('groups', '.*')}",
    )
    if enabled and listed and not excluded:
        return Check(
            name,
            "RED",
            "MirrorMaker 2 writes this group's offsets on the target and would overwrite the "
            "move: turn sync.group.offsets.enabled off (the console's config does)",
            evidence,
        )
    return Check(name, "OK", "off for this group", evidence)


def principal_check(plan: Plan, group: GroupSpec, sides: Sides, deadline: float) -> Check:
    name = "principal may READ on the target"
    if not group.principal:
        return Check(
            name,
            "RED",
            'the plan names no principal for this group: add principal = "User:..." (the '
            "user its consumers run as)",
        )
    console_user = f"User:{plan.clusters.source.sasl_username}"
    if group.principal == console_user:
        return Check(
            name,
            "RED",
            f"{group.principal} is the console's own user: the fence would lock the console out "
            "and a super user ignores it; run the consumers as their own user",
        )
    password = credentials.resolve_principal_password(plan, group.id)
    timeout = max(2.0, min(15.0, deadline - time.monotonic()))
    found = access.check_read(
        sides.target, group.principal, password, group.topics, group.id, timeout
    )
    evidence = (f"checked {found.how}", *found.lines, *(f"missing: {m}" for m in found.missing))
    if found.allowed is None:
        return Check(name, "NO_DATA", f"could not be established {found.how}", evidence)
    if not found.allowed:
        return Check(
            name,
            "RED",
            f"{group.principal} may not {found.missing[0]}: grant it on the target",
            evidence,
        )
    return Check(name, "OK", f"{group.principal} may read (checked {found.how})", evidence)


def replay_check(plan: Plan, group: GroupSpec, found: list[Position]) -> Check:
    name = "nothing skipped, replay tolerated"
    tolerated = {t.name: t.tolerated_replay_records for t in plan.topics}
    written = [p for p in found if p.target_offset is not None]
    chosen = group.offset_strategy != "translate"
    bad, evidence = [], []
    for p in found:
        if p.target_offset is None and p.source_committed is not None and not chosen:
            continue  # untranslated: the copy check says why
        if p.target_offset is None:
            continue
        limit = tolerated.get(p.topic, 0)
        if p.skip is None or p.skip > 0:
            what = "unknown" if p.skip is None else f"{p.skip:,}"
            bad.append(p)
            evidence.append(f"{p.key}: skips {what} record(s)")
        elif p.replay is None:
            bad.append(p)
            evidence.append(f"{p.key}: replay unknown ({p.reason})")
        elif p.replay > limit:
            bad.append(p)
            evidence.append(
                f"{p.key}: replays {p.replay:,} record(s), {p.topic} tolerates {limit:,}"
            )
    if not written:
        return Check(name, "OK", "no offset is written")
    if bad and chosen:
        return Check(
            name,
            "WARN",
            f"the plan's {group.offset_strategy} moves {len(bad)} partition(s) away from the "
            "source position (its choice; shown, not judged)",
            tuple(evidence[:8]),
        )
    if bad:
        return Check(
            name,
            "RED",
            f"{len(bad)} partition(s) would skip or replay too much",
            tuple(evidence[:8]),
        )
    replay = sum(p.replay or 0 for p in written)
    return Check(
        name,
        "OK",
        f"{len(written)} partition(s): 0 skipped, {replay:,} replayed (within tolerance)",
    )


def stored_plan_check(store: Store, group: GroupSpec, found: list[Position]) -> Check:
    """An interrupted move is resumed only with the offsets it stored."""
    name = "no different interrupted move"
    stored = store.cutover.latest_plan(group.id, live_only=True)
    if stored is None or stored.state == "verified":
        return Check(name, "OK", "none" if stored is None else f"plan #{stored.id} done earlier")
    now = {(p.topic, p.partition): p.target_offset for p in found if p.target_offset is not None}
    then = {(r["topic"], r["partition"]): r["target_offset"] for r in stored.rows}
    if now == then:
        return Check(
            name,
            "OK",
            f"plan #{stored.id} ({stored.state}, {stored.created_at[11:19]} UTC) is resumed: "
            "same offsets as now",
        )
    differ = [
        f"{t}:{p}: stored {then.get((t, p))}, now {now.get((t, p))}"
        for (t, p) in sorted(set(now) | set(then))
        if now.get((t, p)) != then.get((t, p))
    ]
    return Check(
        name,
        "RED",
        f"plan #{stored.id} from an interrupted move ({stored.state}) differs from the "
        f"translation now; nothing is applied silently: look into why (did the source group "
        f"commit since?), then 'cutover offsets RUN.db --group {group.id} --discard-plan'",
        tuple(differ[:8]),
    )
