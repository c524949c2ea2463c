"""The ``registries`` fixture: two real schema registries (Apicurio Registry 2.6, in memory).

Apicurio serves the Confluent-compatible API that confluent-kafka's
``SchemaRegistryClient`` speaks, so the registry client, the comparison's schema check
and the governance diff are tested against a registry we did not write. Started once
per session (the two JVMs start side by side), empty, and stopped at the end; their
logs go under pytest's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.sandbox.registry import RegistryServer, start_registry, wait_ready


@pytest.fixture(scope="session")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RegistryServer]]:
    """``{"source": server, "target": server}``; ``server.url`` is a schema_registry_url."""
    root = tmp_path_factory.mktemp("registries")
    servers = {name: start_registry(name, root, wait=False) for name in ("source", "target")}
    try:
        for server in servers.values():
            wait_ready(server)
        yield servers
    finally:
        for server in servers.values():
            server.stop()
