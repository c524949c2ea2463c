"""The operations drill on the real sandbox: the console restarts the target broker while
the built-in mirror copies a steady load, watches the lag sampler's rounds, and records
how the copy recovered; the scorecard's operations area reads that evidence.

The target broker really goes down (SIGTERM, two seconds down, started again with the
same data and ports, as ``cutover sandbox restart`` does); the copy must ride through it.
"""

from __future__ import annotations

import json
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from console import processes
from console.cli.main import main
from console.plan import parse_plan
from console.store import Store
from tests.helpers import demo_plan_text, wait_for
from tests.test_lag_trends import Load

PASSWORD = "admin-sandbox-pw"
DEADLINE_S = 120.0


def plan_text(source, target, topic: str, sandbox_dir: str) -> str:
    text = demo_plan_text(source.sasl_bootstrap, target.sasl_bootstrap)
    head = text[: text.index("[[topics]]")]
    return (
        head
        + f'[[topics]]\nname = "{topic}"\nowner = "team"\nexternal_side_effects = false\n'
        + "create_on_target = true\n\n"
        + "[thresholds]\nmax_shadow_lag_records = 1000000\nmax_shadow_lag_seconds = 3600\n"
        + "lag_trend_window_samples = 6\n"
        + '\n[shadow]\npath = "builtin"\nsample_interval_s = 0.5\n'
        + f'\n[drill]\nrestart = "sandbox"\nsandbox_dir = "{sandbox_dir}"\ndown_s = 2\n'
        + "recovery_limit_s = 90\n"
    )


def test_a_target_broker_restart_is_ridden_through_and_recorded(
    tmp_path, sandbox, source, target, monkeypatch, capsys
):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CUTOVER_DEMO_TARGET_PASSWORD", PASSWORD)
    topic = f"drill.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": source.plaintext_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    db = tmp_path / "run.db"
    text = plan_text(source, target, topic, str(sandbox.root))
    Store.create(db, text, parse_plan(text)).close()
    try:
        with Load(source.plaintext_bootstrap, topic, 100):
            assert main(["step", str(db), "inventory", "--confirm", "inventory"]) == 0
            assert main(["step", str(db), "shadow-start", "--confirm", "start-mirror"]) == 0
            # The drill requires the lag in bounds over a full window first.
            wait_for(
                lambda: main(["step", str(db), "shadow-lag", "--confirm", "shadow-lag"]) == 0,
                DEADLINE_S,
                "the shadow lag in bounds",
            )
            capsys.readouterr()
            code = main(["step", str(db), "ops-drill", "--confirm", "ops-drill", "--json"])
            out = capsys.readouterr().out
        assert code == 0, out
        outcome = json.loads(out)
        body = outcome["evidence"]
        assert body["mode"] == "sandbox" and body["recovered"] is True
        assert 0 <= body["recovery_s"] <= 90
        assert body["peak_lag_records"] >= body["baseline_lag_records"]
        # The restart is seen by the copy's clients: a rise in lag or a sampler round
        # held up on the unreachable target (never a restart nobody noticed).
        assert body["disruption_seen"] is True, body["timeline"]
        timeline = " | ".join(body["timeline"])
        assert "target broker stopped" in timeline and "answers again" in timeline
        assert "recovered" in timeline and "built-in mirror pid" in timeline
        assert "running" in body["copy"]

        store = Store.open(db, readonly=True)
        try:
            actions = [e.action for e in store.audit_since(0)]
            # The restart is audited before it is made and with its result after.
            assert actions.count("drill.restart") == 2
            mirror = processes.get(store, "mirror")
            assert mirror is not None and mirror.alive  # the copy rode through it
        finally:
            store.close()

        capsys.readouterr()
        main(["scorecard", str(db), "--json"])
        areas = {a["area"]: a for a in json.loads(capsys.readouterr().out)["areas"]}
        drill = next(f for f in areas["operations"]["findings"] if f["rule"] == "ops-drill")
        assert drill["colour"] == "GREEN", drill
        assert "lag back in" in drill["text"]
    finally:
        store = Store.open(db)
        for name in ("mirror", "sampler"):
            processes.stop(store, name, timeout=15)
        store.close()
