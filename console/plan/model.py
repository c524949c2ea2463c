"""The migration plan: a TOML file people write and review in git, validated with pydantic.

A plan names the two clusters (credentials only as references to a secret held
elsewhere), the topics in scope with their risk notes, the consumer groups with
their offset strategy, the thresholds the comparison is judged against, and the
people who own and approve the migration.

``load_plan`` returns a validated :class:`Plan` or raises :class:`PlanError`
whose ``problems`` each carry the file, line and field in plain words.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from console.errors import CutoverError

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
OffsetStrategy = Literal["translate", "reset-to-timestamp", "restart-from-known-point"]
CommitStyle = Literal["after-processing", "before-processing", "auto-commit", "transactional"]

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"
_STEP_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
Ordering = Literal["none", "partition", "key"]
ValueFormat = Literal["raw", "schema-registry"]
SinkKind = Literal["null", "file", "topic"]
ACL_OPERATIONS = (
    "ALL",
    "READ",
    "WRITE",
    "CREATE",
    "DELETE",
    "ALTER",
    "DESCRIBE",
    "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
    "IDEMPOTENT_WRITE",
)
_SOURCE_RIGHT = re.compile(
    r"^(topic|group|cluster|transactional_id):([^:]*):(" + "|".join(ACL_OPERATIONS) + r")$"
)


class _Strict(BaseModel):
    """Base for plan sections: unknown fields are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where the password for a cluster lives. The plan never holds the password itself."""

    keyring_service: str = Field(
        "cutover",
        description="Keyring service name; the keyring entry's user name is '<plan>/<cluster>'.",
    )
    env: Annotated[str, Field(pattern=_ENV_NAME)] | None = Field(
        None,
        description="Environment variable to read the password from when set; the fallback "
        "on hosts without a usable keyring (a bare SSH bastion).",
    )


class ClusterSpec(_Strict):
    """How to reach one cluster."""

    bootstrap_servers: Annotated[str, Field(min_length=1)] = Field(
        description="Comma-separated host:port list."
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    password: SecretRef | None = Field(
        None, description="Reference to the SASL password; required for SASL protocols."
    )
    request_timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds per admin request.")
    schema_registry_url: str | None = Field(
        None, description="Schema Registry of this cluster, to compare schemas behind ids."
    )
    schema_registry_username: str | None = Field(
        None, description="User for the registry's HTTP basic authentication, if it asks."
    )
    schema_registry_password: SecretRef | None = Field(
        None,
        description="Reference to the registry password (keyring user '<plan>/<cluster>-"
        "registry', or the environment variable named).",
    )

    @model_validator(mode="after")
    def _sasl_needs_user_and_secret(self) -> ClusterSpec:
        if self.security_protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("sasl_mechanism", self.sasl_mechanism),
                    ("sasl_username", self.sasl_username),
                    ("password", self.password),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}"
                )
        for server in self.bootstrap_servers.split(","):
            if not re.fullmatch(r"\s*[^\s:]+:\d{1,5}\s*", server):
                raise ValueError(f"bootstrap server '{server.strip()}' is not host:port")
        return self


class Clusters(_Strict):
    """The two sides of the migration."""

    source: ClusterSpec = Field(description="The production cluster being migrated from.")
    target: ClusterSpec = Field(description="The Kafka-compatible cluster being migrated to.")


class TopicSpec(_Strict):
    """A topic in scope, with what the team knows about its risk."""

    name: Annotated[str, Field(pattern=_TOPIC_NAME)]
    owner: Annotated[str, Field(min_length=1)]
    external_side_effects: bool = Field(
        description="Consumers of this topic write to external systems (databases, APIs, mail)."
    )
    side_effects_note: str = ""
    transactions: bool = Field(False, description="Producers write with transactions.")
    idempotent_producers: bool = Field(False, description="Producers use enable.idempotence.")
    tolerated_replay_records: int = Field(
        0, ge=0, description="Records a consumer may safely re-read after a cutover (records)."
    )
    create_on_target: bool = Field(
        False, description="The shadow path may create this topic on the target if missing."
    )
    notes: str = ""
    ordering: Ordering = Field(
        "none",
        description="What consumers assume about order: 'key' (records of one key arrive in "
        "order), 'partition' (all records of a partition do), or 'none'. The validation "
        "consumer counts every record that breaks it.",
    )
    order_by: Annotated[str, Field(pattern=r"^(timestamp|header:[^\s]+|field:[^\s]+)$")] = Field(
        "timestamp",
        description="What 'in order' is measured by: 'timestamp' (the record's), "
        "'header:NAME' (an integer in that header) or 'field:NAME' (an integer field of the "
        "decoded value).",
    )
    value_format: ValueFormat | None = Field(
        None,
        description="How values are encoded: 'schema-registry' (the Confluent wire format, "
        "decoded through the target's schema_registry_url) or 'raw'. Unset: "
        "schema-registry when the target names a registry, else raw.",
    )


class GroupSpec(_Strict):
    """A production consumer group and how its progress moves to the target."""

    id: Annotated[str, Field(min_length=1)]
    owner: Annotated[str, Field(min_length=1)]
    topics: list[str] = Field(min_length=1)
    offset_strategy: OffsetStrategy
    commit_style: CommitStyle = "after-processing"
    reset_timestamp: datetime | None = Field(
        None, description="For reset-to-timestamp: the UTC time to reset to."
    )
    known_point: dict[str, int] | None = Field(
        None,
        description="For restart-from-known-point: 'topic:partition' to the TARGET offset the "
        "group starts at there (partitions not named keep the consumer's auto_offset_reset).",
    )
    principal: Annotated[str, Field(pattern=r"^[A-Za-z]+:.+$")] | None = Field(
        None,
        description="The Kafka principal the group's consumers run as, e.g. 'User:billing': "
        "the cutover checks it may READ the group and its topics on the target and fences "
        "the group for it on the source. Required to move the group.",
    )
    principal_password: SecretRef | None = Field(
        None,
        description="Where the principal's SASL password lives, when the console may use it to "
        "check the principal's rights as the principal itself (on both clusters); without it "
        "the rights are read from the ACLs. Keyring user '<plan>/group:<id>'.",
    )
    auto_offset_reset: Literal["earliest", "latest", "none"] = Field(
        "latest",
        description="The consumers' auto.offset.reset: what they do on a partition where the "
        "group has no committed offset (Kafka's default is latest).",
    )

    @model_validator(mode="after")
    def _strategy_has_its_parameter(self) -> GroupSpec:
        if self.offset_strategy == "reset-to-timestamp" and self.reset_timestamp is None:
            raise ValueError("offset_strategy reset-to-timestamp needs reset_timestamp")
        if self.offset_strategy == "restart-from-known-point" and not self.known_point:
            raise ValueError("offset_strategy restart-from-known-point needs known_point")
        for key in self.known_point or {}:
            if not re.fullmatch(r"[A-Za-z0-9._-]+:\d+", key):
                raise ValueError(f"known_point key '{key}' is not 'topic:partition'")
        return self


class Thresholds(_Strict):
    """Acceptance criteria, written down before the window opens. Units are in the names."""

    max_missing_records: int = Field(0, ge=0, description="Records on source absent on target.")
    max_duplicate_records: int = Field(0, ge=0, description="Records present twice on target.")
    max_extra_records: int = Field(
        0, ge=0, description="Records on target the source never had (records)."
    )
    max_reordered_records: int = Field(
        0, ge=0, description="Records out of order within a partition or key (records)."
    )
    max_misplaced_records: int = Field(
        0, ge=0, description="Keys landing in another partition on the target (records)."
    )
    max_mismatched_records: int = Field(
        0,
        ge=0,
        description="Records whose value, headers, timestamp or nulls differ (records).",
    )
    max_timestamp_skew_ms: int = Field(
        0, ge=0, description="Timestamp difference tolerated, e.g. for dual write (ms)."
    )
    max_shadow_lag_records: int = Field(
        10_000, ge=0, description="Mirror lag per partition before it turns RED (records)."
    )
    max_shadow_lag_seconds: float = Field(
        60.0, ge=0, description="Mirror lag behind the source's newest record (seconds)."
    )
    max_offset_drift_records: int = Field(
        0, ge=0, description="Committed-offset mismatch allowed after translation (records)."
    )
    comparison_window_minutes: int = Field(
        15, gt=0, description="Length of one comparison window (minutes)."
    )
    lag_trend_window_samples: int = Field(
        10, ge=3, description="Samples the lag trend verdict is judged over (samples)."
    )
    max_comparison_age_minutes: int = Field(
        60,
        gt=0,
        description="A group moves only when a comparison of its topics finished no longer "
        "ago than this, with nothing RED (minutes).",
    )


class ShadowSpec(_Strict):
    """How traffic reaches the target during shadowing."""

    path: Literal["builtin", "mirrormaker2", "external"] = Field(
        "builtin",
        description="builtin: the console's exactly-once mirror; mirrormaker2: connectors "
        "deployed to a Kafka Connect cluster; external: a link or dual write the console "
        "only observes.",
    )
    connect_url: str | None = Field(
        None, description="Kafka Connect REST URL, for path = mirrormaker2."
    )
    connect_offsets_topic: str | None = Field(
        None,
        description="The Kafka Connect workers' offset.storage.topic (on the target), for "
        "path = mirrormaker2: MirrorMaker 2's copy position is read from it directly (one "
        "read_committed read, never newer than what is copied). Unset, or not readable: "
        "Connect's REST API is asked instead (slower).",
    )
    mm2_exactly_once: bool = Field(
        True, description="Ask MirrorMaker 2 for exactly-once source delivery (KIP-618)."
    )
    sample_interval_s: float = Field(
        2.0, ge=0.2, le=300, description="Seconds between lag sampling rounds."
    )
    mm2_replication_factor: int = Field(
        3, ge=1, description="Replication factor of what MirrorMaker 2 creates on the target."
    )
    mm2_tasks_max: int = Field(4, ge=1, description="Tasks per MirrorMaker 2 connector.")
    mm2_offset_lag_max: int = Field(
        100, ge=1, description="An offset sync at least every this many records (records)."
    )
    mm2_interval_s: int = Field(
        10, ge=1, description="MirrorMaker 2 checkpoint and refresh intervals (seconds)."
    )
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] = Field(
        "shadow.",
        description="What every shadow consumer's group id and sink topic start with, and no "
        "production topic or group does: the line the safe-consumers check draws.",
    )
    mm2_secrets: Literal["env-provider", "inline"] = Field(
        "env-provider",
        description="env-provider: connector configs say ${env:VAR} and the Connect workers "
        "read the password from their environment (they need config.providers=env); "
        "inline: the password travels in the REST call and Connect stores it in its config "
        "topic in clear.",
    )

    target_may_hold_earlier_data: bool = Field(
        False,
        description="Whether the target's plan topics may already hold records when the "
        "copy starts (data written before this run). Off: the Start shadow copy gate shows "
        "what each target topic holds and stays shut while any holds records, because a "
        "copy on top of them duplicates every one. A copy this run started before is not "
        "earlier data.",
    )

    @model_validator(mode="after")
    def _mm2_needs_connect(self) -> ShadowSpec:
        if self.path == "mirrormaker2" and not self.connect_url:
            raise ValueError("path mirrormaker2 needs connect_url")
        return self


class GovernanceSpec(_Strict):
    """What the governance diff compares beyond the plan's topics and groups."""

    principals: list[Annotated[str, Field(pattern=r"^[A-Za-z]+:.+$")]] = Field(
        default_factory=list,
        description="Principals (User:name) whose ACLs, SCRAM credentials and quotas are "
        "compared even where no ACL of a plan topic or group names them.",
    )
    subjects: list[str] = Field(
        default_factory=list,
        description="Schema subjects compared besides '<topic>-key' and '<topic>-value' of "
        "the plan's topics (record-name strategies name subjects after records).",
    )


