"""Reconnect delays for broker connections: exponential, capped, and jittered.

Every process of a deployment loses its broker connection at the same moment when the broker restarts;
without jitter they would all reconnect in the same instants, again and again. Each delay is drawn from
the upper half of the current exponential step ("equal jitter"): never shorter than half the step, so
a flapping broker is not hammered, and spread enough that the processes drift apart.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, start: float = 0.1, cap: float = 5.0, rng: random.Random | None = None) -> None:
        self.start = start
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt (seconds)."""
        step: float = min(self.cap, self.start * 2.0**self.attempt)
        self.attempt += 1
        return step / 2 + self._rng.uniform(0, step / 2)


__all__ = ["Backoff"]
