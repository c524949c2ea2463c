"""The governance steps: compare governance (read-only) and apply the chosen items on
the target (a change, gated like every change).

``governance`` reads both clusters (:mod:`console.governance`) and records the diff as
``governance`` evidence, decisions carried over. It passes when both sides could be
read; differences are for people to decide (``cutover governance RUN.db --decide``, or
the governance pane), and the scorecard reads those decisions.

``governance-apply`` sends the items decided 'apply' to the target, each audited before
and after, records what happened as ``governance-apply`` evidence, then reads both
sides again and records the new diff: it passes only when every applied item is gone
from it. Nothing is ever changed on the source.
"""

from __future__ import annotations

from console.governance import apply, evidence
from console.plan import credentials
from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.store import Store

APPLY_STEP = "governance-apply"
APPLY_KIND = "governance-apply"


def run(ctx: StepContext) -> StepOutcome:
    """Read both sides and record the diff."""
    store = ctx.store
    previous = evidence.latest(store)
    body = evidence.take(
        store.plan,
        credentials.resolve_passwords(store.plan),
        cancel=ctx.cancel,
        progress=ctx.progress,
        previous=previous.body if previous else None,
        now=store.clock(),
    )
    evidence_id = store.add_evidence(evidence.STEP, evidence.KIND, body)
    return _outcome(ctx.key, body, evidence_id)


def _outcome(key: str, body: dict, evidence_id: int) -> StepOutcome:
    problems = body.get("problems", [])
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return StepOutcome(key, StepState.FAILED, problems[0] + more, evidence_id, body)
    s = body["summary"]
    reason = f"{s['items']} difference(s), {s['undecided']} undecided"
    if body.get("not_compared"):
        reason += f"; not compared: {', '.join(body['not_compared'])}"
    return StepOutcome(key, StepState.PASSED, reason, evidence_id, body)


def preview(ctx: StepContext) -> list[str]:
    plan = ctx.plan
    lines = []
    for side in ("source", "target"):
        spec = getattr(plan.clusters, side)
        who = f"User:{spec.sasl_username}" if spec.sasl_username else "User:ANONYMOUS"
        lines.append(f"Reads {side:<7}{spec.bootstrap_servers} as {who}")
    lines += [
        "ACLs (topic, group, cluster, transactional id; literal and prefixed),",
        "SCRAM users, topic configs and partitions, client quotas",
        f"of the plan's {len(plan.topics)} topics and {len(plan.groups)} groups",
        "and of the principals their ACLs name.",
    ]
    urls = [getattr(plan.clusters, s).schema_registry_url for s in ("source", "target")]
    lines.append(
        "Schema subjects and compatibility from both registries."
        if all(urls)
        else "Schema subjects: not compared (the plan names no registry for both sides)."
    )
    lines.append("Changes nothing on either cluster.")
    return lines


def report(body: dict) -> list[str]:
    """What ``cutover step governance`` prints under the outcome."""
    lines = [
        f"  {n}. {i['what']}: {i['source']} / {i['target']}"
        for n, i in enumerate(body.get("items", []), 1)
    ]
    lines += [f"  not compared: {k}: {v}" for k, v in body.get("not_compared", {}).items()]
    lines += [f"  problem: {p}" for p in body.get("problems", [])]
    return lines


# -- apply ---------------------------------------------------------------------------------


def _left_by_interrupted_run(store: Store, found) -> list[dict] | None:
    """What an apply run that was cut off after it applied its changes and read both sides
    again had applied (its diff carries them, and nothing is pending any more), while the
    step still reads interrupted; None otherwise. Running the step again then only
    verifies and finishes it: the migration is never locked half-way."""
    if found is None or "applied" not in found.body or apply.pending(found.body):
        return None
    row = store.step(APPLY_STEP)
    # An interrupted run reads FAILED with an 'interrupted:' reason once recovered
    # (runbook.execute.recover), RUNNING with a dead runner before that.
    cut_off = row.state is StepState.FAILED and row.reason.startswith("interrupted:")
    if not (cut_off or row.state is StepState.RUNNING):
        return None
    return list(found.body["applied"])


