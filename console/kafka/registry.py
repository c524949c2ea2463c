"""A cluster's Schema Registry, through confluent-kafka's own ``SchemaRegistryClient``.

The client (the ``schemaregistry`` extra of confluent-kafka) speaks the Confluent
registry API, which Confluent Schema Registry, Apicurio Registry (``/apis/ccompat/v7``)
and Karapace all serve. It brings HTTP basic authentication and bearer tokens, retries
with backoff, and caches schemas by id, so asking for the same id twice costs one
request. The comparison asks for the schema behind each id; the governance diff for
the subjects, their latest schema and their compatibility level.

Schemas are compared after normalising: JSON (Avro, JSON Schema) by its parsed value,
anything else (Protobuf text) by its whitespace-separated words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.errors import CutoverError
from console.plan import Plan, credentials

if TYPE_CHECKING:
    from confluent_kafka.schema_registry.error import SchemaRegistryError

SUBJECT_NOT_FOUND = 40401
SCHEMA_NOT_FOUND = 40403
SUBJECT_CONFIG_NOT_FOUND = 40408


def client_error() -> type[SchemaRegistryError]:
    """confluent-kafka's registry error, imported when an answer needs it, as the client is
    when a registry is first used: the client brings an HTTP and an OAuth stack (0.4 of
    the 1.4 s every ``cutover`` command took to start, measured with ``python -X
    importtime``), which only the commands that ask a registry need."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    return SchemaRegistryError


class RegistryError(CutoverError):
    """A registry could not be asked, or lacks what was asked; the message says what to do."""

    def __init__(self, message: str, *, unknown_id: bool = False) -> None:
        super().__init__(message)
        self.unknown_id = unknown_id


@dataclass(frozen=True)
class SubjectInfo:
    """A subject as the governance diff compares it."""

    subject: str
    version: int
    schema_id: int
    kind: str
    schema: str
    """Normalised (see :func:`normalise`)."""
    compatibility: str
    compatibility_scope: str
    """``subject`` when the subject sets its own level, ``global`` when it inherits it."""


def normalise(kind: str | None, text: str) -> tuple[str, str]:
    """A schema as ``(type, text)`` in a form where equal schemas compare equal."""
    kind = kind or "AVRO"
    try:
        return kind, json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return kind, " ".join(str(text).split())


class Registry:
    """One registry, asked through ``SchemaRegistryClient`` (cached, authenticated)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        retries: int = 1,
    ) -> None:
        self.url = url
        conf: dict = {
            "url": url,
            "timeout": timeout,
            "max.retries": retries,
            "retries.wait.ms": 200,
            "retries.max.wait.ms": 1000,
        }
        if username:
            conf["basic.auth.user.info"] = f"{username}:{password or ''}"
        self.timeout = timeout
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.client = SchemaRegistryClient(conf)

    def schema(self, schema_id: int) -> tuple[str, str]:
        """The (type, normalised text) of the schema behind an id."""
        try:
            found = self.client.get_schema(schema_id)
        except client_error() as exc:
            if exc.http_status_code == 404:
                raise RegistryError(
                    f"schema id {schema_id} is not in the registry at {self.url}; records name "
                    "a schema that registry does not have; register it there",
                    unknown_id=True,
                ) from None
            raise self._failed(f"schema id {schema_id}", exc) from None
        except Exception as exc:  # noqa: BLE001 - httpx raises its own transport errors
            raise self._unreachable(exc) from None
        return normalise(found.schema_type, found.schema_str)

    def subjects(self) -> list[str]:
        try:
            return sorted(self.client.get_subjects())
        except client_error() as exc:
            raise self._failed("the subject list", exc) from None
        except Exception as exc:  # noqa: BLE001
            raise self._unreachable(exc) from None

    def subject(self, name: str) -> SubjectInfo | None:
        """A subject's latest version and compatibility level; None when it is absent."""
        try:
            latest = self.client.get_latest_version(name)
        except client_error() as exc:
            if exc.http_status_code == 404:
                return None
            raise self._failed(f"subject {name}", exc) from None
        except Exception as exc:  # noqa: BLE001
            raise self._unreachable(exc) from None
        level, scope = self.compatibility(name)
        kind, text = normalise(latest.schema.schema_type, latest.schema.schema_str or "")
        return SubjectInfo(name, latest.version, latest.schema_id, kind, text, level, scope)

    def compatibility(self, subject: str) -> tuple[str, str]:
        """The level that applies to a subject, and whether it is its own or the global."""
        try:
            return self.client.get_compatibility(subject), "subject"
        except client_error() as exc:
            if exc.http_status_code != 404:
                raise self._failed(f"the compatibility of {subject}", exc) from None
        except Exception as exc:  # noqa: BLE001
            raise self._unreachable(exc) from None
        try:
            return self.client.get_compatibility(), "global"
        except client_error() as exc:
            raise self._failed("the global compatibility", exc) from None
        except Exception as exc:  # noqa: BLE001
            raise self._unreachable(exc) from None

    def _failed(self, what: str, exc: SchemaRegistryError) -> RegistryError:
        hint = (
            "check the plan's schema_registry_username and its password"
            if exc.http_status_code in (401, 403)
            else "check schema_registry_url and the registry's health"
        )
        return RegistryError(
            f"the registry at {self.url} answered HTTP {exc.http_status_code} for {what} "
            f"({exc.error_message}); {hint}"
        )

    def _unreachable(self, exc: Exception) -> RegistryError:
        return RegistryError(
            f"the registry at {self.url} did not answer within {self.timeout:g} s "
            f"({type(exc).__name__}); check schema_registry_url and that it is reachable "
            "from this host"
        )


def registries(plan: Plan) -> dict[str, Registry | None]:
    """Each cluster's registry as the plan names it (None where it names none)."""
    out: dict[str, Registry | None] = {}
    for side in ("source", "target"):
        spec = getattr(plan.clusters, side)
        if not spec.schema_registry_url:
            out[side] = None
            continue
        out[side] = Registry(
            spec.schema_registry_url,
            username=spec.schema_registry_username,
            password=credentials.resolve_registry_password(plan, side),
            timeout=spec.request_timeout_s,
        )
    return out
