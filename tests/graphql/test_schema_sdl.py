"""The generated SDL: a snapshot of the shop example, parseable by graphql-core, names per docs/graphql.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import build_schema

from objectql.metadata import Registry
from objectql.schema import build_schema as objectql_schema
from tests.conftest import write_objects

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("shop.graphql")


def test_objectql_schema_prints_the_shop_sdl_matching_the_snapshot() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "objectql.server.cli", "schema", str(ROOT / "examples" / "shop")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # To accept an intended change: python -m objectql.server.cli schema examples/shop > tests/graphql/shop.graphql
    assert result.stdout == SNAPSHOT.read_text()
    build_schema(result.stdout)


def test_object_names_map_to_camel_and_pascal_case(tmp_path: Path) -> None:
    write_objects(tmp_path, {"order_items": "fields:\n  qty: {type: integer, required: true}\n  when: {type: date}\n"})
    sdl = objectql_schema(Registry.from_directory(tmp_path)).as_str()
    schema = build_schema(sdl)
    query = schema.query_type
    assert query is not None
    assert {"orderItems", "orderItemsList", "orderItemsCount", "orderItemsConnection"} <= set(query.fields)
    assert "OrderItems" in schema.type_map and "OrderItemsInput" in schema.type_map
    assert str(schema.type_map["OrderItemsInput"].fields["qty"].type) == "Int!"  # type: ignore[attr-defined]
    assert str(schema.type_map["OrderItemsUpdateInput"].fields["qty"].type) == "Int"  # type: ignore[attr-defined]
    assert str(schema.type_map["OrderItems"].fields["when"].type) == "Date"  # type: ignore[attr-defined]
    assert str(schema.type_map["OrderItems"].fields["id"].type) == "ID!"  # type: ignore[attr-defined]
