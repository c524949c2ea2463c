"""Inventory against the real sandbox clusters (Kafka 3.9 source, 4.1 target), through the
same gate the console uses, headless (``cutover step``) and in the console (Pilot)."""

from __future__ import annotations

import json
import socket

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import StepState
from console.sandbox import demo
from console.store import Store
from console.tui.app import CutoverApp
from console.tui.screens.gate import GateDialog
from tests.helpers import demo_plan_text, fixed_clock

PASSWORD = "admin-sandbox-pw"


@pytest.fixture(scope="module")
def seeded(source):
    """The demo's topics and consumer groups on the source (once per session)."""
    demo.seed_source(source.plaintext_bootstrap)
    return source


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    return monkeypatch


def run_db(tmp_path, source, target, *, edit=lambda t: t, name="run.db"):
    text = edit(demo_plan_text(source.sasl_bootstrap, target.sasl_bootstrap))
    path = tmp_path / name
    Store.create(path, text, parse_plan(text)).close()
    return path


def step_json(db, capsys, confirm="inventory") -> tuple[int, dict | None]:
    code = main(["step", str(db), "inventory", "--confirm", confirm, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else None)


def audit_actions(db) -> list[str]:
    store = Store.open(db, readonly=True)
    try:
        return [e.action for e in store.audit_latest(100)]
    finally:
        store.close()


def test_inventory_reads_both_clusters(tmp_path, seeded, target, env, capsys):
    db = run_db(tmp_path, seeded, target)
    code, result = step_json(db, capsys)
    assert code == 0, result
    assert result["state"] == "passed"
    body = result["evidence"]
    src, dst = body["source"], body["target"]
    assert [b["release"] for b in src["brokers"]] == ["3.9"]
    assert [b["release"] for b in dst["brokers"]] == ["4.1"]
    orders = next(t for t in src["topics"] if t["name"] == "orders")
    assert len(orders["partitions"]) == 6
    assert sum(p["latest"] - p["earliest"] for p in orders["partitions"]) >= 3000
    assert orders["configs"]["retention.ms"] == "604800000"
    customers = next(t for t in src["topics"] if t["name"] == "customers")
    assert customers["configs"]["cleanup.policy"] == "compact"
    billing = next(g for g in src["groups"] if g["id"] == "billing")
    assert billing["state"] == "EMPTY" and billing["members"] == []
    assert sum(billing["offsets"].values()) >= 1500
    assert src["acls"] is not None
    assert any("app." in a["resource"] for a in src["acls"])
    assert body["risk"] == {"orders": "high", "payments": "high", "customers": "low"}
    on_target = {t["name"] for t in dst["topics"]}
    for name in ("orders", "payments", "customers"):
        noted = any(f"'{name}' is not on target yet" in n for n in body["notes"])
        assert noted == (name not in on_target), (name, body["notes"])
    assert audit_actions(db) == [
        "plan.imported",
        "gate.confirmed",
        "step.started",
        "evidence.added",
        "step.finished",
    ]
    store = Store.open(db, readonly=True)
    assert store.step("inventory").state is StepState.PASSED
    assert store.latest_evidence("inventory", "inventory").body["source"]["cluster_id"]
    store.close()


def test_wrong_confirmation_touches_nothing(tmp_path, seeded, target, env, capsys):
    db = run_db(tmp_path, seeded, target)
    code = main(["step", str(db), "inventory", "--confirm", "yes"])
    assert code == 2
    assert "type 'inventory' exactly" in capsys.readouterr().err
    assert audit_actions(db) == ["plan.imported", "gate.refused"]


def test_unreachable_cluster_fails_in_plain_words(tmp_path, seeded, target, env, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"

    def edit(text):
        text = text.replace(target.sasl_bootstrap, closed)
        return text.replace("[clusters.target]\n", "[clusters.target]\nrequest_timeout_s = 3\n")

    db = run_db(tmp_path, seeded, target, edit=edit)
    code, result = step_json(db, capsys)
    assert code == 1
    assert result["state"] == "failed"
    assert result["reason"].startswith(f"target: no broker answered at {closed} within 3 s")
    assert "check bootstrap_servers" in result["reason"]
    assert result["evidence"]["source"] is not None  # what could be read is kept


def test_wrong_password_is_an_authentication_failure(tmp_path, seeded, target, env, capsys):
    env.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "not-the-password")
    db = run_db(tmp_path, seeded, target)
    code, result = step_json(db, capsys)
    assert code == 1
    assert "source: authentication failed for user 'admin'" in result["reason"]
    assert "not-the-password" not in json.dumps(result)


def test_ordinary_user_is_denied_and_the_step_fails(tmp_path, seeded, target, env, capsys):
    env.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "app-sandbox-pw")

    def edit(text):
        return text.replace('sasl_username = "admin"', 'sasl_username = "app"', 1)

    db = run_db(tmp_path, seeded, target, edit=edit)
    code, result = step_json(db, capsys)
    assert code == 1
    problems = result["evidence"]["problems"]
    assert any("user 'app' may not describe topic 'orders'" in p for p in problems), problems
    assert any("has no DESCRIBE on the cluster" in p for p in problems)
    # Denied is not the same as missing: the plan topic is not reported absent.
    assert not any("missing on source" in p for p in problems)


def test_topic_in_plan_missing_on_source(tmp_path, seeded, target, env, capsys):
    def edit(text):
        return text + (
            '\n[[topics]]\nname = "refunds"\nowner = "payments-team"\n'
            "external_side_effects = false\n"
        )

    db = run_db(tmp_path, seeded, target, edit=edit)
    code, result = step_json(db, capsys)
    assert code == 1
    assert result["reason"].startswith("topic 'refunds' in the plan is missing on source")


def test_no_secret_reaches_the_run_database(tmp_path, seeded, target, env, capsys):
    db = run_db(tmp_path, seeded, target)
    assert step_json(db, capsys)[0] == 0
    for path in tmp_path.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path


async def test_console_gate_runs_inventory_and_logs_it(tmp_path, seeded, target, env):
    db = run_db(tmp_path, seeded, target)
    store = Store.open(db, clock=fixed_clock())
    app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateDialog)
        await pilot.press("tab", *"inventory")
        await pilot.pause()
        assert not app.screen.query_one("#gate-confirm").disabled
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "PASSED" in str(app.query_one("#runbook").get_option("inventory").prompt)
        summary = str(app.query_one("#inventory .inv-summary").render())
        assert "src 3.9: 1 broker(s)" in summary and "tgt 4.1: 1 broker(s)" in summary
        assert "(3.9)" in str(app.query_one("#header").render())
    entries = store.audit_latest(10)
    assert [e.action for e in entries] == [
        "plan.imported",
        "gate.confirmed",
        "step.started",
        "evidence.added",
        "step.finished",
    ]
    assert entries[1].params["via"] == "console"
    assert entries[4].ref == entries[2].seq
    assert store.audit_verify().ok
    store.close()
