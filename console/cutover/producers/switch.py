"""Telling a producer class which cluster to write to.

Two ways, as the plan's ``switch`` says:

* ``redeploy``: the team redeploys its producers with the target's bootstrap servers.
  The console cannot do that; typing the class name at the gate is the operator's word
  that the team is ready, and the move waits for the class's first write on the target.
* ``demo-workload``: the demo's synthetic workload polls a small control file per class
  (:func:`control_path`, next to the run database) and switches its producer for that
  class when the file names another cluster. The file holds the cluster's name and its
  bootstrap servers and protocol, never a password: the workload logs in with its own.

Writing the file is atomic (a temporary file renamed over it) and idempotent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from console import processes
from console.plan import Plan
from console.store import Store

CONTROL_DIR = "switch"


def control_dir(store: Store) -> Path:
    """Where the demo workload looks for its switch files: ``RUN.db.logs/switch``."""
    path = processes.log_dir(store) / CONTROL_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def control_path(store: Store, cls: str) -> Path:
    return control_dir(store) / f"{cls}.json"


def instruction(plan: Plan, cls: str, cluster: str, told_at: str, run_id: int) -> dict[str, Any]:
    """What the control file says: the cluster to write to and how to reach it."""
    spec = getattr(plan.clusters, cluster)
    return {
        "class": cls,
        "cluster": cluster,
        "bootstrap_servers": spec.bootstrap_servers,
        "security_protocol": spec.security_protocol,
        "sasl_mechanism": spec.sasl_mechanism,
        "told_at": told_at,
        "run": run_id,
    }


def tell(store: Store, cls: str, body: dict[str, Any]) -> Path:
    """Write the control file for a class (atomically)."""
    path = control_path(store, cls)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def told(store: Store, cls: str) -> dict[str, Any] | None:
    """What the control file says now, if there is one."""
    path = control_path(store, cls)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
