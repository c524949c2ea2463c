"""Cluster passwords: resolved from the environment or the OS keyring, never from a file.

The plan holds only a :class:`~console.plan.SecretRef`. At run time the password is
taken from the environment variable the plan names (the documented fallback for
bastion hosts with no Secret Service), else from the OS keyring. Every password
resolved in this process is registered with :mod:`console.redact`, so it is scrubbed
from anything we log or record.
"""

from __future__ import annotations

import os
from types import ModuleType

from console import redact
from console.errors import CutoverError
from console.plan import ClusterSpec, Plan, SecretRef

CLUSTERS = ("source", "target")


def _keyring() -> ModuleType:
    """The keyring package, imported when a password is first looked up or stored: finding
    its backends costs 0.07 s of every command's start-up (``python -X importtime``), and
    most commands never ask it (``status``, ``audit verify``, replay)."""
    import keyring
    import keyring.errors

    return keyring


class CredentialError(CutoverError):
    """A password could not be found or stored; the message says what to do."""


def _spec(plan: Plan, cluster: str) -> ClusterSpec:
    try:
        return getattr(plan.clusters, cluster)
    except AttributeError:
        raise CredentialError(
            f"the plan has no cluster '{cluster}'; use source or target"
        ) from None


def resolve_password(plan: Plan, cluster: str) -> str | None:
    """The password for a cluster, or None when the plan's cluster uses no SASL."""
    spec = _spec(plan, cluster)
    if spec.password is None:
        return None
    ref = spec.password
    if ref.env and os.environ.get(ref.env):
        return redact.register(os.environ[ref.env])
    account = plan.secret_account(cluster)
    try:
        value = _keyring().get_password(ref.keyring_service, account)
    except _keyring().errors.KeyringError as exc:
        raise CredentialError(_no_keyring(cluster, ref.env, exc)) from None
    if value is None:
        hint = f" or export {ref.env}" if ref.env else ""
        raise CredentialError(
            f"no password for {cluster} in the keyring (service '{ref.keyring_service}', "
            f"user '{account}'); run 'cutover credentials set {cluster} --plan PLAN'{hint}"
        )
    return redact.register(value)


def resolve_registry_password(plan: Plan, cluster: str) -> str | None:
    """The password for a cluster's schema registry, or None when the plan gives none
    (an open registry). Keyring user ``<plan>/<cluster>-registry``."""
    spec = _spec(plan, cluster)
    ref = spec.schema_registry_password
    if ref is None:
        return None
    if ref.env and os.environ.get(ref.env):
        return redact.register(os.environ[ref.env])
    account = f"{plan.secret_account(cluster)}-registry"
    try:
        value = _keyring().get_password(ref.keyring_service, account)
    except _keyring().errors.KeyringError as exc:
        raise CredentialError(_no_keyring(f"the {cluster} registry", ref.env, exc)) from None
    if value is None:
        hint = f"export {ref.env}" if ref.env else "add password.env to the plan's registry"
        raise CredentialError(
            f"no password for the {cluster} schema registry in the keyring (service "
            f"'{ref.keyring_service}', user '{account}'); {hint}"
        )
    return redact.register(value)


WITNESS = "witness"
"""The name the witness principal's password goes by (keyring user '<plan>/witness')."""


def resolve_witness_password(plan: Plan) -> str | None:
    """The witness principal's password, or None when the plan names no witness principal
    (heads are then written as the target's own user)."""
    principal = plan.audit.witness_principal
    if not principal:
        return None
    ref = plan.audit.witness_password or SecretRef()
    if ref.env and os.environ.get(ref.env):
        return redact.register(os.environ[ref.env])
    account = plan.secret_account(WITNESS)
    try:
        value = _keyring().get_password(ref.keyring_service, account)
    except _keyring().errors.KeyringError as exc:
        raise CredentialError(_no_keyring(WITNESS, ref.env, exc)) from None
    if value is None:
        hint = f" or export {ref.env}" if ref.env else ""
        raise CredentialError(
            f"no password for the witness principal '{principal}' in the keyring (service "
            f"'{ref.keyring_service}', user '{account}'); store it there{hint}, or set "
            '[audit] witness_password = { env = "VAR" } in the plan and export VAR'
        )
    return redact.register(value)


def resolve_passwords(plan: Plan) -> dict[str, str | None]:
    """Both clusters' passwords, ``{"source": ..., "target": ...}``; the one place every
    step, process and command gets them. Raises :class:`CredentialError` naming the first
    one that cannot be found, before anything has touched a cluster."""
    return {cluster: resolve_password(plan, cluster) for cluster in CLUSTERS}


