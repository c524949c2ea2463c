"""The audit chain: intact logs verify, and every kind of tampering is found and named."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from console.cli.main import main
from console.plan import parse_plan
from console.plan.steps import StepState
from console.store import Store, audit, bindings
from tests.helpers import (
    demo_plan_text,
    fixed_clock,
    forge_entry,
    forge_fields,
)


@pytest.fixture
def db(tmp_path, layout):
    """A run database with ten audit entries, in each audit-table layout."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for i in range(2, 11):
        store.log("test.action", step="inventory", params={"n": i}, outcome="ok")
    store.close()
    return path


def raw(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def verdict(path) -> audit.Verdict:
    store = Store.open(path, readonly=True)
    try:
        return store.audit_verify()
    finally:
        store.close()


def test_intact_chain_verifies(db, capsys):
    v = verdict(db)
    assert v.ok and v.count == 10
    assert main(["audit", "verify", str(db)]) == 0
    assert "OK: 10 audit entries" in capsys.readouterr().out


def test_edited_entry_is_named(db, capsys):
    forge_fields(raw(db), 4, params=json.dumps({"n": 99}))
    v = verdict(db)
    assert not v.ok and v.seq == 4
    assert v.problem == "entry 4 was edited: its contents no longer match its hash"
    assert main(["audit", "verify", str(db)]) == 1
    assert "entry 4 was edited" in capsys.readouterr().err


def test_edited_and_rehashed_entry_is_still_found(db):
    conn = raw(db)
    entry = audit.entries(conn, since=4, limit=1)[0]
    forged = audit.Entry(**{**entry.__dict__, "outcome": "failed"})
    new_hash = audit.entry_hash(forged.prev_hash, forged.canonical())
    forge_fields(conn, 5, outcome="failed", hash=new_hash)
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert "entry 5 was rewritten" in v.problem


def test_removed_entry_is_named(db):
    raw(db).execute("DELETE FROM audit WHERE seq = 6")
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert v.problem == "entry 6 was removed"


def test_removed_and_renumbered_entry_is_found(db):
    conn = raw(db)
    conn.execute("DELETE FROM audit WHERE seq = 6")
    conn.execute("UPDATE audit SET seq = seq - 1 WHERE seq > 6")
    v = verdict(db)
    assert not v.ok and v.seq == 6
    assert "an entry was removed before entry 6" in v.problem


def test_inserted_entry_is_named(db):
    conn = raw(db)
    prev = audit.entries(conn, since=2, limit=1)[0]  # entry 3
    conn.execute("UPDATE audit SET seq = -(seq + 1) WHERE seq > 3")
    conn.execute("UPDATE audit SET seq = -seq WHERE seq < 0")
    fake = audit.Entry(
        4, prev.ts, "mallory", None, "gate.confirmed", "inventory", {}, "ok", None, prev.hash, ""
    )
    h = audit.entry_hash(prev.hash, fake.canonical())
    forge_entry(conn, replace(fake, hash=h))
    v = verdict(db)
    assert not v.ok and v.seq == 4
    assert v.problem.startswith("entry 4 was inserted")


def test_reordered_entries_are_named(db):
    conn = raw(db)
    conn.execute("UPDATE audit SET seq = -1 WHERE seq = 7")
    conn.execute("UPDATE audit SET seq = 7 WHERE seq = 8")
    conn.execute("UPDATE audit SET seq = 8 WHERE seq = -1")
    v = verdict(db)
    assert not v.ok and v.seq == 7
    assert "entry 7 is out of order" in v.problem


def test_truncated_tail_is_found(db):
    raw(db).execute("DELETE FROM audit WHERE seq > 8")
    v = verdict(db)
    assert not v.ok
    assert "the newest entries were removed" in v.problem


def test_renumbered_entries_with_the_chain_intact_are_named(db):
    """Sequence numbers are outside the hash: a gap in them, every entry still chained
    to the one before, is found by its numbers alone."""
    raw(db).execute("UPDATE audit SET seq = seq + 5 WHERE seq > 6")
    v = verdict(db)
    assert not v.ok and v.seq == 7 and v.count == 6
    assert v.problem == "entries 7 to 11 were removed"


def test_a_rewritten_table_definition_is_named(tmp_path, capsys):
    """A version 3 entry's fields are computed by expressions in the table's definition,
    which no hash covers: rewriting one shows a forged outcome while every entry still
    hashes right, so verify checks the definition itself."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.log("gate.cancelled", step="inventory", outcome="cancelled")
    store.close()
    conn = raw(path)
    definition = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit'").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = ? WHERE name = 'audit'",
        (definition.replace(audit._field("outcome"), "'confirmed'"),),
    )
    conn.close()
    store = Store.open(path, readonly=True)
    shown = store.audit_since(0)[-1]
    v = store.audit_verify()
    store.close()
    assert shown.outcome == "confirmed"  # what the forged definition shows
    assert not v.ok and v.problem.startswith("the audit table's definition was changed")
    assert main(["audit", "verify", str(path)]) == 1
    assert "definition was changed outside cutover" in capsys.readouterr().err


def test_a_stored_text_that_is_not_json_is_named_and_the_screens_still_open(tmp_path, capsys):
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for i in range(4):
        store.log("test.action", step="inventory", params={"n": i}, outcome="ok")
    store.close()
    raw(path).execute("UPDATE audit SET body = 'not json' WHERE seq = 3")
    v = verdict(path)
    assert not v.ok and v.problem == "entry 3 was edited: its contents no longer match its hash"
    assert main(["status", str(path)]) != 0
    out = capsys.readouterr()
    assert "entry 3 was edited" in out.out + out.err and "Traceback" not in out.out + out.err
    store = Store.open(path, readonly=True)
    broken = [e for e in store.audit_since(0) if e.seq == 3][0]
    store.close()
    assert broken.action is None and broken.params == {"<unreadable>": "None"}


def test_secrets_are_redacted_in_params(tmp_path):
    text = demo_plan_text()
    store = Store.create(tmp_path / "r.db", text, parse_plan(text))
    from console import redact

    redact.register("s3cr3t-value-xyz")
    store.log("x", params={"sasl.password": "anything", "note": "pw is s3cr3t-value-xyz"})
    store.close()
    blob = (tmp_path / "r.db").read_bytes()
    assert b"s3cr3t-value-xyz" not in blob and b"anything" not in blob


def test_a_very_short_secret_does_not_mangle_other_text():
    from console import redact

    redact.register("q")
    assert redact.text("sequence q") == "sequence q"
    assert redact.text("q") == redact.MASK
    assert redact.value({"note": "q", "topic": "quorum"}) == {"note": "***", "topic": "quorum"}


def test_a_verdict_named_passed_is_not_masked_but_passwords_are():
    """Evidence keeps its verdict: a masked False ("***") would read as true to whoever
    checks it (the move gate's drill precondition did)."""
    from console import redact

    shown = redact.value(
        {"passed": False, "password": "x", "sasl.password": "y", "db_pass": "z", "pass": "w"}
    )
    assert shown == {
        "passed": False,
        "password": "***",
        "sasl.password": "***",
        "db_pass": "***",
        "pass": "***",
    }


def test_export_is_json_lines(db, tmp_path, capsys):
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", str(db), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    assert first["seq"] == 1 and first["action"] == "plan.imported"
    assert first["prev_hash"] == audit.GENESIS
    assert json.loads(lines[1])["prev_hash"] == first["hash"]


def test_export_writes_each_entry_as_the_screens_read_it(tmp_path, layout, capsys):
    """Every line is the entry as stored and shown, whatever its values, on both layouts:
    the export reads a version 3 entry's text once, so it must agree with the columns."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.log("a.é", step="inventory", params={"z": [1, {"b": None}], "ü": '\u2028"q'})
    store.log("b", params={"f": 0.1, "big": 2**70, "t": True}, outcome="ok", ref=1)
    store.close()
    store = Store.open(path, readonly=True)
    expected = [
        json.dumps(asdict(e), sort_keys=True, ensure_ascii=False) for e in store.audit_since(0)
    ]
    assert list(store.audit_export()) == expected
    store.close()
    assert main(["audit", "export", str(path)]) == 0
    # split on newlines only: U+2028 in a value is text, not a line break, in JSON lines
    assert capsys.readouterr().out.split("\n")[:-1] == expected
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", str(path), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").split("\n")[:-1] == expected
    assert "Wrote 3 entries" in capsys.readouterr().err
    assert not Path(f"{out}.tmp").exists()


def test_an_export_that_cannot_be_written_says_so_and_leaves_nothing(db, tmp_path, capsys):
    target = tmp_path / "no-such-dir" / "audit.jsonl"
    assert main(["audit", "export", str(db), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {target} (No such file or directory)" in err
    assert "choose another -o path" in err and "internal error" not in err
    assert not target.parent.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"action": "x", "params": "a string"}',
        '{"action": 5, "params": {}, "ts": "t"}',
        '{"action": "x", "params": {}, "ref": "7"}',
        '{"action": "x", "params": {}, "outcome": true}',
        '{"params": {}}',
    ],
)
def test_export_of_an_edited_text_shows_what_the_screens_show(tmp_path, body):
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.log("test.action", params={"n": 1})
    store.close()
    raw(path).execute("UPDATE audit SET body = ? WHERE seq = 2", (body,))
    store = Store.open(path, readonly=True)
    shown = store.audit_since(0)
    exported = [json.loads(line) for line in store.audit_export()]
    store.close()
    assert exported == [json.loads(json.dumps(asdict(e))) for e in shown]


def _rebuild_binding_index(path, condition: str = "", step: str = "step") -> None:
    """Rebuild the binding index as someone with sqlite3 could: leaving out the entries
    ``condition`` excludes, or listing them under the step ``step`` computes; then give
    it back its proper definition under ``writable_schema``, so SQLite uses it as ours."""
    conn = raw(path)
    (definition,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'audit_bindings'"
    ).fetchone()
    conn.execute("DROP INDEX audit_bindings")
    conn.execute(definition.replace("(action, step, seq)", f"(action, {step}, seq)") + condition)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'audit_bindings'", (definition,))
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()


def _compare_failed_then_set_back_to_passed(path) -> int:
    """A run database where compare PASSED, then FAILED; its step row is then put back as
    the PASSED entry recorded it (an old copy of the row). Returns the FAILED entry."""
    text = demo_plan_text()
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    store.set_step("compare", StepState.PASSED, "all matched")
    passed = store.conn.execute("SELECT * FROM steps WHERE id = 'compare'").fetchone()
    newest = store.set_step("compare", StepState.FAILED, "17 records missing")
    store.close()
    conn = raw(path)
    columns = [c[1] for c in conn.execute("PRAGMA table_info(steps)")]
    conn.execute(
        f"UPDATE steps SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = 'compare'",
        passed,
    )
    conn.close()
    return newest.seq


def test_a_binding_index_rebuilt_to_hide_the_newest_state_is_named(tmp_path, layout, capsys):
    """Every binding check finds its entries through SQLite's index, which SQLite trusts as
    stored. Rebuilt to leave out compare's FAILED entry, with the row put back as PASSED,
    the checks alone would see PASSED; verify compares the index with the chain."""
    path = tmp_path / "run.db"
    hidden = _compare_failed_then_set_back_to_passed(path)
    _rebuild_binding_index(path, condition=f" AND seq != {hidden}")
    assert main(["audit", "verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"BROKEN: entry {hidden} (step.set of compare) is missing from the binding index: the "
        "index was rebuilt outside cutover" in err
    )
    assert main(["status", str(path)]) == 1
    out = capsys.readouterr()
    assert f"entry {hidden} (step.set of compare) is missing" in out.out + out.err
    assert main(["audit", "verify", str(path), "--deep"]) == 1
    out = capsys.readouterr()
    assert "BROKEN (SQLite): " in out.err and "audit_bindings" in out.err
    assert "restore it from a copy" in out.err and "Traceback" not in out.err


def test_a_binding_index_rebuilt_to_list_an_entry_under_another_step_is_named(
    tmp_path, layout, capsys
):
    path = tmp_path / "run.db"
    hidden = _compare_failed_then_set_back_to_passed(path)
    _rebuild_binding_index(path, step=f"CASE WHEN seq = {hidden} THEN 'inventory' ELSE step END")
    assert main(["audit", "verify", str(path)]) == 1
    assert (
        f"the binding index lists entry {hidden} as step.set of inventory, but it is "
        "step.set of compare" in capsys.readouterr().err
    )


def test_an_intact_index_over_awkward_steps_and_many_bindings_verifies(tmp_path, layout):
    """The walk reads each binding entry's step from its hashed text; steps written
    however JSON writes them, and a log with many binding entries, still agree."""
    text = demo_plan_text()
    path = tmp_path / "run.db"
    store = Store.create(path, text, parse_plan(text), clock=fixed_clock())
    for state in (StepState.RUNNING, StepState.PASSED, StepState.FAILED) * 3:
        store.set_step("compare", state, 'a "quoted", \\ ünïcode \n reason')
    store.log("evidence.added", step='odd "step",\n é', params={"step": ',"step":"x"'})
    store.close()
    assert verdict(path).ok, verdict(path).problem


def test_the_deep_check_of_an_intact_file_says_so(db, capsys):
    assert main(["audit", "verify", str(db), "--deep"]) == 0
    out = capsys.readouterr()
    assert "OK: 10 audit entries" in out.out
    assert "SQLite: every page, table and index agrees with itself" in out.out
    assert "checking SQLite's own structures" in out.err


# -- streaming verification, the checkpoint, grouped appends ------------------------------------


def full_and_incremental(path) -> tuple[audit.Verdict, audit.Verdict]:
    store = Store.open(path, readonly=True)
    try:
        return store.audit_verify(full=True), store.audit_verify(full=False)
    finally:
        store.close()


def set_checkpoint(path, seq: int) -> None:
    """Record a checkpoint at entry ``seq``, as an intact verification that far would."""
    conn = raw(path)
    entry = audit.entries(conn, since=seq - 1, limit=1)[0]
    assert audit.write_checkpoint(conn, audit.Verdict(True, seq, entry.hash))


def edit(conn):
    forge_fields(conn, 4, params=json.dumps({"n": 99}))


def rehash(conn):
    entry = audit.entries(conn, since=4, limit=1)[0]
    forged = audit.Entry(**{**entry.__dict__, "outcome": "failed"})
    new_hash = audit.entry_hash(forged.prev_hash, forged.canonical())
    forge_fields(conn, 5, outcome="failed", hash=new_hash)


def remove(conn):
    conn.execute("DELETE FROM audit WHERE seq = 6")


def remove_and_renumber(conn):
    remove(conn)
    conn.execute("UPDATE audit SET seq = seq - 1 WHERE seq > 6")


def insert(conn):
    prev = audit.entries(conn, since=2, limit=1)[0]
    conn.execute("UPDATE audit SET seq = -(seq + 1) WHERE seq > 3")
    conn.execute("UPDATE audit SET seq = -seq WHERE seq < 0")
    fake = audit.Entry(4, prev.ts, "m", None, "gate.confirmed", "x", {}, "ok", None, prev.hash, "")
    forge_entry(conn, replace(fake, hash=audit.entry_hash(prev.hash, fake.canonical())))


def reorder(conn):
    conn.execute("UPDATE audit SET seq = -1 WHERE seq = 7")
    conn.execute("UPDATE audit SET seq = 7 WHERE seq = 8")
    conn.execute("UPDATE audit SET seq = 8 WHERE seq = -1")


def cut_tail(conn):
    conn.execute("DELETE FROM audit WHERE seq > 8")


TAMPERS = {
    "edit": (edit, 4, "entry 4 was edited: its contents no longer match its hash"),
    "edit and rehash": (
        rehash,
        6,
        "an entry was removed before entry 6, or entry 5 was rewritten: "
        "the hash it was chained to is gone",
    ),
    "remove": (remove, 6, "entry 6 was removed"),
    "remove and renumber": (
        remove_and_renumber,
        6,
        "an entry was removed before entry 6, or entry 5 was rewritten: "
        "the hash it was chained to is gone",
    ),
    "insert": (insert, 4, "entry 4 was inserted: entry 5 was chained directly after entry 3"),
    "reorder": (
        reorder,
        7,
        "entry 7 is out of order: it was chained after entry 8, which now comes later",
    ),
    "cut tail": (
        cut_tail,
        9,
        "the log ends at entry 8 but entry 10 was written: the newest entries were removed",
    ),
}


@pytest.mark.parametrize("kind", TAMPERS)
def test_streaming_verify_names_each_tamper_the_same_way_with_or_without_checkpoint(db, kind):
    """The streamed walk gives the messages the in-memory walk gave; an incremental walk
    from a checkpoint before the damage names it exactly as the full walk does."""
    tamper, seq, problem = TAMPERS[kind]
    set_checkpoint(db, 2)
    tamper(raw(db))
    full, incremental = full_and_incremental(db)
    assert (full.ok, full.seq, full.problem) == (False, seq, problem)
    assert (incremental.ok, incremental.seq, incremental.problem) == (False, seq, problem)


def test_checkpoint_limits_incremental_verify_to_new_entries(db):
    store = Store.open(db)
    assert store.save_audit_checkpoint(store.audit_verify())
    for i in range(3):
        store.log("test.more", params={"i": i})
    full, incremental = store.audit_verify(full=True), store.audit_verify(full=False)
    store.close()
    assert (full.ok, full.count, full.since, full.checked) == (True, 13, 0, 13)
    assert (incremental.ok, incremental.count, incremental.since, incremental.checked) == (
        True,
        13,
        10,
        3,
    )
    assert incremental.head_hash == full.head_hash


def test_edit_behind_the_checkpoint_is_found_by_audit_verify(db, capsys):
    """The checkpoint is a cache for status and the console; `audit verify` walks it all."""
    set_checkpoint(db, 10)
    edit(raw(db))
    full, incremental = full_and_incremental(db)
    assert incremental.ok and incremental.since == 10 and incremental.checked == 0
    assert not full.ok and full.problem.startswith("entry 4 was edited")
    assert main(["status", str(db)]) == 0
    out = capsys.readouterr().out
    assert "(up to entry 10 verified earlier; 'cutover audit verify' checks all)" in out
    assert main(["audit", "verify", str(db)]) == 1
    assert "BROKEN: entry 4 was edited" in capsys.readouterr().err


def test_edited_checkpoint_entry_is_found(db):
    set_checkpoint(db, 8)
    forge_fields(raw(db), 8, outcome="forged")
    full, incremental = full_and_incremental(db)
    assert not incremental.ok
    assert (
        incremental.problem
        == full.problem
        == ("entry 8 was edited: its contents no longer match its hash")
    )


@pytest.mark.parametrize(
    "value", ["10:" + "f" * 64, "999:" + "0" * 64, "garbage", "10:", "-3:" + "a" * 64]
)
def test_a_checkpoint_that_does_not_match_the_chain_is_not_trusted(db, value):
    """A forged or damaged checkpoint row costs a full walk, never a skipped entry."""
    raw(db).execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (audit.CHECKPOINT_KEY, value)
    )
    edit(raw(db))
    _, incremental = full_and_incremental(db)
    assert not incremental.ok and incremental.problem.startswith("entry 4 was edited")


def test_forged_checkpoint_over_an_edit_does_not_fool_audit_verify(db, capsys):
    edit(raw(db))
    set_checkpoint(db, 10)  # what someone covering the edit would write
    assert main(["audit", "verify", str(db)]) == 1
    assert "entry 4 was edited" in capsys.readouterr().err


def test_status_checks_only_what_is_new_and_remembers_it(db, capsys):
    def status() -> dict:
        assert main(["status", str(db), "--json"]) == 0
        return json.loads(capsys.readouterr().out)["audit"]

    assert status() == {
        "ok": True,
        "entries": 10,
        "problem": None,
        "checked": 10,
        "checked_earlier": 0,
    }
    again = status()
    assert (again["checked"], again["checked_earlier"]) == (0, 10)
    store = Store.open(db)
    store.log("test.more")
    store.close()
    after = status()
    assert (after["checked"], after["checked_earlier"], after["entries"]) == (1, 10, 11)


def test_audit_verify_writes_nothing(db):
    before = db.read_bytes()
    assert main(["audit", "verify", str(db)]) == 0
    assert db.read_bytes() == before
    assert audit.read_checkpoint(raw(db)) is None


def test_entries_sqlite_renders_differently_verify_and_their_edits_are_found(tmp_path, layout):
    """Non-ASCII parameters, control characters, awkward numbers: whatever the fast
    rendering makes of them, an intact entry verifies and an edited one is named."""
    text = demo_plan_text()
    store = Store.create(tmp_path / "r.db", text, parse_plan(text), clock=fixed_clock())
    odd = [
        {"topic": "zahlungen-ü", "note": "→ ✓", "ключ": "значение"},
        {"tiny": 1e-7, "huge": 2**70, "neg": -0.0, "list": [1.5, "x\u2028y", None, True]},
        {"ctrl": 'a\x01b\x1fc\td\ne\\f"g', "nested": {"b": 1, "a": {"z": [], "y": {}}}},
    ]
    for i, params in enumerate(odd):
        store.log("test.odd", step="inventory", params=params, outcome=f"Ausgang {i} ✓\x02")
    store.log_many([audit.Draft("test.odd", params=p) for p in odd])
    assert store.audit_verify().ok and store.audit_verify().count == 7
    store.close()
    forge_fields(raw(tmp_path / "r.db"), 3, params=json.dumps({"tiny": 1e-6}))
    v = verdict(tmp_path / "r.db")
    assert not v.ok and v.problem == "entry 3 was edited: its contents no longer match its hash"


def test_grouped_appends_make_one_chain_with_single_ones(db):
    store = Store.open(db)
    store.log("gate.confirmed", step="inventory", outcome="confirmed")
    made = store.log_many(
        [audit.Draft("lag.sample", step="shadow-lag", params={"round": i}) for i in range(50)]
    )
    store.log("step.finished", step="inventory", outcome="passed")
    entries = store.audit_since(0)
    v = store.audit_verify()
    store.close()
    assert [e.seq for e in made] == list(range(12, 62))
    assert made[0].prev_hash == entries[10].hash and entries[61].prev_hash == made[-1].hash
    assert v.ok and v.count == 62 and v.head_hash == entries[-1].hash


def test_gate_decisions_are_never_grouped(db):
    store = Store.open(db)
    with pytest.raises(ValueError, match=r"gate\.confirmed must be appended on its own"):
        store.log_many([audit.Draft("lag.sample"), audit.Draft("gate.confirmed")])
    assert store.log_many([]) == []
    assert store.audit_verify().count == 10
    store.close()


def test_a_group_that_fails_appends_nothing(db):
    store = Store.open(db)
    with pytest.raises(TypeError):
        store.log_many([audit.Draft("lag.sample"), audit.Draft("x", params={"o": object()})])
    v = store.audit_verify()
    store.close()
    assert v.ok and v.count == 10


def test_each_entry_hashes_its_documented_canonical_form(tmp_path):
    """Appends render an entry's JSON once and assemble the canonical text around it; the
    hash must still be over exactly ``Entry.canonical()`` (the dict encoded whole)."""
    text = demo_plan_text()
    store = Store.create(tmp_path / "r.db", text, parse_plan(text))
    odd = {
        "ü→": ["x\u2028y", None, True, 1.5e-7, 2**70],
        "q": 'a"b\\c\x01',
        "n": {"b": {}, "a": []},
    }
    made = [store.log("test.odd", step="inventory", params=odd, outcome='say "✓"\n', ref=1)]
    made.append(store.log("test.none"))
    made += store.log_many([audit.Draft("test.odd", params=odd, outcome=None, ref=None)] * 3)
    stored = store.audit_since(1)
    store.close()
    for entry in made:
        assert entry.hash == audit.entry_hash(entry.prev_hash, entry.canonical())
    assert stored == made


def test_an_audit_insert_builds_no_temporary_table(tmp_path):
    """The binding index's condition is evaluated on every append; written as an IN list it
    made SQLite build an 18-row temporary table per insert (a third of an append's own
    cost). Its queries must still use it."""
    text = demo_plan_text()
    store = Store.create(tmp_path / "r.db", text, parse_plan(text))
    with store.lock:
        program = store.conn.execute(f"EXPLAIN {audit._INSERT}", (None,) * 4).fetchall()
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq, step, params FROM audit "
            f"WHERE {bindings._BOUND} AND action IN ('step.set') ORDER BY seq"
        ).fetchall()
    store.close()
    assert "OpenEphemeral" not in {row[1] for row in program}
    assert any("USING INDEX audit_bindings" in row[-1] for row in plan)


def test_timestamps_follow_the_clock_across_second_boundaries(monkeypatch):
    """``utc_now`` keeps the text up to the second between calls; it must still change
    with the second (and go back with a clock set back), to the millisecond."""
    import datetime

    moments = [
        1_796_150_000_999_999_999,  # the last nanosecond of a second
        1_796_150_001_000_000_000,  # the next second
        1_796_150_001_123_456_789,
        1_796_149_000_500_000_000,  # the clock set back
        1_796_150_060_000_000_000,  # a minute on
    ]
    for ns in moments:
        monkeypatch.setattr(audit.time, "time_ns", lambda ns=ns: ns)
        expected = datetime.datetime.fromtimestamp(ns // 1_000_000 / 1000, datetime.UTC)
        assert audit.utc_now() == expected.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