class Place(_Strict):
    """Where one part of the migration runs."""

    region: Annotated[str, Field(min_length=1)]
    zones: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Availability zones it spreads over (traffic assumed even across them); "
        "empty for a regional service such as object storage.",
    )
    vpc: Annotated[str, Field(min_length=1)]
    account: Annotated[str, Field(min_length=1)]


class ConsumerPlace(Place):
    """Where a set of the plan's consumer groups runs, and which cluster they read."""

    groups: list[str] = Field(min_length=1, description="Consumer group ids of the plan.")
    reads: Literal["source", "target"] = Field(
        "target", description="The cluster they read from in the deployment being costed."
    )
    fetch_from_follower: bool = Field(
        False,
        description="They read from a replica in their own zone (KIP-392, client.rack), so "
        "reads cross no zone where the cluster has one there.",
    )


class Prices(_Strict):
    """Per-GB (10^9 bytes) transfer prices the plan states; the console never fetches any."""

    currency: Annotated[str, Field(min_length=1, max_length=8)] = "USD"
    cross_zone_per_gb: float = Field(ge=0, description="Bytes between zones of one region.")
    cross_region_per_gb: float = Field(ge=0, description="Bytes between regions.")
    cross_vpc_per_gb: float = Field(
        0.0, ge=0, description="Bytes between VPCs (peering, transit gateway, private link)."
    )
    cross_account_per_gb: float = Field(0.0, ge=0, description="Bytes between accounts.")


