"""The repository API on both databases: CRUD, validation, sorting and paging, ids and system fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from objectql import Conflict, InvalidRequest, NotFound, ObjectQL, User, ValidationError

CUSTOMERS = """
fields:
  name:  {type: text, required: true, max_length: 20}
  email: {type: email, unique: true}
  site:  {type: url}
  code:  {type: text, pattern: "^[A-Z]{3}$", min_length: 3}
  tier:  {type: select, options: [gold, silver], default: silver}
  tags:  {type: select, multiple: true, options: [a, b, c]}
  age:   {type: integer, min: 0, max: 150}
  score: {type: number}
  credit: {type: currency, min: 0}
  share: {type: percent}
  vip:   {type: boolean, default: false}
  born:  {type: date}
  seen:  {type: datetime}
  extra: {type: json}
  phone: {type: phone}
  bio:   {type: textarea}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers, required: true}
  total:    {type: currency}
"""


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"customers": CUSTOMERS, "orders": ORDERS})
    return engine


async def test_create_returns_the_stored_record_with_system_fields_and_defaults(app: ObjectQL) -> None:
    repo = app.context(User("sam")).object("customers")
    created = await repo.create({"name": "Ann", "credit": 12.5, "seen": "2024-05-01T12:00:00+02:00"})
    assert created["name"] == "Ann"
    assert created["tier"] == "silver" and created["vip"] is False
    assert created["credit"] == Decimal("12.5") and isinstance(created["credit"], Decimal)
    assert created["seen"] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert created["created_by"] == "sam"
    assert created["created_at"].tzinfo is not None and created["created_at"] == created["updated_at"]
    assert created["email"] is None and created["extra"] is None
    assert await repo.find_one(created["id"]) == created


async def test_explicit_null_is_stored_as_null_and_not_replaced_by_the_default(app: ObjectQL) -> None:
    created = await app.object("customers").create({"name": "Ann", "tier": None})
    assert created["tier"] is None


async def test_client_supplied_id_is_kept_and_a_duplicate_is_conflict(app: ObjectQL) -> None:
    repo = app.object("customers")
    assert (await repo.create({"id": "c1", "name": "Ann"}))["id"] == "c1"
    with pytest.raises(Conflict) as info:
        await repo.create({"id": "c1", "name": "Bob"})
    assert info.value.code == "CONFLICT"
    assert await repo.count() == 1


async def test_generated_ids_are_unique_and_follow_creation_order(app: ObjectQL) -> None:
    repo = app.object("customers")
    ids = [(await repo.create({"name": f"n{i}"}))["id"] for i in range(5)]
    assert len(set(ids)) == 5
    assert [r["id"] for r in await repo.find()] == sorted(ids)


async def test_validation_error_lists_every_failing_field(app: ObjectQL) -> None:
    bad = {
        "name": "x" * 21,
        "email": "not-an-email",
        "site": "ftp://x",
        "code": "ab",
        "tier": "bronze",
        "tags": ["a", "z"],
        "age": 151,
        "score": "high",
        "credit": -1,
        "vip": "yes",
        "born": "2024-02-30",
        "seen": "soon",
        "extra": {"x": float("nan")},
        "nope": 1,
        "created_at": "2024-01-01",
    }
    with pytest.raises(ValidationError) as info:
        await app.object("customers").create(bad)
    codes = {e["field"]: e["code"] for e in info.value.errors}
    assert codes == {
        "name": "max_length",
        "email": "format",
        "site": "format",
        "code": "min_length",
        "tier": "option",
        "tags": "option",
        "age": "max",
        "score": "type",
        "credit": "min",
        "vip": "type",
        "born": "type",
        "seen": "type",
        "extra": "type",
        "nope": "unknown",
        "created_at": "read_only",
    }
    assert info.value.code == "VALIDATION_ERROR"
    assert await app.object("customers").count() == 0


TEXT_BOUND = 64 * 1024
LONG = """
fields:
  title: {type: text}
  body:  {type: textarea}
  mail:  {type: email}
  site:  {type: url}
  phone: {type: phone}
  data:  {type: json}
  essay: {type: textarea, max_length: 100000}
