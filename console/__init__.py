"""Cutover Console: drives a Kafka traffic-shadowing migration runbook from a run database.

The subpackages are the layers, lowest first; a module imports only from its own layer
or below (``tests/test_architecture.py`` checks):

``errors``, ``redact``, ``pids``, ``views``
    what every layer shares: the error base and exit codes, secret masking, process
    liveness, and the view dataclasses panes render
``plan``
    the plan model, the runbook's steps, credentials
``store``
    the run database: the only place with SQL
``processes``
    background processes that outlive the console
``kafka``
    client plumbing, the broker probe, inventory, provenance
``shadow``, ``compare``, ``cutover``
    the shadow path and lag, the comparison, the cutover (next)
``runbook``
    gates and step execution; the registry of step runners
``sandbox``
    local clusters for the demo and tests (tooling, not product)
``cli``, ``tui``
    the command line and the Textual console; only ``tui`` imports Textual
"""

__version__ = "0.1.0"
