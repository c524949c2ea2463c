"""Who is at the keyboard, and what approvers have approved.

A typed name proves nothing. The plan maps each approver to the OS login(s) they use
(``[people] logins``); the console knows its own login (the real uid, not ``$USER``),
so an approval counts only when the console or the command runs as one of them. Where
the plan asks for two people (``two_person``), the second approver confirms from their
own session: ``cutover approve RUN.db SUBJECT --confirm SUBJECT`` records an approval in
the run database (with their login and SSH client, in the audit entry too), and the
gate opens once two different approvers stand behind it.

Subjects are what can be approved: a cutover step instance (``move-group:billing``) and
a scorecard waiver (``waiver:7``). An approval of a step is good for
``approval_valid_minutes`` and for one run of it: a step that started again needs
fresh approvals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from console.plan import Plan
from console.plan.steps import StepKind, split_key
from console.scorecard.model import iso, parse_time
from console.store import Store, audit
from console.store.scorecard import Approval, Mark
from console.views.gate import GateView

WAIVER = "waiver"


@dataclass(frozen=True)
class Identity:
    """The login the console runs as, and the approver it maps to (if any)."""

    os_user: str
    ssh_client: str | None
    approver: str | None

    def describe(self) -> str:
        ssh = f", SSH from {self.ssh_client}" if self.ssh_client else ""
        who = f"{self.approver} (OS user {self.os_user}{ssh})"
        return who if self.approver else f"OS user {self.os_user}{ssh}, not an approver"


def identity(plan: Plan) -> Identity:
    """Who runs this process, as the plan knows them."""
    user, ssh = audit.current_actor()
    approver = next((a for a, users in plan.people.logins.items() if user in users), None)
    return Identity(user, ssh, approver)


def not_an_approver(plan: Plan, ident: Identity) -> str:
    """Why this login cannot approve, and who can."""
    can = [a for a in plan.people.approvers if plan.people.logins.get(a)]
    who = ", ".join(can) if can else "nobody: [people.logins] maps no approver to a login"
    return (
        f"OS user '{ident.os_user}' is not the login of any approver in the plan "
        f"([people] logins); an approver must do this from their own login ({who})"
    )


def now_of(store: Store) -> datetime:
    return parse_time(store.clock())


# -- cutover steps -------------------------------------------------------------------------


def valid_step_approvals(store: Store, key: str, now: datetime) -> list[Approval]:
    """Approvals of a step instance that still count: recorded since it last started, not
    expired."""
    since = store.history.last_start(key) or 0
    return [
        a
        for a in store.scorecard.approvals(key)
        if a.seq > since and parse_time(a.expires_at) > now
    ]


def cutover_blocked(store: Store, key: str) -> str | None:
    """Why the approvals do not let a cutover step's gate open here, or None.

    One approver: the console must run as an approver's login. Two people (the plan's
    ``two_person`` has ``cutover``): an approval by a different approver must be recorded
    too, from their own session.
    """
    plan = store.plan
    ident = identity(plan)
    if ident.approver is None:
        return f"needs an approver: {not_an_approver(plan, ident)}"
    if "cutover" not in plan.people.two_person:
        return None
    others = {
        a.approver
        for a in valid_step_approvals(store, key, now_of(store))
        if a.approver != ident.approver
    }
    if others:
        return None
    rest = [a for a in plan.people.approvers if a != ident.approver and plan.people.logins.get(a)]
    return (
        f"needs a second approver: {ident.approver} is one; another approver "
        f"({', '.join(rest)}) runs 'cutover approve {store.path.name} {key} --confirm {key}' "
        "from their own login"
    )


def gate_lines(store: Store, key: str) -> list[str]:
    """What a cutover or undo gate says about who is confirming it."""
    step, _target = split_key(key)
    plan = store.plan
    ident = identity(plan)
    lines = [f"Confirming as: {ident.describe()}"]
    if step.kind is StepKind.UNDO and ident.approver is None:
        lines.append(
            "Not an approver: an undo stays open to anyone (a migration is never locked "
            "half-way); it is recorded under your login."
        )
    if step.kind is StepKind.CUTOVER and "cutover" in plan.people.two_person:
        names = sorted({a.approver for a in valid_step_approvals(store, key, now_of(store))})
        lines.append(f"Two approvers needed; approved so far by: {', '.join(names) or 'nobody'}")
    return lines


def gate_params(store: Store, key: str) -> dict:
    """What the gate decision entry records about the people behind it."""
    step, _target = split_key(key)
    if step.kind not in (StepKind.CUTOVER, StepKind.UNDO):
        return {}
    ident = identity(store.plan)
    params: dict = {"approver": ident.approver}
    if step.kind is StepKind.CUTOVER and "cutover" in store.plan.people.two_person:
        params["approvals"] = [
            {"approver": a.approver, "os_user": a.os_user, "seq": a.seq}
            for a in valid_step_approvals(store, key, now_of(store))
        ]
    return params


# -- waivers -------------------------------------------------------------------------------


def waiver_subject(mark_id: int) -> str:
    return f"{WAIVER}:{mark_id}"


def waiver_mark(store: Store, mark_id: int, upto: int | None = None) -> Mark | None:
    return next(
        (m for m in store.scorecard.marks(upto) if m.id == mark_id and m.action == "waive"),
        None,
    )


# -- approving a subject -------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Something an approver can approve, resolved."""

    name: str
    what: str
    """In words, for the gate."""
    expires: datetime
    """How long the approval stays good."""
    excluded: str | None = None
    """An approver who may not approve it (the waiver's own author)."""


