"""Safe consumers: validation consumers on the target that cannot touch production.

``policy`` judges a shadow principal's effective rights (read by
:mod:`console.kafka.rights`) against the plan; ``identity`` creates and removes the
principal's SCRAM user and minimal ACLs on the target; ``validate`` decodes and orders
records; ``consumer`` is the built-in validation consumer and ``command`` runs a team's
own; ``process`` is the background process each of them runs in, and ``sampler`` reads
the source groups they stand in for.
"""

PROCESS_PREFIX = "safe-consumer:"
"""A shadow consumer's process is named ``safe-consumer:<name>`` in the processes table."""
SAMPLER = "safe-sampler"
"""The process that reads the source groups the shadow consumers stand in for."""
STEP = "safe-consumers"
RUN_ACTION = "safe-consumer.run"
"""A shadow consumer's own audit entries about its run: the intent when it starts, and
the result (``stopped: ...`` or why it failed) when the process ends by itself."""
PASSWORD_ENV = "CUTOVER_SHADOW_PROCESS_PASSWORD"
"""How the step hands a shadow consumer process its principal's password: in the
environment of that process only, never on a command line or in a file."""

REGISTRY_PASSWORD_ENV = "CUTOVER_SHADOW_PROCESS_REGISTRY_PASSWORD"
"""The target registry's password, handed to a built-in validation consumer the same way
(a team's command never gets it)."""


def process_name(consumer: str) -> str:
    return f"{PROCESS_PREFIX}{consumer}"
