"""What the console says about the shadow path once it was stopped, with the real mirror,
real MirrorMaker 2 connectors and real clusters: no pane goes on saying the copy runs,
and removed connectors are not called FAILED.

The panes are fed by :mod:`console.tui.present` from the run database, as the console
reads it; these tests read the same views.
"""

from __future__ import annotations

import uuid

from console import processes
from console.cli.main import main
from console.plan import parse_plan
from console.shadow import mm2
from console.store import Store
from console.tui import present
from tests.helpers import shadow_plan_text
from tests.test_shadow import PASSWORD, fill, wait_for


def shown(db) -> tuple[str, list[str]]:
    """The Start shadow copy step's detail and the lag pane's process lines, as shown."""
    store = Store.open(db, readonly=True)
    try:
        snap = present.load_snapshot(store, recover_steps=False)
    finally:
        store.close()
    detail = present.step_detail(snap, "shadow-start", replay=False, progress="")
    text = " ".join([detail.reason, detail.now])
    return text, list(snap.lag.processes) if snap.lag else []


def started(db, name: str) -> bool:
    store = Store.open(db, readonly=True)
    try:
        info = processes.get(store, name)
        return info is not None and info.status == "RUNNING" and info.heartbeat_at is not None
    finally:
        store.close()


def test_after_the_builtin_mirror_stops_no_pane_says_it_runs(
    tmp_path, source, target, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    topic = f"bip.orders.{uuid.uuid4().hex[:8]}"
    fill(source.plaintext_bootstrap, topic, partitions=1, records=20)
    text = shadow_plan_text(source, target, topic, "builtin")
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    try:
        assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
        assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
        wait_for(lambda: started(db, "sampler"))
        detail, lines = shown(db)
        assert "mirror RUNNING" in detail
        assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 0
        capsys.readouterr()
        detail, lines = shown(db)
        everything = " ".join([detail, *lines])
        assert "RUNNING" not in everything and "running" not in everything, everything
        assert "mirror STOPPED" in detail and "sampler STOPPED" in detail
        assert "built-in mirror started (pid" in detail  # what happened, said as such
    finally:
        store = Store.open(db)
        for name in ("mirror", "sampler"):
            processes.stop(store, name, timeout=15)
        store.close()


def test_after_mirrormaker2_is_stopped_its_connectors_are_not_called_failed(
    tmp_path, source, target, connect, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    topic = f"mm2p.orders.{uuid.uuid4().hex[:8]}"
    fill(source.plaintext_bootstrap, topic, partitions=1, records=20)
    text = shadow_plan_text(
        source,
        target,
        topic,
        "mirrormaker2",
        extra_shadow=f'connect_url = "{connect.rest_url}"\nmm2_replication_factor = 1\n'
        "mm2_interval_s = 1\nmm2_tasks_max = 1\n",
    )
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    try:
        assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
        assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
        wait_for(lambda: any("MM2 RUNNING" in line for line in shown(db)[1]), timeout=60)
        assert main(["step", str(db), "shadow-stop", "--confirm", "stop-mirror"]) == 0
        capsys.readouterr()
        detail, lines = shown(db)
        everything = " ".join([detail, *lines])
        assert "FAILED" not in everything and "RUNNING" not in everything, everything
        assert any(line.startswith("MM2 REMOVED") for line in lines), lines
        assert "mm2 REMOVED" in detail and "sampler STOPPED" in detail
    finally:
        mm2.remove(parse_plan(text), connect.rest_url)
        store = Store.open(db)
        processes.stop(store, "sampler", timeout=10)
        store.close()
