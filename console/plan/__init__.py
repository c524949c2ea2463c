"""The plan: what the migration is (model), the runbook's steps (steps), and where the
clusters' passwords come from (credentials). Nothing here talks to Kafka or SQLite.

The plan model's public names are re-exported here, so ``from console.plan import Plan``
reads as what it is.
"""

from console.plan.model import (
    AREAS,
    AuditSpec,
    ClusterSpec,
    ConsumerPlace,
    DrillSpec,
    GovernanceSpec,
    GroupSpec,
    Place,
    Plan,
    PlanError,
    Problem,
    ProducerClass,
    ProducerDefaults,
    ScorecardSpec,
    SecretRef,
    ShadowConsumerSpec,
    ShadowSpec,
    Thresholds,
    TopicSpec,
    Topology,
    load_plan,
    parse_plan,
)

__all__ = [
    "AuditSpec",
    "AREAS",
    "ClusterSpec",
    "ConsumerPlace",
    "GovernanceSpec",
    "DrillSpec",
    "GroupSpec",
    "Place",
    "Plan",
    "PlanError",
    "Problem",
    "ProducerClass",
    "ProducerDefaults",
    "ScorecardSpec",
    "SecretRef",
    "ShadowConsumerSpec",
    "ShadowSpec",
    "Thresholds",
    "TopicSpec",
    "Topology",
    "load_plan",
    "parse_plan",
]
