"""The reverse copy's reads of the source, without a broker: an open transaction that
does not end in time is an error, never a shorter read that would miss reverse copies."""

from __future__ import annotations

import time

import pytest

from console.cutover.producers import reverse
from console.kafka.client import ClusterError

TP = ("orders", 1)


class Source:
    """Stands in for the source cluster: a transaction open for the first ``open_for``
    looks, with the stable end behind the written end while it is."""

    name = "source"

    def __init__(self, open_for: int) -> None:
        self.open_for = open_for
        self.looks = 0

    def open_transactions(self, tps, deadline):
        self.looks += 1
        return {TP: (20, 31)} if self.looks <= self.open_for else {}

    def ends(self, tps, deadline, *, committed):
        # Read committed, the end is the last stable offset; past an open transaction
        # the high watermark would count records nobody may read yet.
        assert committed, "the reverse copies are read committed"
        return {TP: 31 if self.looks > self.open_for else 20}


def test_the_end_is_read_once_the_transaction_has_ended():
    source = Source(open_for=3)
    assert reverse.wait_end(source, [TP], time.monotonic() + 10) == {TP: 31}
    assert source.looks == 4


def test_a_transaction_still_open_at_the_deadline_stops_the_read_and_names_it():
    source = Source(open_for=10**9)
    with pytest.raises(ClusterError) as caught:
        reverse.wait_end(source, [TP], time.monotonic() + 0.3)
    message = str(caught.value)
    assert "still open on 1 partition(s)" in message
    assert "orders[1] stable up to 20, written up to 31" in message
    assert "run the step again" in message
