"""What the traffic pane shows: each flow of bytes, the boundaries it crosses, its cost.

Built by :func:`console.traffic.scope.scope` from the plan's ``[topology]`` and the
measured byte rates; rendered by :mod:`widgets.traffic_pane` and, as Markdown, by the
scorecard export. Figures not known are None (shown as ``-``), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Crossing:
    """A boundary a flow crosses, for a share of its bytes, at the plan's price."""

    boundary: str
    """``zone``, ``region``, ``vpc`` or ``account``."""
    share: float
    """The part of the flow's bytes that crosses it (1.0 for all; 2.0 for two copies)."""
    price_per_gb: float


@dataclass(frozen=True)
class FlowRow:
    """One flow of bytes between two places of the topology."""

    name: str
    """``copy: source -> replication``, ``target replication``, ``billing reads target``."""
    origin: str
    destination: str
    bytes_per_s: float | None
    basis: str
    """The measurement it rests on, in words (what, over which rounds, how exact)."""
    crossings: list[Crossing]
    gb_per_hour: float | None
    gb_per_day: float | None
    """Bytes that cross a priced boundary (each crossing's share counted), in GB (10^9)."""
    cost_per_hour: float | None
    cost_per_day: float | None

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class TrafficView:
    """The network and cost scope: flows, what they rest on, what could not be known."""

    as_of: str | None
    window: str
    """The measurement window in words (rounds and times), or why there is none."""
    currency: str
    flows: list[FlowRow]
    evidence: list[str] = field(default_factory=list)
    """The measurements behind the figures, one line each."""
    notes: list[str] = field(default_factory=list)
    """Assumptions, and what was not measured and why."""
    cost_per_day: float | None = None
    """Sum of the flows' costs per day; None while any priced flow is unknown."""
