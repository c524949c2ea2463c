"""Reading the traffic scope's inputs from the run database (the only impure part).

The newest :data:`WINDOW_ROUNDS` sampling rounds of log sizes, copy positions and
consumer positions, and the replication factors of the latest inventory, go through
the pure :func:`console.traffic.rates.compute` and :func:`console.traffic.scope.scope`.
"""

from __future__ import annotations

from typing import Any

from console.store import Store
from console.traffic.rates import compute
from console.traffic.scope import scope
from console.views.traffic import TrafficView

WINDOW_ROUNDS = 30
"""Rounds the rates are measured over (a minute at the default 2 s interval)."""


def replication_factors(inventory: dict[str, Any] | None) -> dict[str, dict[str, int]] | None:
    """side -> topic -> replicas, from an inventory evidence body."""
    if not inventory:
        return None
    out: dict[str, dict[str, int]] = {}
    for side in ("source", "target"):
        found = inventory.get(side)
        if not found:
            continue
        out[side] = {
            t["name"]: max((p["replicas"] for p in t["partitions"]), default=0)
            for t in found["topics"]
        }
    return out


def load(store: Store, rounds: int = WINDOW_ROUNDS, *, until: str | None = None) -> TrafficView:
    """The traffic view from what the run database holds now (with ``until``, a replay's
    moment: from the rounds and the inventory recorded by then)."""
    plan = store.plan
    rates = compute(
        store.traffic.recent_sizes(rounds, until=until),
        store.samples.recent(rounds, until=until),
        store.traffic.recent_groups(rounds, until=until),
    )
    inventory = store.latest_evidence("inventory", "inventory", until=until)
    return scope(plan, rates, replication_factors(inventory.body if inventory else None))