class Topology(_Strict):
    """Where source brokers, replication workers, target brokers, object storage and
    consumers sit, and what moving a GB between them costs."""

    source: Place
    replication: Place = Field(description="Where the copy runs (mirror, Connect workers).")
    target: Place
    object_storage: Place | None = Field(
        None, description="Where the target tiers its log segments, if it does."
    )
    consumers: list[ConsumerPlace] = Field(default_factory=list)
    prices: Prices


AREAS = (
    "compatibility",
    "correctness",
    "consumer-safety",
    "operations",
    "rollback",
    "governance",
)
"""The six areas of the readiness scorecard, in the order they are shown."""
Area = Literal[
    "compatibility", "correctness", "consumer-safety", "operations", "rollback", "governance"
]
TwoPersonScope = Literal["cutover", "waiver"]


class ShadowConsumerSpec(_Strict):
    """A validation consumer run on the target as its own shadow principal, with a group
    id and a sink that cannot touch production."""

    name: Annotated[str, Field(pattern=_STEP_NAME)] = Field(
        description="Lowercase, dashes; names its process and its row in the pane."
    )
    principal: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@=-]{1,128}$")] = Field(
        description="The SASL user it logs in to the target as (the Kafka principal "
        "User:<principal>); never the console's own user."
    )
    password: SecretRef = Field(
        default_factory=SecretRef,
        description="Reference to the principal's password (env, else the keyring entry "
        "'<plan>/shadow/<name>'); when it resolves to nothing and create_identity is on, "
        "a password is generated, shown once and never stored by the console.",
    )
    topics: list[Annotated[str, Field(pattern=_TOPIC_NAME)]] = Field(min_length=1)
    group_id: Annotated[str, Field(min_length=1, max_length=249)] = Field(
        description="Its consumer group on the target; must start with [shadow] prefix."
    )
    shadows: str | None = Field(
        None, description="The source consumer group it stands in for, shown beside it."
    )
    sink: SinkKind = Field(
        "null",
        description="Where its output goes: 'null' (nowhere), 'file' (sink_path), or "
        "'topic' (sink_topic, a topic on the target starting with the shadow prefix).",
    )
    sink_path: str | None = None
    sink_topic: Annotated[str, Field(pattern=_TOPIC_NAME)] | None = None
    run: Literal["builtin", "command"] = Field(
        "builtin",
        description="'builtin': the console's validation consumer; 'command': the team's "
        "own consumer (command), given the target, credentials and group id in its "
        "environment and nothing else of the console's.",
    )
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="For run = 'command': the program and its arguments (no shell)."
    )
    create_identity: bool = Field(
        False,
        description="The console may create the principal's SCRAM user and its minimal "
        "ACLs on the target (never on the source), and remove them again.",
    )
    source_allowed: list[str] = Field(
        default_factory=list,
        description="Rights the principal may hold on the SOURCE, as 'topic:NAME:OP', "
        "'group:NAME:OP', 'cluster::OP' or 'transactional_id:NAME:OP'; anything else it "
        "may do there refuses the start.",
    )

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"