def principal_account(plan: Plan, group_id: str) -> str:
    """The keyring user name under which a group principal's password is stored."""
    return f"{plan.name}/group:{group_id}"


def resolve_principal_password(plan: Plan, group_id: str) -> str | None:
    """A group principal's password, when the plan says where it lives and it is there;
    None otherwise. Never an error: without it the principal's rights are read from the
    ACLs instead, and the gate says which way they were established."""
    group = next((g for g in plan.groups if g.id == group_id), None)
    if group is None or group.principal_password is None:
        return None
    ref = group.principal_password
    if ref.env and os.environ.get(ref.env):
        return redact.register(os.environ[ref.env])
    try:
        value = _keyring().get_password(ref.keyring_service, principal_account(plan, group_id))
    except _keyring().errors.KeyringError:
        return None
    return redact.register(value) if value else None


def store_password(plan: Plan, cluster: str, password: str) -> str:
    """Store a password in the OS keyring; returns where it went, for the message."""
    spec = _spec(plan, cluster)
    if spec.password is None:
        raise CredentialError(
            f"cluster '{cluster}' uses {spec.security_protocol}, which takes no password"
        )
    if not password:
        raise CredentialError("an empty password was given; nothing stored")
    account = plan.secret_account(cluster)
    try:
        _keyring().set_password(spec.password.keyring_service, account, password)
    except _keyring().errors.KeyringError as exc:
        raise CredentialError(_no_keyring(cluster, spec.password.env, exc)) from None
    return f"keyring service '{spec.password.keyring_service}', user '{account}'"


def shadow_account(plan: Plan, name: str) -> str:
    """The keyring user name of a shadow consumer's password: ``<plan>/shadow/<name>``."""
    return f"{plan.name}/shadow/{name}"


def _resolve_optional(ref, account: str) -> tuple[str | None, str]:
    """A password reference resolved from its variable or the keyring entry ``account``,
    with where it came from; ``(None, why)`` when neither holds it."""
    if ref.env and os.environ.get(ref.env):
        return redact.register(os.environ[ref.env]), f"${ref.env}"
    where = f"keyring service '{ref.keyring_service}', user '{account}'"
    unset = f"${ref.env} is not set and " if ref.env else ""
    try:
        value = _keyring().get_password(ref.keyring_service, account)
    except _keyring().errors.KeyringError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"{unset}no usable keyring on this host ({reason})"
    if value is None:
        return None, f"{unset}the keyring has no entry ({where})"
    return redact.register(value), f"the keyring ({where})"


def resolve_shadow_password(plan: Plan, name: str) -> tuple[str | None, str]:
    """A shadow consumer's password and where it came from, or ``(None, why)`` when the
    plan's reference resolves to nothing: its variable is unset and the keyring has no
    entry (or no keyring is usable here). The caller decides whether to generate one."""
    ref = plan.shadow_consumer(name).password
    return _resolve_optional(ref, shadow_account(plan, name))


def store_shadow_password(plan: Plan, name: str, password: str) -> str:
    """Store a shadow consumer's password in the OS keyring; returns where it went."""
    ref = plan.shadow_consumer(name).password
    if not password:
        raise CredentialError("an empty password was given; nothing stored")
    account = shadow_account(plan, name)
    try:
        _keyring().set_password(ref.keyring_service, account, password)
    except _keyring().errors.KeyringError as exc:
        raise CredentialError(_no_keyring(f"shadow consumer {name}", ref.env, exc)) from None
    return f"keyring service '{ref.keyring_service}', user '{account}'"


def producer_account(plan: Plan, user: str) -> str:
    """The keyring user name of a producer principal's password: ``<plan>/producer/<user>``."""
    return f"{plan.name}/producer/{user}"


def resolve_producer_password(plan: Plan, cls: str, user: str) -> tuple[str | None, str]:
    """A producer class principal's password and where it came from, or ``(None, why)``
    when the plan names no reference for it or the reference resolves to nothing. Used to
    ask the brokers as the principal (does the fence hold?) and to create the user on the
    target when the plan lets the console."""
    ref = plan.producer(cls).principal_passwords.get(user)
    if ref is None:
        return None, f"the plan names no password for {user} (principal_passwords)"
    return _resolve_optional(ref, producer_account(plan, user))


def _no_keyring(cluster: str, env: str | None, exc: Exception) -> str:
    backend = type(_keyring().get_keyring()).__name__
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if env:
        fix = (
            f"export {env} in this shell instead (read it with 'read -s {env}; export {env}' "
            "so it stays out of your shell history)"
        )
    else:
        fix = "add password.env to the plan's cluster and export that variable instead"
    return f"no usable keyring on this host ({backend}: {reason}); for {cluster}, {fix}"