def resolve(store: Store, name: str) -> Subject:
    """A subject by name; ValueError saying what can be approved otherwise."""
    plan = store.plan
    now = now_of(store)
    kind, _, rest = name.partition(":")
    if kind == WAIVER:
        mark = waiver_mark(store, int(rest)) if rest.isdigit() else None
        if mark is None:
            raise ValueError(f"there is no waiver '{name}'; 'cutover scorecard' lists them")
        withdrawn = any(
            m.action == "withdraw" and m.body.get("waiver") == mark.id
            for m in store.scorecard.marks()
        )
        expires = parse_time(mark.body["expires"])
        if withdrawn or expires <= now:
            raise ValueError(f"{name} is {'withdrawn' if withdrawn else 'expired'}")
        return Subject(
            name,
            f"the waiver of {mark.area} by {mark.approver}: {mark.body.get('reason', '')} "
            f"(until {mark.body['expires']})",
            expires,
            excluded=mark.approver,
        )
    try:
        step, target = split_key(name)
        store.step(name)
    except (KeyError, ValueError):
        step = None
    if step is None or step.kind is not StepKind.CUTOVER:
        cutover = [r.key for r in store.steps() if split_key(r.key)[0].kind is StepKind.CUTOVER]
        raise ValueError(
            f"'{name}' cannot be approved; approve a cutover step ({', '.join(cutover)}) or a "
            "waiver (waiver:N)"
        )
    minutes = plan.people.approval_valid_minutes
    return Subject(
        name,
        f"running '{step.title}' on {target}, once, within {minutes} minutes",
        now + timedelta(minutes=minutes),
    )


def approve_blocked(store: Store, subject: Subject) -> str | None:
    """Why this login cannot approve the subject, or None."""
    plan = store.plan
    ident = identity(plan)
    if store.readonly:
        return "this run database is open read-only"
    if ident.approver is None:
        return not_an_approver(plan, ident)
    if subject.excluded == ident.approver:
        return (
            f"{ident.approver} recorded this waiver; the second approval must come from "
            "another approver"
        )
    return None


def approval_gate(store: Store, name: str) -> GateView:
    """The gate of an approval: what is approved, by whom; the subject is typed."""
    try:
        subject = resolve(store, name)
    except ValueError as exc:
        return GateView(name, f"Approve {name}", [str(exc)], name, False, str(exc), "local")
    ident = identity(store.plan)
    lines = [
        f"Approves {subject.what}.",
        f"Approving as: {ident.describe()}",
        f"Good until {iso(subject.expires)}.",
        "Changes only the run database; the audit entry records your login.",
    ]
    blocked = approve_blocked(store, subject)
    return GateView(name, f"Approve {name}", lines, name, False, blocked, "local")


@dataclass(frozen=True)
class ApprovalResult:
    granted: bool
    message: str
    approval: Approval | None = None


def approve(store: Store, name: str, typed: str | None, *, via: str) -> ApprovalResult:
    """Record an approval, after the same checks and with the same discipline as a gate:
    the decision is audited whichever way it goes, and what was typed is stored only if
    it is the subject's name."""
    gate = approval_gate(store, name)
    params = {"via": via, "expected": name}
    if store.readonly:
        return ApprovalResult(False, "this run database is open read-only")
    if gate.blocked:
        store.log("approval.refused", step=name, params=params, outcome=gate.blocked)
        return ApprovalResult(False, gate.blocked)
    if typed is None:
        store.log("approval.cancelled", step=name, params=params, outcome="cancelled")
        return ApprovalResult(False, "cancelled; nothing was approved")
    if typed.strip() != name:
        store.log(
            "approval.refused",
            step=name,
            params={**params, "matched": False, "typed_length": len(typed.strip())},
            outcome="confirmation did not match",
        )
        return ApprovalResult(False, f"the confirmation did not match; type '{name}' exactly")
    subject = resolve(store, name)
    ident = identity(store.plan)
    approval = store.scorecard.add_approval(
        name,
        ident.approver or "",
        iso(subject.expires),
        params=params,
        outcome=f"approved by {ident.approver}",
    )
    return ApprovalResult(True, f"{name} approved by {ident.approver}", approval)
