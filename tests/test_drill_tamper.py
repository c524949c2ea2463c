"""Fault drill: tampering with a run database, as an operator or an auditor meets it.

Each case edits the file directly in SQLite, as someone covering a mistake would, and
checks what ``cutover audit verify`` and ``cutover status`` say (BROKEN, naming the
first thing that no longer matches, exit 1) and that a gate which changes a cluster
stays shut. The run has a realistic history: a plan import, a step run with its gate,
evidence, lag rounds and a comparison window, all bound to the chain.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from console import runbook
from console.cli import steps as cli_steps
from console.cli.main import main
from console.plan import parse_plan
from console.plan import steps as steps_module
from console.plan.steps import StepDef, StepKind, StepState
from console.runbook import registry
from console.runbook.outcome import StepOutcome, StepRunner
from console.store import Store, audit
from console.store import db as store_db
from console.tui.app import CutoverApp
from console.tui.screens.help import HelpScreen
from tests.helpers import (
    demo_plan_text,
    fixed_clock,
    forge_entry,
    forge_fields,
    screen_lines,
)


@pytest.fixture
def db(tmp_path, layout):
    """A run with 13 audit entries: import, inventory run with evidence, two lag rounds, a
    comparison window, notes; in each audit-table layout."""
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.log("gate.confirmed", step="inventory", params={"via": "test"}, outcome="confirmed")
    started = store.claim_step("inventory", 4242, {"pid": 4242})
    evidence = store.add_evidence("inventory", "probe", {"topics": ["orders"], "ok": True})
    store.finish_step(
        "inventory", StepState.PASSED, "", ref=started.seq, params={"evidence": evidence},
        outcome="passed",
    )  # fmt: skip
    for lag in (5, 3):
        store.samples.write_round(store.clock(), [("orders", 0, 100, 100 - lag, lag, 0.5)])
    window = store.results.open_window(store.clock(), {"topics": ["orders"]}, own_chain=False)
    store.results.save_results(
        window, [("orders", 0, "missing", "OK", "none missing", {"source": 3}, [])],
        store.clock(), {},
    )  # fmt: skip
    for i in range(5):
        store.log("test.note", params={"n": i})
    assert store.audit_verify().ok and store.audit_verify().count == 13
    store.close()
    return path


def sql(path, *statements):
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(*statement) if isinstance(statement, tuple) else conn.execute(statement)
    conn.close()


def edit_outcome(path, seq: int, outcome: str) -> None:
    """Change an entry's outcome in place (its stored text in a version 3 file)."""
    conn = sqlite3.connect(path, isolation_level=None)
    forge_fields(conn, seq, outcome=outcome)
    conn.close()


def verify_says(path, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def status_says(path, capsys) -> tuple[int, str]:
    code = main(["status", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def rechain(path, start: int) -> None:
    """Recompute every hash from entry ``start`` on and move the head pointer, as someone
    who knows the format would after editing an entry."""
    conn = sqlite3.connect(path, isolation_level=None)
    entries = audit.entries(conn)
    prev = entries[start - 2].hash if start > 1 else audit.GENESIS
    for entry in entries[start - 1 :]:
        new = audit.entry_hash(prev, entry.canonical())
        conn.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new, entry.seq)
        )
        prev = new
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{entries[-1].seq}:{prev}",)
    )
    conn.close()


def cut_with_head(path, keep: int) -> None:
    """Remove the entries after ``keep`` and move the head pointer back to match."""
    conn = sqlite3.connect(path, isolation_level=None)
    head = conn.execute("SELECT hash FROM audit WHERE seq = ?", (keep,)).fetchone()[0]
    conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{keep}:{head}",))
    conn.close()


def insert_after(path, seq: int) -> None:
    """Insert a well-formed, correctly hashed entry after entry ``seq``."""
    conn = sqlite3.connect(path, isolation_level=None)
    prev = audit.entries(conn, since=seq - 1, limit=1)[0]
    conn.execute("UPDATE audit SET seq = -(seq + 1) WHERE seq > ?", (seq,))
    conn.execute("UPDATE audit SET seq = -seq WHERE seq < 0")
    fake = audit.Entry(seq + 1, prev.ts, "mallory", None, "gate.confirmed", "compare", {},
                       "confirmed", None, prev.hash, "")  # fmt: skip
    forge_entry(conn, replace(fake, hash=audit.entry_hash(prev.hash, fake.canonical())))
    conn.close()


