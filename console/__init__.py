"""Cutover Console: drives a Kafka traffic-shadowing migration runbook from a run database.

The engine modules in this package (everything but ``app``, ``screens`` and ``cli``)
are plain Python and never import Textual, so pipelines and tests can use them
headless.
"""

__version__ = "0.1.0"
