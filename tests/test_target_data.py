"""Starting a copy into target topics that already hold records, on real clusters: the
gate shows per topic what the target holds and stays shut, unless the plan says the
target may hold earlier data or this run copied it itself."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from console import processes, runbook
from console.cli.main import main
from console.plan import parse_plan
from console.sandbox.state import SANDBOX_PASSWORDS
from console.store import Store
from tests.helpers import CountedProducer, shadow_plan_text

PASSWORD = SANDBOX_PASSWORDS["admin"]


def topic_with(bootstrap: str, name: str, records: int, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    producer = CountedProducer(bootstrap)
    for i in range(records):
        producer.produce(name, key=f"k{i}".encode(), value=b"earlier", partition=i % partitions)
    assert producer.flush_all(30) == records


def builtin_plan(source, target, topic: str, *, allow: bool = False) -> str:
    extra = "target_may_hold_earlier_data = true\n" if allow else ""
    return shadow_plan_text(source, target, topic, "builtin", extra_shadow=extra)


def make_run(tmp_path, text: str):
    """A run database whose inventory has passed (the shadow copy's start requires it)."""
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
    return db


def test_a_copy_into_a_target_that_holds_records_is_refused_at_the_gate(
    tmp_path, source, target, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    topic = f"held.orders.{uuid.uuid4().hex[:8]}"
    topic_with(source.plaintext_bootstrap, topic, 30)
    topic_with(target.plaintext_bootstrap, topic, 17)  # an earlier copy, not this run's
    db = make_run(tmp_path, builtin_plan(source, target, topic))

    store = Store.open(db)
    gate = runbook.preview(store, "shadow-start")
    store.close()
    assert f"  {topic}: 17 in 2 partitions" in gate.lines
    assert gate.blocked is not None and f"{topic} (17)" in gate.blocked
    assert "target_may_hold_earlier_data = true" in gate.blocked

    code = main(["step", str(db), "shadow-start", "--confirm", "start-mirror"])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "already holds records" in captured.out + captured.err
    store = Store.open(db, readonly=True)
    try:
        assert [e.action for e in store.audit_latest(5)][-1] == "gate.blocked"
        assert processes.get(store, "mirror") is None  # nothing was started
        assert store.step("shadow-start").state.value == "pending"
    finally:
        store.close()


def test_the_plan_may_allow_earlier_data_and_an_empty_target_is_fine(
    tmp_path, source, target, monkeypatch
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    held = f"held.allowed.{uuid.uuid4().hex[:8]}"
    topic_with(source.plaintext_bootstrap, held, 5)
    topic_with(target.plaintext_bootstrap, held, 5)
    (tmp_path / "a").mkdir()
    db = make_run(tmp_path / "a", builtin_plan(source, target, held, allow=True))
    store = Store.open(db)
    gate = runbook.preview(store, "shadow-start")
    store.close()
    assert gate.blocked is None
    assert "  the plan allows earlier data (target_may_hold_earlier_data)" in gate.lines

    empty = f"held.empty.{uuid.uuid4().hex[:8]}"
    topic_with(source.plaintext_bootstrap, empty, 5)
    topic_with(target.plaintext_bootstrap, empty, 0)
    (tmp_path / "b").mkdir()
    db = make_run(tmp_path / "b", builtin_plan(source, target, empty))
    store = Store.open(db)
    gate = runbook.preview(store, "shadow-start")
    assert gate.blocked is None and f"  {empty}: 0 in 2 partitions" in gate.lines

    # What this run's own earlier copy wrote is not earlier data: after a start that
    # passed (its evidence), a second start after a stop resumes and is not refused.
    producer = CountedProducer(target.plaintext_bootstrap)
    producer.produce(empty, b"copied by this run", partition=0)
    assert producer.flush_all(30) == 1
    assert runbook.preview(store, "shadow-start").blocked is not None
    store.add_evidence("shadow-start", "shadow", {"path": "builtin", "what": "started"})
    assert runbook.preview(store, "shadow-start").blocked is None
    store.close()
