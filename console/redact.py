"""Keeps secrets out of everything we write: audit parameters, evidence, logs, messages.

Two defences: parameter names that look like secrets are masked whatever their
value, and any value registered here (every password resolved in this process)
is masked wherever it appears inside a string.
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"
# "pass" alone or as password/passwd/passphrase, but not "passed": evidence records a
# verdict under "passed", and a masked False ("***") would read as true.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)|(^|[^a-z])pass($|[^a-z])|secret|token|credential|sasl\.jaas"
    r"|api[_.-]?key)",
    re.I,
)
_known: set[str] = set()
_lock = threading.Lock()


def register(secret: str) -> str:
    """Remember a secret so later output never shows it; returns it unchanged."""
    if secret:
        with _lock:
            _known.add(secret)
    return secret


# A secret this short would match inside innocent words ("x" in "txn"), corrupting the
# audit log; it is masked only where it is the whole value.
MIN_SUBSTRING_LEN = 6


def text(value: str) -> str:
    """A string with every registered secret masked."""
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        if len(secret) >= MIN_SUBSTRING_LEN:
            value = value.replace(secret, MASK)
        elif value == secret:
            return MASK
    return value


def value(obj: Any) -> Any:
    """A copy of a JSON-like value with secret-named keys and registered secrets masked."""
    if isinstance(obj, dict):
        return {
            k: (MASK if isinstance(k, str) and _SECRET_KEY.search(k) else value(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [value(v) for v in obj]
    if isinstance(obj, str):
        return text(obj)
    return obj
