"""Plan files pointed at the sandbox, for tests and benchmarks.

The sandbox's SASL listeners, its admin user, and passwords read from environment
variables the caller names (never written into the plan).
"""

from __future__ import annotations

from collections.abc import Mapping

from console.sandbox.state import ADMIN_USER


def sandbox_plan_text(
    source_bootstrap: str,
    target_bootstrap: str,
    topics: Mapping[str, bool],
    *,
    name: str,
    password_env: tuple[str, str] = (
        "CUTOVER_DEMO_SOURCE_PASSWORD",
        "CUTOVER_DEMO_TARGET_PASSWORD",
    ),
    owner: str = "test",
    logins: tuple[str, ...] = (),
    extra: str = "",
) -> str:
    """A plan over ``topics`` (name to ``create_on_target``); ``extra`` is appended as is
    (``[[groups]]``, ``[shadow]``, ``[thresholds]`` sections). ``logins`` are the OS
    users the owner (the plan's one approver) works from: none, and nobody can approve."""
    text = f"""
[plan]
name = "{name}"
[people]
owners = ["{owner}"]
approvers = ["{owner}"]
"""
    if logins:
        users = ", ".join(f'"{user}"' for user in logins)
        text += f'logins = {{ "{owner}" = [{users}] }}\n'
    for side, bootstrap, env in (
        ("source", source_bootstrap, password_env[0]),
        ("target", target_bootstrap, password_env[1]),
    ):
        text += f"""[clusters.{side}]
bootstrap_servers = "{bootstrap}"
security_protocol = "SASL_PLAINTEXT"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "{ADMIN_USER}"
password = {{ env = "{env}" }}
"""
    for topic, create in topics.items():
        text += f"""[[topics]]
name = "{topic}"
owner = "{owner}"
external_side_effects = false
create_on_target = {str(create).lower()}
"""
    return text + extra
