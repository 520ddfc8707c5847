"""Seed data: inserted once into empty objects, through the engine, with errors naming the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from objectql import DefinitionError, ObjectQL
from objectql.server.seed import load_seed
from tests.conftest import write_objects

OBJECTS = {
    "customers": """
        fields:
          name: {type: text, required: true}
          tier: {type: select, options: [basic, gold], default: basic}
    """,
    "orders": """
        fields:
          customer: {type: lookup, reference_to: customers, required: true}
          total: {type: currency, min: 0}
    """,
}

SEED = """
    customers:
      - {id: cus_a, name: Ada}
      - {id: cus_b, name: Bob, tier: gold}
    orders:
      - {customer: cus_a, total: 10.5}
      - {customer: cus_b, total: 3}
      - {customer: cus_a, total: 0}
"""


def make_app_dir(tmp_path: Path, seed: str | None = SEED) -> Path:
    app_dir = write_objects(tmp_path / "app", OBJECTS)
    if seed is not None:
        (app_dir / "seed.yml").write_text(textwrap.dedent(seed), encoding="utf-8")
    return app_dir


async def counts(app: ObjectQL) -> dict[str, int]:
    return {name: await app.object(name).count() for name in ("customers", "orders")}


async def test_seed_fills_empty_objects_through_the_engine(tmp_path: Path, database_url: str) -> None:
    app_dir = make_app_dir(tmp_path)
    async with ObjectQL(app_dir, database_url) as app:
        assert await load_seed(app, app_dir) == {"customers": 2, "orders": 3}
        assert await counts(app) == {"customers": 2, "orders": 3}
        ada = await app.object("customers").find_one("cus_a")
        assert ada is not None and ada["tier"] == "basic"  # defaults apply as for any create
        assert await app.object("orders").count([["customer", "=", "cus_a"]]) == 2
        assert await app.current_seq() == 5  # seed writes are ordinary change events


async def test_seed_runs_once_across_restarts(tmp_path: Path, database_url: str) -> None:
    app_dir = make_app_dir(tmp_path)
    async with ObjectQL(app_dir, database_url) as app:
        await load_seed(app, app_dir)
        assert await load_seed(app, app_dir) == {}
    async with ObjectQL(app_dir, database_url) as restarted:
        assert await load_seed(restarted, app_dir) == {}
        assert await counts(restarted) == {"customers": 2, "orders": 3}


async def test_seed_skips_an_object_that_already_has_records(tmp_path: Path, database_url: str) -> None:
    app_dir = make_app_dir(tmp_path)
    async with ObjectQL(app_dir, database_url) as app:
        await app.object("customers").create({"id": "cus_a", "name": "Ada (live)"})
        await app.object("customers").create({"id": "cus_b", "name": "Bob (live)"})
        assert await load_seed(app, app_dir) == {"orders": 3}
        ada = await app.object("customers").find_one("cus_a")
        assert ada is not None and ada["name"] == "Ada (live)"


async def test_no_seed_file_means_nothing_to_do(tmp_path: Path, database_url: str) -> None:
    app_dir = make_app_dir(tmp_path, seed=None)
    async with ObjectQL(app_dir, database_url) as app:
        assert await load_seed(app, app_dir) == {}
        assert await counts(app) == {"customers": 0, "orders": 0}


@pytest.mark.parametrize(
    ("seed", "record", "expected"),
    [
        (SEED + "      - {customer: cus_missing, total: 1}\n", "orders[3]", "customer"),
        # Text without max_length is bounded by the engine's default (64 Ki characters).
        (SEED.replace("name: Bob", f"name: {'b' * 65_537}"), "customers[1]", "name: must be at most 65536 characters"),
    ],
    ids=["missing-lookup-target", "text-over-the-default-bound"],
)
async def test_invalid_seed_record_names_file_and_record_and_inserts_nothing(
    tmp_path: Path, database_url: str, seed: str, record: str, expected: str
) -> None:
    app_dir = make_app_dir(tmp_path, seed)
    async with ObjectQL(app_dir, database_url) as app:
        with pytest.raises(DefinitionError) as info:
            await load_seed(app, app_dir)
        assert info.value.message.startswith(f"{app_dir / 'seed.yml'}: {record}: ")
        assert expected in info.value.message
        assert await counts(app) == {"customers": 0, "orders": 0}


@pytest.mark.parametrize(
    ("seed", "key_path", "expected"),
    [
        ("invoices:\n  - {id: x}\n", "invoices", "a defined object"),
        ("customers: {name: Ada}\n", "customers", "a list of records"),
        ("customers:\n  - Ada\n", "customers[0]", "a mapping"),
        ("customers:\n  - {nme: Ada}\n", "customers[0].nme", "a field of customers"),
        ("customers:\n  - {name: Ada, created_at: 2030-01-01}\n", "customers[0].created_at", "can be set"),
        ("- customers\n", "", "a mapping of object name"),
        ("customers: [\n", "line", "valid YAML"),
    ],
)
async def test_malformed_seed_file_is_a_definition_error_naming_the_file(
    tmp_path: Path, seed: str, key_path: str, expected: str
) -> None:
    app_dir = make_app_dir(tmp_path, seed)
    async with ObjectQL(app_dir, f"sqlite:///{tmp_path / 'x.db'}") as app:
        with pytest.raises(DefinitionError) as info:
            await load_seed(app, app_dir)
    assert info.value.message.startswith(str(app_dir / "seed.yml"))
    assert info.value.key_path.startswith(key_path)
    assert expected in info.value.message
