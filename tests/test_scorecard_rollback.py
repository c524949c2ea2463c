"""The scorecard's rollback area from the real rollback drill on the sandbox clusters:
GREY before any drill, RED with where it stopped when the drill fails (a planted
refusal on the target), GREEN with the drill's figures once it passes; read through
``cutover scorecard`` as the review reads it (JSON and Markdown).

The world is the producer tests' (tests/producer_scene.py: topics, principals, plan and
run database of its own); the drill is the step itself, run through its gate.
"""

from __future__ import annotations

import contextlib
import io
import json

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from console.cli.main import main
from console.plan.steps import StepState
from tests import test_producers
from tests.producer_scene import Scene, add_acls, delete_acls, step

# The producer tests' own fixtures (the admin's password in the environment, a scene that
# stops what it started), not copies of them.
env = test_producers.env
scene = test_producers.scene

REHEARSAL = "cutover-rehearsal-"
"""The drill names its topic and user with this prefix (console/cutover/producers/drill.py)."""


def rollback_area(db) -> tuple[dict, str]:
    """The rollback area as ``cutover scorecard --json`` gives it, and the Markdown export."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        main(["scorecard", str(db), "--json"])
    area = next(a for a in json.loads(out.getvalue())["areas"] if a["area"] == "rollback")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        main(["scorecard", str(db), "--format", "md"])
    return area, out.getvalue()


def deny_rehearsal_writes_on_target(cluster) -> AclBinding:
    """A target whose policy refuses writes to the rehearsal topics: the rollback path
    cannot write there, which the drill must find."""
    binding = AclBinding(
        ResourceType.TOPIC,
        REHEARSAL,
        ResourcePatternType.PREFIXED,
        "User:*",
        "*",
        AclOperation.WRITE,
        AclPermissionType.DENY,
    )
    add_acls(cluster, [binding])
    return binding


def test_rollback_area_grey_then_red_for_a_failed_drill_then_green_with_its_figures(
    scene: Scene,
):
    store = scene.build(with_payments=False)
    db = scene.db

    area, md = rollback_area(db)
    assert area["colour"] == "GREY", area
    assert "no rollback drill recorded" in area["summary"]

    denied = deny_rehearsal_writes_on_target(scene.target)
    try:
        failed = step(store, "rollback-drill")
    finally:
        delete_acls(scene.target, [denied])
    assert failed.state is StepState.FAILED
    assert "could not write on the target" in failed.reason, failed.reason
    area, md = rollback_area(db)
    assert area["colour"] == "RED" and area["blocks_cutover"], area
    assert (
        "the rollback drill failed: the rehearsal user could not write on the target"
        in (area["summary"])
    )
    # How far it got, for the review: the sub-steps it finished, then where it stopped.
    assert "fence: DENY WRITE on the source" in md and "switch: stopped here" in md

    # Run again with the refusal gone: the failed run cleaned up after itself, so a new
    # one starts (resuming it would look for a rehearsal topic that is no longer there).
    passed = step(store, "rollback-drill")
    assert passed.state is StepState.PASSED, passed.reason
    area, md = rollback_area(db)
    assert area["colour"] == "GREEN", area
    evidence = store.latest_evidence("rollback-drill", "rollback-drill")
    assert evidence.body["passed"] is True
    finding = area["findings"][0]
    assert [e["id"] for e in finding["evidence"]] == [evidence.id]
    # The drill's own figures stand beside the colour, in the JSON and the Markdown.
    figures = evidence.body["summary_lines"]
    assert figures and finding["details"] == figures
    for line in figures:
        assert line in md
    assert "copy-back: 20 target-only record(s) copied back" in md
    assert "verify: every target-only record on the source exactly once (20)" in md
    store.close()
