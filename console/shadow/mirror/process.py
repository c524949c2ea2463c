"""The ``cutover mirror RUN.db`` process: open the mirror, copy until stopped, say why.

It records itself in the run database (heartbeat, state), logs its Kafka mutations to
the audit log before and after, and ends with a one-line reason wherever the operator
looks (process row, audit log, its log file). The shadow-start step spawns it; see
:mod:`console.processes`.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from confluent_kafka import KafkaException

from console import processes, redact
from console.errors import Progress
from console.kafka.client import ClusterError, error_name
from console.plan import credentials
from console.shadow.mirror.copier import Mirror, MirrorSettings, say
from console.shadow.mirror.topics import STEP, MirrorError
from console.store import Store, StoreError

PROCESS = "mirror"


# -- the process body ----------------------------------------------------------------------------


def run(
    db_path: Path,
    stop: threading.Event,
    *,
    progress: Progress = say,
    settings: MirrorSettings | None = None,
) -> int:
    """The ``cutover mirror RUN.db`` process: copy until ``stop`` is set; returns the exit code.

    Writes its heartbeat to the run database's ``processes`` table, its Kafka
    mutations to the audit log (before and after), and the offset map. Exits 0 when
    stopped, 1 with a one-line message (in its log and in the process row) on failure.
    """
    store = Store.open(db_path)
    try:
        return _run(store, stop, progress, settings)
    finally:
        store.close()


def _run(
    store: Store, stop: threading.Event, progress: Progress, settings: MirrorSettings | None
) -> int:
    processes.heartbeat(store, PROCESS, "starting", state="starting")
    mirror: Mirror | None = None
    try:
        plan = store.plan
        passwords = {n: credentials.resolve_password(plan, n) for n in ("source", "target")}
        mirror = Mirror(plan, passwords, store, settings=settings, progress=progress)
        mirror.open()
        processes.heartbeat(store, PROCESS, mirror.describe())

        def beat(detail: str) -> None:
            processes.heartbeat(store, PROCESS, detail)
            progress(detail)

        mirror.run(stop, on_beat=beat)
        detail = f"stopped: {mirror.describe()}"
        store.log("mirror.copy", step=STEP, ref=mirror.intent_seq, outcome=detail)
        processes.finished(store, PROCESS, "stopped", detail)
        progress(detail)
        return 0
    except (MirrorError, ClusterError, credentials.CredentialError, StoreError) as exc:
        message = redact.text(str(exc))
    except KafkaException as exc:
        message = redact.text(f"Kafka error {error_name(exc)}; restart the mirror")
    except Exception as exc:  # noqa: BLE001 - a background process must say why it died
        message = redact.text(f"internal error {type(exc).__name__}: {exc}")
    finally:
        if mirror is not None:
            mirror.close()
    # Failed: say so everywhere the operator looks (process row, audit log, its log file).
    if mirror is not None:
        message = f"{message} ({mirror.describe()} before)"
        if mirror.intent_seq is not None:
            store.log("mirror.copy", step=STEP, ref=mirror.intent_seq, outcome=f"failed: {message}")
    processes.finished(store, PROCESS, "failed", message)
    print(f"cutover mirror: {message}", file=sys.stderr, flush=True)
    return 1
