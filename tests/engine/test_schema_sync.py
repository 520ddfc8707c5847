"""Schema sync: creates what is missing, never drops or alters, and a second init is harmless."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import inspect

from objectql import ObjectQL, ValidationError
from tests.conftest import write_objects

V1 = """
fields:
  name:  {type: text, index: true}
  email: {type: email, unique: true}
  kept:  {type: text}
indexes:
  by_name_email: {fields: [name, email]}
"""
V2 = """
fields:
  name:  {type: text, index: true}
  email: {type: email, unique: true}
  age:   {type: integer, required: true}
  sku:   {type: text, unique: true}
"""


async def inspect_table(app: ObjectQL, table: str) -> tuple[set[str], set[str]]:
    def read(conn):  # type: ignore[no-untyped-def]
        insp = inspect(conn)
        return {c["name"] for c in insp.get_columns(table)}, {i["name"] for i in insp.get_indexes(table)}

    async with app.sql_engine.connect() as conn:
        return await conn.run_sync(read)  # type: ignore[no-any-return]


async def test_init_creates_tables_columns_and_declared_indexes(database_url: str, tmp_path: Path) -> None:
    async with ObjectQL(write_objects(tmp_path, {"people": V1}), database_url) as app:
        columns, indexes = await inspect_table(app, "people")
        assert {"id", "name", "email", "kept", "created_at", "updated_at", "created_by"} <= columns
        assert {"uq_people_email", "ix_people__by_name_email"} <= indexes


async def test_second_init_is_harmless_and_keeps_data(database_url: str, tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path, {"people": V1})
    async with ObjectQL(app_dir, database_url) as app:
        await app.object("people").create({"id": "p1", "name": "Ann", "email": "a@x.io"})
    async with ObjectQL(app_dir, database_url) as app:
        assert [r["id"] for r in await app.object("people").find()] == ["p1"]
        assert await app.current_seq() == 1


async def test_changed_definitions_add_columns_and_indexes_without_dropping(database_url: str, tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path, {"people": V1})
    async with ObjectQL(app_dir, database_url) as app:
        await app.object("people").create({"id": "p1", "name": "Ann", "email": "a@x.io", "kept": "old"})
    (app_dir / "objects" / "people.object.yml").write_text(textwrap.dedent(V2))
    async with ObjectQL(app_dir, database_url) as app:
        columns, indexes = await inspect_table(app, "people")
        assert {"age", "sku", "_lc_sku", "kept"} <= columns  # "kept" is no longer declared but stays
        assert "uq_people_sku" in indexes
        row = await app.object("people").find_one("p1")
        assert row is not None and row["name"] == "Ann" and row["age"] is None and "kept" not in row
        # The new required field is enforced by validation, not by the database.
        with pytest.raises(ValidationError):
            await app.object("people").update("p1", {"age": None})
        await app.object("people").create({"name": "Bob", "age": 3, "sku": "S"})
        with pytest.raises(ValidationError):
            await app.object("people").create({"name": "Cy", "age": 4, "sku": "S"})
