"""Kafka Connect refuses REST requests for a moment while its group rebalances.

Seen in CI (ci47): the Move-group step read the checkpoint connector's config one second
after the test had put it back, and Connect 4.1.1 answered ``HTTP 500 {"message":
"Request cannot be completed because a rebalance is expected"}`` (its log:
``RebalanceNeededException`` from ``DistributedHerder.checkRebalanceNeeded``). The
step's check read that as "the config could not be read" and the move was refused. At
other moments of a rebalance Connect answers 409 and asks the client to retry.

What is tested here is our client's handling of those answers, so the worker is a small
HTTP server that gives them in a set order; the same calls against a real Connect worker
run in test_mm2 and test_cutover_mm2.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from console.cutover.evaluate import mm2_sync_check
from console.plan import parse_plan
from console.sandbox.plans import sandbox_plan_text
from console.shadow import mm2
from tests.test_cutover import group_toml

REBALANCE_EXPECTED = (
    500,
    {"error_code": 500, "message": "Request cannot be completed because a rebalance is expected"},
)
CONFLICT = (409, {"error_code": 409, "message": "Cannot complete request because of a conflicting "
                  "operation (e.g. worker rebalance)"})  # fmt: skip
BROKEN = (500, {"error_code": 500, "message": "java.lang.NullPointerException"})
SYNC_ON = {"sync.group.offsets.enabled": "true", "groups": ".*"}


class Worker:
    """Answers every request with the next answer in ``answers`` (the last one repeats)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict]] = []
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                outer.requests.append(self.path)
                status, body = outer.answers[min(len(outer.requests), len(outer.answers)) - 1]
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def worker() -> Iterator[Worker]:
    found = Worker()
    yield found
    found.server.shutdown()
    found.server.server_close()


def plan_for(url: str):
    return parse_plan(
        sandbox_plan_text(
            "127.0.0.1:1",
            "127.0.0.1:2",
            {"orders": True},
            name="rebalance",
            extra=group_toml("billing", ["orders"])
            + f'[shadow]\npath = "mirrormaker2"\nconnect_url = "{url}"\n',
        )
    )


def test_a_rebalance_answer_is_asked_again_and_the_config_read(worker):
    worker.answers = [REBALANCE_EXPECTED, CONFLICT, REBALANCE_EXPECTED, (200, SYNC_ON)]
    plan = plan_for(worker.url)
    assert mm2.connector_config(plan, "checkpoint", timeout=10) == SYNC_ON
    assert len(worker.requests) == 4
    assert worker.requests[0].endswith("-mm2-checkpoint/config")


def test_the_move_groups_check_reads_the_config_through_a_rebalance(worker):
    """The check the operator sees at the Move-group gate: RED for the sync switched on,
    not NO_DATA "could not be read" because Connect was rebalancing."""
    worker.answers = [REBALANCE_EXPECTED, (200, SYNC_ON)]
    plan = plan_for(worker.url)
    check = mm2_sync_check(plan, plan.groups[0])
    assert check.verdict == "RED", check
    assert "sync.group.offsets.enabled" in check.summary


def test_a_rebalance_that_outlasts_the_timeout_is_reported(worker):
    worker.answers = [REBALANCE_EXPECTED]
    plan = plan_for(worker.url)
    with pytest.raises(mm2.Mm2Error) as err:
        mm2.connector_config(plan, "checkpoint", timeout=2)
    assert "HTTP 500" in str(err.value) and "rebalance is expected" in str(err.value)
    assert 2 <= len(worker.requests) <= 6  # asked again every half second, not hammered


def test_another_server_error_is_not_asked_again(worker):
    worker.answers = [BROKEN, (200, SYNC_ON)]
    plan = plan_for(worker.url)
    with pytest.raises(mm2.Mm2Error) as err:
        mm2.connector_config(plan, "checkpoint", timeout=10)
    assert "NullPointerException" in str(err.value)
    assert len(worker.requests) == 1
