"""The schema behind each schema id, per the plan's Schema Registries.

Records in the Confluent wire format carry a 4-byte schema id; the aligner notes
which source id each target id stood for. When the plan names a registry for both
clusters (``schema_registry_url``), this module asks each registry for the schema
behind every id pair, through confluent-kafka's ``SchemaRegistryClient``
(:mod:`console.kafka.registry`: authentication, retries and a cache by id), and
compares them after normalising. Without both registries the check says NO DATA: an
unproven schema is never OK.
"""

from __future__ import annotations

from console.compare.model import CheckResult, Example, Verdict
from console.kafka.registry import Registry, RegistryError, registries
from console.plan import Plan
from console.plan.credentials import CredentialError

MAX_IDS = 200  # ids looked up per topic; more than this in one window is itself suspicious


def registry_result(
    plan: Plan,
    topic: str,
    pairs: dict[tuple[int, int], int],
    *,
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
        clients = _clients(plan, cache)
        for (sid, tid), _n in sorted(pairs.items())[:MAX_IDS]:
            a = clients["source"].schema(sid)
            b = clients["target"].schema(tid)
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
    except CredentialError as exc:
        return CheckResult(topic, None, "schema_registry", Verdict.NO_DATA, str(exc), {}, [])
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


def _clients(plan: Plan, cache: dict) -> dict[str, Registry]:
    """The two registries, made once per comparison (each keeps its own cache by id)."""
    if "registries" not in cache:
        cache["registries"] = registries(plan)
    return cache["registries"]


__all__ = ["MAX_IDS", "RegistryError", "registry_result"]
