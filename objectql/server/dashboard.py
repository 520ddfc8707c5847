"""The live dashboard at ``/``: one object's records, kept current over SSE by the browser's ``EventSource``.

The page is one self-contained HTML file (``templates/dashboard.html``, inline CSS and JS, no external
assets) that reads its first list from ``GET /api/dashboard/{object}`` and then applies the change events
of ``/api/events/{object}``. The read endpoint answers ``{"object", "seq", "fields", "records"}``: ``seq``
is read *before* the records, so applying every change with a greater seq on top of them converges on
the current state (each change carries the whole record, so applying one twice is harmless).

Beside the list the page shows a live window (the rows with the largest amount, ``top_of``) and a live
aggregate (count and total per select value, ``summary_of``), each its own SSE stream kept by the server
from the same change events; the browser only applies what it is sent.

Both endpoints act for the same user as the stream would: the ``Authorization: Bearer`` token, or the
anonymous user without one (who reads what the object's read roles open to ``anonymous``). The page is
served with a per-response CSP nonce, so only its own inline script and style run, and it talks to its own
origin only.
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from objectql.engine.core import ObjectQL
from objectql.engine.user import User
from objectql.errors import ObjectQLError
from objectql.metadata.model import FieldDef, FieldType, ObjectDef
from objectql.metadata.registry import Registry
from objectql.realtime.policy import ConnectionPolicy, authenticate
from objectql.realtime.transports.sse import error_response
from objectql.realtime.wire import dumps
from objectql.resolvers.names import camel
from objectql.server.auth import bearer_token
from objectql.server.showcase import featured_object, first_field, is_amount, is_group, is_label, open_fields

LIST_LIMIT = 100
LIST_SORT = [["created_at", "desc"]]
TOP_LIMIT = 5
# Records whose lookups' names one GraphQL request reads.
NAMES_BATCH = 100


@cache
def _template() -> str:
    return files("objectql.server").joinpath("templates/dashboard.html").read_text(encoding="utf-8")


def _script_json(value: object) -> str:
    """JSON safe inside ``<script>``: no ``</script>``, no ``<!--``, no HTML-significant characters."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _label(label: str | None, name: str) -> str:
    return label or name.replace("_", " ").capitalize()


def choose_object(registry: Registry, requested: str | None) -> str | None:
    """The object the page shows: the requested one (None if unknown), else the app's featured object."""
    if requested:
        return requested if requested in registry else None
    featured = featured_object(registry)
    return featured.name if featured is not None else None


def _is_text(field: FieldDef) -> bool:
    return field.type is FieldType.TEXT


def _column(fdef: FieldDef) -> dict[str, str]:
    """A column of the page: the field's name, its label and its type (the page formats dates and lookups)."""
    return {"name": fdef.name, "label": _label(fdef.label, fdef.name), "type": fdef.type.value}


def summary_of(obj: ObjectDef) -> dict[str, Any]:
    """The live aggregate the dashboard shows for ``obj``: count (and the total of its first currency or
    number field) per value of its first select field; the SSE query that streams it; the columns' labels."""
    fields = open_fields(obj)
    group = first_field(fields, is_group, set())
    total = first_field(fields, is_amount, set())
    aggregate: dict[str, Any] = {"count": True, **({"sum": [total]} if total else {})}
    query = {"aggregate": json.dumps(aggregate, separators=(",", ":")), **({"group_by": group} if group else {})}
    return {
        "group_by": group,
        "sum": total,
        "group_label": _label(fields[group].label, group) if group else None,
        "sum_label": _label(fields[total].label, total) if total else None,
        "events": f"/api/events/{obj.name}?{urlencode(query)}",
    }


def top_of(obj: ObjectDef) -> dict[str, Any] | None:
    """The live window the dashboard shows for ``obj``: its ``TOP_LIMIT`` rows with the largest first
    currency or number field, with a label and the select field beside it; None without such a field."""
    fields = open_fields(obj)
    amount = first_field(fields, is_amount, set())
    if amount is None:
        return None
    group = first_field(fields, is_group, {amount})
    label = first_field(fields, is_label, {amount, group})
    columns = [name for name in (label, group, amount) if name is not None]
    query = {"sort": f"{amount}:desc", "limit": str(TOP_LIMIT), "fields": ",".join(columns)}
    return {
        "sort": amount,
        "limit": TOP_LIMIT,
        "fields": [_column(fields[n]) for n in columns],
        "events": f"/api/events/{obj.name}?{urlencode(query)}",
    }


