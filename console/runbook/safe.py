"""The Safe consumers phase: start the shadow consumers, stop them, remove their identities.

Starting, for each ``[[shadow_consumers]]`` entry of the plan, in this order:

1. its principal's password from the plan's secret reference; when that resolves to
   nothing and the plan lets the console manage the identity, a new one is generated
   and shown to the operator once (never stored, never logged);
2. where the plan allows it, its identity on the TARGET: the SCRAM user and the minimal
   ACLs (READ on its topics and its group, WRITE on its sink topic), and the sink topic,
   each change audited before it is made and its result after;
3. its effective rights on both clusters, asked of the brokers as the principal
   (:mod:`console.kafka.rights`) and judged (:mod:`console.safe.policy`): any right that
   could touch production refuses the start, naming the right and where it comes from;
4. its process (:mod:`console.safe.process`), with an environment holding its own
   password and none of the console's.

The same check runs as a gate guard, so a principal that could touch production keeps
the gate shut before anything is created or started, and the gate lists each
principal's rights. The source is never changed here.
"""

from __future__ import annotations

import os
import threading
import time

from console import processes
from console.kafka.client import ClusterError
from console.kafka.rights import Login, Rights, effective_rights, probe_name
from console.plan import Plan, ShadowConsumerSpec, credentials
from console.plan.steps import StepDef, StepState
from console.runbook.outcome import StepContext, StepOutcome
from console.safe import PASSWORD_ENV, REGISTRY_PASSWORD_ENV, SAMPLER, STEP, process_name
from console.safe.command import PASSED_THROUGH
from console.safe.identity import IdentityError, TargetIdentity, generate_password, wanted_acls
from console.safe.policy import Judgement, judge
from console.store import Store

START_DEADLINE_S = 30.0
CHECK_TTL_S = 20.0
"""How long the gate's guard and its preview share one rights check (seconds). The step
itself always checks afresh, after creating identities and before starting anything."""
STOP_STEP = "safe-consumers-stop"
REMOVE_STEP = "safe-identities-remove"

_checks: dict[str, tuple[float, list[Judgement]]] = {}
_checks_lock = threading.Lock()


# -- the check ------------------------------------------------------------------------------


def check_consumer(
    plan: Plan,
    spec: ShadowConsumerSpec,
    admin_passwords: dict[str, str | None],
    password: str | None,
    *,
    timeout: float = 20.0,
) -> Judgement:
    """One shadow consumer's effective rights on both clusters, judged against the plan."""
    login = Login(spec.principal, password) if password else None
    prefix = plan.shadow.prefix
    sides: dict[str, Rights | None] = {}
    errors: list[str] = []
    for side in ("target", "source"):
        cluster = getattr(plan.clusters, side)
        side_login = login if cluster.security_protocol.startswith("SASL") else None
        try:
            sides[side] = effective_rights(
                side,
                cluster,
                admin_passwords[side],
                spec.kafka_principal,
                side_login,
                probe_topics=[probe_name(prefix, "topic")],
                probe_groups=[probe_name(prefix, "group")],
                timeout=timeout,
            )
        except ClusterError as exc:
            sides[side] = None
            errors.append(str(exc))
    verdict = judge(plan, spec, sides["target"], sides["source"])
    verdict.unknown.extend(errors)
    return verdict


def check_all(
    store: Store, passwords: dict[str, str] | None = None, *, cached: bool = False
) -> list[Judgement]:
    """Every shadow consumer's judgement. ``passwords`` are the principals' (by consumer
    name) where the caller has them; others come from the plan's references, and a
    consumer whose password resolves to nothing is checked from ACLs only."""
    key = str(store.path)
    if cached:
        with _checks_lock:
            hit = _checks.get(key)
            if hit is not None and time.monotonic() - hit[0] < CHECK_TTL_S:
                return hit[1]
    plan = store.plan
    admin = credentials.resolve_passwords(plan)
    out = []
    for spec in plan.shadow_consumers:
        password = (passwords or {}).get(spec.name)
        if password is None:
            password, _where = credentials.resolve_shadow_password(plan, spec.name)
        out.append(check_consumer(plan, spec, admin, password))
    with _checks_lock:
        _checks[key] = (time.monotonic(), out)
    return out


def forget_checks(store: Store) -> None:
    with _checks_lock:
        _checks.pop(str(store.path), None)


