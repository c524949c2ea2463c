"""The plan's producer classes: the demo's validates and lists its class as a target of the
producer steps; each mistake that would make a move unsafe is named with file, line and
field."""

from __future__ import annotations

import pytest

from console import runbook
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
