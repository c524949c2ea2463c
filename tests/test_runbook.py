"""The runbook without Kafka: how a gate and a step end, as the operator is told.

A step the operator cancels while it runs ends CANCELLED (not FAILED), with the audit
entry saying so; a gate that stays shut says why, as an outcome rather than a blank
state; every runner belongs to a step the runbook defines.
"""

from __future__ import annotations

import threading

from console import runbook
from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import STEPS, StepState
from console.runbook import Outcome
from console.runbook.registry import RUNNERS
from console.store import Store
from tests.helpers import demo_plan_text, fixed_clock


def make_store(tmp_path) -> Store:
    # Nobody listens on these ports; a cancelled step must not even try.
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    return Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())


def test_a_step_cancelled_while_it_runs_ends_cancelled_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "unused-password")
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", "unused-password")
    store = make_store(tmp_path)
    opened, _ = runbook.decide(store, "inventory", "inventory", via="test")
    assert opened
    cancel = threading.Event()
    cancel.set()  # the operator pressed x before the first request went out
    outcome = runbook.run(store, "inventory", cancel=cancel)
    assert outcome.state is StepState.CANCELLED and outcome.outcome is Outcome.CANCELLED
    assert "cancelled" in outcome.reason and "nothing was recorded" in outcome.reason
    assert store.step("inventory").state is StepState.CANCELLED
    finished = store.audit_latest(1)[0]
    assert finished.action == "step.finished" and finished.outcome.startswith("cancelled: ")
    assert store.audit_verify().ok
    store.close()
    assert main(["status", str(tmp_path / "run.db")]) == 0
    assert "CANCELLED" in capsys.readouterr().out


def test_a_gate_that_stays_shut_says_how(tmp_path):
    store = make_store(tmp_path)
    refused = runbook.decide(store, "inventory", "inventroy", via="test")
    assert refused == (False, refused.message) and refused.outcome is Outcome.REFUSED
    cancelled = runbook.decide(store, "inventory", None, via="test")
    assert not cancelled.opened and cancelled.outcome is Outcome.CANCELLED
    blocked = runbook.decide(store, "cutover-consumers", "<group id>", via="test")
    assert not blocked.opened and blocked.outcome is Outcome.BLOCKED
    assert "cannot run in this version" in blocked.message
    actions = [e.action for e in store.audit_latest(10)]
    assert actions[-3:] == ["gate.refused", "gate.cancelled", "gate.blocked"]


def test_every_runner_belongs_to_a_step_and_the_rest_stay_shut(tmp_path):
    ids = {step.id for step in STEPS}
    assert set(RUNNERS) <= ids
    store = make_store(tmp_path)
    for step in STEPS:
        gate = runbook.preview(store, step.id)
        assert (gate.blocked is None) == runbook.available(step.id), step.id
        assert gate.lines, step.id
