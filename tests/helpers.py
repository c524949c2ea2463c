"""Small helpers shared by tests: plan text, fixed clocks, an in-memory keyring."""

from __future__ import annotations

import itertools
from pathlib import Path

import keyring.backend

from console.sandbox.plans import sandbox_plan_text

ROOT = Path(__file__).resolve().parent.parent
DEMO_PLAN = ROOT / "plans" / "demo.toml"


TOPOLOGY_MARK = "\n# Where each part runs"
"""Where the demo plan's [topology] sections start (they run to the end of the file)."""


def demo_plan_text(
    source: str = "127.0.0.1:19093", target: str = "127.0.0.1:29093", *, topology: bool = True
) -> str:
    """The demo plan pointed at the given bootstrap addresses; without its [topology]
    sections when a test brings its own."""
    text = DEMO_PLAN.read_text()
    if not topology:
        text = text.partition(TOPOLOGY_MARK)[0] + "\n"
    return text.replace("127.0.0.1:19093", source).replace("127.0.0.1:29093", target)


def fixed_clock(start: str = "2026-11-25T12:00:00"):
    """A clock that ticks one second per call, for stable snapshots and assertions."""
    counter = itertools.count()

    def clock() -> str:
        n = next(counter)
        return f"{start[:-2]}{int(start[-2:]) + n % 60:02d}.000Z"

    return clock


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in this process only: stands in for the OS Secret Service."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


def screen_lines(app) -> list[str]:
    """The current screen as the operator sees it, one string per terminal row.

    Read from the screen's compositor (what is drawn), so a widget that exists but was
    squeezed out of its row, or hidden under another, does not count as shown.
    """
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def shadow_plan_text(source, target, topic: str, path: str, *, extra_shadow: str = "") -> str:
    """A plan over one topic on the sandbox (created on the target by the copy), with the
    given ``[shadow] path``; ``extra_shadow`` adds lines to the ``[shadow]`` section."""
    shadow = f'[shadow]\npath = "{path}"\nsample_interval_s = 0.5\n{extra_shadow}'
    return sandbox_plan_text(
        source.sasl_bootstrap, target.sasl_bootstrap, {topic: True}, name="trust-ui", extra=shadow
    )
