"""Producer cutover and rollback: one producer class at a time, behind gates.

* :mod:`~console.cutover.producers.move`: fence the class on the source, wait for quiet,
  drain the copy, record the cutover point, open the target, switch, verify;
* :mod:`~console.cutover.producers.window`: the rollback window (target-only records, the
  groups that read them, when replay rather than rollback becomes the plan);
* :mod:`~console.cutover.producers.rollback`: fence on the target, the reverse copy of
  target-only records (or their export), groups back to the source, unfence, switch back;
* :mod:`~console.cutover.producers.drill`: the rollback path rehearsed end to end on
  rehearsal topics before the first real move.

Every sub-step of a move, rollback or drill is recorded in the run database before its
side effect and after it (:mod:`~console.cutover.producers.sequence`), so a run killed at
any point converges when the step runs again.
"""