"""


def long_values(size: int) -> dict[str, Any]:
    """A value of exactly ``size`` characters for each bounded field (JSON: its serialised text)."""
    return {
        "title": "t" * size,
        "body": "b" * size,
        "mail": "m" * (size - len("@example.com")) + "@example.com",
        "site": "https://example.com/" + "p" * (size - len("https://example.com/")),
        "phone": "1" * size,
        "data": ["d" * (size - len('[""]'))],
    }


async def test_text_fields_without_max_length_take_64_kib_characters(make_engine: Any) -> None:
    app = await make_engine({"long": LONG})
    repo = app.object("long")
    created = await repo.create(long_values(TEXT_BOUND))
    assert {name: created[name] for name in long_values(TEXT_BOUND)} == long_values(TEXT_BOUND)
    # Characters, not bytes: 64 Ki characters of a 4-byte character are 256 KiB of UTF-8.
    assert (await repo.update(created["id"], {"title": "😀" * TEXT_BOUND}))["title"] == "😀" * TEXT_BOUND
    # A declared max_length is the field's bound, above the default as below it.
    assert len((await repo.create({"essay": "e" * 100_000}))["essay"]) == 100_000


async def test_text_over_the_default_bound_is_a_validation_error_on_create_and_update(make_engine: Any) -> None:
    app = await make_engine({"long": LONG})
    repo = app.object("long")
    message = f"must be at most {TEXT_BOUND} characters"
    with pytest.raises(ValidationError) as info:
        await repo.create(long_values(TEXT_BOUND + 1))
    assert info.value.errors == [
        {"field": name, "code": "max_length", "message": message + (" of JSON" if name == "data" else "")}
        for name in long_values(TEXT_BOUND + 1)
    ]
    assert await repo.count() == 0
    created = await repo.create({"title": "short"})
    for name, value in long_values(TEXT_BOUND + 1).items():
        with pytest.raises(ValidationError) as info:
            await repo.update(created["id"], {name: value})
        assert [(e["field"], e["code"]) for e in info.value.errors] == [(name, "max_length")]
    with pytest.raises(ValidationError):
        await repo.create({"essay": "e" * 100_001})
    assert await repo.find() == [created]


async def test_the_default_text_bound_is_an_engine_parameter(make_engine: Any) -> None:
    app = await make_engine({"long": LONG}, max_text_length=10)
    repo = app.object("long")
    assert (await repo.create({"title": "x" * 10, "data": {"k": "v"}}))["title"] == "x" * 10
    with pytest.raises(ValidationError) as info:
        await repo.create({"title": "x" * 11, "data": {"k": "vvvv"}})
    assert info.value.errors == [
        {"field": "title", "code": "max_length", "message": "must be at most 10 characters"},
        {"field": "data", "code": "max_length", "message": "must be at most 10 characters of JSON"},
    ]


async def test_required_fails_on_absent_null_and_empty(app: ObjectQL) -> None:
    repo = app.object("customers")
    for data in ({}, {"name": None}, {"name": ""}):
        with pytest.raises(ValidationError) as info:
            await repo.create(data)
        assert info.value.errors == [{"field": "name", "code": "required", "message": "is required"}]


async def test_pattern_failure_is_reported(app: ObjectQL) -> None:
    with pytest.raises(ValidationError) as info:
        await app.object("customers").create({"name": "A", "code": "abcd"})
    assert info.value.errors[0]["field"] == "code" and info.value.errors[0]["code"] == "pattern"


async def test_unique_violation_is_a_validation_error_naming_the_field(app: ObjectQL) -> None:
    repo = app.object("customers")
    await repo.create({"name": "A", "email": "a@x.io"})
    with pytest.raises(ValidationError) as info:
        await repo.create({"name": "B", "email": "a@x.io"})
    assert info.value.errors == [{"field": "email", "code": "unique", "message": "must be unique"}]
    other = await repo.create({"name": "C", "email": "c@x.io"})
    with pytest.raises(ValidationError):
        await repo.update(other["id"], {"email": "a@x.io"})
    # Updating a record to its own unique value is fine.
    assert (await repo.update(other["id"], {"email": "c@x.io", "name": "C2"}))["name"] == "C2"


async def test_lookup_target_must_exist(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "A"})
    orders = app.object("orders")
    assert (await orders.create({"customer": customer["id"]}))["customer"] == customer["id"]
    with pytest.raises(ValidationError) as info:
        await orders.create({"customer": "missing"})
    assert info.value.errors[0]["field"] == "customer" and info.value.errors[0]["code"] == "lookup"


async def test_update_applies_a_patch_and_bumps_updated_at(app: ObjectQL) -> None:
    repo = app.object("customers")
    created = await repo.create({"name": "Ann", "age": 30})
    updated = await repo.update(created["id"], {"age": 31})
    assert updated["age"] == 31 and updated["name"] == "Ann"
    assert updated["updated_at"] > created["updated_at"]
    assert updated["created_at"] == created["created_at"]
    with pytest.raises(ValidationError) as info:
        await repo.update(created["id"], {"id": "other"})
    assert info.value.errors[0] == {
        "field": "id",
        "code": "read_only",
        "message": "the id of a record cannot change",
    }


async def test_update_and_delete_of_a_missing_id_are_not_found(app: ObjectQL) -> None:
    repo = app.object("customers")
    with pytest.raises(NotFound):
        await repo.update("missing", {"name": "x"})
    with pytest.raises(NotFound):
        await repo.delete("missing")
    assert await repo.find_one("missing") is None


async def test_delete_removes_the_record(app: ObjectQL) -> None:
    repo = app.object("customers")
    created = await repo.create({"name": "Ann"})
    assert await repo.delete(created["id"]) is None
    assert await repo.find_one(created["id"]) is None
    assert await repo.count() == 0


async def test_unknown_object_is_not_found_at_once(app: ObjectQL) -> None:
    with pytest.raises(NotFound):
        app.context(User("sam")).object("nope")


async def test_find_projects_fields_and_always_includes_id(app: ObjectQL) -> None:
    repo = app.object("customers")
    await repo.create({"name": "Ann", "age": 3})
    rows = await repo.find(fields=["name"])
    assert rows == [{"id": rows[0]["id"], "name": "Ann"}]


async def test_sort_puts_nulls_last_both_ways_and_breaks_ties_by_id(app: ObjectQL) -> None:
    repo = app.object("customers")
    for id_, age in [("e", None), ("d", 2), ("c", 1), ("b", 2), ("a", None)]:
        await repo.create({"id": id_, "name": id_, "age": age})
    asc = [r["id"] for r in await repo.find(sort=[["age", "asc"]])]
    desc = [r["id"] for r in await repo.find(sort=[{"field": "age", "order": "desc"}])]
    assert asc == ["c", "b", "d", "a", "e"]
    assert desc == ["b", "d", "c", "a", "e"]
    assert [r["id"] for r in await repo.find()] == ["a", "b", "c", "d", "e"]


async def test_text_sorts_by_code_point(app: ObjectQL) -> None:
    repo = app.object("customers")
    names = ["b", "B", "a", "É", "e", "Z", "_", "é"]
    for n in names:
        await repo.create({"name": n})
    got = [r["name"] for r in await repo.find(sort=[["name", "asc"]])]
    assert got == sorted(names)


async def test_skip_and_limit_page_through_results(app: ObjectQL) -> None:
    repo = app.object("customers")
    for i in range(7):
        await repo.create({"id": f"c{i}", "name": "x"})
    page = await repo.find(skip=2, limit=3)
    assert [r["id"] for r in page] == ["c2", "c3", "c4"]
    assert len(await repo.find(limit=1000)) == 7


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"sort": [["nope", "asc"]]}, "sort[0]"),
        ({"sort": [["name", "sideways"]]}, "sort[0]"),
        ({"sort": [["name", "asc"], {"field": "extra"}]}, "sort[1]"),
        ({"sort": "name"}, "sort"),
        ({"skip": -1}, "skip"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"fields": ["name", "nope"]}, "fields[1]"),
    ],
)
async def test_bad_sort_fields_or_paging_is_invalid_request(app: ObjectQL, kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        await app.object("customers").find(**kwargs)
    assert info.value.code == "INVALID_REQUEST" and info.value.path == path


async def test_records_round_trip_every_type(app: ObjectQL) -> None:
    data = {
        "name": "Ünïcödé 😀",
        "tags": ["b", "a", "b"],
        "score": 1e-300,
        "share": 12.5,
        "credit": Decimal("99999999999999.9999"),
        "born": "1999-12-31",
        "extra": {"nested": [1, "two", None, True]},
        "phone": "+1 555",
        "bio": "line\nbreak",
    }
    created = await app.object("customers").create(data)
    stored = await app.object("customers").find_one(created["id"])
    assert stored == created
    assert stored is not None
    assert stored["tags"] == ["b", "a"]
    assert stored["credit"] == Decimal("99999999999999.9999")
    assert stored["born"].isoformat() == "1999-12-31"


async def test_database_errors_never_leak_sql(app: ObjectQL) -> None:
    with pytest.raises(Conflict) as info:
        await app.object("customers").create({"id": "x", "name": "a"})
        await app.object("customers").create({"id": "x", "name": "a"})
    text = str(info.value) + repr(info.value.to_dict())
    assert "INSERT" not in text.upper() and "SELECT" not in text.upper()
