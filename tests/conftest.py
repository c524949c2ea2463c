"""Shared pytest fixtures: one real Kafka sandbox (3.9.1 source, 4.1.1 target) per session.

Tests that take ``sandbox``, ``source`` or ``target`` get the ``kafka`` marker automatically,
so ``pytest -m "not kafka"`` runs the rest without brokers. Nothing here skips: a machine
without Java or Maven makes the Kafka tests *fail*, because a silently skipped integration
suite looks exactly like a passing one.

Set ``CUTOVER_TEST_SANDBOX_DIR`` to a directory with a running sandbox (``cutover sandbox
up --dir DIR``) to reuse it across runs; it is then left running. Otherwise the clusters
start in a pytest temp dir and stop at the end of the session. When any test fails, the
broker logs are copied to ``test-artifacts/kafka-logs/`` and their location is printed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox import ClusterInfo, Sandbox, SandboxState
from tests.helpers import LAYOUTS, use_layout

# SVG snapshots live in the top-level snapshots/ folder.
# The Kafka Connect worker fixture (`connect`) for the MirrorMaker 2 tests.
pytest_plugins = ["tests.snapshot_location", "tests.connect_fixture", "tests.registry_fixture"]

_KAFKA_FIXTURES = frozenset({"sandbox", "source", "target"})
_SANDBOX_ROOT = pytest.StashKey[Path]()
_SANDBOX_NOTE = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the clusters with ``kafka``, the registries with ``registry``."""
    for item in items:
        if _KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)
        if "registries" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.registry)


@pytest.fixture(scope="session")
def sandbox(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[SandboxState]:
    """Both clusters, started once per session (or reused, see module docstring)."""
    reuse_dir = os.environ.get("CUTOVER_TEST_SANDBOX_DIR")
    if reuse_dir:
        reused = Sandbox(Path(reuse_dir))
        state = reused.status()
        if state is not None and state.is_up:
            pytestconfig.stash[_SANDBOX_ROOT] = reused.root
            yield state
            return  # someone else's sandbox: leave it running
        pytestconfig.stash[_SANDBOX_NOTE] = (
            f"CUTOVER_TEST_SANDBOX_DIR={reuse_dir} has no running sandbox, so a temporary one "
            f"was used; run `cutover sandbox up --dir {reuse_dir}` to reuse one across runs"
        )
    owned = Sandbox(tmp_path_factory.mktemp("kafka-sandbox"))
    # Record the root before starting, so a failed start still gets its logs kept.
    pytestconfig.stash[_SANDBOX_ROOT] = owned.root
    state = owned.up()
    try:
        yield state
    finally:
        owned.down()


@pytest.fixture(scope="session")
def source(sandbox: SandboxState) -> ClusterInfo:
    """The Kafka 3.9.1 source cluster."""
    return sandbox.clusters["source"]


@pytest.fixture(scope="session")
def target(sandbox: SandboxState) -> ClusterInfo:
    """The Kafka 4.1.1 target cluster."""
    return sandbox.clusters["target"]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """On failure, say where the broker logs are and copy them under test-artifacts/."""
    note = config.stash.get(_SANDBOX_NOTE, None)
    if note:
        terminalreporter.write_line(note)
    root = config.stash.get(_SANDBOX_ROOT, None)
    stats = terminalreporter.stats
    if root is None or not (stats.get("failed") or stats.get("error")):
        return
    log_dirs = sorted(p for p in root.glob("*/logs") if p.is_dir())
    if not log_dirs:
        return
    dest = config.rootpath / "test-artifacts" / "kafka-logs"
    terminalreporter.write_sep("-", "Kafka sandbox broker logs")
    for log_dir in log_dirs:
        cluster = log_dir.parent.name
        shutil.copytree(log_dir, dest / cluster, dirs_exist_ok=True)
        terminalreporter.write_line(f"{cluster}: {log_dir}")
    terminalreporter.write_line(f"copied to {dest}")


@pytest.fixture(params=LAYOUTS)
def layout(request, monkeypatch) -> str:
    """Each audit-table layout in turn ("v3": a new run database; "v2": a file an earlier
    release made, still read and written): ``Store.create`` in the test makes that one."""
    use_layout(monkeypatch, request.param)
    return request.param
