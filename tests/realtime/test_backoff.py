"""Broker reconnect delays: exponential up to the cap, every one jittered within the upper half of its step."""

from __future__ import annotations

import random

from objectql.realtime.backends.backoff import Backoff


def test_delays_grow_to_the_cap_each_within_the_upper_half_of_its_step() -> None:
    backoff = Backoff(0.1, 5.0, random.Random(7))
    for attempt in range(12):
        step = min(5.0, 0.1 * 2**attempt)
        assert step / 2 <= backoff.next() <= step


def test_processes_losing_the_broker_together_do_not_retry_in_lockstep() -> None:
    firsts = {round(Backoff(0.1, 5.0, random.Random(seed)).next(), 6) for seed in range(20)}
    assert len(firsts) > 15  # twenty processes, twenty different first retries