def nothing_to_apply(store: Store) -> str | None:
    """Why the apply gate stays shut, or None: no diff yet, or nothing decided 'apply'."""
    found = evidence.latest(store)
    if found is None:
        return "blocked by: governance (no diff yet: run 'Compare governance' first)"
    if not apply.pending(found.body) and _left_by_interrupted_run(store, found) is None:
        return (
            "no governance item is decided 'apply'; decide items in the governance pane "
            "or with 'cutover governance RUN.db --decide N --as apply'"
        )
    return None


def apply_run(ctx: StepContext) -> StepOutcome:
    store = ctx.store
    plan = store.plan
    found = evidence.latest(store)
    items = apply.pending(found.body) if found else []
    earlier = _left_by_interrupted_run(store, found) if not items else None
    if not items and earlier is None:
        return StepOutcome(ctx.key, StepState.FAILED, nothing_to_apply(store) or "", None)
    passwords = credentials.resolve_passwords(plan)
    if earlier is not None:
        ctx.progress("the interrupted run applied its changes; verifying them")
        results, applied_id = earlier, None
    else:
        results = apply.apply_on_target(
            plan.clusters.target,
            passwords.get("target"),
            items,
            log=ctx.log,
            cancel=ctx.cancel,
            progress=ctx.progress,
        )
        applied_id = store.add_evidence(
            APPLY_STEP, APPLY_KIND, {"target": "target", "changes": results}
        )
    ctx.progress("reading both sides again to verify")
    before = found.body if found else None
    body = evidence.take(
        plan,
        passwords,
        cancel=ctx.cancel,
        progress=ctx.progress,
        previous=before,
        now=store.clock(),
    )
    still = {i["key"] for i in body.get("items", [])}
    done = {r["item"] for r in results if r["result"] == "applied"}
    for item in body.get("items", []):
        if item["key"] in done:
            item["applied"] = False  # applied, yet it still differs
    body["applied"] = results
    evidence_id = store.add_evidence(evidence.STEP, evidence.KIND, body)
    failed = [r for r in results if r["result"] != "applied"]
    differs = sorted(done & still)
    if failed:
        return StepOutcome(
            ctx.key,
            StepState.FAILED,
            f"{len(failed)} of {len(results)} change(s) failed; first: {failed[0]['change']}: "
            f"{failed[0]['result']}",
            applied_id if applied_id is not None else evidence_id,
            {"changes": results},
        )
    if differs:
        return StepOutcome(
            ctx.key,
            StepState.FAILED,
            f"applied, but {len(differs)} item(s) still differ when read again: {differs[0]}",
            evidence_id,
            {"changes": results},
        )
    by = " by the interrupted run" if earlier is not None else ""
    return StepOutcome(
        ctx.key,
        StepState.PASSED,
        f"{len(results)} change(s) applied on the target{by} and verified by reading it again",
        applied_id if applied_id is not None else evidence_id,
        {"changes": results},
    )


def apply_preview(ctx: StepContext) -> list[str]:
    store = ctx.store
    target = store.plan.clusters.target
    found = evidence.latest(store)
    items = apply.pending(found.body) if found else []
    earlier = _left_by_interrupted_run(store, found) if not items else None
    if earlier is not None:
        return [
            f"An interrupted run applied {len(earlier)} change(s) on the TARGET "
            f"{target.bootstrap_servers} and read it again; nothing is left to apply.",
            "This run reads both sides again to verify, changes nothing, and finishes the step.",
        ]
    if not items:
        return ["Nothing to apply: no governance item is decided 'apply'."]
    lines = [f"Changes the TARGET {target.bootstrap_servers}, {len(items)} change(s):"]
    lines += [f"  {apply.describe(i)}" for i in items]
    lines += [
        "Each change is logged before it is made and its result after;",
        "then both sides are read again to verify.",
        "Nothing is changed on the source.",
    ]
    return lines


def apply_report(body: dict) -> list[str]:
    return [f"  {r['result']}: {r['change']}" for r in body.get("changes", [])]
