"""Producer cutover on the real clusters: a class moves with live idempotent and
transactional traffic and nothing is lost or written twice (checked by reading both
clusters, not from the console's bookkeeping); a producer that bypasses the fence stops
the move; a super user cannot be fenced and the gate says so.
"""

from __future__ import annotations

import pytest

from console.cutover.producers import switch
from console.plan.steps import StepState
from console.store import Store
from tests.producer_scene import (
    ADMIN_ENV,
    ADMIN_PW,
    WRITER_PW,
    Scene,
    counts,
    drill_passed_for_test,
    read_all,
    step,
    wait_for,
)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv(ADMIN_ENV, ADMIN_PW)
    monkeypatch.setenv("PRODUCERS_TEST_WRITER_PASSWORD", WRITER_PW)


@pytest.fixture
def scene(tmp_path, source, target, env):
    made = Scene(source, target, tmp_path)
    yield made
    made.close()


def mirror_caught_up(scene: Scene, topics: list[str]) -> bool:
    """Every record of the source is on the target (counted by seq)."""
    for topic in topics:
        src = counts(read_all(scene.source, topic))
        dst = counts(read_all(scene.target, topic))
        if not src or set(src) - set(dst):
            return False
    return True


def prepare(scene: Scene, store: Store, rate: float = 300) -> None:
    """Mirror running, workload writing as the classes' principals, a comparison done,
    the drill recorded as passed (see drill_passed_for_test)."""
    assert step(store, "shadow-start", "start-mirror").state is StepState.PASSED
    scene.start_workload(rate=rate)
    topics = [scene.orders, scene.payments]
    wait_for(lambda: mirror_caught_up(scene, topics), 90, "the mirror to copy the first records")
    outcome = step(store, "compare", "compare")
    assert outcome.state is StepState.PASSED, outcome.reason
    drill_passed_for_test(store)


def check_exactly_once(scene: Scene, ledger: dict, topic: str, points: dict) -> None:
    """Read both clusters: what the class wrote is on the target exactly once (the copy of
    the source up to the cutover point, then its own writes), the source holds nothing
    after the fence point, and no acknowledged record is missing."""
    source = read_all(scene.source, topic)
    target = read_all(scene.target, topic)
    acked = set(ledger["topics"][topic]["acked"])
    aborted = set(ledger["topics"][topic]["aborted"])
    on_target = counts(target)
    duplicated = {s: n for s, n in on_target.items() if n > 1}
    assert not duplicated, f"{topic}: written twice on the target: {list(duplicated)[:5]}"
    lost = acked - set(on_target)
    assert not lost, f"{topic}: {len(lost)} acknowledged record(s) not on the target"
    assert not (set(on_target) & aborted), f"{topic}: an aborted record reached the target"
    for record in source:
        src_end = points[f"{topic}:{record.partition}"][0]
        assert record.offset < src_end, f"{topic}: a record on the source after the fence point"
    copies = [r for r in target if r.copied_from is not None]
    own = [r for r in target if r.copied_from is None]
    assert counts(copies) == counts(source), f"{topic}: the copy differs from the source"
    for record in own:
        assert record.offset >= points[f"{topic}:{record.partition}"][1]
    assert ledger["topics"][topic]["unsent"] == []


class TestMove:
    def test_a_class_moves_with_live_traffic_nothing_lost_or_doubled(self, scene: Scene):
        """Idempotent and transactional classes move one after the other while the
        workload writes: fenced, quiet, drained, cut over, opened, switched; the write
        unavailability is measured; both clusters read back hold every acknowledged record
        exactly once."""
        store = scene.build()
        prepare(scene, store)
        outcome = step(store, "move-producers:checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        body = outcome.detail
        assert 0 < body["unavailability_s"] < 30
        assert switch.told(store, "checkout")["cluster"] == "target"
        outcome = step(store, "move-producers:payments")
        assert outcome.state is StepState.PASSED, outcome.reason
        payments = outcome.detail
        ledger = scene.stop_workload()
        assert {s["class"] for s in ledger["switches"]} == {"checkout", "payments"}
        check_exactly_once(scene, ledger, scene.orders, body["points"])
        check_exactly_once(scene, ledger, scene.payments, payments["points"])
        window = store.producers.window()
        assert window is not None and window.state == "open"