def plan_toml_edit(path):
    conn = sqlite3.connect(path, isolation_level=None)
    text = conn.execute("SELECT toml FROM plan").fetchone()[0]
    text = text.replace("max_missing_records = 0", "max_missing_records = 999999")
    conn.execute("UPDATE plan SET toml = ?", (text,))
    conn.close()


def plan_json_edit(path):
    conn = sqlite3.connect(path, isolation_level=None)
    plan = json.loads(conn.execute("SELECT json FROM plan").fetchone()[0])
    plan["thresholds"]["max_duplicate_records"] = 50
    conn.execute("UPDATE plan SET json = ?", (json.dumps(plan),))
    conn.close()


def replaced_log(path):
    """A whole new chain that does not begin with the plan import."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM audit WHERE seq = 1")
    conn.execute("UPDATE audit SET seq = seq - 1")
    conn.close()
    rechain(path, 1)


def cut_with_checkpoint(path):
    """A status run recorded a checkpoint at the last entry; then the tail is cut and the
    head pointer moved back."""
    store = Store.open(path)
    assert store.save_audit_checkpoint(store.audit_verify())
    store.close()
    cut_with_head(path, 11)


def rechained_with_checkpoint(path):
    store = Store.open(path)
    assert store.save_audit_checkpoint(store.audit_verify())
    store.close()
    edit_outcome(path, 2, "failed")
    rechain(path, 2)


TAMPERS = {
    "edit an entry": (
        lambda p: edit_outcome(p, 2, "cancelled"),
        "entry 2 was edited: its contents no longer match its hash",
    ),
    "delete an entry": (
        lambda p: sql(p, "DELETE FROM audit WHERE seq = 12"),
        "entry 12 was removed",
    ),
    "reorder entries": (
        lambda p: sql(
            p,
            "UPDATE audit SET seq = -1 WHERE seq = 12",
            "UPDATE audit SET seq = 12 WHERE seq = 13",
            "UPDATE audit SET seq = 13 WHERE seq = -1",
        ),
        "entry 12 is out of order: it was chained after entry 13, which now comes later",
    ),
    "insert an entry": (
        lambda p: insert_after(p, 11),
        "entry 12 was inserted: entry 13 was chained directly after entry 11",
    ),
    "cut the tail, head pointer left": (
        lambda p: sql(p, "DELETE FROM audit WHERE seq > 11"),
        "the log ends at entry 11 but entry 13 was written: the newest entries were removed",
    ),
    "cut the tail with the head pointer, checkpoint beyond": (
        cut_with_checkpoint,
        "a verification reached entry 13, but the log ends at entry 11: the newest entries "
        "were removed",
    ),
    "cut the tail with the head pointer, past a step's finish": (
        lambda p: cut_with_head(p, 3),
        "step 'inventory' was changed outside cutover: it reads PASSED, but entry 3 recorded "
        "RUNNING",
    ),
    "empty the log": (
        lambda p: sql(p, "DELETE FROM audit", "DELETE FROM meta WHERE key = 'audit_head'"),
        "the audit log is empty: a run database always begins with its plan import, so every "
        "entry was removed",
    ),
    "replace the log with one that skips the import": (
        replaced_log,
        "the log does not begin with its plan import (entry 1 is 'gate.confirmed'): its "
        "beginning was removed or the log was replaced",
    ),
    "edit, re-chain, checkpoint recorded": (
        rechained_with_checkpoint,
        "entry 13 is not the entry a verification reached earlier (its hash changed): the log "
        "was rewritten from there or before",
    ),
    "garbage head pointer": (
        lambda p: sql(p, "UPDATE meta SET value = 'garbage' WHERE key = 'audit_head'"),
        "the head pointer is damaged ('garbage'): it should read '<entry>:<hash>'",
    ),
    "head pointer removed": (
        lambda p: sql(p, "DELETE FROM meta WHERE key = 'audit_head'"),
        "the head pointer is gone (the log ends at entry 13): the newest entries may have been "
        "removed with it",
    ),
    "step state set to PASSED": (
        lambda p: sql(p, "UPDATE steps SET state = 'passed' WHERE id = 'compare'"),
        "step 'compare' was changed outside cutover: it reads PASSED, but no entry records any "
        "change since the plan import",
    ),
    "step state rolled back": (
        lambda p: sql(p, "UPDATE steps SET state = 'failed' WHERE id = 'inventory'"),
        "step 'inventory' was changed outside cutover: it reads FAILED, but entry 5 recorded "
        "PASSED",
    ),
    "step reason edited": (
        lambda p: sql(p, "UPDATE steps SET reason = 'all fine' WHERE id = 'inventory'"),
        "step 'inventory' was changed outside cutover: its reason, time or process no longer "
        "match entry 5",
    ),
    "step row deleted": (
        lambda p: sql(p, "DELETE FROM steps WHERE id = 'shadow-lag'"),
        "step 'shadow-lag' was removed from the run database",
    ),
    "plan threshold raised (plan text)": (
        plan_toml_edit,
        "the stored plan was changed outside cutover: thresholds.max_missing_records differs "
        "from what entry 1 recorded at import",
    ),
    "plan threshold raised (plan JSON)": (
        plan_json_edit,
        "the stored plan was changed outside cutover: thresholds.max_duplicate_records differs "
        "from what entry 1 recorded at import",
    ),
    "evidence body edited": (
        lambda p: sql(p, 'UPDATE evidence SET body = \'{"ok": true, "topics": []}\''),
        "evidence 1 (probe of inventory) was changed outside cutover: it no longer matches entry 4",
    ),
    "evidence deleted": (
        lambda p: sql(p, "DELETE FROM evidence"),
        "evidence 1 was removed (entry 4 recorded it)",
    ),
    "evidence added": (
        lambda p: sql(
            p,
            "INSERT INTO evidence(step, kind, created_at, body) VALUES "
            "('compare', 'comparison', 'now', '{\"red\": 0}')",
        ),
        "evidence 2 (comparison of compare) was added outside cutover: no entry records it",
    ),
}


@pytest.mark.parametrize("case", TAMPERS)
def test_each_tamper_is_named_by_verify_and_status(db, capsys, case):
    tamper, problem = TAMPERS[case]
    tamper(db)
    code, said = verify_says(db, capsys)
    assert code == 1, said
    assert f"BROKEN: {problem}" in said
    assert "Traceback" not in said and "internal error" not in said
    code, said = status_says(db, capsys)
    assert code == 1, said
    assert f"CHAIN BROKEN: {problem}" in said


def test_bulk_evidence_edits_are_found_by_verify_and_new_ones_by_status(db, capsys):
    """Lag rounds and comparison windows behind the checkpoint are checked by a full
    verify; status checks those recorded after it."""
    sql(db, "UPDATE lag_samples SET lag_records = 0 WHERE round = 2")
    code, said = verify_says(db, capsys)
    assert code == 1
    assert (
        "BROKEN: lag samples of round 2 were changed outside cutover: they no longer match " in said
    )
    sql(db, "UPDATE lag_samples SET lag_records = 3 WHERE round = 2")
    sql(db, "UPDATE compare_results SET verdict = 'RED'")
    code, said = status_says(db, capsys)  # nothing checked yet: status walks it all
    assert code == 1 and "CHAIN BROKEN: comparison window 1 was changed outside cutover" in said
    sql(db, "UPDATE compare_results SET verdict = 'OK'")
    assert status_says(db, capsys)[0] == 0  # records a checkpoint
    sql(db, "UPDATE compare_results SET verdict = 'RED'")
    assert status_says(db, capsys)[0] == 0  # behind the checkpoint: status trusts it
    code, said = verify_says(db, capsys)
    assert code == 1 and "comparison window 1 was changed outside cutover" in said


def test_an_unknown_step_state_is_named_not_an_internal_error(db, capsys):
    sql(db, "UPDATE steps SET state = 'bogus' WHERE id = 'compare'")
    code, said = status_says(db, capsys)
    assert code == 1
    assert "step 'compare'" in said and "'bogus', which cutover never writes" in said
    assert "cutover audit verify" in said and "internal error" not in said
    code, said = verify_says(db, capsys)
    assert code == 1 and "step 'compare' was changed outside cutover: it reads BOGUS" in said


def test_an_intact_run_verifies_and_prints_its_head(db, capsys):
    code, said = verify_says(db, capsys)
    assert code == 0
    store = Store.open(db, readonly=True)
    head = store.audit_latest(1)[0].hash
    store.close()
    assert f"OK: 13 audit entries, chain intact; head {head[:16]}" in said
    assert status_says(db, capsys)[0] == 0


# -- a broken chain stops the gates that change a cluster ------------------------------------


def test_a_broken_chain_shuts_cluster_gates_and_says_why(db, capsys):
    plan_toml_edit(db)
    problem = (
        "the stored plan was changed outside cutover: thresholds.max_missing_records differs "
        "from what entry 1 recorded at import"
    )
    assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 2
    text = said(capsys)
    assert (
        f"cutover: gate for 'shadow-start' stayed shut: the audit chain is broken ({problem}); "
        "gates that change a cluster stay shut (undo steps stay open)"
    ) in text
    store = Store.open(db)
    blocked = store.audit_latest(1)[0]
    shadow = runbook.preview(store, "shadow-start")
    inventory = runbook.preview(store, "inventory")
    store.close()
    assert blocked.action == "gate.blocked" and problem in blocked.outcome
    assert shadow.blocked and problem in shadow.blocked
    # A step that reads only stays open, and its gate says the chain is broken.
    assert inventory.blocked is None
    assert inventory.warnings == (
        f"CHAIN BROKEN: {problem}; this step changes no cluster, so its gate stays open "
        "(recorded with the decision)",
    )


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


UNDO = StepDef(
    "test-undo", "cutover", "Undo a test cutover", "Removes a test fence.",
    confirm="test-undo", kind=StepKind.UNDO,
)  # fmt: skip


@pytest.fixture
def undo_step(monkeypatch):
    """An undo step (rollback, removing a fence) in the runbook, with a runner that passes."""
    monkeypatch.setattr(store_db, "STEPS", (*steps_module.STEPS, UNDO))
    monkeypatch.setattr(cli_steps, "STEPS", (*steps_module.STEPS, UNDO))
    monkeypatch.setitem(steps_module.BY_ID, UNDO.id, UNDO)
    ran = []

    def run(ctx):
        ran.append(ctx.key)
        return StepOutcome(ctx.key, StepState.PASSED, "", None)

    monkeypatch.setitem(registry.RUNNERS, UNDO.id, StepRunner(run, lambda ctx: ["undo"]))
    return ran


def test_an_undo_step_stays_open_on_a_broken_chain_and_its_entries_say_so(
    tmp_path, undo_step, capsys
):
    text = demo_plan_text("127.0.0.1:1", "127.0.0.1:2")
    path = tmp_path / "run.db"
    Store.create(path, text, parse_plan(text)).close()
    sql(
        path,
        "UPDATE evidence SET body = '{}'",
        "UPDATE steps SET state = 'passed' WHERE id = 'compare'",
    )
    problem = (
        "step 'compare' was changed outside cutover: it reads PASSED, but no entry records "
        "any change since the plan import"
    )
    store = Store.open(path)
    gate = runbook.preview(store, "test-undo")
    store.close()
    assert gate.blocked is None
    assert gate.warnings == (
        f"CHAIN BROKEN: {problem}; this undo step stays open so a migration is never locked "
        "half-way (recorded with the decision)",
    )
    assert main(["step", str(path), "test-undo", "--confirm", "test-undo"]) == 0
    out = said(capsys)
    assert f"warning: CHAIN BROKEN: {problem}" in out and "test-undo: PASSED" in out
    assert undo_step == ["test-undo"]
    store = Store.open(path, readonly=True)
    entries = {e.action: e for e in store.audit_latest(3)}
    store.close()
    assert entries["gate.confirmed"].params["chain"] == f"BROKEN: {problem}"
    assert entries["step.started"].params["chain"] == f"BROKEN: {problem}"
    assert entries["step.finished"].outcome == "passed"


async def test_the_console_says_chain_broken_on_every_screen_live_and_in_replay(db):
    sql(db, "UPDATE evidence SET body = replace(body, 'orders', 'orderz')")
    for readonly in (False, True):
        store = Store.open(db, readonly=readonly)
        app = CutoverApp(store, blink=False, poll=False, gate_guard_s=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            lines = screen_lines(app)
            assert "✗ CHAIN BROKEN" in lines[0]
            assert ("REPLAY" if readonly else "LIVE") in lines[0]
            # The audit pane's footer names what broke (cut to the pane's width).
            footer = next(line for line in lines if "entries ·" in line)
            assert "CHAIN BROKEN (verified" in footer and "evidence 1 (probe of i" in footer
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            assert "✗ CHAIN BROKEN" in screen_lines(app)[0]
        store.close()


FENCE = {
    "resource_type": "GROUP",
    "resource_name": "billing",
    "pattern_type": "LITERAL",
    "principal": "User:billing",
    "host": "*",
    "operation": "READ",
    "permission": "DENY",
}
ROW = {
    "topic": "orders", "partition": 0, "source_committed": 10, "target_offset": 12,
    "method": "exact", "exact": True, "bound_lo": None, "bound_hi": None, "replay": 0,
    "replay_min": 0, "skip": 0, "reverse_source": 10, "reason": "",
}  # fmt: skip


@pytest.fixture
def moved(db):
    """The run, plus a group move's offset plan (stored, applied) and its fence."""
    store = Store.open(db)
    plan_id = store.cutover.save_plan("billing", "translate", "builtin", [ROW])
    store.cutover.set_plan_state(plan_id, "applied")
    fence = store.cutover.add_fence("billing", "source", FENCE, preexisting=False)
    store.cutover.set_fence_state(fence, "active")
    assert store.audit_verify().ok
    store.close()
    return db