def refusal(judgements: list[Judgement]) -> str | None:
    """The first refusal, with how many more, or None when every principal is safe."""
    refusals = [r for j in judgements for r in j.refusals]
    if not refusals:
        return None
    more = f" (and {len(refusals) - 1} more; see the gate)" if len(refusals) > 1 else ""
    return f"unsafe shadow principal: {refusals[0]}{more}"


def guard(store: Store, step: StepDef, target: str) -> str | None:
    """Keeps the start gate shut while a shadow principal could touch production."""
    if step.id != STEP or store.readonly or not store.plan.shadow_consumers:
        return None
    try:
        return refusal(check_all(store, cached=True))
    except credentials.CredentialError:
        return None  # the preview says which password is missing; the step fails on it


# -- starting -------------------------------------------------------------------------------


def start(ctx: StepContext) -> StepOutcome:
    store, plan = ctx.store, ctx.store.plan
    if not plan.shadow_consumers:
        return StepOutcome(
            ctx.key, StepState.FAILED, "the plan names no [[shadow_consumers]]; add them", None
        )
    admin = credentials.resolve_passwords(plan)
    passwords: dict[str, str] = {}
    generated: list[str] = []
    for spec in plan.shadow_consumers:
        password, where = credentials.resolve_shadow_password(plan, spec.name)
        if password is None:
            if not spec.create_identity:
                return _failed(
                    ctx,
                    f"no password for shadow consumer {spec.name} ({where}) and the plan does "
                    "not let the console create its identity; export the variable or run "
                    f"'cutover credentials set shadow:{spec.name} --db RUN.db'",
                )
            if ctx.reveal is None:
                return _failed(
                    ctx,
                    f"shadow consumer {spec.name} needs a new password and nobody is here to "
                    f"be shown it; set one first ('cutover credentials set shadow:{spec.name}')",
                )
            password = generate_password()
            generated.append(spec.name)
            ctx.progress(f"{spec.name}: {where}; a new password was generated")
        passwords[spec.name] = password
    identities = {}
    for spec in plan.shadow_consumers:
        if spec.create_identity:
            try:
                identities[spec.name] = _ensure_identity(
                    ctx, plan, spec, admin["target"], passwords[spec.name], spec.name in generated
                )
            except IdentityError as exc:
                return _failed(ctx, str(exc))
            if ctx.cancel.is_set():
                return StepOutcome(ctx.key, StepState.CANCELLED, "cancelled", None)
    ctx.progress("Checking what each shadow principal can do on both clusters…")
    judgements = check_all(store, passwords)
    body = _evidence(plan, judgements, identities)
    unsafe = refusal(judgements)
    if unsafe:
        ctx.log("safe-consumers.refused", params={"refusals": body["refusals"]}, outcome=unsafe)
        evidence = store.add_evidence(STEP, "safe-consumers", body)
        return StepOutcome(ctx.key, StepState.FAILED, unsafe, evidence, body)
    started = []
    try:
        for spec in plan.shadow_consumers:
            info = _start_process(ctx, spec, passwords[spec.name])
            started.append(f"{spec.name} (pid {info.pid})")
        if any(spec.shadows for spec in plan.shadow_consumers):
            _start_sampler(ctx)
    except RuntimeError as exc:
        evidence = store.add_evidence(STEP, "safe-consumers", body)
        return StepOutcome(ctx.key, StepState.FAILED, str(exc), evidence, body)
    body["started"] = started
    evidence = store.add_evidence(STEP, "safe-consumers", body)
    return StepOutcome(ctx.key, StepState.PASSED, f"running: {', '.join(started)}", evidence, body)


def _failed(ctx: StepContext, reason: str) -> StepOutcome:
    return StepOutcome(ctx.key, StepState.FAILED, reason, None)


