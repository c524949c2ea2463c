"""The demo after `cutover demo`: `cutover run`/`step` on its run database work as the demo
does, the MirrorMaker 2 demo never copies on top of the built-in one's, `cutover sandbox
down` leaves none of the demo's processes behind, and `status DIR` names the mistake.

Kafka tests use the session's sandbox; the demo's workload they start is stopped again.
"""

from __future__ import annotations

import os
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from console import processes, runbook
from console.cli import console as cli_console
from console.cli.main import main
from console.pids import pid_alive
from console.plan import parse_plan
from console.plan.steps import StepState
from console.sandbox import demo
from console.sandbox.state import SANDBOX_PASSWORDS
from console.store import Store
from tests.helpers import CountedProducer, demo_plan_text, fixed_clock

ENV = ("CUTOVER_DEMO_SOURCE_PASSWORD", "CUTOVER_DEMO_TARGET_PASSWORD")
PRINCIPAL_ENV = {
    "CUTOVER_DEMO_BILLING_PASSWORD": "billing",
    "CUTOVER_DEMO_CHECKOUT_PASSWORD": "checkout",
}
"""The demo's group and producer principals: the gates ask the brokers as them."""
SECRET = SANDBOX_PASSWORDS["admin"]


def fresh_shell(monkeypatch) -> None:
    """As in a new terminal: the variables `cutover demo` set in its own process are gone."""
    for name in (*ENV, *PRINCIPAL_ENV):
        monkeypatch.setenv(name, "")  # restored (unset) at teardown, whatever prepare set


@pytest.fixture
def demo_db(sandbox, tmp_path, monkeypatch):
    """A demo run database as `cutover demo --prepare-only` leaves it; its workload is
    stopped afterwards."""
    fresh_shell(monkeypatch)
    db = demo.prepare(tmp_path / "demo", sandbox_dir=sandbox.root)
    fresh_shell(monkeypatch)
    yield db
    store = Store.open(db)
    for info in processes.all_processes(store):
        processes.stop(store, info.name, timeout=15)
    store.close()


def inventory(store: Store) -> None:
    """Run the inventory for real through the gate."""
    assert runbook.decide(store, "inventory", "inventory", via="test").opened
    assert runbook.run(store, "inventory").state is StepState.PASSED


def test_step_and_run_on_the_demo_database_work_as_the_demo_does(demo_db, monkeypatch, capsys):
    """Inventory failed for want of the demo's password variable, and the Inventory that
    had passed in the demo turned FAILED when run again outside it."""
    for _ in range(2):  # run again: a passed step stays passed
        assert main(["step", str(demo_db), "inventory", "--confirm", "inventory"]) == 0
        captured = capsys.readouterr()
        assert "inventory: PASSED" in captured.out
        assert "prepared by `cutover demo`" in captured.err
        fresh_shell(monkeypatch)
    store = Store.open(demo_db, readonly=True)
    assert store.step("inventory").state is StepState.PASSED
    store.close()

    # `cutover run` resolves them before the console opens (the console itself is
    # replaced here by what the operator then does in it: run Inventory).
    def console(store):
        assert runbook.decide(store, "inventory", "inventory", via="console").opened
        return 0 if runbook.run(store, "inventory").state is StepState.PASSED else 1

    monkeypatch.setattr(cli_console, "_run_console", console)
    assert main(["run", str(demo_db)]) == 0
    assert "prepared by `cutover demo`" in capsys.readouterr().err

    # The sandbox's password is in no file the demo or the runs wrote.
    for path in demo_db.parent.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_sandbox_passwords_are_used_only_for_the_demo_s_own_loopback_runs(tmp_path, monkeypatch):
    fresh_shell(monkeypatch)
    text = demo_plan_text()
    plain = Store.create(tmp_path / "plain.db", text, parse_plan(text), clock=fixed_clock())
    assert demo.use_sandbox_passwords(plain) is None  # not the demo's: nothing resolved
    assert not os.environ.get(ENV[0])

    remote = demo_plan_text("kafka-1.prod.internal:9093", "kafka-2.prod.internal:9093")
    store = Store.create(tmp_path / "remote.db", remote, parse_plan(remote))
    store.log(demo.PREPARED, params={"sandbox": "/x", "path": "builtin"}, outcome="ok")
    assert demo.use_sandbox_passwords(store) is None  # never for a cluster off loopback
    assert not os.environ.get(ENV[0])

    local = Store.create(tmp_path / "local.db", text, parse_plan(text))
    local.log(demo.PREPARED, params={"sandbox": "/x", "path": "builtin"}, outcome="ok")
    monkeypatch.setenv(ENV[0], "the-operators-own")
    assert demo.use_sandbox_passwords(local) is None  # the operator's variable wins
    assert os.environ[ENV[0]] == "the-operators-own"
    fresh_shell(monkeypatch)
    assert "prepared by `cutover demo`" in demo.use_sandbox_passwords(local)
    assert os.environ[ENV[0]] == SECRET and os.environ[ENV[1]] == SECRET
    # The demo's principals too: without the checkout producer's, the move's fence was
    # proven from the ACL bindings only, not by asking the brokers as User:checkout.
    for name, user in PRINCIPAL_ENV.items():
        assert os.environ[name] == SANDBOX_PASSWORDS[user], name
    for store_ in (plain, store, local):
        store_.close()


