"""Two Kafka requests confluent-kafka's admin client does not offer, spoken directly.

confluent-kafka 2.16 has no DescribeLogDirs (how many bytes each partition holds on a
broker) and no DescribeClientQuotas (the byte-rate and request quotas set for users
and client ids). The cost scope needs the first, the governance diff the second, so
this module sends them itself: one TCP (or TLS) connection per broker, SASL PLAIN or
SCRAM-SHA-256/512 when the plan's cluster asks for it (RFC 5802: the password never
crosses the wire; the server's signature is checked), then the request.

Only old, fixed-layout versions are used, ones both Kafka 3.9 and 4.1 accept (checked
against their ApiVersions answers): SaslHandshake v1, SaslAuthenticate v1,
DescribeLogDirs v1 (4.0 dropped v0, KIP-896) and DescribeClientQuotas v0. The broker
checks the same ACLs as for any client: DescribeLogDirs needs DESCRIBE on the cluster,
DescribeClientQuotas DESCRIBE_CONFIGS on the cluster; a refusal is a :class:`WireError`
that says so.

Every call has a timeout; nothing here is ever run on the UI thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import ssl
import struct
from dataclasses import dataclass

from console.errors import CutoverError
from console.plan import ClusterSpec

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
DESCRIBE_LOG_DIRS = 35
DESCRIBE_CLIENT_QUOTAS = 48

_ERRORS = {
    29: "TOPIC_AUTHORIZATION_FAILED",
    31: "CLUSTER_AUTHORIZATION_FAILED",
    33: "UNSUPPORTED_SASL_MECHANISM",
    34: "ILLEGAL_SASL_STATE",
    35: "UNSUPPORTED_VERSION",
    58: "SASL_AUTHENTICATION_FAILED",
}


class WireError(CutoverError):
    """A request could not be made or was refused; the message says which and why."""


@dataclass(frozen=True)
class PartitionSize:
    """Bytes one replica of a partition holds in one log directory of one broker."""

    broker: int
    topic: str
    partition: int
    size_bytes: int
    future: bool
    """A replica being moved between log directories (not the one serving)."""


@dataclass(frozen=True)
class QuotaEntry:
    """One quota entity (user, client id, or both; a None name is the default) and its
    values (``producer_byte_rate``, ``consumer_byte_rate``, ``request_percentage``...)."""

    entity: tuple[tuple[str, str | None], ...]
    values: dict[str, float]

    @property
    def key(self) -> str:
        """``user=app,client-id=<default>``: stable and readable."""
        return ",".join(
            f"{kind}={name if name is not None else '<default>'}" for kind, name in self.entity
        )


# -- encoding ------------------------------------------------------------------------------


def _string(text: str | None) -> bytes:
    if text is None:
        return struct.pack(">h", -1)
    data = text.encode("utf-8")
    return struct.pack(">h", len(data)) + data


def _bytes(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


class _Reader:
    """Reads a response body field by field."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str | None:
        size = self.take(">h")
        if size < 0:
            return None
        text = self.data[self.at : self.at + size].decode("utf-8")
        self.at += size
        return text

    def blob(self) -> bytes:
        size = self.take(">i")
        if size < 0:
            return b""
        out = self.data[self.at : self.at + size]
        self.at += size
        return out


# -- a connection --------------------------------------------------------------------------


