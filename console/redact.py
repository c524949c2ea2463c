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
_longest_first: tuple[str, ...] = ()
"""The registered secrets, longest first (so a secret inside another is masked inside
the longer one's mask, not before it); rebuilt on each registration, read without the
lock (a tuple is replaced whole)."""
_lock = threading.Lock()
_secret_keys: dict[str, bool] = {}
"""Whether a parameter name looks like a secret, per name seen (names repeat: an audit
append asks for the same few every time)."""
_SECRET_KEYS_KEPT = 4096


def register(secret: str) -> str:
    """Remember a secret so later output never shows it; returns it unchanged."""
    global _longest_first
    if secret:
        with _lock:
            _known.add(secret)
            _longest_first = tuple(sorted(_known, key=len, reverse=True))
    return secret


def _secret_key(key: str) -> bool:
    found = _secret_keys.get(key)
    if found is None:
        found = _SECRET_KEY.search(key) is not None
        if len(_secret_keys) < _SECRET_KEYS_KEPT:
            _secret_keys[key] = found
    return found


# A secret this short would match inside innocent words ("x" in "txn"), corrupting the
# audit log; it is masked only where it is the whole value.
MIN_SUBSTRING_LEN = 6


def text(value: str) -> str:
    """A string with every registered secret masked."""
    for secret in _longest_first:
        if len(secret) >= MIN_SUBSTRING_LEN:
            value = value.replace(secret, MASK)
        elif value == secret:
            return MASK
    return value


_PLAIN = frozenset({int, float, bool, type(None)})
"""Value types that can hold no secret: returned as they are without a call per value
(an audit append's parameters are mostly numbers; the call was most of its masking cost)."""


def value(obj: Any) -> Any:
    """A copy of a JSON-like value with secret-named keys and registered secrets masked."""
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        masked = {}
        for k, v in obj.items():
            if isinstance(k, str) and _secret_key(k):
                masked[k] = MASK
            else:
                masked[k] = v if type(v) in _PLAIN else value(v)
        return masked
    if isinstance(obj, list | tuple):
        return [v if type(v) in _PLAIN else value(v) for v in obj]
    if isinstance(obj, str):
        return text(obj)
    return obj
