"""Records as the comparison sees them: identity for alignment, schema ids, provenance.

Identity for alignment is (key, value without its Confluent wire-format header): two
independent producer sessions (dual write) produce records that differ in timestamps
and headers but not in key and value, and a schema registry that numbers schemas
differently changes only the 4-byte id. :class:`Rec` stands in for a confluent-kafka
``Message`` in tests and replays.
"""

from __future__ import annotations

from hashlib import blake2b as _digest

from console.kafka import provenance

PROV = provenance.HEADER
REVERSE = provenance.REVERSE_HEADER


class Rec:
    """A record with the confluent-kafka ``Message`` accessors, for tests and replays."""

    __slots__ = ("_k", "_v", "_h", "_ts", "_o", "_p")

    def __init__(
        self,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None = None,
        timestamp: int = 0,
        ts_type: int = 1,
        partition: int = 0,
    ) -> None:
        self._o, self._k, self._v = offset, key, value
        self._h = headers or None
        self._ts = (ts_type, timestamp)
        self._p = partition

    def key(self):
        return self._k

    def value(self):
        return self._v

    def headers(self):
        return self._h

    def timestamp(self):
        return self._ts

    def offset(self):
        return self._o

    def partition(self):
        return self._p


def wire_id(data: bytes | None) -> int | None:
    """The schema id of a value in the Confluent wire format (magic 0, 4-byte id), or None."""
    if data is not None and len(data) >= 5 and data[0] == 0:
        return int.from_bytes(data[1:5], "big")
    return None


def _payload(data: bytes | None) -> bytes | None:
    return data[5:] if data is not None and len(data) >= 5 and data[0] == 0 else data


def fingerprint(key: bytes | None, value: bytes | None) -> int:
    """Identity used to align records: key and value, schema id aside.

    A digest, not ``hash()``: Python salts ``hash()`` per process, and fingerprints
    taken in a worker process are matched in the parent (the second read of the source
    that tells a duplicate from an extra record) and across partitions. Only unmatched
    and out-of-step records are fingerprinted; records in step are compared directly.
    """
    payload = _payload(value)
    framed = b"-" if key is None else b"%d:%b" % (len(key), key)
    if payload is not None:
        framed += b"+" + payload
    return int.from_bytes(_digest(framed, digest_size=8).digest(), "little")


def strip_provenance(headers):
    """Headers without the built-in mirror's provenance header (and a rollback's reverse
    copy header: a reverse copy on the source is the target record it came from); None
    when none are left."""
    if not headers:
        return None
    kept = [h for h in headers if h[0] != PROV and h[0] != REVERSE]
    return kept or None


def provenance_of(headers) -> tuple[int, int] | None:
    return provenance.find(headers) if headers else None
