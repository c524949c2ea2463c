"""The contract between the engine and the panes: what each pane shows, as plain data.

Engine code builds these frozen dataclasses (the runbook's gate, the lag sampler's
verdicts, the comparison's rows) and panes render them; nothing here imports Textual,
SQLite or Kafka, so both sides may import it. :mod:`~console.views.status` is the one
table of how every step state and verdict reads: glyph, word and colour.
"""
