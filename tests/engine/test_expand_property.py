"""Property: a related list read for many parents in one query (``ROW_NUMBER() OVER (PARTITION BY ...)``) is,
for every parent, exactly the page a find of that parent's children alone returns — on SQLite and PostgreSQL,
with ties, nulls and text that sorts differently by code point and by collation — and the grouped counts
equal each parent's count."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import ObjectQL
from tests.conftest import fresh_database_url, write_objects

PARENTS = "fields:\n  name: {type: text}\n"
CHILDREN = """
fields:
  parent: {type: lookup, reference_to: parents}
  name:   {type: text}
  qty:    {type: integer}
"""
PARENT_IDS = ["p0", "p1", "p2", "p3"]

children_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "parent": st.sampled_from([None, *PARENT_IDS]),
            "name": st.one_of(st.none(), st.sampled_from(["", "a", "A", "b", "B", "é", "E", "z", "Z"])),
            "qty": st.one_of(st.none(), st.integers(-2, 2)),
        }
    ),
    min_size=6,
    max_size=25,
)
sort_strategy = st.lists(
    st.tuples(st.sampled_from(["name", "qty", "id", "created_at"]), st.sampled_from(["asc", "desc"])),
    max_size=2,
).map(lambda keys: [list(k) for k in keys])
filter_strategy = st.one_of(st.none(), st.integers(-2, 2).map(lambda n: [["qty", ">=", n]]))


def test_one_query_per_level_pages_each_parent_as_a_find_of_its_own(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "related.db")
    with asyncio.Runner() as runner:
        app = ObjectQL(write_objects(tmp_path, {"parents": PARENTS, "children": CHILDREN}), url)
        runner.run(app.init())
        checked = {"pages": 0, "non_empty": 0}

        async def setup() -> None:
            for pid in PARENT_IDS:
                await app.object("parents").create({"id": pid, "name": pid})

        async def reload(children: list[dict[str, Any]]) -> None:
            async with app.sql_engine.begin() as conn:
                await conn.execute(delete(app.tables["children"]))
            repo = app.object("children")
            for i, child in enumerate(children):
                await repo.create({"id": f"k{i:02}", **child})

        async def check(sort: list[list[str]], filters: Any, skip: int, limit: int) -> None:
            repo = app.object("children")
            batched = await repo.find_related(
                "parent", PARENT_IDS, filters=filters, sort=sort, skip=skip, limit=limit, fields=["name", "qty"]
            )
            counts = await repo.count_related("parent", PARENT_IDS, filters=filters)
            for pid in PARENT_IDS:
                own = [["parent", "=", pid], *(filters or [])]
                alone = await repo.find(
                    filters=own, sort=sort or None, skip=skip, limit=limit, fields=["parent", "name", "qty"]
                )
                grouped = [r for r in batched if r["parent"] == pid]
                assert grouped == alone, f"parent {pid} sort {sort} filters {filters} skip {skip} limit {limit}"
                assert counts[pid] == await repo.count(filters=own)
                checked["pages"] += 1
                checked["non_empty"] += bool(alone)

        runner.run(setup())

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(
            children=children_strategy,
            sort=sort_strategy,
            filters=filter_strategy,
            skip=st.sampled_from([0, 0, 0, 1, 3]),
            limit=st.integers(1, 5),
        )
        def agree(children: list[dict[str, Any]], sort: list[list[str]], filters: Any, skip: int, limit: int) -> None:
            runner.run(reload(children))
            runner.run(check(sort, filters, skip, limit))

        try:
            agree()
        finally:
            runner.run(app.close())
        assert checked["non_empty"] > checked["pages"] / 5
