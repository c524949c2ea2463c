"""Placing the measured bytes on the plan's topology and pricing what crosses a boundary.

Pure: :func:`scope` takes the plan, the measured :class:`~console.traffic.rates.Rates`
and the replication factors the inventory read, and returns the
:class:`~console.views.traffic.TrafficView` the pane renders; :func:`markdown` gives the
same as Markdown lines for the scorecard export. No price is ever fetched: only the
plan's ``[topology.prices]`` are used, per GB of 10^9 bytes.

The flows, and the bytes each rests on:

Flow names are short (``src``, ``repl``, ``tgt``) so they fit the pane at 80x24.

* **copy: src -> repl**: what the copy read from the source (its source
  position advancing x the source's bytes per offset);
* **copy: repl -> tgt**: what the target's logs of the plan topics grew by;
* **tgt replication** / **src replication (now)**: each appended byte copied to the
  followers; with rack-aware placement over *n* zones, ``RF - ceil(RF / n)`` of the
  ``RF - 1`` copies land in another zone (RF from the inventory);
* **tgt -> object store**: each appended byte once, where the target tiers;
* **<group> reads <src|tgt>**: each group's committed position advancing x bytes per
  offset, measured where the group commits now.

Boundaries between two places: another region (then zones are not priced again), or
in one region the share of bytes whose zones differ, ``1 - |A∩B| / (|A|·|B|)``
(traffic spread evenly over each side's zones; a regional service such as object
storage has no zone); another VPC; another account. Prices add up where a flow crosses
several (set one to 0 where a provider charges only one).
"""

from __future__ import annotations

import math

from console.plan import ConsumerPlace, Place, Plan
from console.traffic.rates import Rates
from console.views.traffic import Crossing, FlowRow, TrafficView

SHORT = {"source": "src", "target": "tgt"}
"""Flow names stay short: the pane's flow column is 21 characters at 80x24."""
GB = 1e9
HOUR = 3600
DAY = 24 * HOUR


def crossings(a: Place, b: Place, prices, *, zone_share: float | None = None) -> list[Crossing]:
    """The priced boundaries between two places; ``zone_share`` overrides the zone part."""
    out: list[Crossing] = []
    if a.region != b.region:
        out.append(Crossing("region", 1.0, prices.cross_region_per_gb))
    else:
        share = zone_share
        if share is None:
            share = 0.0
            if a.zones and b.zones:
                shared = len(set(a.zones) & set(b.zones))
                share = 1.0 - shared / (len(a.zones) * len(b.zones))
        if share > 0:
            out.append(Crossing("zone", share, prices.cross_zone_per_gb))
    if a.vpc != b.vpc:
        out.append(Crossing("vpc", 1.0, prices.cross_vpc_per_gb))
    if a.account != b.account:
        out.append(Crossing("account", 1.0, prices.cross_account_per_gb))
    return out


def cross_zone_copies(replication_factor: int, zones: int) -> float:
    """Follower copies of each byte that land in another zone, rack-aware placement."""
    if zones <= 1 or replication_factor <= 1:
        return 0.0
    return float(replication_factor - math.ceil(replication_factor / zones))


def _flow(name, origin, destination, rate, basis, found: list[Crossing]) -> FlowRow:
    if rate is None:
        return FlowRow(name, origin, destination, None, basis, found, None, None, None, None)
    crossing_bytes = sum(c.share for c in found) * rate
    cost_per_s = sum(c.share * c.price_per_gb for c in found) * rate / GB
    return FlowRow(
        name,
        origin,
        destination,
        rate,
        basis,
        found,
        crossing_bytes * HOUR / GB,
        crossing_bytes * DAY / GB,
        cost_per_s * HOUR,
        cost_per_s * DAY,
    )


