"""Credentials: the keyring when there is one, a named environment variable when not, and
never a password on disk."""

from __future__ import annotations

import io

import keyring
import keyring.backends.fail
import pytest

from console.cli.main import main
from console.plan import credentials, load_plan
from tests.helpers import DEMO_PLAN, MemoryKeyring


@pytest.fixture
def no_keyring(monkeypatch):
    """A bare bastion: keyring finds no backend and raises NoKeyringError."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.delenv("CUTOVER_DEMO_SOURCE_PASSWORD", raising=False)
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(monkeypatch):
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.delenv("CUTOVER_DEMO_SOURCE_PASSWORD", raising=False)
    yield backend
    keyring.set_keyring(previous)


def test_missing_keyring_names_the_environment_fallback(no_keyring):
    plan = load_plan(DEMO_PLAN)
    with pytest.raises(credentials.CredentialError) as caught:
        credentials.resolve_password(plan, "source")
    message = str(caught.value)
    assert "no usable keyring on this host" in message
    assert "export CUTOVER_DEMO_SOURCE_PASSWORD" in message


def test_environment_variable_works_without_keyring(no_keyring, monkeypatch):
    monkeypatch.setenv("CUTOVER_DEMO_SOURCE_PASSWORD", "from-env-123")
    assert credentials.resolve_password(load_plan(DEMO_PLAN), "source") == "from-env-123"


def test_cli_set_without_keyring_fails_clearly(no_keyring, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-never-stored\n"))
    code = main(["credentials", "set", "source", "--plan", str(DEMO_PLAN), "--stdin"])
    assert code == 1
    err = capsys.readouterr().err
    assert "no usable keyring" in err and "CUTOVER_DEMO_SOURCE_PASSWORD" in err
    assert "pw-never-stored" not in err and "Traceback" not in err


def test_cli_set_stores_in_keyring_and_nowhere_else(memory_keyring, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("kr-secret-456\n"))
    assert main(["credentials", "set", "source", "--plan", str(DEMO_PLAN), "--stdin"]) == 0
    assert memory_keyring.store[("cutover", "demo-orders/source")] == "kr-secret-456"
    assert "kr-secret-456" not in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert credentials.resolve_password(load_plan(DEMO_PLAN), "source") == "kr-secret-456"


def test_absent_password_says_how_to_set_it(memory_keyring):
    with pytest.raises(credentials.CredentialError, match="cutover credentials set target"):
        credentials.resolve_password(load_plan(DEMO_PLAN), "target")
