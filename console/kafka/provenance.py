"""How shadow traffic is tagged, so nothing the migration writes can pass for production.

The built-in mirror adds one header to every record it copies, naming where the
record came from on the source. A rollback's reverse copy adds another to every
target-only record it writes back to the source (``REVERSE_HEADER``, naming the target
partition and offset), so the forward copy, when it resumes, passes over those records
and never copies them to the target a second time. Everything the console creates or
writes on a cluster carries a client id starting with ``SHADOW_CLIENT_PREFIX``.
"""

from __future__ import annotations

HEADER = "cutover.src"
REVERSE_HEADER = "cutover.rev"
SHADOW_CLIENT_PREFIX = "cutover-shadow-"


def encode(partition: int, offset: int) -> bytes:
    """The provenance header value for a source record: ``b"<partition>:<offset>"``."""
    return f"{partition}:{offset}".encode()


def decode(value: bytes | str | None) -> tuple[int, int] | None:
    """(partition, offset) from a header value, or None when it is not ours."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        return None
    return int(partition), int(offset)


def find(headers: list[tuple[str, bytes]] | None) -> tuple[int, int] | None:
    """The provenance in a record's headers (the last one wins), or None."""
    found = None
    for name, value in headers or []:
        if name == HEADER:
            found = decode(value)
    return found


def reverse_of(headers: list[tuple[str, bytes]] | None) -> tuple[int, int] | None:
    """The target (partition, offset) a reverse-copied record came from, or None when the
    record is not a reverse copy."""
    found = None
    for name, value in headers or []:
        if name == REVERSE_HEADER:
            found = decode(value)
    return found


def is_reverse_copy(headers: list[tuple[str, bytes]] | None) -> bool:
    """Whether a record was written to the source by a rollback's reverse copy."""
    return bool(headers) and any(name == REVERSE_HEADER for name, _value in headers)
