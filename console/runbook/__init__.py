"""The runbook: a step's gate (preview, decision) and its execution, one way for all.

``gate`` shows and records the decision, ``execute`` runs and recovers steps,
``registry`` lists the runner of every step this version can run, and ``inventory``,
``shadow`` and ``compare`` are those runners. The console and ``cutover step`` use the
functions re-exported here.
"""

from console.runbook.execute import StepBusy, recover, report_lines, run
from console.runbook.gate import Decision, blocked, confirm_word, decide, preview, waiting_on
from console.runbook.outcome import Outcome, StepContext, StepOutcome
from console.runbook.registry import available

__all__ = [
    "Decision",
    "Outcome",
    "StepBusy",
    "StepContext",
    "StepOutcome",
    "available",
    "blocked",
    "confirm_word",
    "decide",
    "preview",
    "recover",
    "report_lines",
    "run",
    "waiting_on",
]
