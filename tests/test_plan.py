"""Plan files: the example validates; each kind of mistake is named with file, line, field."""

from __future__ import annotations

import pytest

from console.cli.main import main
from console.plan import PlanError, load_plan, parse_plan
from tests.helpers import DEMO_PLAN, demo_plan_text


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.toml")
    return [str(p) for p in caught.value.problems]


def test_demo_plan_is_valid():
    plan = load_plan(DEMO_PLAN)
    assert plan.name == "demo-orders"
    assert [t.name for t in plan.topics] == ["orders", "payments", "customers"]
    assert plan.groups[0].offset_strategy == "translate"
    assert plan.clusters.source.password.env == "CUTOVER_DEMO_SOURCE_PASSWORD"


def test_wrong_type_names_line_and_field():
    text = demo_plan_text().replace("transactions = true", 'transactions = "yes please"')
    [message] = problems(text)
    line = text.splitlines().index('transactions = "yes please"') + 1
    assert message.startswith(f"plan.toml:{line}: topics[1].transactions:")
    assert "boolean" in message


def test_unknown_field_is_named_with_its_line():
    text = demo_plan_text().replace('owner = "crm-team"\nexternal', 'ownr = "crm-team"\nexternal')
    found = problems(text)
    assert any("topics[2].ownr: is not a known field" in p for p in found)
    assert any("topics[2].owner: is required but missing" in p for p in found)


def test_missing_cluster_is_named():
    text = demo_plan_text()
    start = text.index("[clusters.target]")
    end = text.index("[[topics]]")
    found = problems(text[:start] + text[end:])
    assert any("clusters.target: is required but missing" in p for p in found)


def test_password_is_never_accepted_inline():
    text = demo_plan_text().replace(
        'password = { env = "CUTOVER_DEMO_SOURCE_PASSWORD" }', 'password = "hunter2"'
    )
    [message] = problems(text)
    assert "clusters.source.password" in message


def test_sasl_without_secret_reference_is_refused():
    text = demo_plan_text().replace('password = { env = "CUTOVER_DEMO_SOURCE_PASSWORD" }\n', "", 1)
    [message] = problems(text)
    assert "clusters.source" in message and "needs password" in message


def test_offset_strategy_needs_its_parameter():
    text = demo_plan_text().replace("reset_timestamp = 2026-11-01T00:00:00Z\n", "")
    [message] = problems(text)
    assert "groups[1]" in message and "needs reset_timestamp" in message


def test_group_reading_unknown_topic_is_refused():
    text = demo_plan_text().replace('topics = ["orders"]', 'topics = ["ordres"]')
    [message] = problems(text)
    assert "ordres" in message and "not in the plan's topics" in message


def test_broken_toml_gives_line():
    [message] = problems("[plan\nname = 'x'\n")
    assert message.startswith("plan.toml:1: not valid TOML")


def test_cli_validate_ok_and_errors(tmp_path, capsys):
    assert main(["plan", "validate", str(DEMO_PLAN)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(
        demo_plan_text().replace('offset_strategy = "translate"', 'offset_strategy = "copy"')
    )
    assert main(["plan", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "groups[0].offset_strategy" in err and "Traceback" not in err
    assert main(["plan", "validate", str(tmp_path / "absent.toml")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_import_of_bad_plan_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(demo_plan_text().replace("[people]", "[peeple]"))
    db = tmp_path / "run.db"
    assert main(["plan", "import", str(bad), "--db", str(db)]) == 1
    assert not db.exists()
    assert list(tmp_path.iterdir()) == [bad]
