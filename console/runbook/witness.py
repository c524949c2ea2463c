"""The audit witness: its step, the head appended at every gate, and the check against it.

A chain of hashes inside the run database proves entries were not edited, removed or
moved, but not that the newest ones were not cut off (with the head pointer) or the
whole log replaced: a local edit can make that consistent. The witness is outside the
file. When the plan names ``[audit] witness_topic``:

* **Create audit witness** (a CHANGE step, behind its own gate) creates the append-only
  topic on the target and, when ``witness_principal`` is named, grants that principal
  WRITE and DESCRIBE on it and nothing else; it records the chain's head there first.
  Until it passed, gates that change a cluster stay shut (see :func:`guard`).
* At every later gate, once the decision entry is durable and before the step's work,
  :func:`at_gate` appends ``(plan, run, seq, head hash, time)`` to the topic and says
  how that went in an ``audit.witness`` entry: ``witnessed entry N`` or
  ``unwitnessed: <why>``; an unreachable witness never stops the gate, the operator is
  told. Nothing is written to a cluster between gates.
* ``cutover audit verify --witness`` (:func:`check`) reads every head of this run back
  and compares each with the chain: a head the chain no longer has means the log was
  cut or rewritten; a gate whose head never reached the witness makes the chain
  unwitnessed from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from console import redact
from console.errors import CutoverError
from console.kafka import witness as topic
from console.plan import credentials
from console.plan.steps import StepDef, StepKind, StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.store import Store
from console.store.audit import Entry

STEP = "witness"
ACTION = "audit.witness"
"""The entry that says whether a gate's head reached the witness."""


def configured(store: Store) -> bool:
    return bool(store.plan.audit.witness_topic)


def active(store: Store) -> bool:
    """Whether gates are witnessed now: the plan names a witness and its step passed."""
    return configured(store) and store.step(STEP).state is StepState.PASSED


def guard(store: Store, step: StepDef, target: str) -> str | None:
    """A gate guard: the witness step needs a witness topic in the plan; with one, gates
    that change a cluster wait until the witness exists, so every one is witnessed (undo
    steps never wait)."""
    if step.id == STEP:
        if configured(store):
            return None
        return (
            "the plan names no witness: add [audit] witness_topic (and optionally "
            "witness_principal) to the plan to witness this run's audit chain"
        )
    waiting = step.kind in (StepKind.CHANGE, StepKind.CUTOVER) and configured(store)
    if waiting and store.step(STEP).state is not StepState.PASSED:
        return (
            "blocked by: witness (the plan names a witness topic: create it first, so "
            "every gate that changes a cluster is witnessed)"
        )
    return None


def _timeout(store: Store) -> float:
    return min(store.plan.clusters.target.request_timeout_s, 15.0)


def _head(store: Store, entry: Entry, step: str) -> topic.Head:
    first = store.audit_at(1)
    return topic.Head(store.plan.name, first.hash if first else "", entry.seq, entry.hash,
                      entry.ts, step)  # fmt: skip


def append_head(store: Store, entry: Entry, step: str) -> str | None:
    """Append ``entry``'s head to the witness and record how it went; returns None when it
    was witnessed, else why not (for the operator)."""
    plan = store.plan
    try:
        passwords = credentials.resolve_passwords(plan)
        witness_password = credentials.resolve_witness_password(plan)
        topic.append(plan, passwords, witness_password, _head(store, entry, step),
                     timeout=_timeout(store))  # fmt: skip
    except CutoverError as exc:
        reason = redact.text(str(exc))
        store.log(
            ACTION, step=step, ref=entry.seq,
            params={"topic": plan.audit.witness_topic, "seq": entry.seq},
            outcome=f"unwitnessed: {reason}",
        )  # fmt: skip
        return (
            f"the witness {plan.audit.witness_topic} could not be reached ({reason}); this "
            f"gate (entry {entry.seq}) is unwitnessed and 'cutover audit verify --witness' "
            "will say so until a later gate's head reaches it"
        )
    store.log(
        ACTION, step=step, ref=entry.seq,
        params={"topic": plan.audit.witness_topic, "seq": entry.seq},
        outcome=f"witnessed entry {entry.seq}",
    )  # fmt: skip
    return None


def at_gate(store: Store, decision: Entry, key: str) -> str | None:
    """After a gate's decision is durable and before its work: witness its head."""
    return append_head(store, decision, key)


# -- the step --------------------------------------------------------------------------------


def preview(ctx: StepContext) -> list[str]:
    plan = ctx.store.plan
    spec = plan.audit
    if not spec.witness_topic:
        return ["The plan names no [audit] witness_topic: nothing to create."]
    lines = [
        f"Creates topic {spec.witness_topic} on the target "
        f"{plan.clusters.target.bootstrap_servers} (as User:{plan.clusters.target.sasl_username}),",
        "one partition, cleanup.policy=delete, retention.ms=-1, retention.bytes=-1:",
        "append-only, never compacted or expired. An existing one is used only if so.",
    ]
    if spec.witness_principal:
        lines += [
            f"Grants User:{spec.witness_principal} WRITE and DESCRIBE on that topic only;",
            "the user itself must already exist on the target.",
            f"Heads are written as User:{spec.witness_principal}.",
        ]
    lines += [
        "Writes the chain's current head there now, and from then on at every gate,",
        "after the decision is recorded and before the step's work; nothing between gates.",
    ]
    return lines


