"""Small helpers shared by tests: plan text, fixed clocks, an in-memory keyring, a
producer whose records can be counted."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import keyring.backend
from confluent_kafka import Producer

from console.plan import ClusterSpec, SecretRef
from console.sandbox.plans import sandbox_plan_text
from console.sandbox.state import ADMIN_USER

ROOT = Path(__file__).resolve().parent.parent
DEMO_PLAN = ROOT / "plans" / "demo.toml"


TOPOLOGY_MARK = "\n# Where each part runs"
"""Where the demo plan's [topology] sections start (they run to the end of the file)."""


def demo_plan_text(
    source: str = "127.0.0.1:19093", target: str = "127.0.0.1:29093", *, topology: bool = True
) -> str:
    """The demo plan pointed at the given bootstrap addresses; without its [topology]
    sections when a test brings its own."""
    text = DEMO_PLAN.read_text()
    if not topology:
        text = text.partition(TOPOLOGY_MARK)[0] + "\n"
    return text.replace("127.0.0.1:19093", source).replace("127.0.0.1:29093", target)


def fixed_clock(start: str = "2026-11-25T12:00:00"):
    """A clock that ticks one second per call, for stable snapshots and assertions."""
    counter = itertools.count()

    def clock() -> str:
        n = next(counter)
        return f"{start[:-2]}{int(start[-2:]) + n % 60:02d}.000Z"

    return clock


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in this process only: stands in for the OS Secret Service."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


def screen_lines(app) -> list[str]:
    """The current screen as the operator sees it, one string per terminal row.

    Read from the screen's compositor (what is drawn), so a widget that exists but was
    squeezed out of its row, or hidden under another, does not count as shown.
    """
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def shadow_plan_text(source, target, topic: str, path: str, *, extra_shadow: str = "") -> str:
    """A plan over one topic on the sandbox (created on the target by the copy), with the
    given ``[shadow] path``; ``extra_shadow`` adds lines to the ``[shadow]`` section."""
    shadow = f'[shadow]\npath = "{path}"\nsample_interval_s = 0.5\n{extra_shadow}'
    return sandbox_plan_text(
        source.sasl_bootstrap, target.sasl_bootstrap, {topic: True}, name="trust-ui", extra=shadow
    )


class CountedProducer(Producer):
    """A producer for records a test counts later: idempotent with ``acks=all``, and it
    counts what the broker acknowledged.

    A plain producer may write a record twice (a retry of a request whose answer was lost)
    or out of order (a batch refused with "not leader" while a new partition elects its
    leader is retried after the batch behind it landed); a test that then counts records,
    or reads record n at offset n, fails by chance. ``flush_all`` says how many records
    landed and fails on any that did not."""

    def __init__(self, bootstrap: str, **extra):
        super().__init__(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", **extra}
        )
        self.acknowledged = 0
        self.failed: list[str] = []

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None, **kwargs):
        def report(err, msg) -> None:
            if err is None:
                self.acknowledged += 1
            else:
                self.failed.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            if on_delivery is not None:
                on_delivery(err, msg)

        while True:
            try:
                return super().produce(topic, value, key, partition, on_delivery=report, **kwargs)
            except BufferError:
                self.poll(0.05)  # the local queue is full: let deliveries drain it

    def flush_all(self, timeout: float = 60.0) -> int:
        """Wait until every record produced so far is acknowledged; returns how many
        records have been acknowledged in all."""
        left = self.flush(timeout)
        assert left == 0, f"{left} records not acknowledged within {timeout:g} s"
        assert not self.failed, f"records not written: {self.failed[:5]}"
        return self.acknowledged


def files_containing(directory: Path, needle: str) -> list[str]:
    """Files under ``directory`` whose bytes contain ``needle``, read by another process.

    Reading a run database's files from this process while its store is open would close
    file descriptors of the database, and closing any descriptor of a file drops every
    POSIX lock this process holds on it: another process closing its connection then
    takes itself for the last one, checkpoints and deletes the -wal and -shm files, and
    the store here fails with "disk I/O error"."""
    import subprocess

    found = subprocess.run(
        ["grep", "-rlaF", "--", needle, str(directory)], capture_output=True, text=True
    )
    assert found.returncode in (0, 1), found.stderr
    return found.stdout.split()


def sandbox_spec(bootstrap: str, user: str = ADMIN_USER) -> ClusterSpec:
    """A plan's cluster entry for a sandbox listener, logging in as ``user`` (SCRAM)."""
    return ClusterSpec(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user,
        password=SecretRef(env="UNUSED"),
    )


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    """``condition()``'s first true value, asked every 0.2 s; an AssertionError naming
    ``what`` when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# -- forging audit entries in either table layout -------------------------------------------


def holds_body(conn) -> bool:
    """Whether a run database's audit table is schema version 3's (entries store their
    hashed text) rather than version 2's (a column per field)."""
    return any(c[1] == "body" for c in conn.execute("PRAGMA table_xinfo(audit)"))


def forge_fields(conn, seq: int, **fields) -> None:
    """Change entry ``seq``'s own fields in place, as someone with the file and sqlite3
    would: the columns of a version 2 table, the stored text of a version 3 one (whose
    columns are computed from it and cannot be written). ``hash``/``prev_hash`` are set
    as given in both. ``params`` is JSON text."""
    own = {k: v for k, v in fields.items() if k not in ("hash", "prev_hash")}
    chain = {k: v for k, v in fields.items() if k in ("hash", "prev_hash")}
    sets, args = [], []
    if own and holds_body(conn):
        body = "body"
        for name, value in own.items():
            body = f"json_set({body}, '$.{name}', {'json(?)' if name == 'params' else '?'})"
            args.append(value)
        sets.append(f"body = {body}")
    else:
        for name, value in own.items():
            sets.append(f"{name} = ?")
            args.append(value)
    for name, value in chain.items():
        sets.append(f"{name} = ?")
        args.append(value)
    conn.execute(f"UPDATE audit SET {', '.join(sets)} WHERE seq = ?", (*args, seq))


def forge_entry(conn, entry) -> None:
    """Insert an :class:`console.store.audit.Entry` as a row of either layout."""
    from console.store import audit

    if holds_body(conn):
        conn.execute(
            "INSERT INTO audit(seq, prev_hash, hash, body) VALUES (?,?,?,?)",
            (entry.seq, entry.prev_hash, entry.hash, entry.canonical()),
        )
        return
    conn.execute(
        "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (entry.seq, entry.ts, entry.actor, entry.ssh_client, entry.action, entry.step,
         audit._canonical_json(entry.params), entry.outcome, entry.ref, entry.prev_hash,
         entry.hash),
    )  # fmt: skip


LAYOUTS = ("v3", "v2")
"""The audit-table layouts a run database can have: new files are version 3; version 2
files are still read and written."""


def use_layout(monkeypatch, layout: str) -> None:
    """Make ``Store.create`` write a version 2 file for ``layout == "v2"``."""
    if layout == "v2":
        from console.store import audit, db

        monkeypatch.setattr(audit, "SCHEMA", audit.SCHEMA_V2)
        monkeypatch.setattr(db, "SCHEMA_VERSION", db.PREVIOUS_VERSION)