def _ensure_identity(
    ctx: StepContext,
    plan: Plan,
    spec: ShadowConsumerSpec,
    admin_password: str | None,
    password: str,
    generated: bool,
) -> dict:
    """Create what the principal needs on the target, each change audited around it."""
    target = TargetIdentity(plan, spec, admin_password)
    target.mechanism()  # fails early, before any change, on a target that is not SCRAM
    existed = target.user_exists()
    created: dict = {"user": None, "acls": [], "sink_topic": None}
    if not existed or generated or not target.can_log_in(password):
        action = "set its password" if existed else "create the user"
        intent = ctx.log(
            "identity.user",
            params={
                "cluster": "target",
                "principal": spec.kafka_principal,
                "mechanism": plan.clusters.target.sasl_mechanism,
                "change": action,
                "new_login_from": "generated, shown once" if generated else "the plan's reference",
            },
        )
        try:
            target.upsert_user(password)
        except IdentityError as exc:
            ctx.log("identity.user", ref=intent.seq, outcome=f"failed: {exc}")
            raise
        ctx.log("identity.user", ref=intent.seq, outcome="done")
        created["user"] = "created" if not existed else "password set"
        if generated and ctx.reveal is not None:
            ctx.reveal(
                f"password of {spec.kafka_principal} (shadow consumer {spec.name})", password
            )
    missing = target.missing_acls()
    if missing:
        intent = ctx.log(
            "identity.acls",
            params={"cluster": "target", "add": [a.text() for a in missing]},
        )
        try:
            target.add_acls(missing)
        except IdentityError as exc:
            ctx.log("identity.acls", ref=intent.seq, outcome=f"failed: {exc}")
            raise
        ctx.log("identity.acls", ref=intent.seq, outcome=f"added {len(missing)}")
        created["acls"] = [a.to_json() for a in missing]
    if target.sink_topic_missing():
        partitions = target.input_partitions()
        intent = ctx.log(
            "identity.sink-topic",
            params={"cluster": "target", "topic": spec.sink_topic, "partitions": partitions},
        )
        try:
            target.create_sink_topic(partitions)
        except IdentityError as exc:
            ctx.log("identity.sink-topic", ref=intent.seq, outcome=f"failed: {exc}")
            raise
        ctx.log("identity.sink-topic", ref=intent.seq, outcome="created")
        created["sink_topic"] = spec.sink_topic
    ctx.store.shadow.record_identity(
        spec.name,
        spec.kafka_principal,
        user_created=not existed and created["user"] == "created",
        acls=created["acls"],
        sink_topic_created=created["sink_topic"],
    )
    if not target.wait_until_login(password):
        raise IdentityError(
            f"{spec.kafka_principal} still cannot log in to the target 20 s after its "
            "credential was set",
            "check the target's sasl.enabled.mechanisms and try again",
        )
    return created