def test_the_mirrormaker2_demo_never_copies_on_top_of_the_builtin_one(
    demo_db, sandbox, source, target, tmp_path, monkeypatch
):
    """Run after the built-in demo, the MirrorMaker 2 demo copied into the same target
    topics (2,599 duplicates) beside a second workload on the same source topics."""
    builtin = Store.open(demo_db, readonly=True)
    builtin_plan = builtin.plan
    builtin.close()
    # The built-in demo's copy has reached the target.
    admin = AdminClient({"bootstrap.servers": target.plaintext_bootstrap})
    on_target = admin.list_topics(timeout=10).topics
    producer = CountedProducer(target.plaintext_bootstrap)
    for t in builtin_plan.topics:
        if t.name not in on_target:  # as the mirror creates it: the source's layout
            parts, configs = demo.DEMO_TOPICS[t.name]
            admin.create_topics([NewTopic(t.name, parts, 1, config=configs)])[t.name].result(30)
        producer.produce(t.name, key=b"k", value=b"copied by the built-in demo", partition=0)
    assert producer.flush_all(30) == len(builtin_plan.topics)

    prefix = demo.PREFIX["mirrormaker2"]
    text = demo.plan_text_for(source, target, "http://127.0.0.1:9/", prefix)
    mm2_plan = parse_plan(text)
    assert {t.name for t in mm2_plan.topics}.isdisjoint(t.name for t in builtin_plan.topics)
    assert {g.id for g in mm2_plan.groups}.isdisjoint(g.id for g in builtin_plan.groups)
    assert mm2_plan.name != builtin_plan.name
    for field in ("group_id", "principal", "sink_topic"):
        mine = {getattr(c, field) for c in mm2_plan.shadow_consumers}
        assert mine.isdisjoint(getattr(c, field) for c in builtin_plan.shadow_consumers)
    demo.seed_source(source.plaintext_bootstrap, prefix=prefix)
    store = Store.create(tmp_path / "mm2.db", text, mm2_plan)
    try:
        monkeypatch.setenv(ENV[0], SECRET)
        monkeypatch.setenv(ENV[1], SECRET)
        inventory(store)  # what the shadow copy's start requires
        gate = runbook.preview(store, "shadow-start")
        assert gate.blocked is None, gate.blocked  # its target topics hold nothing

        # Built as before (the built-in demo's topics), the gate would stay shut.
        same = demo.plan_text_for(source, target, "http://127.0.0.1:9/")
        old = Store.create(tmp_path / "old.db", same, parse_plan(same))
        inventory(old)
        assert "already holds records" in (runbook.preview(old, "shadow-start").blocked or "")
        old.close()
    finally:
        store.close()


def test_sandbox_down_stops_every_process_the_demo_started(
    sandbox, source, tmp_path, monkeypatch, capsys
):
    """The demo's workload (and any mirror or sampler a demo run started) kept running
    against dead brokers after `cutover sandbox down`."""
    root = tmp_path / "sandbox"  # a sandbox directory of its own: its down stops no broker
    text = demo_plan_text(source.sasl_bootstrap, source.sasl_bootstrap)
    db = tmp_path / "demo.db"
    Store.create(db, text, parse_plan(text)).close()
    demo._register(root, db)
    store = Store.open(db)
    prefix = f"down-{uuid.uuid4().hex[:6]}-"
    info = processes.spawn(
        store,
        demo.WORKLOAD,
        ["workload", "--bootstrap", source.plaintext_bootstrap, "--rate", "5"]
        + ["--duration", "600", "--no-group", "--prefix", prefix, "--quiet"],
    )
    store.close()
    try:
        assert pid_alive(info.pid)
        assert main(["sandbox", "down", "--dir", str(root)]) == 0
        out = capsys.readouterr().out
        assert f"demo process workload (pid {info.pid}" in out and "stopped" in out
        assert not pid_alive(info.pid)
        store = Store.open(db, readonly=True)
        assert processes.get(store, demo.WORKLOAD).state == "stopped"
        store.close()
    finally:
        if pid_alive(info.pid):
            os.kill(info.pid, 9)


def test_demo_registers_its_run_with_the_sandbox(demo_db, sandbox):
    runs = (sandbox.root / demo.RUNS_FILE).read_text().split()
    assert str(demo_db.resolve()) in runs


def test_status_on_a_directory_says_it_is_a_directory(tmp_path, capsys):
    text = demo_plan_text()
    Store.create(tmp_path / "demo.db", text, parse_plan(text)).close()
    assert main(["status", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory, not a run database" in err
    assert str(tmp_path / "demo.db") in err
    assert "Traceback" not in err
