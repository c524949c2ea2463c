"""What the console's workers tell the UI thread: past-tense facts, posted as messages.

Thread workers never touch widgets; they post one of these and the app's handlers
(on the UI thread) update the panes.
"""

from __future__ import annotations

from textual.message import Message

from console.runbook import Outcome
from console.store.audit import Verdict
from console.tui.present import Snapshot
from console.views.gate import GateView


class StateLoaded(Message):
    """The run database was read (``note``: what a replay move could not do)."""

    def __init__(self, snapshot: Snapshot, note: str = "") -> None:
        self.snapshot = snapshot
        self.note = note
        super().__init__()


class ChainVerified(Message):
    """The audit chain was verified, at ``verified_at`` (UTC, when the walk ended)."""

    def __init__(self, verdict: Verdict, verified_at: str) -> None:
        self.verdict = verdict
        self.verified_at = verified_at
        super().__init__()


class GatePrepared(Message):
    """A gate's preview was worked out and can be shown: a step's (``params``: what the
    operator entered for it) or an approval's (``kind`` ``approval``)."""

    def __init__(self, gate: GateView, params: dict | None = None, kind: str = "step") -> None:
        self.gate = gate
        self.params = params
        self.kind = kind
        super().__init__()


class DecisionPrepared(Message):
    """What a scorecard decision's form says about the area and who is at the keyboard."""

    def __init__(self, area: str, action: str, about: list[str]) -> None:
        self.area = area
        self.action = action
        self.about = about
        super().__init__()


class Approved(Message):
    """An approval gate closed: approved or not, and what to tell the operator."""

    def __init__(self, granted: bool, message: str) -> None:
        self.granted = granted
        self.message = message
        super().__init__()


class StepProgressed(Message):
    """A running step got further."""

    def __init__(self, step_id: str, text: str) -> None:
        self.step_id = step_id
        self.text = text
        super().__init__()


class StepFinished(Message):
    """A gate stayed shut (``gate`` True: refused, cancelled or blocked), or the step
    behind it ran and ended (passed, failed or cancelled)."""

    def __init__(self, step_id: str, outcome: Outcome, reason: str, *, gate: bool) -> None:
        self.step_id = step_id
        self.outcome = outcome
        self.reason = reason
        self.gate = gate
        super().__init__()


class ComparisonProgressed(Message):
    """A live comparison increment got further."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__()


class LiveCompared(Message):
    """One live comparison increment ended (``error`` says why when it could not run)."""

    def __init__(self, error: str | None, run: object = None) -> None:
        self.error = error
        self.run = run
        """Which live comparison it belongs to (its cancel event), so an increment of
        one switched off since is not taken for the current one's."""
        super().__init__()


class SafeDetailLoaded(Message):
    """A shadow consumer's error examples were read, to be shown in full."""

    def __init__(self, title: str, lines: list[str]) -> None:
        self.title = title
        self.lines = lines
        super().__init__()


class SecretRevealed(Message):
    """A running step made a secret the operator must see once (a generated password).
    It is shown in a dialog and kept nowhere else."""

    def __init__(self, what: str, secret: str) -> None:
        self.what = what
        self.secret = secret
        super().__init__()


class GovernanceDecided(Message):
    """A governance decision was recorded (``decision``), or refused (``error``)."""

    def __init__(self, key: str, decision: str | None, error: str) -> None:
        self.key = key
        self.decision = decision
        self.error = error
        super().__init__()
