"""What a committed change means to one view: its effect, and the change object that carries it.

The effect comes from the record before and after the change, both seen through the view (its filter,
the user's row rules and its record id):

| before visible | after visible | effect |
|---|---|---|
| no | yes | ``added`` |
| yes | yes | ``modified`` |
| yes | no | ``removed`` (the record then carries only its ``id``) |
| no | no | nothing |

A :class:`Renderer` turns an event into the text one group of subscribers shares; the change renderer
here writes the change object of the plain WebSocket and SSE APIs (docs/websocket.md), GraphQL brings its
own (it executes the subscription document).
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable
from typing import Any, Protocol

from objectql.engine.events import ChangeEvent
from objectql.engine.expand import Expansion
from objectql.engine.views import View
from objectql.realtime.related import RELATED, Carries
from objectql.realtime.source import Expander
from objectql.realtime.wire import dumps

ADDED = "added"
MODIFIED = "modified"
REMOVED = "removed"


def effect_of(view: View, event: ChangeEvent) -> tuple[str | None, bool]:
    """The effect of ``event`` for ``view`` (None: it sees nothing) and whether the before-state was visible."""
    before = event.previous is not None and view.match(event.previous)
    after = event.record is not None and view.match(event.record)
    if after:
        return (MODIFIED if before else ADDED), before
    return (REMOVED if before else None), before


def render(view: View, event: ChangeEvent) -> tuple[str, dict[str, Any]] | None:
    """The change as this view carries it: ``(effect, change object)``, or None when it sees nothing.

    ``record`` holds the view's fields (``{id}`` only when removed); ``previous`` is there when the
    before-state was visible, projected the same way; ``changed`` (updates) lists the carried fields.
    """
    effect, before_visible = effect_of(view, event)
    if effect is None:
        return None
    fields = view.fields
    if effect == REMOVED:
        record: dict[str, Any] = {"id": event.id}
    else:
        assert event.record is not None
        record = {f: event.record.get(f) for f in fields}
    body: dict[str, Any] = {
        "seq": event.seq,
        "object": event.object,
        "action": event.action,
        "effect": effect,
        "record": record,
    }
    if event.action == RELATED:
        # The record did not change, its related data did: ``changed`` names the relations.
        body["changed"] = list(event.changed or ())
        return effect, body
    if before_visible and event.previous is not None:
        body["previous"] = {f: event.previous.get(f) for f in fields}
    if event.action == "update" and event.changed is not None:
        carried = set(fields)
        body["changed"] = [f for f in event.changed if f in carried]
    return effect, body


def body_fragment(body: dict[str, Any]) -> str:
    """``body`` as JSON without its opening brace, ready to follow a per-subscriber prefix."""
    return dumps(body)[1:]


class Renderer(Protocol):
    """Turns an event into the text shared by one group (None: the group sees nothing).

    ``key`` joins the group key: subscriptions share a group only when they render alike. A renderer may
    return an awaitable when it needs I/O (GraphQL lookups); the hub finishes it off its dispatch path.
    """

    @property
    def key(self) -> Hashable: ...

    def __call__(self, view: View, event: ChangeEvent) -> str | Awaitable[str | None] | None: ...


class ChangeRenderer:
    """The change object of the plain WebSocket and SSE APIs, as a fragment after the subscriber's prefix."""

    key = "change"

    def __call__(self, view: View, event: ChangeEvent) -> str | None:
        rendered = render(view, event)
        return body_fragment(rendered[1]) if rendered is not None else None


CHANGE = ChangeRenderer()


def expansion_carries(expansions: tuple[Expansion, ...]) -> tuple[Carries, ...]:
    """What an ``expand``'s first level carries: each parent, each related list."""
    return tuple(Carries(e.target, e.field, e.many, e.name) for e in expansions)


class ExpandedChangeRenderer:
    """The change object with its record's related records nested (``expand``), read when the change is
    rendered: that read is I/O, so the hub finishes it off its dispatch path, in the group's own task. A
    removed record carries its id only, as without ``expand``; ``previous`` is not expanded."""

    def __init__(self, expander: Expander) -> None:
        self.expander = expander
        self.key = ("change", expander.key)
        self.carries = expansion_carries(expander.expansions)

    def __call__(self, view: View, event: ChangeEvent) -> str | Awaitable[str | None] | None:
        rendered = render(view, event)
        if rendered is None:
            return None
        effect, body = rendered
        if effect == REMOVED or event.record is None:
            return body_fragment(body)
        return self._expanded(event.record, body)

    async def _expanded(self, record: dict[str, Any], body: dict[str, Any]) -> str:
        # Expanded from the whole record: the reference fields it follows may be outside the view's fields.
        whole = dict(record)
        await self.expander([whole])
        carried = body["record"]
        for key in self.expander.keys:
            carried[key] = whole[key]
        return body_fragment(body)
