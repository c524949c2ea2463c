"""The ``connect`` fixture: one real Kafka Connect worker (Kafka 4.1.1) on the sandbox target.

Import it into a test module (``from tests.connect_fixture import connect``) or list this
module in ``pytest_plugins``. The worker runs with ``exactly.once.source.support=enabled``
and Connect's ``EnvVarConfigProvider`` named ``env``; the demo plan's password variables
(``CUTOVER_DEMO_SOURCE_PASSWORD``/``..._TARGET_PASSWORD``) are set in the worker's
environment to the sandbox admin password, so connector configs may say
``${env:CUTOVER_DEMO_SOURCE_PASSWORD}`` instead of carrying the password.

The worker lives under the sandbox root (``<root>/connect-test``), so conftest's
"copy the logs on failure" step picks up its ``logs/connect.log`` as well.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.sandbox import ADMIN_USER, SANDBOX_PASSWORDS, SandboxState
from console.sandbox.connect import ConnectWorker

# Sandbox-only throwaway password (loopback clusters); given to the worker's environment.
CONNECT_ENV = {
    "CUTOVER_DEMO_SOURCE_PASSWORD": SANDBOX_PASSWORDS[ADMIN_USER],
    "CUTOVER_DEMO_TARGET_PASSWORD": SANDBOX_PASSWORDS[ADMIN_USER],
}


@pytest.fixture(scope="session")
def connect(sandbox: SandboxState) -> Iterator[ConnectWorker]:
    """A Connect worker on the sandbox target, started once per session and stopped after."""
    worker = ConnectWorker.start(sandbox, sandbox.root / "connect-test", env=CONNECT_ENV)
    try:
        yield worker
    finally:
        worker.stop()