class Connection:
    """One authenticated connection to one broker. Use as a context manager."""

    def __init__(
        self,
        host: str,
        port: int,
        spec: ClusterSpec,
        password: str | None,
        *,
        timeout: float,
        client_id: str = "cutover-wire",
    ) -> None:
        self.host, self.port, self.spec = host, port, spec
        self.timeout = timeout
        self.client_id = client_id
        self._correlation = 0
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            if spec.security_protocol.endswith("SSL"):
                raw = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
            self.sock = raw
            if spec.security_protocol.startswith("SASL"):
                self._authenticate(password or "")
        except BaseException:
            raw.close()
            raise

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def request(self, api_key: int, version: int, body: bytes) -> _Reader:
        """Send one request (header v1) and read its answer (header v0)."""
        self._correlation += 1
        header = struct.pack(">hhi", api_key, version, self._correlation) + _string(self.client_id)
        message = header + body
        self.sock.sendall(struct.pack(">i", len(message)) + message)
        size = struct.unpack(">i", self._read(4))[0]
        reader = _Reader(self._read(size))
        if reader.take(">i") != self._correlation:
            raise WireError(f"{self.host}:{self.port} answered another request; try again")
        return reader

    def _read(self, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            chunk = self.sock.recv(size - len(buf))
            if not chunk:
                raise WireError(
                    f"{self.host}:{self.port} closed the connection mid-answer; check the "
                    "plan's security_protocol for this listener"
                )
            buf += chunk
        return bytes(buf)

    # -- SASL ------------------------------------------------------------------------------

    def _authenticate(self, password: str) -> None:
        mechanism = self.spec.sasl_mechanism or "PLAIN"
        answer = self.request(SASL_HANDSHAKE, 1, _string(mechanism))
        error = answer.take(">h")
        if error:
            raise WireError(
                f"{self.host}:{self.port} does not accept SASL mechanism {mechanism} "
                f"({_ERRORS.get(error, error)}); check sasl_mechanism in the plan"
            )
        user = self.spec.sasl_username or ""
        if mechanism == "PLAIN":
            self._sasl_step(f"\0{user}\0{password}".encode())
            return
        scram = Scram(mechanism, user, password)
        server_first = self._sasl_step(scram.first())
        server_final = self._sasl_step(scram.final(server_first))
        scram.verify(server_final)

    def _sasl_step(self, token: bytes) -> bytes:
        answer = self.request(SASL_AUTHENTICATE, 1, _bytes(token))
        error = answer.take(">h")
        message = answer.string()
        data = answer.blob()
        if error:
            raise WireError(
                f"authentication failed for user '{self.spec.sasl_username}' at "
                f"{self.host}:{self.port} ({_ERRORS.get(error, error)}: {message or ''}); "
                "check the cluster's password"
            )
        return data


class Scram:
    """The client side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as Kafka speaks it."""

    def __init__(self, mechanism: str, user: str, password: str, nonce: str | None = None):
        self.hash = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        self.user = user.replace("=", "=3D").replace(",", "=2C")
        self.password = password
        self.nonce = nonce or base64.b64encode(secrets.token_bytes(24)).decode()
        self._server_signature = b""

    def first(self) -> bytes:
        self._first_bare = f"n={self.user},r={self.nonce}"
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(","))
        if not fields.get("r", "").startswith(self.nonce):
            raise WireError("the broker's SCRAM answer does not carry our nonce; not a broker?")
        salted = hashlib.pbkdf2_hmac(
            self.hash, self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{self._first_bare},{text},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        fields = dict(part.split("=", 1) for part in server_final.decode().split(","))
        if "e" in fields or base64.b64decode(fields.get("v", "")) != self._server_signature:
            raise WireError("the broker's SCRAM signature does not match; not the real broker?")

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash).digest()


# -- the two requests ----------------------------------------------------------------------


def describe_log_dirs(
    conn: Connection, broker: int, topics: dict[str, list[int]]
) -> list[PartitionSize]:
    """The size of each replica of ``topics`` (name to partitions) this broker holds."""
    body = struct.pack(">i", len(topics))
    for topic, partitions in sorted(topics.items()):
        body += _string(topic) + struct.pack(f">i{len(partitions)}i", len(partitions), *partitions)
    answer = conn.request(DESCRIBE_LOG_DIRS, 1, body)
    answer.take(">i")  # throttle time
    out: list[PartitionSize] = []
    results = answer.take(">i")
    if results <= 0:
        # v1 has no top-level error: an unauthorised caller gets an empty list.
        raise WireError(
            f"broker {broker} ({conn.host}:{conn.port}) listed no log directories for user "
            f"'{conn.spec.sasl_username or 'ANONYMOUS'}'; DescribeLogDirs needs DESCRIBE on "
            "the cluster"
        )
    for _ in range(results):
        error = answer.take(">h")
        answer.string()  # the directory's path
        for _t in range(answer.take(">i")):
            name = answer.string() or ""
            for _p in range(answer.take(">i")):
                partition, size, _lag, future = answer.take(">iqq?")
                if not error:
                    out.append(PartitionSize(broker, name, partition, size, future))
    return out


def describe_client_quotas(conn: Connection) -> list[QuotaEntry]:
    """Every client quota the cluster has (users, client ids, their defaults)."""
    answer = conn.request(DESCRIBE_CLIENT_QUOTAS, 0, struct.pack(">i?", 0, False))
    answer.take(">i")  # throttle time
    error = answer.take(">h")
    message = answer.string()
    if error:
        raise WireError(
            f"{conn.host}:{conn.port} refused to list client quotas "
            f"({_ERRORS.get(error, error)}{': ' + message if message else ''}); it needs "
            "DESCRIBE_CONFIGS on the cluster"
        )
    entries: list[QuotaEntry] = []
    for _ in range(max(0, answer.take(">i"))):
        entity = tuple((answer.string() or "", answer.string()) for _e in range(answer.take(">i")))
        values = {answer.string() or "": answer.take(">d") for _v in range(answer.take(">i"))}
        entries.append(QuotaEntry(tuple(sorted(entity)), values))
    return sorted(entries, key=lambda e: e.key)


def bootstrap_address(spec: ClusterSpec) -> tuple[str, int]:
    """The first bootstrap server of a cluster, as host and port."""
    first = spec.bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host, int(port)


def connect(
    spec: ClusterSpec,
    password: str | None,
    *,
    host: str | None = None,
    port: int | None = None,
    timeout: float | None = None,
) -> Connection:
    """An authenticated connection to one broker (the first bootstrap server by default).

    Raises :class:`WireError` when the broker cannot be reached or refuses the login.
    """
    if host is None or port is None:
        host, port = bootstrap_address(spec)
    timeout = timeout or spec.request_timeout_s
    try:
        return Connection(host, port, spec, password, timeout=timeout)
    except (OSError, struct.error) as exc:
        raise WireError(
            f"cannot talk to {host}:{port} ({type(exc).__name__}: {exc}); check that the "
            "broker is reachable from this host"
        ) from None
