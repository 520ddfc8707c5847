"""Running a coroutine eagerly: up to its first suspension in the caller, the rest in a task.

Most sends into an idle socket and most GraphQL renders complete without ever suspending; running them
to completion on the spot saves a task and a loop iteration per message. One that does suspend is
handed over with what it suspended on, and :func:`finish` drives it on, as its own task would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_PENDING = object()


def begin(coro: Coroutine[Any, Any, Any]) -> tuple[Any, Any]:
    """Run ``coro`` until it finishes or first suspends.

    Returns ``(result, None)`` when it finished, else ``(PENDING, suspended_on)`` to pass to :func:`finish`.
    An exception raised before the first suspension propagates.
    """
    try:
        suspended_on = coro.send(None)
    except StopIteration as stop:
        return stop.value, None
    return _PENDING, suspended_on


def finished(result: Any) -> bool:
    """Whether :func:`begin`'s result is the coroutine's value (not a suspension)."""
    return result is not _PENDING


async def finish(coro: Coroutine[Any, Any, Any], suspended_on: Any) -> Any:
    """Drive a coroutine that :func:`begin` left suspended; returns its value."""
    try:
        while True:
            try:
                if suspended_on is None:
                    await asyncio.sleep(0)
                else:
                    # As a task does on receiving a yielded future: it is ours to wait on now.
                    suspended_on._asyncio_future_blocking = False
                    await suspended_on
            except asyncio.CancelledError:
                raise
            except BaseException:
                pass  # resumed below, the coroutine sees the awaited future's exception itself
            try:
                suspended_on = coro.send(None)
            except StopIteration as stop:
                return stop.value
    except asyncio.CancelledError:
        coro.close()
        raise