SwitchMethod = Literal["redeploy", "demo-workload"]
TargetOnly = Literal["copy-back", "list"]
PrincipalsOnTarget = Literal["exist", "console"]
_PRINCIPAL = r"^User:[A-Za-z0-9._@=-]{1,128}$"


class ProducerDefaults(_Strict):
    """What every producer class uses unless it says otherwise (``[producer_defaults]``)."""

    rollback_window_minutes: float = Field(
        60.0,
        gt=0,
        description="How long the rollback window stays open after the first class moved, "
        "before replay rather than rollback becomes the recovery plan (minutes).",
    )
    target_only: TargetOnly = Field(
        "copy-back",
        description="What a rollback does with records written on the target after the "
        "cutover point: 'copy-back' (copied to the source exactly once) or 'list' (exported "
        "for their owners to reconcile; the source does not get them).",
    )
    quiet_seconds: float = Field(
        5.0,
        ge=0.2,
        le=3600,
        description="How long the source's end offsets must stay unchanged after the fence "
        "before the move goes on (seconds).",
    )
    transaction_wait_seconds: float = Field(
        90.0,
        gt=0,
        le=3600,
        description="How long open transactions may take to commit, abort or time out after "
        "the fence: the producers' transaction.timeout.ms plus a margin (seconds).",
    )
    switch_timeout_minutes: float = Field(
        30.0,
        gt=0,
        description="How long a move waits for the class's first write on the target after "
        "it was switched (a redeploy takes time) before it stops and says so (minutes).",
    )
    tail_seconds: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="How far before the fence the final comparison of the tail reaches (seconds).",
    )


class ProducerClass(_Strict):
    """One class of producers that moves to the target at once (``[[producers]]``)."""

    name: Annotated[str, Field(pattern=_STEP_NAME)] = Field(
        description="Lowercase, dashes; what the operator types at its gates."
    )
    owner: Annotated[str, Field(min_length=1)]
    principals: list[Annotated[str, Field(pattern=_PRINCIPAL)]] = Field(
        min_length=1,
        description="The principals its producers write as (User:name); the fence denies "
        "them WRITE on the source, the target allows them WRITE.",
    )
    topics: list[Annotated[str, Field(pattern=_TOPIC_NAME)]] = Field(
        min_length=1, description="The plan topics it writes."
    )
    transactional_id_prefix: Annotated[str, Field(min_length=1, max_length=249)] | None = Field(
        None,
        description="What its transactional ids start with, when it writes with "
        "transactions: the target allows the principals WRITE and DESCRIBE on them.",
    )
    idempotence: bool = Field(True, description="Its producers use enable.idempotence.")
    switch: SwitchMethod = Field(
        description="How it is pointed at the target: 'redeploy' (the team redeploys with "
        "the target's bootstrap servers; typing the class name at the gate confirms they "
        "are ready) or 'demo-workload' (the demo's workload switches itself when told)."
    )
    rollback_window_minutes: float | None = Field(
        None, gt=0, description="Overrides [producer_defaults] for this class (minutes)."
    )
    target_only: TargetOnly | None = Field(
        None, description="Overrides [producer_defaults] target_only for this class."
    )
    quiet_seconds: float | None = Field(
        None, ge=0.2, le=3600, description="Overrides [producer_defaults] (seconds)."
    )
    create_acls_on_target: bool = Field(
        False,
        description="The console may create the class's WRITE (and transactional id) ACLs "
        "on the target when they are missing; otherwise the gate shuts until they exist.",
    )
    principals_on_target: PrincipalsOnTarget = Field(
        "exist",
        description="Who makes the principals' SCRAM users on the target (their passwords "
        "cannot be read from the source): 'exist' (the team did; the gate checks) or "
        "'console' (the console creates them with the passwords principal_passwords "
        "names).",
    )
    principal_passwords: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="SASL user name -> reference to its password (keyring user "
        "'<plan>/producer/<user>'): used to ask the brokers as the principal whether the "
        "fence holds, and by principals_on_target = 'console' to create the user.",
    )

    @property
    def users(self) -> list[str]:
        """The SASL user names of its principals."""
        return [p.partition(":")[2] for p in self.principals]


