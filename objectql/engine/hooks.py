"""Hooks: ``before:`` / ``after:`` × ``find count create update delete``, per object or ``*``.

Hooks run in registration order, sync or async. A before-hook may mutate ``ctx.data`` / ``ctx.query``
or reject by raising an :class:`ObjectQLError` (nothing is written). ``after:create|update|delete``
run after the commit; an exception there is logged and never reaches the caller.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from objectql.engine.user import User

log = logging.getLogger("objectql.hooks")

ACTIONS = ("find", "count", "create", "update", "delete")
EVENTS = tuple(f"{when}:{action}" for when in ("before", "after") for action in ACTIONS)


@dataclass
class HookContext:
    action: str
    object: str
    user: User | None
    api: Any
    id: str | None = None
    data: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    result: Any = None
    seq: int | None = None
    state: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[HookContext], Awaitable[None] | None]


class Hooks:
    def __init__(self) -> None:
        self._hooks: dict[str, list[tuple[str, Hook]]] = {e: [] for e in EVENTS}

    def on(self, event: str, object_name: str, fn: Hook) -> None:
        self._check_event(event)
        if not callable(fn):
            raise TypeError("a hook must be callable")
        self._hooks[event].append((object_name, fn))

    def off(self, event: str, object_or_fn: str | Hook, fn: Hook | None = None) -> None:
        """``off(event, fn)`` removes ``fn`` from every object; ``off(event, object, fn)`` from one."""
        self._check_event(event)
        if fn is None:
            if isinstance(object_or_fn, str):
                raise TypeError("off(event, fn) or off(event, object, fn)")
            target, obj = object_or_fn, None
        else:
            target, obj = fn, object_or_fn
        self._hooks[event] = [(o, f) for o, f in self._hooks[event] if not (f == target and (obj is None or o == obj))]

    def has(self, event: str, object_name: str) -> bool:
        return any(o in (object_name, "*") for o, _ in self._hooks[event])

    async def run(self, event: str, ctx: HookContext) -> None:
        """Run the hooks of ``event``; their exceptions propagate (before-hooks reject this way)."""
        for obj, fn in list(self._hooks[event]):
            if obj in (ctx.object, "*"):
                result = fn(ctx)
                if inspect.isawaitable(result):
                    await result

    async def run_after_commit(self, event: str, ctx: HookContext) -> None:
        for obj, fn in list(self._hooks[event]):
            if obj in (ctx.object, "*"):
                try:
                    result = fn(ctx)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("%s hook %r on %s failed", event, getattr(fn, "__name__", fn), ctx.object)

    @staticmethod
    def _check_event(event: str) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown hook event {event!r}; one of {', '.join(EVENTS)}")
