"""Every command given the run database as a relative path, from the database's directory.

``cutover step run.db shadow-start`` used to fail with "mirror exited during start-up:
run.db does not exist": the mirror process resolved the name from another directory (it
could even have opened another file of the same name). The path is now made absolute
once, when the store opens, before anything is spawned. Each command runs as its own
process with the database's directory as its working directory, as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from console.sandbox.plans import sandbox_plan_text
from console.store import Store
from tests.helpers import ROOT

PASSWORD = "admin-sandbox-pw"


def cutover(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CUTOVER_DEMO_SOURCE_PASSWORD": PASSWORD,
        "CUTOVER_DEMO_TARGET_PASSWORD": PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_command_works_with_a_relative_database_path(tmp_path, source, target):
    topic = f"rel.orders-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": source.plaintext_bootstrap})
    for i in range(200):
        producer.produce(topic, key=f"k{i}".encode(), value=b"v")
    producer.flush(30)
    (tmp_path / "plan.toml").write_text(
        sandbox_plan_text(
            source.sasl_bootstrap,
            target.sasl_bootstrap,
            {topic: True},
            name="relative",
            extra="[shadow]\nsample_interval_s = 0.5\n",
        )
    )
    here = tmp_path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.db").write_text("a different file of the same name")

    def ok(*args: str, codes=(0,)) -> subprocess.CompletedProcess:
        done = cutover(here, *args)
        assert done.returncode in codes, (args, done.stdout, done.stderr)
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
        return done

    ok("plan", "validate", "plan.toml")
    ok("plan", "import", "plan.toml", "--db", "run.db")
    ok("status", "run.db")
    ok("step", "run.db", "inventory", "--confirm", "inventory")
    started = ok("step", "run.db", "shadow-start", "--confirm", "start-mirror")
    assert "shadow-start: PASSED" in started.stdout
    deadline = time.monotonic() + 90
    while True:
        lag = cutover(here, "lag", "run.db", "--json")
        parts = json.loads(lag.stdout or "{}").get("partitions") if lag.stdout else None
        if parts and all(p.get("lag_records") == 0 for p in parts):
            break
        assert time.monotonic() < deadline, (lag.stdout, lag.stderr)
        time.sleep(0.5)
    ok("compare", "run.db", "--json", codes=(0, 1, 3))
    ok("mm2", "config", "run.db", codes=(0, 2))
    ok("audit", "verify", "run.db")
    ok("audit", "export", "run.db", "-o", "audit.jsonl")
    ok("step", "run.db", "shadow-stop", "--confirm", "stop-mirror")
    store = Store.open(here / "run.db", readonly=True)
    procs = {p.name: p for p in store.processes.all()}
    store.close()
    # The mirror and the sampler opened this run database, wherever they ran from.
    assert procs["mirror"].state == "stopped" and procs["sampler"].state == "stopped"
    assert Path(procs["mirror"].log_path).parent == here / "run.db.logs"
    assert (elsewhere / "run.db").read_text() == "a different file of the same name"
    assert (here / "audit.jsonl").read_text().count("\n") > 5