class AuditSpec(_Strict):
    """Where the audit chain is witnessed outside the run database (optional).

    A hash chain shows edits, removals and reordering, but someone who can write the
    file can cut its newest entries, or replace it, and nothing local can prove it. A
    witness can: at every gate the console appends the chain's sequence number and head
    hash to an append-only topic on the target, and ``cutover audit verify --witness``
    compares every head recorded there with the chain.
    """

    witness_topic: Annotated[str, Field(pattern=_TOPIC_NAME)] | None = Field(
        None,
        description="Topic on the target that records the chain's heads: created by the "
        "'Create audit witness' step with cleanup.policy=delete and retention.ms=-1, so "
        "nothing is ever compacted or expired away.",
    )
    witness_principal: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="A SASL user that may only write and describe the witness topic: the "
        "step grants exactly that, and every gate writes as this user. Without it, heads "
        "are written as the target's own user.",
    )
    witness_password: SecretRef | None = Field(
        None,
        description="Where the witness principal's password lives (default: the keyring "
        "entry '<plan name>/witness'); never the password itself.",
    )

    @model_validator(mode="after")
    def _principal_needs_topic(self) -> AuditSpec:
        if self.witness_principal and not self.witness_topic:
            raise ValueError("witness_principal needs witness_topic")
        if self.witness_password and not self.witness_principal:
            raise ValueError("witness_password needs witness_principal")
        return self


class People(_Strict):
    """Who owns the migration, who may approve gates and waivers, and how the console
    knows an approver is at the keyboard.

    A name typed at a gate proves nothing: an approval counts only when the console runs
    as one of the OS users ``logins`` maps the approver to.
    """

    owners: list[str] = Field(min_length=1)
    approvers: list[str] = Field(min_length=1)
    logins: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Approver name to the OS user(s) they log in as, e.g. "
        "'alice.ops' = ['alice']. An approver with no login here cannot approve anything.",
    )
    two_person: list[TwoPersonScope] = Field(
        default_factory=list,
        description="What needs two approvers, each from their own login: 'cutover' (the "
        "gates that move groups and producers), 'waiver' (scorecard waivers).",
    )
    approval_valid_minutes: int = Field(
        60,
        gt=0,
        le=7 * 24 * 60,
        description="How long a recorded approval of a cutover step stays good (minutes).",
    )

    @model_validator(mode="after")
    def _logins_name_approvers(self) -> People:
        unknown = [name for name in self.logins if name not in self.approvers]
        if unknown:
            raise ValueError(
                f"logins name {', '.join(unknown)}, not in approvers; add them to approvers "
                "or remove their logins"
            )
        seen: dict[str, str] = {}
        for approver, users in self.logins.items():
            for user in users:
                if not user.strip():
                    raise ValueError(f"logins of '{approver}' has an empty OS user name")
                if user in seen and seen[user] != approver:
                    raise ValueError(
                        f"OS user '{user}' is a login of both '{seen[user]}' and '{approver}'; "
                        "one login must mean one approver"
                    )
                seen[user] = approver
        if self.two_person and len([a for a in self.approvers if self.logins.get(a)]) < 2:
            raise ValueError(
                "two_person needs at least two approvers with logins, or nobody could ever "
                "complete an approval"
            )
        return self


class ScorecardSpec(_Strict):
    """How the readiness scorecard is judged."""

    by_hand: list[Area] = Field(
        default_factory=list,
        description="Areas a person judges (an approver, from their own login) instead of "
        "the rule over stored evidence; the evidence is still shown beside the judgement.",
    )
    max_evidence_age_hours: float = Field(
        24.0,
        gt=0,
        description="Evidence older than this turns its area YELLOW (stale) (hours).",
    )


class DrillSpec(_Strict):
    """The operations drill: one target broker restarted while the copy runs."""

    restart: Literal["sandbox", "operator"] = Field(
        "operator",
        description="sandbox: the console restarts the sandbox's target broker itself; "
        "operator: the operator restarts one and the console watches the copy recover.",
    )
    sandbox_dir: str | None = Field(
        None, description="The sandbox directory (cutover sandbox up --dir), for sandbox."
    )
    down_s: float = Field(
        5.0, ge=0, le=600, description="How long the broker stays down (seconds)."
    )
    recovery_limit_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Lag must be back to its level before the restart within this (seconds).",
    )

    @model_validator(mode="after")
    def _sandbox_needs_dir(self) -> DrillSpec:
        if self.restart == "sandbox" and not self.sandbox_dir:
            raise ValueError("restart = 'sandbox' needs sandbox_dir")
        return self


