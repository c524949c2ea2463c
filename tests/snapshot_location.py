"""Stores SVG snapshots in the top-level ``snapshots/`` folder instead of ``__snapshots__``.

pytest-textual-snapshot picks its syrupy extension itself, so the folder is set on
that extension class; loaded from conftest as a plugin.
"""

from __future__ import annotations

from pathlib import Path

import pytest_textual_snapshot

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "snapshots"


def _dirname(cls, *, test_location) -> str:
    return str(SNAPSHOT_DIR / test_location.basename)


pytest_textual_snapshot.SVGImageExtension.dirname = classmethod(_dirname)
