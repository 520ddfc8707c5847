"""The HTTP protocol ``objectql serve`` runs under uvicorn: uvicorn's own, with a deadline on each request head.

uvicorn waits for a request's head (its request line and headers) as long as the client likes: a client that
sends part of a head, or nothing, and then stays silent holds its connection forever, and a few thousand such
clients (slowloris) hold every socket the server has. :class:`HeadDeadlineProtocol` wraps the HTTP protocol
uvicorn would use (httptools, else h11) and closes a connection whose request head is not complete
``head_timeout`` seconds after the connection opened (its first request) or after the first byte of the next
head (a kept-alive connection; the silence between requests stays uvicorn's ``timeout_keep_alive``). Bodies,
responses and WebSockets are not timed here.

The seam (docs/architecture.md): besides the public :class:`asyncio.Protocol` interface, the wrapper reads one
attribute of uvicorn's protocol, ``cycle`` — the request being answered, replaced when a head is complete — and
its ``response_complete``. A WebSocket upgrade shows as the transport's protocol being replaced. Where uvicorn's
protocol has no ``cycle``, the deadline is off: connections are served as uvicorn serves them, and a warning says
so once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("objectql.server")

_warned = False


class HeadDeadlineProtocol(asyncio.Protocol):
    """uvicorn's HTTP protocol (``protocol``) behind a deadline on request heads. uvicorn builds one per
    connection with its ``config``, ``server_state`` and ``app_state``; ``head_timeout`` is bound with
    :func:`functools.partial`, which, unlike a class made at run time, the ``--workers`` processes can unpickle."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_timeout: float,
        protocol: type[asyncio.Protocol] = AutoHTTPProtocol,
    ) -> None:
        self.inner: asyncio.Protocol = protocol(  # type: ignore[call-arg]
            config=config, server_state=server_state, app_state=app_state, _loop=_loop
        )
        self.head_timeout = head_timeout
        self.transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        # The request that was current when the deadline was set: a complete head replaces it.
        self._before: object = None
        self._seam = hasattr(self.inner, "cycle")
        if not self._seam:
            _warn_once()

    # -- asyncio.Protocol, delegated -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A uvloop transport is not an asyncio.Transport subclass, but it has the same interface.
        self.transport = cast(asyncio.Transport, transport)
        self.inner.connection_made(transport)
        self._start()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._between_requests():
            self._start()
        self.inner.data_received(data)
        if self._deadline is not None and (self._upgraded() or self._head_complete()):
            self._stop()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the deadline ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._seam:
            return
        self._before = getattr(self.inner, "cycle", None)
        self._deadline = asyncio.get_running_loop().call_later(self.head_timeout, self._expire)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _between_requests(self) -> bool:
        cycle = getattr(self.inner, "cycle", None)
        return cycle is None or bool(getattr(cycle, "response_complete", True))

    def _head_complete(self) -> bool:
        return getattr(self.inner, "cycle", None) is not self._before

    def _upgraded(self) -> bool:
        return self.transport is not None and self.transport.get_protocol() is not self

    def _expire(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing() or self._upgraded() or self._head_complete():
            return
        log.debug("closed a connection whose request head was not complete after %ss", self.head_timeout)
        self.transport.close()


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "this uvicorn's HTTP protocol keeps no `cycle`: the header timeout is off, and connections that "
            "never finish a request head are held (objectql/server/http_protocol.py)"
        )


__all__ = ["HeadDeadlineProtocol"]