class PlanMeta(_Strict):
    """The plan's identity."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    description: str = ""


class Plan(_Strict):
    """A whole migration plan."""

    plan: PlanMeta
    people: People
    clusters: Clusters
    topics: list[TopicSpec] = Field(min_length=1)
    groups: list[GroupSpec] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    shadow: ShadowSpec = Field(default_factory=ShadowSpec)
    governance: GovernanceSpec = Field(default_factory=GovernanceSpec)
    topology: Topology | None = None
    shadow_consumers: list[ShadowConsumerSpec] = Field(default_factory=list)
    producer_defaults: ProducerDefaults = Field(default_factory=ProducerDefaults)
    producers: list[ProducerClass] = Field(default_factory=list)
    audit: AuditSpec = Field(default_factory=AuditSpec)
    scorecard: ScorecardSpec = Field(default_factory=ScorecardSpec)
    drill: DrillSpec = Field(default_factory=DrillSpec)

    @model_validator(mode="after")
    def _cross_checks(self) -> Plan:
        names = [t.name for t in self.topics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic listed twice: {', '.join(dupes)}")
        for group in self.groups:
            unknown = [t for t in group.topics if t not in names]
            if unknown:
                raise ValueError(
                    f"group '{group.id}' reads {', '.join(unknown)}, not in the plan's topics"
                )
        if self.topology is not None:
            group_ids = {g.id for g in self.groups}
            for place in self.topology.consumers:
                unknown = [g for g in place.groups if g not in group_ids]
                if unknown:
                    raise ValueError(
                        f"topology.consumers names group {', '.join(unknown)}, not in the "
                        "plan's [[groups]]"
                    )
            for name in ("source", "replication", "target"):
                if not getattr(self.topology, name).zones:
                    raise ValueError(f"topology.{name} needs zones (at least one)")
        problems = _shadow_problems(self) + _producer_problems(self)
        if problems:
            raise Located(problems)
        return self

    def shadow_consumer(self, name: str) -> ShadowConsumerSpec:
        """A shadow consumer by name; KeyError naming the ones there are."""
        for consumer in self.shadow_consumers:
            if consumer.name == name:
                return consumer
        known = ", ".join(c.name for c in self.shadow_consumers) or "none"
        raise KeyError(f"the plan has no shadow consumer '{name}' (it has: {known})")

    def producer(self, name: str) -> ProducerClass:
        """A producer class by name; KeyError naming the ones there are."""
        for cls in self.producers:
            if cls.name == name:
                return cls
        known = ", ".join(c.name for c in self.producers) or "none"
        raise KeyError(f"the plan has no producer class '{name}' (it has: {known})")

    def producer_setting(self, cls: ProducerClass, field: str):
        """A class's own setting, else the [producer_defaults] one."""
        own = getattr(cls, field, None)
        return own if own is not None else getattr(self.producer_defaults, field)

    @property
    def name(self) -> str:
        return self.plan.name

    def secret_account(self, cluster: str) -> str:
        """The keyring user name under which a cluster's password is stored."""
        return f"{self.plan.name}/{cluster}"