def scope(
    plan: Plan,
    rates: Rates,
    replication_factors: dict[str, dict[str, int]] | None,
    *,
    path: str | None = None,
) -> TrafficView:
    """The network and cost scope of the plan's topology from the measured rates.

    ``replication_factors``: side -> topic -> replicas, from the inventory (None before
    one was taken). ``path`` names the shadow path (how exact the copy figures are).
    """
    topology = plan.topology
    if topology is None:
        return TrafficView(
            None,
            "",
            "",
            [],
            notes=[
                "The plan has no [topology] section: add where source, replication, "
                "target, object storage and consumers run, and the per-GB prices, to see "
                "what crosses which boundary."
            ],
        )
    prices = topology.prices
    topics = [t.name for t in plan.topics]
    notes: list[str] = []
    evidence: list[str] = []
    if rates.rounds < 2:
        window = "no byte samples yet: the lag sampler records them while the copy runs"
    else:
        window = (
            f"{rates.rounds} sampling rounds, {rates.first_ts[11:19]} to {rates.last_ts[11:19]} UTC"
        )

    def total(values: dict, side: str) -> float | None:
        found = [values[(side, t)] for t in topics if (side, t) in values]
        return sum(found) if found and rates.rounds >= 2 else None

    src_in = total(rates.appended, "source")
    tgt_in = total(rates.appended, "target")
    copy_read = sum(rates.copy_read.values()) if rates.copy_read else None
    exact = "exact" if (path or plan.shadow.path) in ("builtin", "mirrormaker2") else "estimated"
    log_basis = "log growth of the plan topics (DescribeLogDirs on the leaders)"
    evidence.append(f"source {log_basis}: {_rate(src_in)}")
    evidence.append(f"target {log_basis}: {_rate(tgt_in)}")
    evidence.append(
        f"copy read from the source (its source position x bytes per offset, position "
        f"{exact}): {_rate(copy_read)}"
    )
    if rates.dropped_steps:
        notes.append(
            f"{rates.dropped_steps} sampling step(s) where a log shrank (retention) were "
            "left out: log growth is a lower bound there"
        )
    notes.append(
        "Bytes are record batches as stored (compressed, with batch headers); request "
        "framing and TLS add a little on the wire."
    )
    flows = [
        _flow(
            "copy: src -> repl",
            "source",
            "replication",
            copy_read,
            "copy's source position x source bytes per offset",
            crossings(topology.source, topology.replication, prices),
        ),
        _flow(
            "copy: repl -> tgt",
            "replication",
            "target",
            tgt_in,
            "target log growth",
            crossings(topology.replication, topology.target, prices),
        ),
    ]
    for side, place, rate in (
        ("target", topology.target, tgt_in),
        ("source", topology.source, src_in),
    ):
        rf = _rf(replication_factors, side, topics)
        if rf is None:
            why = (
                "no inventory yet"
                if not replication_factors
                else f"the latest inventory lists none of the plan's topics on the {side}; "
                "run Read both clusters again"
            )
            notes.append(
                f"{side} replication not computed: {why} (the replication factor comes from it)"
            )
            continue
        copies = cross_zone_copies(rf, len(place.zones))
        found = [Crossing("zone", copies, prices.cross_zone_per_gb)] if copies else []
        flows.append(
            _flow(
                f"{SHORT[side]} replication" + (" (now)" if side == "source" else ""),
                side,
                side,
                rate,
                f"{side} log growth x {copies:g} cross-zone copies (RF {rf}, "
                f"{len(place.zones)} zone(s))",
                found,
            )
        )
    if topology.object_storage is not None:
        flows.append(
            _flow(
                "tgt -> object store",
                "target",
                "object storage",
                tgt_in,
                "target log growth, tiered once",
                crossings(topology.target, topology.object_storage, prices),
            )
        )
    for place in topology.consumers:
        flows.extend(_consumer_flows(place, topology, rates, topics, prices, plan))
    costs = [f.cost_per_day for f in flows]
    return TrafficView(
        rates.last_ts,
        window,
        prices.currency,
        flows,
        evidence,
        notes,
        None if any(c is None for c in costs) or not flows else sum(costs),
    )


