"""The schema behind each schema id, per the plan's Schema Registries.

Records in the Confluent wire format carry a 4-byte schema id; the aligner notes
which source id each target id stood for. When the plan names a registry for both
clusters (``schema_registry_url``), this module asks each registry for the schema
behind every id pair (``GET /schemas/ids/<id>``) and compares them after
normalising JSON whitespace. Without both registries the check says NO DATA: an
unproven schema is never OK.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from console.compare.model import CheckResult, Example, Verdict
from console.errors import CutoverError
from console.plan import Plan

MAX_IDS = 200  # ids looked up per topic; more than this in one window is itself suspicious


def registry_result(
    plan: Plan,
    topic: str,
    pairs: dict[tuple[int, int], int],
    *,
    timeout: float = 10.0,
    cache: dict | None = None,
    where: dict[tuple[int, int], tuple[int, int, int, int]] | None = None,
) -> CheckResult:
    """The ``schema_registry`` verdict of one topic from the id pairs the comparison saw;
    ``where`` locates a record of each pair (source partition and offset, target
    partition and offset) for the examples."""
    src_url = plan.clusters.source.schema_registry_url
    tgt_url = plan.clusters.target.schema_registry_url
    if not src_url or not tgt_url:
        missing = " and ".join(
            side for side, url in (("source", src_url), ("target", tgt_url)) if not url
        )
        return CheckResult(
            topic,
            None,
            "schema_registry",
            Verdict.NO_DATA,
            f"no schema_registry_url for the {missing} cluster in the plan; set it to compare "
            "the schemas behind the ids",
            {},
            [],
        )
    if not pairs:
        return CheckResult(
            topic,
            None,
            "schema_registry",
            Verdict.NO_DATA,
            "no record in the Confluent wire format in this window; no schema to look up",
            {},
            [],
        )
    cache = {} if cache is None else cache
    differ: list[Example] = []
    checked = 0
    try:
        for (sid, tid), _n in sorted(pairs.items())[:MAX_IDS]:
            a = _schema(src_url, sid, timeout, cache)
            b = _schema(tgt_url, tid, timeout, cache)
            checked += 1
            if a != b:
                at = (where or {}).get((sid, tid), (None, None, None, None))
                differ.append(
                    Example(
                        *at, None, f"source id {sid} and target id {tid} name different schemas"
                    )
                )
    except RegistryError as exc:
        verdict = Verdict.RED if exc.unknown_id else Verdict.NO_DATA
        return CheckResult(topic, None, "schema_registry", verdict, str(exc), {}, [])
    counts = {"pairs": checked, "different": len(differ)}
    if differ:
        return CheckResult(
            topic,
            None,
            "schema_registry",
            Verdict.RED,
            f"{len(differ)} of {checked} schema id pairs name different schemas on the two "
            "registries; consumers on the target would decode with the wrong schema",
            counts,
            differ[:5],
        )
    return CheckResult(
        topic,
        None,
        "schema_registry",
        Verdict.OK,
        f"the same schema behind all {checked} schema id pair(s) on both registries",
        counts,
        [],
    )


class RegistryError(CutoverError):
    """A registry could not be asked, or lacks an id; the message says what to do."""

    def __init__(self, message: str, *, unknown_id: bool = False) -> None:
        super().__init__(message)
        self.unknown_id = unknown_id


def _schema(url: str, schema_id: int, timeout: float, cache: dict) -> tuple[str, str]:
    key = (url, schema_id)
    if key in cache:
        return cache[key]
    address = f"{url.rstrip('/')}/schemas/ids/{schema_id}"
    request = urllib.request.Request(
        address, headers={"Accept": "application/vnd.schemaregistry.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            body = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise RegistryError(
                f"schema id {schema_id} is not in the registry at {url}; records name a "
                "schema that registry does not have; register it there",
                unknown_id=True,
            ) from None
        raise RegistryError(
            f"the registry at {url} answered HTTP {exc.code} for schema id {schema_id}; "
            "check schema_registry_url and the registry's health"
        ) from None
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"the registry at {url} did not answer within {timeout:g} s ({exc}); check "
            "schema_registry_url and that it is reachable from this host"
        ) from None
    schema = body.get("schema", "")
    kind = body.get("schemaType", "AVRO")
    try:
        schema = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
    except ValueError:
        schema = " ".join(str(schema).split())  # Protobuf text: whitespace only
    cache[key] = (kind, schema)
    return cache[key]
