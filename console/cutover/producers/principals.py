"""The class's principals on the target: they must exist before it can write there.

SCRAM passwords cannot be read from the source (brokers keep only salted hashes), so the
plan says who makes the users on the target: ``principals_on_target = "exist"`` (the team
did; the move checks and stops naming the missing one) or ``"console"`` (the console
creates each user with the password its ``principal_passwords`` reference resolves to —
an environment variable or the keyring, like every other secret). The password goes to
the broker and nowhere else: it is never logged, stored or shown.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from console.cutover.producers.sequence import SequenceFailed
from console.kafka import client as kafka
from console.plan import ProducerClass, credentials

SCRAM_ITERATIONS = 8192
_MECHANISMS = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}


def ensure_on_target(seq, cls: ProducerClass) -> list[str]:
    """Make sure every principal of the class has a SCRAM user on the target; returns a
    line per principal. ``seq`` is the running :class:`Sequence` (store, log, target)."""
    target = seq.target
    table = seq.store.producers
    out = []
    for user in cls.users:
        recorded = [
            u
            for u in table.users(cls=cls.name)
            if u.cluster == "target" and u.user == user and u.state != "removed"
        ]
        state = target.scram_user(user, time.monotonic() + 15)
        if state == "exists":
            if recorded and recorded[0].state == "adding":
                table.set_user_state(recorded[0].id, "active")
                seq.log(
                    "producers.user",
                    params={"cluster": "target", "user": user},
                    outcome="exists: created by the interrupted run, not created again",
                )
            out.append(f"User:{user}: has a SCRAM credential on the target")
            continue
        if state != "none":
            raise SequenceFailed(f"whether User:{user} exists on the target: {state}")
        if cls.principals_on_target == "exist":
            raise SequenceFailed(
                f"User:{user} has no SCRAM credential on the target, and the plan says the team "
                "creates it (principals_on_target = 'exist'); create it, then run the step "
                "again"
            )
        mechanism = _MECHANISMS.get(target.spec.sasl_mechanism or "")
        if mechanism is None:
            raise SequenceFailed(
                f"the target's SASL mechanism is {target.spec.sasl_mechanism}: the console "
                f"creates SCRAM users only; create User:{user} there yourself"
            )
        password, where = credentials.resolve_producer_password(seq.plan, cls.name, user)
        if password is None:
            raise SequenceFailed(
                f"User:{user} is to be created on the target, but {where}; set it "
                f"(export the variable, or the keyring entry) and run the step again"
            )
        row_id = (
            recorded[0].id
            if recorded
            else table.add_user(seq.run_id, cls.name, "target", user, preexisting=False)
        )
        intent = seq.log(
            "producers.user.add",
            params={
                "cluster": "target",
                "user": user,
                "mechanism": target.spec.sasl_mechanism,
                "password_from": where,
            },
        )
        upsert = UserScramCredentialUpsertion(
            user, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), password.encode()
        )
        try:
            for future in target.admin.alter_user_scram_credentials(
                [upsert], request_timeout=15
            ).values():
                future.result(timeout=16)
        except KafkaException as exc:
            seq.log(
                "producers.user.add", ref=intent.seq, outcome=f"failed: {kafka.error_name(exc)}"
            )
            raise SequenceFailed(
                f"creating User:{user} on the target failed ({kafka.error_name(exc)}); the "
                "console's user needs ALTER on the target cluster"
            ) from None
        deadline = time.monotonic() + 15
        while target.scram_user(user, deadline) != "exists":
            if time.monotonic() > deadline:
                raise SequenceFailed(f"User:{user} was created but is not listed yet; run again")
            time.sleep(0.1)  # the controller's record reaches the broker a moment later
        table.set_user_state(row_id, "active")
        seq.log("producers.user.add", ref=intent.seq, outcome="created")
        out.append(f"User:{user}: created on the target (password from {where})")
    return out
