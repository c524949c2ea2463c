"""Producer cutover on the real clusters: a class moves with live idempotent and
transactional traffic and nothing is lost or written twice (checked by reading both
clusters, not from the console's bookkeeping); a producer that bypasses the fence stops
the move; a super user cannot be fenced and the gate says so.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import NewTopic, OffsetSpec

from console.cutover.producers import reverse, switch
from console.cutover.producers.cluster import Cluster, Record
from console.cutover.producers.sequence import KILL_ENV
from console.plan import ClusterSpec
from console.plan.steps import StepState
from console.store import Store
from tests.helpers import wait_for
from tests.producer_scene import (
    ADMIN_ENV,
    ADMIN_PW,
    WRITER_PW,
    Scene,
    admin,
    cli_step,
    counts,
    drill_passed_for_test,
    read_all,
    step,
    uid,
    waive_the_review,
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
    """Inventory read, mirror running, workload writing as the classes' principals, a
    comparison done, the drill recorded as passed (see drill_passed_for_test), and the
    readiness review waived (see waive_the_review)."""
    assert step(store, "inventory", "inventory").state is StepState.PASSED
    assert step(store, "shadow-start", "start-mirror").state is StepState.PASSED
    scene.start_workload(rate=rate)
    topics = [scene.orders, scene.payments] if scene.has_payments() else [scene.orders]
    wait_for(lambda: mirror_caught_up(scene, topics), 90, "the mirror to copy the first records")
    outcome = step(store, "compare", "compare")
    assert outcome.state is StepState.PASSED, outcome.reason
    drill_passed_for_test(store)
    waive_the_review(scene.db)


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


def commit_on(cluster, group: str, offsets: dict) -> None:
    """Committed offsets for a group, written as the sandbox's super user (the group's
    application is stopped: a test stands in for where it had read to)."""
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    )
    admin(cluster).alter_consumer_group_offsets([request])[group].result(30)


def committed_on(cluster, group: str, tps) -> dict:
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in tps])
    found = admin(cluster).list_consumer_group_offsets([request])[group].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}


def group_plan(scene: Scene, group: str) -> str:
    return f"""
    [[groups]]
    id = "{group}"
    owner = "billing-team"
    topics = ["{scene.orders}"]
    offset_strategy = "translate"
    """


def offset_plan_for_test(store: Store, group: str) -> None:
    """The group's offset plan recorded WITHOUT running move-group (issue 10 has its own
    tests): the rollback under test moves the group back from where the test commits it
    on the target."""
    store.add_evidence(f"move-group:{group}", "offset-plan", {"target": group, "passed": True})


class TestRollback:
    def _moved(self, scene: Scene, target_only: str):
        group = f"billing-{uid()}"
        store = scene.build(target_only=target_only, groups=group_plan(scene, group))
        prepare(scene, store)
        offset_plan_for_test(store, group)
        outcome = step(store, "move-producers:checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        points = {
            (k.rpartition(":")[0], int(k.rpartition(":")[2])): v
            for k, v in outcome.detail["points"].items()
        }
        # The class writes on the target for a while; the group reads part of it there.
        wait_for(
            lambda: all(
                read_count_after(scene.target, tp, pt[1]) >= 5 for tp, pt in points.items()
            ),
            60,
            "target-only writes",
        )
        read_to = {tp: pt[1] + 2 for tp, pt in points.items()}
        commit_on(scene.target, group, read_to)
        return store, group, points, read_to

    def test_copy_back_every_record_once_and_the_group_resumes_exactly(self, scene: Scene):
        """Rollback with copy-back while the workload keeps writing: the source then holds
        every acknowledged record exactly once (the target-only ones as reverse copies),
        the group resumes on the source at the copy of the first record it had not read,
        and the workload writes on the source again."""
        store, group, points, read_to = self._moved(scene, "copy-back")
        outcome = step(store, "rollback:checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        assert outcome.detail["copied_back"] > 0
        assert switch.told(store, "checkout")["cluster"] == "source"
        ledger = scene.stop_workload()
        source = read_all(scene.source, scene.orders)
        on_source = counts(source)
        doubled = [s for s, n in on_source.items() if n > 1]
        assert not doubled, f"records twice on the source: {doubled[:5]}"
        acked = set(ledger["topics"][scene.orders]["acked"])
        lost = acked - set(on_source)
        assert not lost, f"{len(lost)} acknowledged record(s) not on the source"
        # Each reverse copy sits after the fence point and names the target record.
        by_target = {}
        for record in source:
            if record.reverse_of is not None:
                tp = (scene.orders, record.partition)
                assert record.offset >= points[tp][0]
                by_target[(record.partition, record.reverse_of[1])] = record.offset
        back = committed_on(scene.source, group, list(points))
        for tp, offset in read_to.items():
            assert back[tp] == by_target[(tp[1], offset)], f"group not exact on {tp}"
        evidence = store.latest_evidence("rollback:checkout", "rollback")
        assert evidence.body["passed"] and evidence.body["duration_s"] > 0
        assert store.producers.latest_run("checkout", "move").state == "undone"

    def test_list_exports_target_only_records_and_leaves_the_source_alone(self, scene: Scene):
        """Rollback with ``list``: the target-only records are exported for their owners,
        none is written to the source, and the group resumes at the fence point."""
        store, group, points, _read_to = self._moved(scene, "list")
        outcome = step(store, "rollback:checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        scene.stop_workload()
        exported = Path(outcome.detail["export"]).read_text().splitlines()
        assert len(exported) == outcome.detail["target_only_records"] > 0
        source = read_all(scene.source, scene.orders)
        assert not [r for r in source if r.reverse_of is not None]
        back = committed_on(scene.source, group, list(points))
        assert back == {tp: pt[0] for tp, pt in points.items()}


def read_count_after(cluster, tp, start: int) -> int:
    consumer_end = admin(cluster).list_offsets({TopicPartition(tp[0], tp[1]): OffsetSpec.latest()})
    found = next(iter(consumer_end.values())).result(30)
    return found.offset - start


class TestDrill:
    def test_the_drill_rehearses_the_rollback_and_cleans_up(self, scene: Scene):
        """The drill runs the rollback path on rehearsal things it makes and removes; its
        evidence opens the move gates."""
        store = scene.build(with_payments=False)
        outcome = step(store, "rollback-drill")
        assert outcome.state is StepState.PASSED, outcome.reason
        lines = outcome.detail["summary_lines"]
        assert any(line.startswith("verify:") for line in lines)
        topic = outcome.detail["names"]["topic"]
        for cluster in (scene.source, scene.target):
            topics = admin(cluster).list_topics(timeout=30).topics
            assert topic not in topics, f"{topic} left on the {cluster.name}"
        assert store.latest_evidence("rollback-drill", "rollback-drill").body["passed"]


class TestReverseRead:
    def test_reverse_copies_are_read_back_right_after_their_commit(self, source):
        """The reverse copy's read of the source, right after a copy-back committed:
        every copy is found (a commit returns before its markers reach the partitions;
        read up to the stable end then, the copies just made read as none, and a group
        was put back at the fence point: the rollback drill failed on its own that way
        under load). Each round copies back one more target record per partition and
        reads them back at once, as the drill's group-back does; a read short by a round
        would also make the next copy-back write its records a second time."""
        spec = ClusterSpec(bootstrap_servers=source.plaintext_bootstrap)
        cluster = Cluster("source", spec, None)
        topic = f"rev-read-{uid()}"
        tps = [(topic, 0), (topic, 1)]
        futures = admin(source).create_topics([NewTopic(topic, 2, 1)])
        futures[topic].result(30)
        writer = Producer({"bootstrap.servers": source.plaintext_bootstrap})
        for t, p in tps:
            for i in range(5):
                writer.produce(t, f"src-{i}".encode(), b"k", p)
        writer.flush(30)
        fence = {tp: 5 for tp in tps}
        entry = SimpleNamespace(seq=1)
        made: dict = {tp: [] for tp in tps}
        try:
            for n in range(12):
                for t, p in tps:
                    made[(t, p)].append(Record(t, p, 100 + n, b"k", f"tgt-{n}".encode(), (), 0))
                reverse.copy_back(
                    cluster,
                    reverse.TargetOnly({tp: list(v) for tp, v in made.items()}),
                    fence,
                    f"rev-read-{topic}",
                    deadline=time.monotonic() + 30,
                    log=lambda *_a, **_k: entry,
                )
                copies = reverse.copied_back(cluster, fence, time.monotonic() + 30)
                for tp in tps:
                    # Every copy once, in order, right after the commit.
                    assert [t for _s, t in copies[tp]] == list(range(100, 101 + n)), (n, tp)
        finally:
            cluster.close()


def walk_with_kills(scene: Scene, step_id: str, cls: str, budgets=(3, 5, 7)) -> int:
    """Run ``cutover step`` again and again, each process SIGKILLed (as ``kill -9``) after
    a few more sub-step audit entries, until one finishes; returns how many were killed."""
    killed = 0
    for attempt in range(80):
        budget = budgets[attempt % len(budgets)]
        done = cli_step(scene.db, step_id, cls, cls=cls, env={KILL_ENV: str(budget)})
        if done.returncode == -signal.SIGKILL:
            killed += 1
            continue
        assert done.returncode == 0, done.stdout + done.stderr
        return killed
    raise AssertionError(f"{step_id} did not finish after {killed} kills")


class TestKill:
    def test_kill_9_at_every_sub_step_of_a_move_and_a_rollback_converges(self, scene: Scene):
        """The move and then the rollback of a class, each run as ``cutover step`` processes
        killed with SIGKILL every few audit entries (so at every sub-step, between a side
        effect and its record too) and run again: both finish, no ACL was added twice,
        and both clusters read back hold every acknowledged record exactly once."""
        group = f"billing-{uid()}"
        store = scene.build(with_payments=False, groups=group_plan(scene, group))
        prepare(scene, store)
        offset_plan_for_test(store, group)
        store.close()
        killed = walk_with_kills(scene, "move-producers", "checkout")
        assert killed >= 4
        store = scene.store()
        move = store.producers.latest_run("checkout", "move")
        assert move.state == "done"
        live = [a.binding() for a in store.producers.acls(run_id=move.id, live_only=True)]
        assert len(live) == len({tuple(sorted(b.items())) for b in live}), "an ACL twice"
        points = {
            (p.topic, p.partition): (p.source_offset, p.target_offset)
            for p in store.producers.points(run_id=move.id)
        }
        wait_for(
            lambda: all(
                read_count_after(scene.target, tp, pt[1]) >= 3 for tp, pt in points.items()
            ),
            60,
            "target-only writes",
        )
        store.close()
        killed = walk_with_kills(scene, "rollback", "checkout")
        assert killed >= 4
        ledger = scene.stop_workload()
        on_source = counts(read_all(scene.source, scene.orders))
        doubled = [s for s, n in on_source.items() if n > 1]
        assert not doubled, f"records twice on the source: {doubled[:5]}"
        lost = set(ledger["topics"][scene.orders]["acked"]) - set(on_source)
        assert not lost, f"{len(lost)} acknowledged record(s) not on the source"
        store = scene.store(readonly=True)
        actions = [e.action for e in store.audit_latest(2000)]
        assert "producers.resumed" in actions


class TestBypass:
    def test_a_producer_that_bypasses_the_fence_stops_the_move(self, scene: Scene):
        """A record written after the fence by a principal the fence does not bind (here
        the super user, over the PLAINTEXT listener) stops the move and is named, even
        when it lands while an open transaction still holds the move before its quiet
        check begins."""
        store = scene.build(quiet_s=5.0, with_payments=False)
        prepare(scene, store)
        plaintext = scene.source.plaintext_bootstrap
        open_tx = Producer({"bootstrap.servers": plaintext, "transactional.id": f"tx-{uid()}"})
        open_tx.init_transactions(30)
        open_tx.begin_transaction()
        open_tx.produce(scene.orders, b"pending", b"open-before-fence", 0)
        open_tx.flush(30)
        writer = Producer({"bootstrap.servers": plaintext})

        def fenced() -> bool:
            seen = scene.store(readonly=True)
            try:
                return any(
                    name == "fence" and row.state == "done"
                    for run in seen.producers.runs("checkout", "move")
                    for name, row in seen.producers.substeps(run.id).items()
                )
            finally:
                seen.close()

        def sneak():
            wait_for(fenced, 120, "the fence")
            writer.produce(scene.orders, b"sneaked", b"bypass", 0)
            writer.flush(30)
            time.sleep(2)  # the move waits on the open transaction meanwhile
            open_tx.commit_transaction(30)

        thread = threading.Thread(target=sneak, daemon=True)
        thread.start()
        outcome = step(store, "move-producers:checkout")
        thread.join(60)
        assert outcome.state is StepState.FAILED, outcome.reason
        assert "bypasses the fence" in outcome.reason
        assert any("key=bypass" in line for line in outcome.detail["bypass"])
        # The fence's own committed transaction is not a write: its record is not named.
        assert not any("open-before-fence" in line for line in outcome.detail["bypass"])
        # The operator found the producer and stopped it: run again, the move goes on.
        again = step(store, "move-producers:checkout")
        assert again.state is StepState.PASSED, again.reason


class TestWindow:
    def test_the_window_shows_target_only_records_then_its_deadline_passes(self, scene: Scene):
        """The first move opens the window with the plan's deadline; Hold rollback window
        counts the records only on the target and which groups read them; once the
        deadline passes it says replay is the plan; closing it is a gated decision."""
        group = f"billing-{uid()}"
        store = scene.build(
            with_payments=False, window_minutes=0.5, groups=group_plan(scene, group)
        )
        prepare(scene, store)
        offset_plan_for_test(store, group)
        outcome = step(store, "move-producers:checkout")
        assert outcome.state is StepState.PASSED, outcome.reason
        points = outcome.detail["points"]
        first = next(iter(points))
        topic, _, part = first.rpartition(":")
        commit_on(scene.target, group, {(topic, int(part)): points[first][1] + 1})
        seen = step(store, "rollback-window")
        assert seen.state is StepState.PASSED
        [cls] = seen.detail["classes"]
        assert cls["target_only"] > 0
        [reader] = cls["groups"]
        assert reader["read"] == 1 and reader["side_effects"]
        assert seen.detail["replay_triggered_by"] == [group]
        assert "replay is the recovery plan now" in seen.detail["verdict"]
        deadline = store.producers.window().deadline
        wait_for(lambda: step(store, "rollback-window").detail["deadline_passed"], 60, deadline)
        closed = step(store, "rollback-window-close", "close-rollback-window")
        assert closed.state is StepState.PASSED
        assert store.producers.window().state == "closed"
        scene.stop_workload()
