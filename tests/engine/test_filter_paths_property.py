"""Property: through relations too, SQL (on SQLite and PostgreSQL) and the matcher agree.

Random small graphs — accounts, customers (with a self-reference) and orders linked by lookups, with null
references and references to parents that do not exist — and random filters in both forms with paths of up
to three hops and ``any`` / ``none`` over related lists, nested. Each object gets a random visible filter (what the
reader can see: everything, nothing, or a filter), so invisible parents and children are exercised. The
ids the database returns must equal the stored records the matcher accepts, reading the same graph.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from objectql import ObjectQL
from objectql.engine.filters import FALSE, TRUE, Node, compile_matcher, compile_sql, parse_filter
from objectql.engine.filters.matcher import FieldValues
from objectql.engine.filters.parse import Links
from objectql.engine.tables import lower_column_name
from tests.conftest import fresh_database_url, write_objects

OBJECTS = {
    "accounts": "fields: {tier: {type: text}, rank: {type: integer}}\n",
    "customers": """
fields:
  name:     {type: text}
  score:    {type: integer}
  account:  {type: lookup, reference_to: accounts}
  referrer: {type: lookup, reference_to: customers, related_name: referrals}
""",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: number}
  note:     {type: text}
""",
}
# The schema as the generators see it: plain fields by kind, references, related lists.
PLAIN = {
    "accounts": {"id": "id", "tier": "text", "rank": "int"},
    "customers": {"id": "id", "name": "text", "score": "int"},
    "orders": {"id": "id", "total": "num", "note": "text"},
}
REFS = {
    "accounts": {},
    "customers": {"account": "accounts", "referrer": "customers"},
    "orders": {"customer": "customers"},
}
LISTS = {
    "accounts": {"customers": "customers"},
    "customers": {"orders": "orders", "referrals": "customers"},
    "orders": {},
}
OPS = {
    "id": ["=", "!=", "in", "is_null", "is_not_null", "startswith"],
    "text": ["=", "!=", "<", ">=", "in", "nin", "contains", "notcontains", "startswith", "between", "is_null"],
    "int": ["=", "!=", "<", ">", "in", "nin", "between", "is_null", "is_not_null"],
    "num": ["=", "!=", "<=", ">", "nin", "between", "is_null"],
}
OBJECT_OPS = {
    "=": "$eq",
    "!=": "$ne",
    "<": "$lt",
    "<=": "$lte",
    ">": "$gt",
    ">=": "$gte",
    "in": "$in",
    "nin": "$nin",
    "contains": "$contains",
    "notcontains": "$notcontains",
    "startswith": "$startswith",
    "between": "$between",
}
TEXTS = st.sampled_from(["", "a", "A", "ab", "Ab", "b", "ß", "%"])
VALUES = {
    "text": TEXTS,
    "int": st.integers(-1, 3),
    "num": st.sampled_from([0, 1.5, -2, 10, 3]),
}
MAX_HOPS = 3


