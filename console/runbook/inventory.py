"""The runbook's Inventory step: read both clusters and record what is there.

Read-only on Kafka (:mod:`console.kafka.inventory` does the reading); the step passes
only when everything could be read. The gate and the audit entries around it belong
to :mod:`console.runbook.gate` and :mod:`console.runbook.execute`.
"""

from __future__ import annotations

from typing import Any

from console.kafka.inventory import take_inventory
from console.plan import ClusterSpec, credentials
from console.plan.steps import StepState
from console.runbook.outcome import StepContext, StepOutcome

STEP = "inventory"
EVIDENCE = "inventory"


def run(ctx: StepContext) -> StepOutcome:
    """Read both clusters and record what is there."""
    store, cancel, progress = ctx.store, ctx.cancel, ctx.progress
    plan = store.plan
    passwords = credentials.resolve_passwords(plan)
    result = take_inventory(plan, passwords, cancel=cancel, progress=progress)
    body = result.to_json()
    evidence_id = store.add_evidence(STEP, EVIDENCE, body)
    if result.passed:
        return StepOutcome(STEP, StepState.PASSED, "", evidence_id, body)
    reason = result.problems[0]
    if len(result.problems) > 1:
        reason += f" (and {len(result.problems) - 1} more)"
    return StepOutcome(STEP, StepState.FAILED, reason, evidence_id, body)


def preview(ctx: StepContext) -> list[str]:
    """What the gate shows: who reads what; nothing changes."""
    store = ctx.store
    plan = store.plan
    return [
        f"Reads source  {plan.clusters.source.bootstrap_servers} "
        f"as {_principal(plan.clusters.source)}",
        f"Reads target  {plan.clusters.target.bootstrap_servers} "
        f"as {_principal(plan.clusters.target)}",
        "Brokers and versions, topics, partitions, configs, offsets,",
        "consumer groups with members and committed offsets, ACLs.",
        f"Plan topics: {', '.join(t.name for t in plan.topics)}",
        "Changes nothing on either cluster.",
    ]


def _principal(spec: ClusterSpec) -> str:
    return f"User:{spec.sasl_username}" if spec.sasl_username else "User:ANONYMOUS"


def report(body: dict[str, Any]) -> list[str]:
    """What ``cutover step inventory`` prints under the outcome: both clusters in a line
    each, then every problem and note."""
    lines = []
    for side in ("source", "target"):
        inv = body.get(side)
        if not inv:
            continue
        brokers = ", ".join(
            f"{b['id']}@{b['host']}:{b['port']} Kafka {b['release']}" for b in inv["brokers"]
        )
        user_topics = [t for t in inv["topics"] if not t["internal"]]
        lines.append(
            f"  {side}: cluster {inv['cluster_id']}  brokers {brokers}  "
            f"{len(user_topics)} topics  {len(inv['groups'])} groups"
        )
    lines += [f"  problem: {problem}" for problem in body.get("problems", [])]
    lines += [f"  note: {note}" for note in body.get("notes", [])]
    return lines
