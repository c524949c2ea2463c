"""Local Kafka sandbox: a Kafka 3.9.1 source and a Kafka 4.1.1 target on loopback.

Real Apache Kafka brokers run from jars fetched with Maven; see :mod:`console.sandbox.cluster`
for the engine and :mod:`console.sandbox.cli` for ``cutover sandbox up|status|down``.
"""

from console.sandbox.cluster import (
    ADMIN_USER,
    APP_TOPIC_PREFIX,
    APP_USER,
    CLUSTER_VERSIONS,
    SANDBOX_PASSWORDS,
    SUPPORTED_VERSIONS,
    ClusterHealth,
    ClusterInfo,
    Sandbox,
    SandboxError,
    SandboxState,
    admin_config,
    api_versions,
    default_cache_dir,
    default_sandbox_dir,
    fetch_jars,
    find_java,
    probe_cluster,
)

__all__ = [
    "ADMIN_USER",
    "APP_TOPIC_PREFIX",
    "APP_USER",
    "CLUSTER_VERSIONS",
    "SANDBOX_PASSWORDS",
    "SUPPORTED_VERSIONS",
    "ClusterHealth",
    "ClusterInfo",
    "Sandbox",
    "SandboxError",
    "SandboxState",
    "admin_config",
    "api_versions",
    "default_cache_dir",
    "default_sandbox_dir",
    "fetch_jars",
    "find_java",
    "probe_cluster",
]