def _child_environment(plan: Plan, spec: ShadowConsumerSpec, password: str) -> dict[str, str]:
    """A shadow consumer process's whole environment: what Python needs to start, and its
    own password; none of the console's cluster passwords. A built-in consumer also gets
    the target registry's password when the plan names one (a team's command never)."""
    keep = (*PASSED_THROUGH, "VIRTUAL_ENV", "PYTHONPATH", "CUTOVER_CACHE_DIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env[PASSWORD_ENV] = password
    if spec.run == "builtin" and plan.clusters.target.schema_registry_url:
        registry = credentials.resolve_registry_password(plan, "target")
        if registry:
            env[REGISTRY_PASSWORD_ENV] = registry
    return env


def _start_process(
    ctx: StepContext, spec: ShadowConsumerSpec, password: str
) -> processes.ProcessInfo:
    store = ctx.store
    name = process_name(spec.name)
    current = processes.get(store, name)
    if current is not None and current.alive:
        ctx.progress(f"{name} already running (pid {current.pid}); re-attached")
        return current
    intent = ctx.log(
        "process.start",
        params={"process": name, "principal": spec.kafka_principal, "group": spec.group_id},
    )
    info = processes.spawn(
        store,
        name,
        ["safe-consumer", str(store.path), spec.name],
        env=_child_environment(store.plan, spec, password),
    )
    return _wait_running(ctx, name, info, intent.seq)


def _start_sampler(ctx: StepContext) -> processes.ProcessInfo:
    store = ctx.store
    current = processes.get(store, SAMPLER)
    if current is not None and current.alive:
        return current
    intent = ctx.log("process.start", params={"process": SAMPLER})
    info = processes.spawn(store, SAMPLER, ["safe-sampler", str(store.path)])
    return _wait_running(ctx, SAMPLER, info, intent.seq)


def _wait_running(
    ctx: StepContext, name: str, info: processes.ProcessInfo, intent: int
) -> processes.ProcessInfo:
    ctx.progress(f"{name}: started pid {info.pid}, waiting for it to report")
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline and not ctx.cancel.is_set():
        now = processes.get(ctx.store, name)
        if now is None or not now.alive:
            detail = now.detail if now else ""
            ctx.log("process.start", ref=intent, outcome=f"failed: {detail}")
            raise RuntimeError(
                f"{name} exited during start-up: {detail}"
                + (f" (log: {now.log_path})" if now and now.log_path else "")
            )
        if now.state == "running" and now.heartbeat_at:
            ctx.log("process.start", ref=intent, params={"pid": now.pid}, outcome="running")
            return now
        time.sleep(0.2)  # poll interval while the process starts
    processes.stop(ctx.store, name, timeout=10)
    ctx.log("process.start", ref=intent, outcome="no report; stopped")
    raise RuntimeError(f"{name} did not report within {START_DEADLINE_S:g} s; see its log")


def _evidence(plan: Plan, judgements: list[Judgement], identities: dict) -> dict:
    """What the scorecard's consumer-safety area reads: every consumer, its sink and why
    that sink is safe, and the verdict on its principal."""
    by_name = {j.consumer: j for j in judgements}
    rows = []
    for spec in plan.shadow_consumers:
        verdict = by_name[spec.name]
        rows.append(
            {
                "name": spec.name,
                "principal": spec.kafka_principal,
                "group_id": spec.group_id,
                "topics": spec.topics,
                "shadows": spec.shadows,
                "run": spec.run,
                "sink": _sink(plan, spec, verdict),
                "identity": identities.get(spec.name),
                "judgement": verdict.to_json(),
            }
        )
    refusals = [r for j in judgements for r in j.refusals]
    return {
        "target": "",
        "prefix": plan.shadow.prefix,
        "consumers": rows,
        "refusals": refusals,
        "all_sinks_safe": all(r["sink"]["safe"] for r in rows),
        "all_principals_safe": not refusals,
    }


def _sink(plan: Plan, spec: ShadowConsumerSpec, verdict: Judgement) -> dict:
    if spec.sink == "null":
        return {"kind": "null", "name": None, "safe": True, "why": "writes nowhere"}
    if spec.sink == "file":
        return {
            "kind": "file",
            "name": spec.sink_path,
            "safe": True,
            "why": "a local file, never a cluster",
        }
    prefixed = bool(spec.sink_topic and spec.sink_topic.startswith(plan.shadow.prefix))
    safe = prefixed and verdict.safe
    why = (
        f"a shadow topic; the principal may write nothing outside '{plan.shadow.prefix}'"
        if safe
        else "the principal may write outside the shadow prefix"
    )
    return {"kind": "topic", "name": spec.sink_topic, "safe": safe, "why": why}


# -- stopping and removing ------------------------------------------------------------------


def stop(ctx: StepContext) -> StepOutcome:
    """Stop every shadow consumer and the sampler; what they recorded stays."""
    results = []
    names = [process_name(s.name) for s in ctx.store.plan.shadow_consumers] + [SAMPLER]
    for name in names:
        info = processes.get(ctx.store, name)
        if info is None:
            continue
        intent = ctx.log("process.stop", params={"process": name})
        result = processes.stop(ctx.store, name, timeout=20)
        ctx.log("process.stop", ref=intent.seq, outcome=result)
        results.append(f"{name} {result}")
    reason = "; ".join(results) or "nothing was running"
    return StepOutcome(ctx.key, StepState.PASSED, reason, None)


def remove_identities(ctx: StepContext) -> StepOutcome:
    """Delete exactly what the console created on the target, audited around each change."""
    store, plan = ctx.store, ctx.store.plan
    running = [
        s.name
        for s in plan.shadow_consumers
        if (info := processes.get(store, process_name(s.name))) is not None and info.alive
    ]
    if running:
        return _failed(ctx, f"still running: {', '.join(running)}; run Stop safe consumers first")
    admin = credentials.resolve_passwords(plan)
    done = []
    for spec in plan.shadow_consumers:
        recorded = store.shadow.identity(spec.name)
        if recorded is None:
            continue
        target = TargetIdentity(plan, spec, admin["target"])
        acls = [a for a in wanted_acls(spec) if a.to_json() in recorded.acls]
        try:
            if acls:
                intent = ctx.log(
                    "identity.acls.delete",
                    params={"cluster": "target", "delete": [a.text() for a in acls]},
                )
                target.delete_acls(acls)
                ctx.log("identity.acls.delete", ref=intent.seq, outcome=f"deleted {len(acls)}")
            if recorded.user_created:
                intent = ctx.log(
                    "identity.user.delete",
                    params={"cluster": "target", "principal": spec.kafka_principal},
                )
                target.delete_user()
                ctx.log("identity.user.delete", ref=intent.seq, outcome="deleted")
        except IdentityError as exc:
            ctx.log("identity.remove", params={"consumer": spec.name}, outcome=f"failed: {exc}")
            return _failed(ctx, str(exc))
        store.shadow.forget_identity(spec.name)
        what = f"{len(acls)} ACL(s)" + (" and the user" if recorded.user_created else "")
        keep = (
            f"; sink topic {recorded.sink_topic_created} kept"
            if recorded.sink_topic_created
            else ""
        )
        done.append(f"{spec.name}: {what}{keep}")
    forget_checks(store)
    reason = "; ".join(done) or "the console created nothing to remove"
    return StepOutcome(ctx.key, StepState.PASSED, reason, None)


# -- gate previews --------------------------------------------------------------------------


def preview_start(ctx: StepContext) -> list[str]:
    store, plan = ctx.store, ctx.store.plan
    if not plan.shadow_consumers:
        return ["The plan names no [[shadow_consumers]]: nothing to start."]
    lines = [
        f"On the target {plan.clusters.target.bootstrap_servers}, shadow prefix "
        f"'{plan.shadow.prefix}'; the source is never changed.",
    ]
    for spec in plan.shadow_consumers:
        sink = {"null": "nowhere", "file": f"file {spec.sink_path}", "topic": spec.sink_topic}[
            spec.sink
        ]
        what = "built-in validation consumer" if spec.run == "builtin" else "team command"
        lines.append(
            f"{spec.name}: {what} as {spec.kafka_principal}, group {spec.group_id}, "
            f"reads {', '.join(spec.topics)}, writes to {sink}"
        )
        _password, where = credentials.resolve_shadow_password(plan, spec.name)
        if spec.create_identity:
            acls = "; ".join(a.text() for a in wanted_acls(spec))
            new = " (password generated, shown once)" if _password is None else ""
            lines.append(f"  creates on the target if missing: the user{new}; {acls}")
        elif _password is None:
            lines.append(f"  no password: {where}; the step will fail")
    try:
        judgements = check_all(store, cached=True)
    except credentials.CredentialError as exc:
        return [*lines, f"Rights not checked: {exc}"]
    lines.append("Effective rights, asked of the brokers as each principal:")
    for verdict in judgements:
        lines += verdict.lines()
    return lines


def preview_stop(ctx: StepContext) -> list[str]:
    lines = []
    for spec in ctx.store.plan.shadow_consumers:
        info = processes.get(ctx.store, process_name(spec.name))
        state = f"{info.status} (pid {info.pid})" if info else "not started"
        lines.append(f"Stops {spec.name}: now {state}")
    info = processes.get(ctx.store, SAMPLER)
    lines.append(f"Stops the source-group sampler: now {info.status if info else 'not started'}")
    lines.append(
        "Their progress and errors stay in the run database; nothing on a cluster changes."
    )
    return lines


def preview_remove(ctx: StepContext) -> list[str]:
    lines = []
    for spec in ctx.store.plan.shadow_consumers:
        recorded = ctx.store.shadow.identity(spec.name)
        if recorded is None:
            lines.append(f"{spec.name}: the console created nothing for it; nothing to remove")
            continue
        what = [f"ACL {a['operation']} on {a['resource']} '{a['name']}'" for a in recorded.acls]
        if recorded.user_created:
            what.append(f"the SCRAM user {spec.principal}")
        lines.append(f"{spec.name}: deletes from the target {'; '.join(what) or 'nothing'}")
        if recorded.sink_topic_created:
            lines.append(f"  keeps the sink topic {recorded.sink_topic_created} (its data)")
    lines.append("Refused while a shadow consumer still runs. The source is not touched.")
    return lines


__all__ = [
    "check_all",
    "guard",
    "preview_remove",
    "preview_start",
    "preview_stop",
    "remove_identities",
    "start",
    "stop",
]
