"""The runbook without Kafka: how a gate and a step end, as the operator is told.

A step the operator cancels while it runs ends CANCELLED (not FAILED), with the audit
entry saying so; a gate that stays shut says why, as an outcome rather than a blank
state; every runner belongs to a step the runbook defines.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading

import pytest

from console import runbook
from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import STEPS, StepState, step_def
from console.runbook import Outcome, gate
from console.runbook.registry import RUNNERS
from console.store import Store
from console.store.db import StepBusy
from tests.helpers import demo_plan_text, fixed_clock


def make_store(tmp_path) -> Store:
    # Nobody listens on these ports; a cancelled step must not even try.
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    return Store.create(tmp_path / "run.db", text, parse_plan(text), clock=fixed_clock())


def test_a_step_cancelled_while_it_runs_ends_cancelled_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "unused-password")
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", "unused-password")
    store = make_store(tmp_path)
    opened = runbook.decide(store, "inventory", "inventory", via="test").opened
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
    assert not refused.opened and refused.outcome is Outcome.REFUSED
    cancelled = runbook.decide(store, "inventory", None, via="test")
    assert not cancelled.opened and cancelled.outcome is Outcome.CANCELLED
    blocked = runbook.decide(store, "rollback-window", "rollback-window", via="test")
    assert not blocked.opened and blocked.outcome is Outcome.BLOCKED
    assert "no class has moved yet" in blocked.message
    actions = [e.action for e in store.audit_latest(10)]
    assert actions[-3:] == ["gate.refused", "gate.cancelled", "gate.blocked"]


def test_every_runner_belongs_to_a_step_and_the_rest_stay_shut(tmp_path):
    ids = {step.id for step in STEPS}
    assert set(RUNNERS) <= ids
    store = make_store(tmp_path)
    # Shut in a fresh run until a producer class has moved: their guard says so.
    after_a_move = {"rollback", "rollback-window", "rollback-window-close"}
    for row in store.steps():
        gate = runbook.preview(store, row.key)
        if row.id in after_a_move:
            assert gate.blocked and "moved" in gate.blocked, row.key
            continue
        if row.id == "witness":  # the demo plan names no witness topic: nothing to create
            assert gate.blocked and "names no witness" in gate.blocked
            continue
        # In a fresh run, a runnable step's gate opens unless it waits for another step
        # (or, a scorecard decision, for what the operator has yet to enter).
        waits = bool(step_def(row.id).requires) or row.id == "scorecard"
        assert (gate.blocked is None) == (runbook.available(row.id) and not waits), row.key
        if step_def(row.id).requires and runbook.available(row.id):
            assert gate.blocked.startswith("blocked by: "), row.key
        built = runbook.available(row.id)
        assert ("cannot run in this version" in (gate.blocked or "")) == (not built), row.key
        assert gate.lines, row.key
    # On a fresh run only the first step's gate opens; the others wait for what they need.
    assert runbook.preview(store, "inventory").blocked is None
    assert runbook.preview(store, "compare").blocked == (
        "blocked by: inventory, shadow-start (must pass first)"
    )


# -- steps run per group or class ------------------------------------------------------------


def test_a_step_run_per_group_has_one_instance_per_plan_group(tmp_path, capsys):
    store = make_store(tmp_path)
    keys = [row.key for row in store.steps() if row.id == "move-group"]
    assert keys == ["move-group:billing", "move-group:crm-sync"]
    gate = runbook.preview(store, "move-group:billing")
    assert gate.confirm == "billing" and gate.title.endswith(": billing")
    store.close()
    assert main(["status", str(tmp_path / "run.db")]) == 0
    out = capsys.readouterr().out
    assert "move-group:billing" in out and "move-group:crm-sync" in out


def test_the_headless_step_names_its_group_or_says_which_exist(tmp_path, capsys):
    make_store(tmp_path).close()
    db = str(tmp_path / "run.db")
    assert main(["step", db, "move-group", "--confirm", "billing"]) == 2
    err = capsys.readouterr().err
    assert "--group NAME" in err and "billing, crm-sync" in err
    assert main(["step", db, "move-group", "--group", "nosuch", "--confirm", "nosuch"]) == 2
    assert "no group 'nosuch'" in capsys.readouterr().err
    assert main(["step", db, "inventory", "--group", "billing", "--confirm", "inventory"]) == 2
    assert "runs once" in capsys.readouterr().err


# -- what is typed at a gate ------------------------------------------------------------------


def test_a_wrong_word_is_audited_as_not_matching_and_never_stored(tmp_path, capsys):
    make_store(tmp_path).close()
    db = str(tmp_path / "run.db")
    secret = "Hunter2-Correct-Horse"  # a password typed into --confirm by mistake
    assert main(["step", db, "inventory", "--confirm", secret]) == 2
    store = Store.open(db, readonly=True)
    refused = [e for e in store.audit_latest(10) if e.action == "gate.refused"]
    exported = "\n".join(store.audit_export())
    store.close()
    assert len(refused) == 1
    assert refused[0].params["matched"] is False
    assert refused[0].params["typed_length"] == len(secret)
    assert secret not in exported and "Hunter2" not in exported


# -- claiming a step --------------------------------------------------------------------------


def test_a_step_claimed_by_a_live_process_cannot_be_claimed_again(tmp_path):
    store = make_store(tmp_path)
    started = store.claim_step("inventory", os.getpid(), {"pid": os.getpid()})
    row = store.step("inventory")
    assert row.state is StepState.RUNNING and row.runner_pid == os.getpid()
    assert store.audit_latest(1)[0].seq == started.seq  # state and entry landed together
    with pytest.raises(StepBusy, match="already running"):
        store.claim_step("inventory", os.getpid(), {})
    # The gate says so too, before anyone types anything.
    assert "already running" in (runbook.preview(store, "inventory").blocked or "")


def test_a_step_whose_runner_died_can_be_claimed_and_is_recovered_as_interrupted(tmp_path):
    store = make_store(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.claim_step("inventory", dead.pid, {"pid": dead.pid})
    messages = runbook.recover(store)
    assert messages and "interrupted" in messages[0]
    assert store.step("inventory").state is StepState.FAILED
    last = store.audit_latest(1)[0]
    assert last.action == "step.interrupted" and last.params["pid"] == dead.pid
    store.claim_step("inventory", os.getpid(), {})  # free again


def test_two_processes_racing_for_one_step_cannot_both_start_it(tmp_path):
    make_store(tmp_path).close()
    db = tmp_path / "run.db"
    script = (
        "import os, sys\n"
        "from console.store import Store\n"
        "from console.store.db import StepBusy\n"
        "s = Store.open(sys.argv[1])\n"
        "try:\n"
        # Claimed for the test process, which stays alive throughout: a winner that
        # exits early must not let a slow starter take the step over.
        "    s.claim_step('inventory', os.getppid(), {})\n"
        "    print('won', flush=True)\n"
        "except StepBusy:\n"
        "    print('lost', flush=True)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert results == ["lost", "lost", "lost", "won"]
    store = Store.open(db, readonly=True)
    assert [e.action for e in store.audit_latest(10)].count("step.started") == 1


# -- prerequisites ----------------------------------------------------------------------------


def test_a_step_whose_prerequisite_has_not_passed_is_blocked_by_it(tmp_path):
    store = make_store(tmp_path)
    needs_inventory = dataclasses.replace(step_def("compare"), requires=("inventory",))
    assert gate._prerequisites(store, needs_inventory, "") == (
        "blocked by: inventory (must pass first)"
    )
    store.set_step("inventory", StepState.PASSED)
    assert gate._prerequisites(store, needs_inventory, "") is None