def names_of(registry: Registry, obj: ObjectDef) -> dict[str, Any] | None:
    """How the page shows a lookup by its record's name instead of its id, through GraphQL's ``<field>_ref``.

    For each single-valued lookup of ``obj`` whose target has a text field every reader of the target may
    read, that field; and the query reading them for a list of ``obj`` record ids. A reader who may not read
    the target gets an error for that ``_ref`` (its value null) and the page keeps showing the id. None
    without such a lookup.
    """
    shown: dict[str, str] = {}
    for name, fdef in obj.declared.items():
        if fdef.reference_to is None or fdef.multiple:
            continue
        label = first_field(open_fields(registry.get(fdef.reference_to)), _is_text, set())
        if label is not None:
            shown[name] = label
    if not shown:
        return None
    selection = " ".join(f"{name}_ref {{ id {label} }}" for name, label in shown.items())
    query = (
        f"query DashboardNames($ids: [String!]) {{ {camel(obj.name)}List(where: {{id: {{in: $ids}}}}, "
        f"limit: {NAMES_BATCH}) {{ id {selection} }} }}"
    )
    return {
        "fields": shown,
        "list": f"{camel(obj.name)}List",
        "query": query,
        "batch": NAMES_BATCH,
        "expand": names_expand(shown),
    }


def names_expand(shown: dict[str, str]) -> dict[str, Any]:
    """The ``expand`` that nests each shown lookup's name in the records read and streamed: a rename arrives
    as a ``related`` change of every record naming it (docs/websocket.md), so the page's names stay live."""
    return {name: {"fields": [label]} for name, label in shown.items()}


async def dashboard(request: Request) -> Response:
    """``GET /``: the dashboard page; ``?object=<name>`` picks the object (by default the featured one)."""
    engine: ObjectQL | None = getattr(request.app.state, "engine", None)
    if engine is None:
        return PlainTextResponse("starting", status_code=503)
    names = engine.registry.names()
    name = choose_object(engine.registry, request.query_params.get("object"))
    if name is None and names:
        return PlainTextResponse("unknown object", status_code=404)
    # Under a mount (an app embedded under /data, docs/embedding.md) every path the page uses is the mount's.
    root = request.scope.get("root_path", "")
    obj = engine.registry.get(name) if name else None
    summary, top = (summary_of(obj), top_of(obj)) if obj is not None else (None, None)
    names_spec = names_of(engine.registry, obj) if obj is not None else None
    config = {
        "aggregate": summary and {**summary, "events": root + summary["events"]},
        "top": top and {**top, "events": root + top["events"]},
        "names": names_spec,
        "graphql": f"{root}/graphql",
        "object": name,
        "label": obj.label if obj is not None else None,
        "objects": names,
        "events": f"{root}/api/events/{name}" if name else None,
        "named_events": events_url(root, name, names_spec) if name and names_spec else None,
        "read": f"{root}/api/dashboard/{name}" if name else None,
        "limit": LIST_LIMIT,
    }
    nonce = secrets.token_urlsafe(16)
    page = _template().replace("{{nonce}}", nonce).replace("{{config}}", _script_json(config))
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }
    return HTMLResponse(page, headers=headers)


def readable_expand(
    engine: ObjectQL, user: User | None, obj: ObjectDef, names_spec: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The part of the page's ``expand`` this reader may ask for: lookups whose field and target it may read."""
    if names_spec is None:
        return None
    expand = {
        field: entry
        for field, entry in names_spec["expand"].items()
        if engine.policies[obj.name].can_read_field(field, user)
        and engine.policies[target_of(obj, field)].allows("read", user)
    }
    return expand or None


def target_of(obj: ObjectDef, field: str) -> str:
    target = obj.fields[field].reference_to
    assert target is not None  # names_of lists lookups only
    return target


def events_url(root: str, name: str, names_spec: dict[str, Any] | None) -> str:
    """The rows stream of object ``name``: with the lookups' names nested when the page shows names."""
    url = f"{root}/api/events/{name}"
    if names_spec is None:
        return url
    return f"{url}?{urlencode({'expand': json.dumps(names_spec['expand'], separators=(',', ':'))})}"


async def dashboard_records(request: Request) -> Response:
    """``GET /api/dashboard/{object}``: the newest records the caller may read, and the seq before them."""
    engine: ObjectQL | None = getattr(request.app.state, "engine", None)
    policy: ConnectionPolicy | None = getattr(request.app.state, "policy", None)
    if engine is None or policy is None:
        return PlainTextResponse("starting", status_code=503)
    try:
        user = (await authenticate(policy, bearer_token(request.headers))).user
        name = request.path_params["object"]
        repository = engine.context(user).object(name)
        seq = await engine.current_seq()
        obj = engine.registry.get(name)
        names_spec = names_of(engine.registry, obj)
        expand = readable_expand(engine, user, obj, names_spec)
        records = await repository.find(limit=LIST_LIMIT, sort=LIST_SORT, expand=expand)
    except ObjectQLError as exc:
        return error_response(exc)
    fields = [_column(obj.fields[f]) for f in engine.policies[name].readable_fields(user)]
    body = {"object": name, "seq": seq, "fields": fields, "records": records}
    return Response(dumps(body), media_type="application/json", headers={"cache-control": "no-store"})


def dashboard_routes() -> list[Route]:
    """The page and its read endpoint, for the app factory."""
    return [
        Route("/", dashboard, methods=["GET"]),
        Route("/api/dashboard/{object}", dashboard_records, methods=["GET"]),
    ]


__all__ = ["dashboard", "dashboard_records", "dashboard_routes"]