def run(ctx: StepContext) -> StepOutcome:
    store = ctx.store
    plan = store.plan
    passwords = credentials.resolve_passwords(plan)
    credentials.resolve_witness_password(plan)  # fail before changing anything
    timeout = _timeout(store)
    intent = ctx.log("witness.create_topic", params={"topic": plan.audit.witness_topic})
    try:
        created = topic.ensure_topic(plan, passwords, timeout=timeout)
    except CutoverError as exc:
        ctx.log("witness.create_topic", ref=intent.seq, outcome=f"failed: {exc}")
        return StepOutcome(STEP, StepState.FAILED, str(exc), None)
    ctx.log("witness.create_topic", ref=intent.seq, outcome=created)
    granted: list[str] = []
    if plan.audit.witness_principal:
        intent = ctx.log(
            "witness.grant",
            params={"principal": plan.audit.witness_principal, "topic": plan.audit.witness_topic},
        )
        try:
            granted = topic.grant(plan, passwords, timeout=timeout)
        except CutoverError as exc:
            ctx.log("witness.grant", ref=intent.seq, outcome=f"failed: {exc}")
            return StepOutcome(STEP, StepState.FAILED, str(exc), None)
        ctx.log("witness.grant", ref=intent.seq, outcome="; ".join(granted))
        # The first head is written as the principal right away: wait for the grant to be
        # in force on the broker (it lags the controller under load).
        topic.await_grant(
            plan, passwords, credentials.resolve_witness_password(plan), timeout=timeout
        )
    head = store.audit_latest(1)[0]
    problem = append_head(store, head, STEP)
    body = {
        "topic": plan.audit.witness_topic,
        "principal": plan.audit.witness_principal,
        "acls": granted,
        "created": created,
        "first_witnessed_seq": None if problem else head.seq,
    }
    evidence = store.add_evidence(STEP, "witness", body)
    if problem:
        return StepOutcome(
            STEP, StepState.FAILED, f"the first head could not be written: {problem}", evidence,
            body,
        )  # fmt: skip
    who = f" as User:{plan.audit.witness_principal}" if plan.audit.witness_principal else ""
    return StepOutcome(
        STEP, StepState.PASSED, f"{created}; head of entry {head.seq} witnessed{who}", evidence,
        body,
    )  # fmt: skip


# -- checking the chain against the witness ----------------------------------------------------


@dataclass(frozen=True)
class WitnessReport:
    """What the witness says about the chain."""

    broken: str | None
    """The first witnessed head the chain no longer has (cut or rewritten), or None."""
    unwitnessed_from: int | None
    """The first gate whose head never reached the witness, or None."""
    lines: list[str]
    """What ``audit verify --witness`` prints, in order."""


def check(store: Store) -> WitnessReport:
    """Read every head of this run from the witness and compare each with the chain."""
    plan = store.plan
    passwords = credentials.resolve_passwords(plan)
    first = store.audit_at(1)
    run_id = first.hash if first else ""
    heads = topic.read(plan, passwords, run=run_id, timeout=_timeout(store))
    last = store.audit_latest(1)
    last_seq = last[0].seq if last else 0
    name = plan.audit.witness_topic
    for head in heads:
        entry = store.audit_at(head.seq)
        if entry is None:
            return WitnessReport(
                f"the witness recorded entry {head.seq} (head {head.head[:16]}, {head.time}), "
                f"but the log ends at entry {last_seq}: the newest entries were removed",
                None,
                [],
            )
        if entry.hash != head.head:
            return WitnessReport(
                f"entry {head.seq} is not the one the witness recorded at {head.time} (head "
                f"{head.head[:16]}): the log was rewritten at or before it",
                None,
                [],
            )
    witnessed = {h.seq for h in heads}
    expected = [e for e in store.audit_by_action("gate.confirmed") if e.params.get("witness")]
    missing = [e for e in expected if e.seq not in witnessed]
    lines = []
    if heads:
        lines.append(
            f"witness {name}: {len(heads)} head(s) of this run, all in the chain; the last "
            f"at entry {heads[-1].seq} ({heads[-1].time})"
        )
        if heads[-1].seq < last_seq:
            lines.append(
                f"  entries {heads[-1].seq + 1} to {last_seq} came after the last witnessed "
                "head: the next gate witnesses them"
            )
    else:
        lines.append(f"witness {name}: no head of this run recorded")
    unwitnessed = None
    if missing:
        gap = missing[0]
        later = [h.seq for h in heads if h.seq > gap.seq]
        after = f"entry {later[0]} was witnessed later" if later else "no later head was witnessed"
        lines.append(
            f"UNWITNESSED from entry {gap.seq}: the head of gate '{gap.step}' ({gap.ts}) never "
            f"reached the witness, so what came after it rested on this file alone ({after}); "
            f"{len(missing)} gate(s) unwitnessed in all"
        )
        unwitnessed = gap.seq
    elif not heads and configured(store):
        unwitnessed = 1
    return WitnessReport(None, unwitnessed, lines)