def _consumer_flows(
    place: ConsumerPlace, topology, rates: Rates, topics: list[str], prices, plan: Plan
) -> list[FlowRow]:
    cluster = topology.target if place.reads == "target" else topology.source
    zone_share = None
    if place.fetch_from_follower and set(place.zones) & set(cluster.zones):
        zone_share = 0.0  # it reads a replica in its own zone
    found = crossings(cluster, place, prices, zone_share=zone_share)
    flows = []
    group_topics = {g.id: g.topics for g in plan.groups}
    for group in place.groups:
        rate, where = None, ""
        for side in (place.reads, "source" if place.reads == "target" else "target"):
            values = [rates.consumed.get((side, group, t)) for t in group_topics.get(group, [])]
            if values and all(v is not None for v in values) and rates.rounds >= 2:
                rate, where = sum(values), side
                break
        basis = (
            f"committed offsets on the {where} x bytes per offset"
            if rate is not None
            else "no committed positions of this group in the window"
        )
        flows.append(
            _flow(
                f"{group} reads {SHORT[place.reads]}",
                place.reads,
                f"consumers {group}",
                rate,
                basis,
                found,
            )
        )
    return flows


def _rf(factors: dict[str, dict[str, int]] | None, side: str, topics: list[str]) -> int | None:
    if not factors or side not in factors:
        return None
    found = [factors[side][t] for t in topics if t in factors[side]]
    return max(found) if found else None


def _rate(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value / 1000:,.1f} kB/s"


def markdown(view: TrafficView) -> list[str]:
    """The scope as Markdown lines (for the scorecard export), evidence beside it."""
    lines = ["## Network and cost scope", ""]
    if not view.flows:
        return lines + [f"- {n}" for n in view.notes]
    lines += [
        f"Measured over {view.window}. Prices per GB (10^9 bytes) as the plan states them, "
        f"in {view.currency}; informs the review, no verdict.",
        "",
        "| Flow | Bytes/s | Crosses | GB/hour | GB/day | Cost/hour | Cost/day | Rests on |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for f in view.flows:
        crossed = ", ".join(_crossing(c) for c in f.crossings) or "none"
        lines.append(
            f"| {f.name} | {_num(f.bytes_per_s, 0)} | {crossed} | {_num(f.gb_per_hour, 3)} | "
            f"{_num(f.gb_per_day, 2)} | {_num(f.cost_per_hour, 4)} | {_num(f.cost_per_day, 2)} "
            f"| {f.basis} |"
        )
    if view.cost_per_day is not None:
        total = f"All flows together: {view.cost_per_day:,.2f} {view.currency} per day."
    else:
        # Say which flows are missing and what the measured ones come to: a review can
        # still weigh a lower bound, and knows what to measure next.
        unknown = [f.name for f in view.flows if f.cost_per_day is None]
        known = sum(f.cost_per_day for f in view.flows if f.cost_per_day is not None)
        total = (
            f"All flows together: unknown, {', '.join(unknown)} not measured; the measured "
            f"flows come to {known:,.2f} {view.currency} per day (a lower bound)."
        )
    lines += ["", total, "", "Evidence:"]
    lines += [f"- {e}" for e in view.evidence]
    lines += ["", "Notes:"] + [f"- {n}" for n in view.notes]
    return lines


def _crossing(c: Crossing) -> str:
    share = "" if c.share == 1.0 else f" x{c.share:.2f}"
    return f"{c.boundary}{share} @{c.price_per_gb:g}/GB"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def as_json(view: TrafficView) -> dict:
    """The view as JSON (``cutover traffic --json`` and the scorecard export)."""
    return {
        "as_of": view.as_of,
        "window": view.window,
        "currency": view.currency,
        "cost_per_day": view.cost_per_day,
        "flows": [
            {
                "name": f.name,
                "from": f.origin,
                "to": f.destination,
                "bytes_per_s": f.bytes_per_s,
                "basis": f.basis,
                "crossings": [
                    {"boundary": c.boundary, "share": c.share, "price_per_gb": c.price_per_gb}
                    for c in f.crossings
                ],
                "gb_per_hour": f.gb_per_hour,
                "gb_per_day": f.gb_per_day,
                "cost_per_hour": f.cost_per_hour,
                "cost_per_day": f.cost_per_day,
            }
            for f in view.flows
        ],
        "evidence": view.evidence,
        "notes": view.notes,
    }
