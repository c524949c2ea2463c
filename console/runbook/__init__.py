"""The runbook: a step's gate (preview, decision) and its execution, one way for all.

``gate`` shows and records the decision, ``execute`` runs and recovers steps,
``registry`` lists the runner of every step this version can run, and ``inventory``,
``shadow`` and ``compare`` are those runners. The console and ``cutover step`` use the
functions re-exported here.
"""

from console.runbook.execute import recover, report_lines, run
from console.runbook.gate import Decision, decide, preview
from console.runbook.outcome import Outcome, StepOutcome
from console.runbook.registry import available

__all__ = [
    "Decision",
    "Outcome",
    "StepOutcome",
    "available",
    "decide",
    "preview",
    "recover",
    "report_lines",
    "run",
]
