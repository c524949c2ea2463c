"""The identity a shadow consumer runs as, created and removed on the TARGET only.

Exactly what it needs and nothing more: a SCRAM user for its principal, READ on each
topic it reads, READ on its own (prefixed) group, and WRITE on its own (prefixed) sink
topic when it has one; the sink topic is created when missing. Every function here is
one Kafka change on the target, so the step that calls it can audit each change before
it is made and its result after. Nothing here takes the source's settings: the source
is never changed.

Passwords pass through here on their way to the broker only; they are never returned,
stored or logged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from console import redact
from console.errors import CutoverError
from console.kafka.client import admin_client, answer, client_config, connect_error, error_name
from console.plan import Plan, ShadowConsumerSpec

SCRAM_ITERATIONS = 8192
_MECHANISMS = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}
_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}


class IdentityError(CutoverError):
    """An identity could not be created or removed; the message says what to do."""


@dataclass(frozen=True)
class AclSpec:
    """One ACL binding the console adds for a shadow principal (always ALLOW, any host)."""

    resource: str
    """``topic`` or ``group``."""
    name: str
    operation: str
    principal: str

    def binding(self) -> AclBinding:
        return AclBinding(
            _RESOURCE[self.resource],
            self.name,
            ResourcePatternType.LITERAL,
            self.principal,
            "*",
            AclOperation[self.operation],
            AclPermissionType.ALLOW,
        )

    def text(self) -> str:
        return f"ALLOW {self.principal} {self.operation} on {self.resource} '{self.name}'"

    def to_json(self) -> dict:
        return asdict(self)


def wanted_acls(consumer: ShadowConsumerSpec) -> list[AclSpec]:
    """The minimal ACLs: READ on its topics and its group, WRITE on its sink topic.

    Literal names, not prefixes: a consumer gets its own group and its own sink, not
    every shadow group and topic (the plan already forces both into the prefix)."""
    who = consumer.kafka_principal
    acls = [AclSpec("topic", topic, "READ", who) for topic in consumer.topics]
    acls.append(AclSpec("group", consumer.group_id, "READ", who))
    if consumer.sink == "topic" and consumer.sink_topic:
        acls.append(AclSpec("topic", consumer.sink_topic, "WRITE", who))
    return acls


def generate_password() -> str:
    """A new random password (192 bits), registered so no output of ours ever shows it."""
    return redact.register(secrets.token_urlsafe(24))


class TargetIdentity:
    """The console's own admin connection to the target, for one shadow consumer."""

    def __init__(
        self,
        plan: Plan,
        consumer: ShadowConsumerSpec,
        admin_password: str | None,
        *,
        timeout: float = 15.0,
    ):
        self.plan = plan
        self.consumer = consumer
        self.spec = plan.clusters.target  # the target, always: the source is never changed
        self.timeout = timeout
        self.admin, self._trap = admin_client(
            self.spec, admin_password, client_id=f"cutover-identity-{consumer.name}"
        )

    # -- reading --------------------------------------------------------------------------

    def mechanism(self) -> ScramMechanism:
        name = self.spec.sasl_mechanism or ""
        if name not in _MECHANISMS:
            raise IdentityError(
                f"the target logs clients in with {name or 'no SASL'}; the console can create "
                "only SCRAM users",
                f"create {self.consumer.principal} yourself and set create_identity = false",
            )
        return _MECHANISMS[name]

    def user_exists(self) -> bool:
        """Whether the principal has a credential of the target's mechanism."""
        user = self.consumer.principal
        try:
            described = self.admin.describe_user_scram_credentials(
                [user], request_timeout=self.timeout
            )[user].result()
        except KafkaException as exc:
            if error_name(exc) == "RESOURCE_NOT_FOUND":
                return False
            raise self._error("describe the SCRAM credentials of", exc) from None
        return any(i.mechanism == self.mechanism() for i in described.scram_credential_infos)

    def missing_acls(self) -> list[AclSpec]:
        """The wanted ACLs not already on the target."""
        missing = []
        for acl in wanted_acls(self.consumer):
            binding = acl.binding()
            found = AclBindingFilter(
                binding.restype,
                binding.name,
                ResourcePatternType.LITERAL,
                binding.principal,
                "*",
                binding.operation,
                AclPermissionType.ALLOW,
            )
            try:
                there = self.admin.describe_acls(found, request_timeout=self.timeout).result()
            except KafkaException as exc:
                raise self._error("list the ACLs on", exc) from None
            if not there:
                missing.append(acl)
        return missing

    def sink_topic_missing(self) -> bool:
        topic = self.consumer.sink_topic
        if self.consumer.sink != "topic" or not topic:
            return False
        try:
            metadata = self.admin.list_topics(topic, timeout=self.timeout)
        except KafkaException as exc:
            raise self._error("look for the sink topic on", exc) from None
        entry = metadata.topics.get(topic)
        return entry is None or entry.error is not None

    def can_log_in(self, password: str) -> bool:
        """Whether the principal logs in to the target with this password (now)."""
        as_user = self.spec.model_copy(update={"sasl_username": self.consumer.principal})
        probe = AdminClient(client_config(as_user, password, client_id="cutover-identity-login"))
        try:
            probe.list_topics(timeout=min(5.0, self.timeout))
        except KafkaException:
            return False
        return True

    def wait_until_login(self, password: str, timeout: float = 20.0) -> bool:
        """A new credential reaches the brokers a moment after the controller commits it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.can_log_in(password):
                return True
            time.sleep(0.5)
        return False

    # -- changing (each one change, on the target) ----------------------------------------

    def upsert_user(self, password: str) -> None:
        """Create the SCRAM user, or set its password."""
        change = UserScramCredentialUpsertion(
            self.consumer.principal,
            ScramCredentialInfo(self.mechanism(), SCRAM_ITERATIONS),
            password.encode(),
        )
        self._wait_all(self.admin.alter_user_scram_credentials([change]), "create the user on")

    def delete_user(self) -> None:
        change = UserScramCredentialDeletion(self.consumer.principal, self.mechanism())
        try:
            self._wait_all(self.admin.alter_user_scram_credentials([change]), "delete the user on")
        except IdentityError as exc:
            if "RESOURCE_NOT_FOUND" not in str(exc):
                raise

    def add_acls(self, acls: list[AclSpec]) -> None:
        if acls:
            self._wait_all(
                self.admin.create_acls([a.binding() for a in acls], request_timeout=self.timeout),
                "add ACLs on",
            )

    def delete_acls(self, acls: list[AclSpec]) -> None:
        """Delete exactly these bindings (literal filters: nothing else matches them)."""
        if not acls:
            return
        filters = []
        for acl in acls:
            b = acl.binding()
            filters.append(
                AclBindingFilter(
                    b.restype,
                    b.name,
                    ResourcePatternType.LITERAL,
                    b.principal,
                    "*",
                    b.operation,
                    AclPermissionType.ALLOW,
                )
            )
        self._wait_all(
            self.admin.delete_acls(filters, request_timeout=self.timeout), "delete ACLs on"
        )

    def create_sink_topic(self, partitions: int) -> None:
        topic = self.consumer.sink_topic
        assert topic and topic.startswith(self.plan.shadow.prefix)  # the plan guarantees it
        futures = self.admin.create_topics(
            [NewTopic(topic, partitions)], request_timeout=self.timeout
        )
        try:
            futures[topic].result()
        except KafkaException as exc:
            if error_name(exc) != "TOPIC_ALREADY_EXISTS":
                raise self._error("create the sink topic on", exc) from None

    def input_partitions(self) -> int:
        """The most partitions among the consumer's input topics (at least 1)."""
        try:
            metadata = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise self._error("read the topics of", exc) from None
        counts = [
            len(metadata.topics[t].partitions) for t in self.consumer.topics if t in metadata.topics
        ]
        return max(counts, default=1)

    # -- helpers --------------------------------------------------------------------------

    def _wait_all(self, futures: dict, what: str) -> None:
        for future in futures.values():
            try:
                answer(future, self.timeout)
            except KafkaException as exc:
                raise self._error(what, exc) from None

    def _error(self, what: str, exc: KafkaException) -> IdentityError:
        reason = error_name(exc)
        if reason in ("_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN"):
            return IdentityError(
                str(connect_error("target", self.spec, self.admin, self._trap, exc))
            )
        return IdentityError(
            f"could not {what} the target for {self.consumer.principal} ({reason})",
            "the console's target user needs ALTER on the cluster to manage users and ACLs",
        )
