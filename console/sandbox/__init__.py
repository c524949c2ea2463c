"""Local Kafka sandbox: a Kafka 3.9.1 source and a Kafka 4.1.1 target on loopback.

Tooling for the demo, tests and benchmarks, not product. Real Apache Kafka brokers run
from jars fetched with Maven (``jars``), configured from ``templates``, recorded in
``state``, started and stopped by ``cluster``; ``connect`` adds a Kafka Connect worker,
``restart`` restarts one broker in place, ``plans`` writes plans pointed at it, ``demo``
and ``workload`` set up and feed the demo. The command line is :mod:`console.cli.sandbox`.
"""

from console.kafka.probe import api_versions
from console.sandbox.cluster import Sandbox, probe_cluster
from console.sandbox.jars import SUPPORTED_VERSIONS, default_cache_dir, fetch_jars, find_java
from console.sandbox.state import (
    ADMIN_USER,
    APP_TOPIC_PREFIX,
    APP_USER,
    BILLING_USER,
    CHECKOUT_USER,
    CLUSTER_VERSIONS,
    SANDBOX_PASSWORDS,
    ClusterHealth,
    ClusterInfo,
    SandboxError,
    SandboxState,
    admin_config,
    default_sandbox_dir,
)

__all__ = [
    "ADMIN_USER",
    "APP_TOPIC_PREFIX",
    "APP_USER",
    "BILLING_USER",
    "CHECKOUT_USER",
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
