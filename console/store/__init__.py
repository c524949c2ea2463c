"""The run database: the single source of truth for a run, and the only place with SQL.

:mod:`~console.store.db` opens and creates it and holds the steps, evidence and plan;
:mod:`~console.store.audit` is the tamper-evident chain. Everything else reaches the
database through the :class:`Store` methods re-exported here.
"""

from console.store.db import SCHEMA_VERSION, Evidence, StepRow, Store, StoreError

__all__ = ["SCHEMA_VERSION", "Evidence", "StepRow", "Store", "StoreError"]