MOVE_TAMPERS = {
    "an offset in the stored plan": (
        "UPDATE offset_plan_rows SET target_offset = 0",
        "offset plan #1 was changed outside cutover: its offsets no longer match entry 15",
    ),
    "the offset plan's state": (
        "UPDATE offset_plans SET state = 'planned'",
        "offset plan #1 was changed outside cutover: it reads PLANNED, but entry 15 recorded "
        "APPLIED",
    ),
    "an offset plan added": (
        "INSERT INTO offset_plans(group_id, created_at, strategy, path, state, updated_at) "
        "VALUES ('billing', 'now', 'translate', 'builtin', 'planned', 'now')",
        "offset plan #2 was added outside cutover: no entry records it",
    ),
    "the fence removed from the record": (
        "DELETE FROM fences",
        "fence #1 was removed (entry 17 recorded it)",
    ),
    "the fence marked preexisting": (
        "UPDATE fences SET preexisting = 1",
        "fence #1 (READ GROUP billing for User:billing) was changed outside cutover: it no "
        "longer matches entry 17",
    ),
}


@pytest.mark.parametrize("case", MOVE_TAMPERS)
def test_offset_plans_and_fences_are_bound_to_the_chain(moved, capsys, case):
    """What a resumed move writes on the target and what a rollback removes: an edit in
    the file is named before either acts on it."""
    statement, problem = MOVE_TAMPERS[case]
    sql(moved, statement)
    verify_and_status_name(moved, capsys, problem)


