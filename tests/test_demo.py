"""The built-in demo, as `make demo` prepares it: sandbox, seeded source, live workload,
a run database whose plan points at the sandbox and whose Inventory step passes."""

from __future__ import annotations

import time

from console import processes
from console.cli.main import main
from console.sandbox import demo
from console.store import Store


def test_demo_prepares_a_run_that_inventories_and_has_live_traffic(
    sandbox, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_SANDBOX_DIR", str(sandbox.root))
    # `cutover demo` exports the sandbox-only passwords to its own process for the
    # console; keep that from leaking into the rest of the test session.
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "")
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", "")
    assert main(["demo", "--dir", str(tmp_path), "--prepare-only"]) == 0
    db = capsys.readouterr().out.strip()
    assert db == str(tmp_path / "demo.db")
    store = Store.open(db)
    try:
        assert store.plan.clusters.source.bootstrap_servers == sandbox.source.sasl_bootstrap
        assert "admin-sandbox-pw" not in (tmp_path / "demo-plan.toml").read_text()
        workload = processes.get(store, "workload")
        assert workload is not None and workload.alive

        # Live traffic: the source keeps growing while nobody does anything.
        bootstrap = sandbox.source.plaintext_bootstrap
        before = sum(demo.end_offsets(bootstrap, "orders", 6))
        # The workload is a process of its own: on a loaded 2-core machine its start alone
        # takes seconds, so the deadline is that of a process start, not of one record.
        deadline = time.monotonic() + 120
        while sum(demo.end_offsets(bootstrap, "orders", 6)) <= before:
            assert time.monotonic() < deadline, "the demo workload wrote nothing in 120 s"
            time.sleep(0.5)

        assert main(["step", db, "inventory", "--confirm", "inventory"]) == 0
        assert "inventory: PASSED" in capsys.readouterr().out
    finally:
        processes.stop(store, "workload", timeout=15)
        store.close()
