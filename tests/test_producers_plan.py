"""The plan's producer classes: the demo's validates and lists its class as a target of the
producer steps; each mistake that would make a move unsafe is named with file, line and
field."""

from __future__ import annotations

import pytest

from console import runbook
from console.cutover.producers.drill import rehearsal_base
from console.plan import PlanError, parse_plan
from console.plan.steps import StepState, step_def, targets
from console.store import Store
from tests.helpers import demo_plan_text

BAD_TOPICS = 'topics = ["ordrs"]'
BAD_SWITCH = 'switch = "carrier-pigeon"'


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.toml")
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_demo_class_is_a_target_of_move_and_rollback():
    plan = parse_plan(demo_plan_text(), "plan.toml")
    [cls] = plan.producers
    assert (cls.name, cls.principals, cls.topics) == ("checkout", ["User:checkout"], ["orders"])
    assert plan.producer_setting(cls, "target_only") == "copy-back"
    assert plan.producer_setting(cls, "quiet_seconds") == 1.0
    for step in ("move-producers", "rollback"):
        assert targets(plan, step_def(step)) == ["checkout"]


def test_unknown_topic_is_named_at_its_line():
    text = demo_plan_text().replace(
        'topics = ["orders"]\nidempotence', 'topics = ["ordrs"]\nidempotence'
    )
    [message] = problems(text)
    assert message.startswith(f"plan.toml:{line_of(text, BAD_TOPICS)}: producers[0].topics")
    assert "ordrs not in the plan's topics" in message


def test_the_consoles_own_user_cannot_be_a_class_principal():
    text = demo_plan_text().replace('principals = ["User:checkout"]', 'principals = ["User:admin"]')
    found = problems(text)
    assert any("producers[0].principals" in p and "lock the console out" in p for p in found)


def test_a_transactional_topic_needs_the_class_prefix():
    text = demo_plan_text().replace(
        'topics = ["orders"]\nidempotence', 'topics = ["payments"]\nidempotence'
    )
    found = problems(text)
    assert any("producers[0].transactional_id_prefix" in p for p in found), found


def test_a_bad_switch_method_is_named():
    text = demo_plan_text().replace('switch = "demo-workload"', 'switch = "carrier-pigeon"')
    [message] = problems(text)
    assert message.startswith(f"plan.toml:{line_of(text, BAD_SWITCH)}: producers[0].switch")


def test_target_only_is_copy_back_or_list():
    text = demo_plan_text().replace('target_only = "copy-back"', 'target_only = "drop"')
    [message] = problems(text)
    assert "producer_defaults.target_only" in message


def test_the_close_gate_lets_a_killed_close_finish_and_never_closes_twice(tmp_path):
    """Found by the kill drill: ``rollback-window-close`` killed after the window was
    closed and before the step finished stayed INTERRUPTED for ever, its gate saying the
    window was closed. It opens for that step to finish; once the close has passed it
    stays shut."""
    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    run = store.producers.start_run("checkout", "move")
    store.producers.open_window("2026-12-01T10:00:00Z", "2026-12-01T12:00:00Z", run)
    store.producers.close_window("closed by a run that was then killed")
    store.set_step("rollback-window-close", StepState.FAILED, "interrupted: the process ended")
    assert runbook.preview(store, "rollback-window-close").blocked is None
    store.set_step("rollback-window-close", StepState.PASSED, "closed")
    blocked = runbook.preview(store, "rollback-window-close").blocked
    assert blocked and "the rollback window was closed at" in blocked
    assert store.audit_verify().ok
    store.close()


class _Target:
    """Stands in for the target cluster: the bindings it lists."""

    name = "target"

    def __init__(self) -> None:
        self.listed: list[dict] = []

    def acl_present(self, data, deadline) -> bool:
        return data in self.listed

    def create_acl(self, data, deadline) -> None:
        self.listed.append(data)


def test_a_move_after_a_rollback_keeps_the_first_moves_allow_as_the_consoles(tmp_path):
    """Found by the cyclic kill drill: a class moved again after a rollback found the
    target ALLOW its first move had added and recorded it as 'there before the console:
    never removed', an ACL the console made, read by an auditor as someone else's. It is
    kept as the first move's, and nothing is recorded as pre-existing."""
    from console.cutover.producers import acls

    text = demo_plan_text()
    store = Store.create(tmp_path / "run.db", text, parse_plan(text))
    target = _Target()
    allow = acls.binding("TOPIC", "orders", "User:checkout", "WRITE", "ALLOW")
    said: list[str] = []

    def log(action, **kwargs):
        said.append(kwargs.get("outcome") or "")
        return store.log(action, **kwargs)

    first = store.producers.start_run("checkout", "move")
    assert acls.ensure(store, first, "checkout", target, "open", allow, log=log, deadline=0) == (
        "added"
    )
    again = store.producers.start_run("checkout", "move")
    done = acls.ensure(store, again, "checkout", target, "open", allow, log=log, deadline=0)
    assert done == f"in place (added by run #{first})"
    assert said[-1] == f"in place: added by run #{first}, kept"
    rows = store.producers.acls(cls="checkout")
    assert [(r.run_id, r.preexisting) for r in rows] == [(first, False)]
    assert target.listed == [allow]
    # Someone else's binding is still told apart: there before, never removed.
    theirs = acls.binding("TOPIC", "orders", "User:other", "WRITE", "ALLOW")
    target.listed.append(theirs)
    done = acls.ensure(store, again, "checkout", target, "open", theirs, log=log, deadline=0)
    assert done == "there before the console"
    assert store.audit_verify().ok
    store.close()


def test_rehearsal_names_differ_between_run_databases_on_the_same_clusters(tmp_path):
    """Drill numbers start at 1 in every run database: the rehearsal's topic, user and
    group carry the database's own tag too, or a drill would take another database's
    leftovers on the same clusters for its own."""
    text = demo_plan_text("127.0.0.1:9092", "127.0.0.1:9093")
    names = []
    for name in ("a.db", "b.db"):
        store = Store.create(tmp_path / name, text, parse_plan(text))
        try:
            names.append(rehearsal_base(store, 1))
            assert rehearsal_base(store, 1) == names[-1]  # stable for one database
            assert rehearsal_base(store, 2) != names[-1]
        finally:
            store.close()
    assert names[0] != names[1]
    assert all(n.startswith("cutover-rehearsal-") and n.endswith("-1") for n in names)