def verify_and_status_name(db, capsys, problem: str) -> None:
    """`audit verify` and `status` both fail and name the edited row."""
    code, text = verify_says(db, capsys)
    assert code == 1, text
    assert f"BROKEN: {problem}" in text
    code, text = status_says(db, capsys)
    assert code == 1 and f"CHAIN BROKEN: {problem}" in text, text


# -- the producer cutover's rows ---------------------------------------------------------------

SOURCE_FENCE = {**FENCE, "resource_type": "TOPIC", "resource_name": "orders",
                "principal": "User:checkout", "operation": "WRITE"}  # fmt: skip
TARGET_FENCE = {**SOURCE_FENCE}


@pytest.fixture
def produced(db):
    """The run, plus a producer class moved (its run with sub-steps, its source fence and
    user, its cutover points, the rollback window it opened) and a rollback of it under
    way (its target fence in place), written through the store as the steps write them."""
    store = Store.open(db)
    table = store.producers
    move = table.start_run("checkout", "move")
    table.substep_started(move, "fence")
    fence = table.add_acl(move, "checkout", "source", "fence", SOURCE_FENCE, preexisting=False)
    table.set_acl_state(fence, "active")
    table.substep_done(move, "fence", {"fence_point": {"orders:0": 100}})
    user = table.add_user(move, "checkout", "target", "checkout", preexisting=False)
    table.set_user_state(user, "active")
    table.record_points(move, "checkout", [("orders", 0, 100, 40, True)], state="pending")
    table.set_points_state(move, "active")
    table.open_window("2026-12-01T10:00:00Z", "2026-12-01T12:00:00Z", move)
    table.update_facts(move, {"first_target_write": 40})
    table.set_run_state(move, "done")
    back = table.start_run("checkout", "rollback")
    table.substep_started(back, "target-fence")
    target = table.add_acl(back, "checkout", "target", "target-fence", TARGET_FENCE,
                           preexisting=False)  # fmt: skip
    table.set_acl_state(target, "active")
    assert store.audit_verify().ok
    store.close()
    return db


