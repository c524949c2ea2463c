"""What the one-line header shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderInfo:
    """What the header shows: the plan, both clusters with their releases, the mode."""

    plan: str
    source: str
    target: str
    source_release: str = "?"
    target_release: str = "?"
    mode: str = "LIVE"
    chain: str = ""
    """"CHAIN BROKEN" once a verification found the audit chain broken; '' otherwise."""
