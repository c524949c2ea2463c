"""The run as it stood at one audit entry: what a replay shows at each point.

Step states are not kept per entry; they are derived from the log itself: every step
instance starts PENDING, ``step.started`` makes it RUNNING, ``step.finished`` gives it
the state its outcome names (``passed``, ``failed: why``, ``cancelled: why``) and
``step.interrupted`` marks it FAILED. The background processes are derived the same way
from their start and stop entries. Everything else a replay shows (evidence, lag samples,
comparison windows, scorecard decisions) carries its own time or entry number and is
read with that bound. Reads only.
"""

from __future__ import annotations

import dataclasses

from console.plan.steps import StepState
from console.safe import RUN_ACTION, process_name
from console.store import StepRow, Store
from console.store.history import STEP_ACTIONS

_PROCESS_ACTIONS = ("process.start", "process.stop", "mm2.deploy", "mm2.remove", RUN_ACTION)
"""A shadow consumer's own run entries count too: its result entry (``stopped: ...`` or
why it failed) is written when the process ends by itself."""


def steps_as_of(store: Store, upto: int) -> list[StepRow]:
    """Every step instance as it stood right after audit entry ``upto``."""
    rows = store.steps()
    state: dict[str, tuple[StepState, str, str]] = {
        row.key: (StepState.PENDING, "", "") for row in rows
    }
    for entry in store.history.with_actions(STEP_ACTIONS, upto):
        if entry.step not in state:
            continue
        if entry.action == "step.started":
            state[entry.step] = (StepState.RUNNING, "", entry.ts)
        elif entry.action == "step.interrupted":
            state[entry.step] = (StepState.FAILED, "interrupted: its process ended", entry.ts)
        else:
            word, _, reason = (entry.outcome or "failed").partition(": ")
            try:
                ended = StepState(word)
            except ValueError:
                ended, reason = StepState.FAILED, entry.outcome or ""
            state[entry.step] = (ended, reason, entry.ts)
    return [
        dataclasses.replace(
            row,
            state=state[row.key][0],
            reason=state[row.key][1],
            updated_at=state[row.key][2],
            runner_pid=None,
        )
        for row in rows
    ]


def processes_as_of(store: Store, upto: int) -> tuple[tuple[str, str], ...]:
    """The shadow path's background work as it stood after entry ``upto``: (name, word)
    each, from the audited starts and stops (intent entries name the process; result
    entries refer back to them)."""
    names: dict[int, str] = {}
    words: dict[str, str] = {}
    for entry in store.history.with_actions(_PROCESS_ACTIONS, upto):
        mm2 = entry.action.startswith("mm2.")
        if entry.ref is None:
            if entry.action == RUN_ACTION:
                names[entry.seq] = process_name(str(entry.params.get("consumer", "?")))
            else:
                names[entry.seq] = "mm2" if mm2 else str(entry.params.get("process", "?"))
            continue
        name = names.get(entry.ref, "mm2" if mm2 else "?")
        outcome = (entry.outcome or "").lower()
        if entry.action == RUN_ACTION:
            words[name] = "STOPPED" if outcome.startswith("stopped") else "FAILED"
        elif entry.action in ("process.start", "mm2.deploy"):
            words[name] = "FAILED" if "fail" in outcome or "no report" in outcome else "RUNNING"
        else:
            words[name] = "REMOVED" if mm2 else "STOPPED"
    return tuple(sorted(words.items()))