def ids_of(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Records of each object; references point at a record, at nothing, or at a missing record."""
    counts = {
        "accounts": draw(st.integers(1, 3)),
        "customers": draw(st.integers(2, 5)),
        "orders": draw(st.integers(2, 6)),
    }
    prefixes = {"accounts": "a", "customers": "c", "orders": "o"}
    out: dict[str, list[dict[str, Any]]] = {}
    for obj, n in counts.items():
        rows = []
        for record_id in ids_of(prefixes[obj], n):
            row: dict[str, Any] = {"id": record_id}
            for field, kind in PLAIN[obj].items():
                if field != "id":
                    row[field] = draw(st.one_of(st.none(), VALUES[kind], VALUES[kind]))
            for field, target in REFS[obj].items():
                real = ids_of(prefixes[target], counts[target])
                row[field] = draw(st.sampled_from([None, "ghost", *real, *real]))
            rows.append(row)
        out[obj] = rows
    return out


@st.composite
def paths(draw: st.DrawFn, obj: str) -> tuple[str, str, str, str]:
    """A field of ``obj`` or a path (up to three hops), the kind of the field it ends on, and that field
    and its object."""
    names: list[str] = []
    for _ in range(MAX_HOPS):
        if not REFS[obj] or draw(st.integers(0, 2)) == 0:
            break
        ref = draw(st.sampled_from(sorted(REFS[obj])))
        names.append(ref)
        obj = REFS[obj][ref]
    if names and draw(st.integers(0, 4)) == 0:
        return ".".join(names), "id", obj, "id"  # the path's last reference itself
    field = draw(st.sampled_from(sorted(PLAIN[obj])))
    return ".".join([*names, field]), PLAIN[obj][field], obj, field


def id_values(graph: dict[str, list[dict[str, Any]]]) -> st.SearchStrategy[str]:
    pool = [r["id"] for rows in graph.values() for r in rows]
    return st.sampled_from([*pool, "ghost", "c"])


@st.composite
def criteria(draw: st.DrawFn, obj: str, graph: dict[str, list[dict[str, Any]]]) -> tuple[str, str, Any]:
    path, kind, owner, field = draw(paths(obj))
    op = draw(st.sampled_from(OPS[kind]))
    values = id_values(graph) if kind == "id" else VALUES[kind]
    seen = [r[field] for r in graph[owner] if r.get(field) is not None]
    if seen:
        # Mostly values the graph holds, so that criteria hit.
        values = st.one_of(values, st.sampled_from(seen), st.sampled_from(seen))
    if op in ("is_null", "is_not_null"):
        return path, op, True
    if op in ("in", "nin"):
        return path, op, draw(st.lists(values, max_size=3))
    if op == "between":
        return path, op, [draw(values), draw(values)]
    if op in ("contains", "notcontains", "startswith"):
        return path, op, draw(TEXTS)
    return path, op, draw(values)


@st.composite
def list_filters(draw: st.DrawFn, obj: str, graph: dict[str, list[dict[str, Any]]], depth: int = 1) -> list[Any]:
    items: list[Any] = []
    for i in range(draw(st.integers(1, 3))):
        if i and draw(st.booleans()):
            items.append(draw(st.sampled_from(["and", "or"])))
        kind = draw(
            st.sampled_from(["criterion", "criterion", "group", "related"]) if depth < 4 else st.just("criterion")
        )
        if kind == "group":
            items.append(draw(list_filters(obj, graph, depth + 1)))
        elif kind == "related" and LISTS[obj]:
            name = draw(st.sampled_from(sorted(LISTS[obj])))
            quantifier = draw(st.sampled_from(["any", "none"]))
            if draw(st.integers(0, 4)) == 0:
                items.append([name, quantifier])
            else:
                inner = LISTS[obj][name]
                items.append(
                    [
                        name,
                        quantifier,
                        draw(st.one_of(list_filters(inner, graph, depth + 1), object_filters(inner, graph, depth + 1))),
                    ]
                )
        else:
            items.append(list(draw(criteria(obj, graph))))
    return items


@st.composite
def object_filters(draw: st.DrawFn, obj: str, graph: dict[str, list[dict[str, Any]]], depth: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["field", "field", "$not", "$or", "related"]) if depth < 4 else st.just("field"))
        if kind == "$not":
            out["$not"] = draw(object_filters(obj, graph, depth + 1))
        elif kind == "$or":
            out["$or"] = draw(st.lists(object_filters(obj, graph, depth + 1), min_size=1, max_size=2))
        elif kind == "related" and LISTS[obj]:
            name = draw(st.sampled_from(sorted(LISTS[obj])))
            quantifier = draw(st.sampled_from(["$any", "$none"]))
            out[name] = {quantifier: draw(object_filters(LISTS[obj][name], graph, depth + 1))}
        else:
            path, op, value = draw(criteria(obj, graph))
            if op in ("is_null", "is_not_null"):
                out[path] = {"$null": op == "is_null"}
            else:
                out[path] = {OBJECT_OPS[op]: value}
    return out


VISIBLE: dict[str, list[Any]] = {
    "accounts": [None, None, None, "nothing", [["rank", ">", 0]], [["tier", "is_not_null"]]],
    "customers": [None, None, None, "nothing", [["score", "<", 2]], [["name", "!=", "a"]]],
    "orders": [None, None, None, "nothing", [["total", ">", 0]], [["note", "is_null"]]],
}


class Stored:
    """The graph as the matcher reads it: the rows read back from the database."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.by_id = {obj: {r["id"]: r for r in records} for obj, records in rows.items()}

    def record(self, object: str, id: Any) -> FieldValues | None:
        return self.by_id[object].get(id)

    def children(self, object: str, field: str, id: Any) -> Iterable[FieldValues]:
        return [r for r in self.rows[object] if r.get(field) == id]


def test_sql_and_matcher_agree_through_paths_and_related_lists(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "paths.db")
    with asyncio.Runner() as runner:
        app = ObjectQL(write_objects(tmp_path, OBJECTS), url)
        runner.run(app.init())
        checked = {"filters": 0, "non_empty": 0, "partial": 0}

        async def reload(graph: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
            now = datetime.now(UTC)
            async with app.sql_engine.begin() as conn:
                for obj in ("orders", "customers", "accounts"):
                    await conn.execute(delete(app.tables[obj]))
                for obj, records in graph.items():
                    fields = app.registry.get(obj).fields
                    for record in records:
                        row = {**record, "created_at": now, "updated_at": now}
                        for name, fdef in fields.items():
                            if fdef.is_text:
                                value = row.get(name)
                                row[lower_column_name(name)] = value.lower() if isinstance(value, str) else None
                        await conn.execute(app.tables[obj].insert().values(**row))
            stored: dict[str, list[dict[str, Any]]] = {}
            async with app.sql_engine.connect() as conn:
                for obj in graph:
                    table = app.tables[obj]
                    columns = [table.c[f] for f in app.registry.get(obj).fields]
                    stored[obj] = [dict(r) for r in (await conn.execute(select(*columns))).mappings()]
            return stored

        async def check(root: str, filters: list[Any], visible: dict[str, Node], stored: dict[str, Any]) -> None:
            links = Links(app.registry, visible=lambda obj: visible[obj])
            table = app.tables[root]
            graph = Stored(stored)
            for flt in filters:
                node = parse_filter(flt, app.registry.get(root), links=links)
                async with app.sql_engine.connect() as conn:
                    stmt = select(table.c.id).where(compile_sql(node, table, app.dialect))
                    from_sql = set((await conn.execute(stmt)).scalars())
                matcher = compile_matcher(node, graph)
                in_memory = {r["id"] for r in stored[root] if matcher(r)}
                assert from_sql == in_memory, f"filter {flt!r} on {root}\nvisible {visible!r}\ngraph {stored!r}"
                checked["filters"] += 1
                checked["non_empty"] += bool(from_sql)
                checked["partial"] += 0 < len(from_sql) < len(stored[root])

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(graph=graphs(), data=st.data())
        def agree(graph: dict[str, list[dict[str, Any]]], data: st.DataObject) -> None:
            stored = runner.run(reload(graph))
            visible: dict[str, Node] = {}
            for obj, choices in VISIBLE.items():
                raw = data.draw(st.sampled_from(choices), label=f"visible {obj}")
                visible[obj] = (
                    FALSE if raw == "nothing" else TRUE if raw is None else parse_filter(raw, app.registry.get(obj))
                )
            root = data.draw(st.sampled_from(sorted(OBJECTS)), label="root")
            strategy = st.one_of(list_filters(root, graph), object_filters(root, graph))
            filters = data.draw(st.lists(strategy, min_size=1, max_size=4), label="filters")
            runner.run(check(root, filters, visible, stored))

        try:
            agree()
        finally:
            runner.run(app.close())
        # The generators must exercise matching: results that are neither empty nor everything.
        assert checked["partial"] > checked["filters"] / 10, checked