PRODUCER_TAMPERS = {
    "a run marked done": (
        "UPDATE producer_runs SET state = 'done' WHERE id = 2",
        "producer run #2 (rollback of checkout) was changed outside cutover: it reads DONE, "
        "but entry 27 recorded RUNNING",
    ),
    "the cutover points removed": (
        "DELETE FROM cutover_points",
        "the cutover points of producer run #1 were removed (entry 22 recorded them)",
    ),
    "a run's facts": (
        "UPDATE producer_runs SET facts = '{\"first_target_write\": 0}' WHERE id = 1",
        "producer run #1 (move of checkout) was changed outside cutover: it no longer matches "
        "entry 25",
    ),
    "a sub-step marked done": (
        "UPDATE producer_substeps SET state = 'done' WHERE name = 'target-fence'",
        "producer run #2 (rollback of checkout) was changed outside cutover: it no longer "
        "matches entry 27",
    ),
    "a run removed": (
        "DELETE FROM producer_runs WHERE id = 2",
        "producer run #2 was removed (entry 27 recorded it)",
    ),
    "a run added": (
        "INSERT INTO producer_runs(class, kind, state, started_at, updated_at) "
        "VALUES ('checkout', 'move', 'done', 'now', 'now')",
        "producer run #3 (move of checkout) was added outside cutover: no entry records it",
    ),
    "a cutover point's offset": (
        "UPDATE cutover_points SET target_offset = 0",
        "the cutover points of producer run #1 were changed outside cutover: they no longer "
        "match entry 22",
    ),
    "the cutover points rolled back": (
        "UPDATE cutover_points SET state = 'rolled-back'",
        "the cutover points of producer run #1 were changed outside cutover: they read "
        "ROLLED-BACK, but entry 22 recorded ACTIVE",
    ),
    "the target fence removed from the record": (
        "DELETE FROM producer_acls WHERE purpose = 'target-fence'",
        "producer ACL #2 was removed (entry 29 recorded it)",
    ),
    "the target fence marked preexisting": (
        "UPDATE producer_acls SET preexisting = 1 WHERE purpose = 'target-fence'",
        "producer ACL #2 (DENY WRITE TOPIC orders for User:checkout on the target, "
        "target-fence) was changed outside cutover: it no longer matches entry 29",
    ),
    "the source fence marked removed": (
        "UPDATE producer_acls SET state = 'removed' WHERE purpose = 'fence'",
        "producer ACL #1 (DENY WRITE TOPIC orders for User:checkout on the source, fence) "
        "was changed outside cutover: it reads REMOVED, but entry 17 recorded ACTIVE",
    ),
    "a user marked preexisting": (
        "UPDATE producer_users SET preexisting = 1",
        "producer user #1 (checkout on the target) was changed outside cutover: it no longer "
        "matches entry 20",
    ),
    "the rollback window's deadline": (
        "UPDATE rollback_window SET deadline = '2027-01-01T00:00:00Z'",
        "rollback window #1 was changed outside cutover: it no longer matches entry 23",
    ),
    "the rollback window closed": (
        "UPDATE rollback_window SET state = 'closed', closed_at = 'now'",
        "rollback window #1 was changed outside cutover: it reads CLOSED, but entry 23 "
        "recorded OPEN",
    ),
    "a rollback window added": (
        "INSERT INTO rollback_window(opened_at, deadline, state) VALUES ('a', 'b', 'open')",
        "rollback window #2 was added outside cutover: no entry records it",
    ),
}


@pytest.mark.parametrize("case", PRODUCER_TAMPERS)
def test_producer_runs_points_fences_and_the_window_are_bound_to_the_chain(produced, capsys, case):
    """What a resumed move or rollback acts on (its facts and done sub-steps, the ACLs it
    would remove, the cutover points, the window): an edit in the file is named by
    verify and status, and a gate that changes a cluster stays shut."""
    statement, problem = PRODUCER_TAMPERS[case]
    sql(produced, statement)
    verify_and_status_name(produced, capsys, problem)
    assert main(["step", str(produced), "shadow-start", "--confirm", "start-mirror"]) == 2
    assert f"the audit chain is broken ({problem})" in said(capsys)
    # The producer cutover's own undo: rolling the class back stays open (a migration is
    # never locked half-way), and its gate says the chain is broken and why.
    store = Store.open(produced)
    try:
        rollback = runbook.preview(store, "rollback:checkout")
    finally:
        store.close()
    assert rollback.blocked is None, rollback.blocked
    assert any(problem in w for w in rollback.warnings), rollback.warnings
