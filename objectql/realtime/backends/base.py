"""The fan-out backend interface: how server processes of one deployment hear each other.

Backends only move short text messages on named channels (broadcaster's shape); the hub owns
subscribers and fan-out. Change events themselves never travel through a backend: a process announces
"committed up to seq N" and every process reads what it missed from the outbox, so a message a broker
drops costs latency, never an event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerMessage:
    channel: str
    data: str


class BackendReconnected(Exception):
    """Raised by ``next_message`` after the backend lost and regained its connection.

    Messages published while it was away are lost; the hub answers by catching up from the outbox.
    """


class Backend(ABC):
    # Connections lost and re-opened since start (a metric: docs/operations.md).
    reconnects: int = 0

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, data: str) -> None: ...

    @abstractmethod
    async def next_message(self) -> BrokerMessage:
        """The next message on a subscribed channel (waits); may raise BackendReconnected."""
