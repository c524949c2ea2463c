"""The one ApiVersions probe: which Kafka release a broker runs, from its own answer.

Kafka has no "what version are you" request, but every broker answers ApiVersions
(before authentication too), and the set of APIs and their version ranges changes
between releases (4.0 dropped many old versions, KIP-896). v0 is used because every
broker still accepts it and its response is fixed-width, so no client library is
needed. The inventory names each broker's release from it; the sandbox checks its
brokers with it.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct
from dataclasses import dataclass

from console.kafka.client import ClusterError

# Fingerprints (SHA-256 of the sorted (key, min, max) list, first 16 hex digits) measured
# on Apache Kafka brokers of these releases. An exact match names the release; otherwise
# the major version is inferred from Kafka 4.0 having dropped old protocol versions
# (KIP-896 raised Fetch's minimum version to 4), and marked as a guess.
_FINGERPRINTS = {
    "9fcbb62b9d7e593a": "3.9",
    "b73e4dedfd0d5fcc": "4.1",
}
_FETCH = 1
_API_VERSIONS = 18
_CORRELATION_ID = 0x5AFE
_CLIENT_ID = b"cutover-probe"


@dataclass(frozen=True)
class ApiVersions:
    """What a broker said it supports: api key to (min, max)."""

    ranges: dict[int, tuple[int, int]]

    @property
    def fingerprint(self) -> str:
        ranges = sorted((k, lo, hi) for k, (lo, hi) in self.ranges.items())
        return hashlib.sha256(repr(ranges).encode()).hexdigest()[:16]

    def release(self) -> str:
        """The Kafka release these ranges match: '3.9', or a guess such as '4.x?'."""
        known = _FINGERPRINTS.get(self.fingerprint)
        if known:
            return known
        if _FETCH not in self.ranges:
            return "unknown"
        return "4.x?" if self.ranges[_FETCH][0] >= 4 else "3.x?"


def api_versions(
    host: str, port: int, *, tls: bool = False, timeout: float = 5.0
) -> list[tuple[int, int, int]]:
    """Send ApiVersions v0 to one broker; its ``(api_key, min, max)`` list, in its order.

    Raises :class:`ClusterError` when the broker refuses or answers someone else's
    request, ``OSError`` when it cannot be reached.
    """
    # Request header v1: api_key, api_version=0, correlation_id, client_id.
    body = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = raw
        if tls:
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(sock, 4))[0]
        payload = _read(sock, size)
    correlation, error, count = struct.unpack(">ihi", payload[:10])
    if correlation != _CORRELATION_ID:
        raise ClusterError(f"ApiVersions answer from {host}:{port} has a foreign correlation id")
    if error != 0:
        raise ClusterError(f"broker {host}:{port} refused ApiVersions (error {error})")
    return [struct.unpack(">hhh", payload[10 + 6 * i : 16 + 6 * i]) for i in range(count)]


def probe_api_versions(
    host: str, port: int, *, tls: bool = False, timeout: float = 5.0
) -> ApiVersions:
    """A broker's ApiVersions answer as ranges by api key."""
    triples = api_versions(host, port, tls=tls, timeout=timeout)
    return ApiVersions({key: (lo, hi) for key, lo, hi in triples})


def _read(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        buf += chunk
    return bytes(buf)


def broker_release(host: str, port: int, protocol: str, timeout: float = 5.0) -> str:
    """Best-effort Kafka release of a broker, marked as inferred; never raises."""
    try:
        versions = probe_api_versions(host, port, tls=protocol.endswith("SSL"), timeout=timeout)
    except (OSError, ClusterError, struct.error):
        return "unknown"
    return versions.release()
