"""Textual panes for Cutover Console, one per file.

Panes render the view dataclasses of :mod:`console.views` they are given, with the one
status table and number formatter of :mod:`widgets.style`. They never talk to Kafka or
SQLite and import nothing of the engine; the console's workers fetch data and hand it
to them. Their shared look is ``console/tui/styles/panes.tcss``.
"""