class Located(ValueError):
    """Problems found across sections, each with the place in the plan it belongs to, so
    ``parse_plan`` can name its line (pydantic only knows the whole plan here)."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(message for _loc, message in problems))


def _shadow_problems(plan: Plan) -> list[tuple[tuple, str]]:
    """What makes the plan's shadow consumers unsafe or unusable, each at its field.

    The isolation of a shadow consumer rests on the shadow prefix: its group and its sink
    topic carry it and no production topic or group may, so a broker ACL on the prefix
    can never reach production.
    """
    out: list[tuple[tuple, str]] = []
    prefix = plan.shadow.prefix
    topic_names = [t.name for t in plan.topics]
    registry = plan.clusters.target.schema_registry_url
    for i, topic in enumerate(plan.topics):
        if topic.name.startswith(prefix):
            out.append(
                (
                    ("topics", i, "name"),
                    f"production topic '{topic.name}' starts with the shadow prefix "
                    f"'{prefix}'; choose a [shadow] prefix no production name uses",
                )
            )
        if topic.value_format == "schema-registry" and not registry:
            out.append(
                (
                    ("topics", i, "value_format"),
                    "schema-registry needs schema_registry_url in [clusters.target]",
                )
            )
    for i, group in enumerate(plan.groups):
        if group.id.startswith(prefix):
            out.append(
                (
                    ("groups", i, "id"),
                    f"production group '{group.id}' starts with the shadow prefix '{prefix}'; "
                    "choose a [shadow] prefix no production name uses",
                )
            )
    if not plan.shadow_consumers:
        return out
    target = plan.clusters.target
    if not target.security_protocol.startswith("SASL"):
        out.append(
            (
                ("clusters", "target", "security_protocol"),
                f"shadow consumers log in as their own SASL principal, but the target uses "
                f"{target.security_protocol} (every client the same principal); use "
                "SASL_PLAINTEXT or SASL_SSL",
            )
        )
    console_users = {plan.clusters.source.sasl_username, target.sasl_username} - {None}
    seen_names: set[str] = set()
    seen_groups: set[str] = set()
    for i, c in enumerate(plan.shadow_consumers):
        at = ("shadow_consumers", i)
        if c.name in seen_names:
            out.append(((*at, "name"), f"shadow consumer '{c.name}' is listed twice"))
        seen_names.add(c.name)
        if not c.group_id.startswith(prefix):
            out.append(
                (
                    (*at, "group_id"),
                    f"group '{c.group_id}' does not start with the shadow prefix '{prefix}'; "
                    f"a shadow consumer may only use shadow groups (e.g. '{prefix}{c.name}')",
                )
            )
        if c.group_id in seen_groups:
            out.append(((*at, "group_id"), f"group '{c.group_id}' is used by two shadow consumers"))
        seen_groups.add(c.group_id)
        if c.principal in console_users:
            out.append(
                (
                    (*at, "principal"),
                    f"'{c.principal}' is the console's own cluster user; a shadow consumer "
                    "needs a principal of its own",
                )
            )
        unknown = [t for t in c.topics if t not in topic_names]
        if unknown:
            out.append(((*at, "topics"), f"{', '.join(unknown)} not in the plan's topics"))
        out += _sink_problems(c, at, prefix, topic_names)
        if c.run == "command" and not c.command:
            out.append(((*at, "command"), "run = 'command' needs command = [program, args...]"))
        if c.run == "builtin" and c.command:
            out.append(((*at, "command"), "command is only for run = 'command'"))
        for right in c.source_allowed:
            if not _SOURCE_RIGHT.match(right):
                out.append(
                    (
                        (*at, "source_allowed"),
                        f"'{right}' is not KIND:NAME:OPERATION (e.g. 'topic:orders:READ')",
                    )
                )
    return out


def _producer_problems(plan: Plan) -> list[tuple[tuple, str]]:
    """What makes a producer class impossible to move safely, each at its field."""
    out: list[tuple[tuple, str]] = []
    topics = {t.name: t for t in plan.topics}
    console_users = {
        f"User:{u}"
        for u in (plan.clusters.source.sasl_username, plan.clusters.target.sasl_username)
        if u
    }
    seen: set[str] = set()
    for i, cls in enumerate(plan.producers):
        at = ("producers", i)
        if cls.name in seen:
            out.append(((*at, "name"), f"producer class '{cls.name}' is listed twice"))
        seen.add(cls.name)
        unknown = [t for t in cls.topics if t not in topics]
        if unknown:
            out.append(((*at, "topics"), f"{', '.join(unknown)} not in the plan's topics"))
        for principal in cls.principals:
            if principal in console_users:
                out.append(
                    (
                        (*at, "principals"),
                        f"{principal} is the console's own cluster user: fencing it would "
                        "lock the console out; the class needs principals of its own",
                    )
                )
        transactional = [t for t in cls.topics if t in topics and topics[t].transactions]
        if transactional and not cls.transactional_id_prefix:
            out.append(
                (
                    (*at, "transactional_id_prefix"),
                    f"{', '.join(transactional)} is written with transactions "
                    "(topics.transactions); give the class's transactional_id_prefix so the "
                    "target can allow its transactional ids",
                )
            )
        users = set(cls.users)
        stray = sorted(set(cls.principal_passwords) - users)
        if stray:
            out.append(
                (
                    (*at, "principal_passwords"),
                    f"{', '.join(stray)} is not one of the class's principals "
                    f"({', '.join(sorted(users))}); key the passwords by SASL user name",
                )
            )
        if cls.principals_on_target == "console":
            missing = sorted(users - set(cls.principal_passwords))
            if missing:
                out.append(
                    (
                        (*at, "principal_passwords"),
                        f"principals_on_target = 'console' needs a password reference for "
                        f'{", ".join(missing)} (e.g. {{ {missing[0]} = {{ env = "VAR" }} }})',
                    )
                )
            if not plan.clusters.target.security_protocol.startswith("SASL"):
                out.append(
                    (
                        (*at, "principals_on_target"),
                        "the console creates SCRAM users, but the target does not use SASL",
                    )
                )
    return out


def _sink_problems(
    c: ShadowConsumerSpec, at: tuple, prefix: str, topic_names: list[str]
) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    if c.sink == "topic":
        if not c.sink_topic:
            out.append(((*at, "sink_topic"), "sink = 'topic' needs sink_topic"))
        elif not c.sink_topic.startswith(prefix) or c.sink_topic in topic_names:
            out.append(
                (
                    (*at, "sink_topic"),
                    f"sink topic '{c.sink_topic}' does not start with the shadow prefix "
                    f"'{prefix}'; a shadow consumer may only write to shadow topics",
                )
            )
    elif c.sink_topic:
        out.append(((*at, "sink_topic"), "sink_topic is only for sink = 'topic'"))
    if c.sink == "file" and not c.sink_path:
        out.append(((*at, "sink_path"), "sink = 'file' needs sink_path"))
    if c.sink != "file" and c.sink_path:
        out.append(((*at, "sink_path"), "sink_path is only for sink = 'file'"))
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan file, located as precisely as we can."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlanError(CutoverError):
    """A plan file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        """One line per problem, then what to do about them."""
        return [*(str(p) for p in self.problems), self.summary()]

    def summary(self) -> str:
        return f"{len(self.problems)} problem(s); fix the plan and run again"


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([Problem(str(path), None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError([Problem(str(path), None, "", f"cannot read it ({exc})")]) from None
    return parse_plan(text, str(path))


MAX_PLAN_CHARS = 1024 * 1024
"""Largest plan text read (characters): a plan is a few kilobytes, and TOML's reader
takes seconds per megabyte of a single value."""
SHOWN_CHARS = 60
"""Longest value repeated in a plan error; longer ones are cut, with their length."""
TOO_DEEP = (
    "tables or arrays are nested too deeply to read (a plan is a few levels deep); "
    "check for a runaway [ or {"
)
_SECRET_FIELD = re.compile(r"pass(word)?|secret|token|credential|api[_.-]?key", re.I)


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    """Validate plan text; ``source`` names it in messages.

    Messages never repeat a value written under a secret-looking name (a password
    written inline), and cut any other value they repeat to a readable length.
    """
    if len(text) > MAX_PLAN_CHARS:
        size = f"{len(text) / 1024 / 1024:,.1f} MiB"
        return _raise(
            [
                Problem(
                    source,
                    None,
                    "",
                    f"is {size} of text, far more than a plan (a few kilobytes; at most "
                    f"{MAX_PLAN_CHARS // 1024 // 1024} MiB is read): check it is the right file",
                )
            ]
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        return _raise([Problem(source, line, "", f"not valid TOML: {_cut(reason, 200)}")])
    except RecursionError:
        return _raise([Problem(source, None, "", TOO_DEEP)])
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        lines = _key_lines(text)
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            located = err.get("ctx", {}).get("error")
            if isinstance(located, Located):
                problems += [
                    Problem(source, _line_for(lines, at), _dotted(at), message)
                    for at, message in located.problems
                ]
                continue
            problems.append(
                Problem(
                    source, _line_for(lines, loc), _cut(_dotted(loc), 120), _plain(err, data, loc)
                )
            )
        return _raise(problems)
    except RecursionError:
        return _raise([Problem(source, None, "", TOO_DEEP)])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _shown(value: object) -> str:
    """A value as a plan error repeats it: its repr, cut to :data:`SHOWN_CHARS`."""
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]!r}… ({len(value):,} characters)"
    try:
        text = repr(value)
    except RecursionError:
        return "(a deeply nested value)"
    return _cut(text, SHOWN_CHARS)


def _raise(problems: list[Problem]):
    raise PlanError(problems)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _plain(err: dict, data: dict, loc: tuple) -> str:
    """Turn a pydantic error into words an operator reads once; never a secret, never a
    value too long to read."""
    kind = err["type"]
    secret = any(isinstance(part, str) and _SECRET_FIELD.search(part) for part in loc)
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known field (check the spelling; see plans/demo.toml)"
    if secret:
        if loc and str(loc[-1]).endswith("password"):
            return (
                'must be a reference such as { env = "VAR" }, never the secret itself; '
                "what was written there is not repeated here, and nothing was stored"
            )
        return (
            f"{_cut(err['msg'].lower(), 120)} (the value is not repeated here: it sits under "
            "a secret's name)"
        )
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}, got {_shown(err.get('input'))}"
    if kind == "string_pattern_mismatch":
        return f"{_shown(err.get('input'))} has characters or a form that is not allowed"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{err['msg'].lower()}, got {_shown(err.get('input'))}"
    msg = err["msg"]
    return _cut(msg.removeprefix("Value error, "), 200)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def _key_lines(text: str) -> dict[tuple, int]:
    """Map each table and key path in the TOML text to the line it starts on.

    tomllib gives values but no positions, so we scan headers and ``key =`` lines
    ourselves. Array-of-table headers count up their index, so a path such as
    ``('topics', 1, 'owner')`` finds the second ``[[topics]]`` block's ``owner``.
    """
    lines: dict[tuple, int] = {}
    counters: dict[tuple, int] = {}
    current: tuple = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            parts = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
            if header.group(1) == "[[":
                index = counters.get(parts, -1) + 1
                counters[parts] = index
                current = (*_with_indexes(parts[:-1], counters), parts[-1], index)
            else:
                current = _with_indexes(parts, counters)
            lines.setdefault(current, number)
            continue
        key = _KEY.match(raw)
        if key:
            parts = tuple(p.strip("\"'") for p in key.group(1).split("."))
            lines.setdefault((*current, *parts), number)
    return lines


def _with_indexes(parts: tuple, counters: dict[tuple, int]) -> tuple:
    """Insert the current array-of-tables index after each prefix that is one."""
    out: list = []
    for i, part in enumerate(parts):
        out.append(part)
        prefix = parts[: i + 1]
        if prefix in counters:
            out.append(counters[prefix])
    return tuple(out)


def _line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of the longest known prefix of a pydantic error location."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
