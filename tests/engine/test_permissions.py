"""Permissions at the engine: object roles, field roles and row rules, inherited by every caller."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import ANONYMOUS, DefinitionError, Forbidden, NotFound, ObjectQL, Unauthenticated, User, ValidationError

DEALS = """
fields:
  title:  {type: text}
  owner:  {type: text}
  region: {type: text}
  cost:   {type: currency}
  secret: {type: text}
permissions:
  read:   [admin, sales, auditor]
  create: [admin, sales]
  update: [admin, sales]
  delete: [admin, sales]
  fields:
    cost:   {read: [admin, auditor], update: [admin]}
    secret: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
    - roles: [sales]
      filters: {"region": "$user.region"}
    - roles: [auditor]
      filters: [["region", "in", "$user.regions"]]
"""
PUBLIC = """
fields:
  text: {type: text}
permissions:
  read: [anonymous]
  create: ["*"]
"""
OPEN = """
fields:
  text: {type: text}
"""

ADMIN = User("root", ("admin",))
SAM = User("sam", ("sales",), {"region": "north"})
KIM = User("kim", ("sales",), {"region": "south"})
NOBODY = User("nobody", ("guest",))


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"deals": DEALS, "public": PUBLIC, "open": OPEN})
    deals = engine.object("deals")
    await deals.create({"id": "d1", "title": "sam's", "owner": "sam", "region": "west", "cost": 1, "secret": "s1"})
    await deals.create({"id": "d2", "title": "kim's", "owner": "kim", "region": "west", "cost": 2, "secret": "s2"})
    await deals.create({"id": "d3", "title": "north", "owner": "zed", "region": "north", "cost": 3})
    await deals.create({"id": "d4", "title": "south", "owner": "zed", "region": "south", "cost": 4})
    return engine


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


async def test_a_role_without_read_sees_nothing(app: ObjectQL) -> None:
    deals = app.context(NOBODY).object("deals")
    with pytest.raises(Forbidden):
        await deals.find()
    with pytest.raises(Forbidden):
        await deals.count()
    with pytest.raises(Forbidden):
        await deals.find_one("d1")


async def test_anonymous_where_roles_are_required_is_unauthenticated(app: ObjectQL) -> None:
    with pytest.raises(Unauthenticated) as info:
        await app.context(ANONYMOUS).object("deals").find()
    assert info.value.code == "UNAUTHENTICATED"


async def test_write_roles_are_enforced(app: ObjectQL) -> None:
    with pytest.raises(Forbidden):
        await app.context(User("a", ("auditor",), {"regions": ["west"]})).object("deals").create({"title": "x"})
    with pytest.raises(Forbidden):
        await app.context(User("a", ("auditor",), {"regions": ["west"]})).object("deals").delete("d1")
    assert await app.object("deals").count() == 4


async def test_anonymous_and_star_role_lists(app: ObjectQL) -> None:
    public = app.context(ANONYMOUS).object("public")
    assert await public.find() == []
    with pytest.raises(Unauthenticated):
        await public.create({"text": "x"})
    assert (await app.context(NOBODY).object("public").create({"text": "x"}))["text"] == "x"


async def test_no_permissions_block_admits_users_and_anonymous_only_when_open(app: ObjectQL, make_engine: Any) -> None:
    assert await app.context(ANONYMOUS).object("open").count() == 0
    assert (await app.context(NOBODY).object("open").create({"text": "x"}))["text"] == "x"
    closed: ObjectQL = await make_engine({"open": OPEN}, allow_anonymous=False)
    with pytest.raises(Unauthenticated):
        await closed.context(ANONYMOUS).object("open").count()
    assert await closed.context(NOBODY).object("open").count() == 1


async def test_row_rules_hide_other_users_rows_from_find_and_count(app: ObjectQL) -> None:
    assert ids(await app.context(SAM).object("deals").find()) == ["d1", "d3"]
    assert ids(await app.context(KIM).object("deals").find()) == ["d2", "d4"]
    assert await app.context(SAM).object("deals").count() == 2
    assert await app.context(SAM).object("deals").count([["title", "=", "kim's"]]) == 0


async def test_an_invisible_row_does_not_exist_for_find_one_update_and_delete(app: ObjectQL) -> None:
    sam = app.context(SAM).object("deals")
    assert await sam.find_one("d2") is None
    with pytest.raises(NotFound):
        await sam.update("d2", {"title": "mine now"})
    sam_admin = app.context(User("sam", ("sales", "admin"), {"region": "north"})).object("deals")
    assert await sam_admin.find_one("d2") is not None  # a role without a rule sees every row
    with pytest.raises(NotFound):
        await app.context(User("sam", ("sales",))).object("deals").update("d2", {"title": "x"})
    assert (await app.object("deals").find_one("d2") or {})["title"] == "kim's"


async def test_delete_obeys_row_rules(app: ObjectQL) -> None:
    sam = app.context(SAM).object("deals")
    with pytest.raises(NotFound):
        await sam.delete("d2")
    await sam.delete("d1")
    assert ids(await app.object("deals").find()) == ["d2", "d3", "d4"]


async def test_a_role_without_a_rule_sees_every_row(app: ObjectQL) -> None:
    assert ids(await app.context(ADMIN).object("deals").find()) == ["d1", "d2", "d3", "d4"]


async def test_user_claims_feed_row_rules_and_a_missing_claim_matches_nothing(app: ObjectQL) -> None:
    auditor = User("a", ("auditor",), {"regions": ["north", "south"]})
    assert ids(await app.context(auditor).object("deals").find()) == ["d3", "d4"]
    no_claim = User("b", ("auditor",))
    assert await app.context(no_claim).object("deals").find() == []
    no_region = User("sam", ("sales",))
    assert ids(await app.context(no_region).object("deals").find()) == ["d1"]


async def test_a_write_whose_result_the_caller_could_not_read_is_forbidden(app: ObjectQL) -> None:
    sam = app.context(SAM).object("deals")
    with pytest.raises(Forbidden):
        await sam.create({"title": "for kim", "owner": "kim", "region": "west"})
    created = await sam.create({"title": "mine", "owner": "sam"})
    with pytest.raises(Forbidden):
        await sam.update(created["id"], {"owner": "kim"})
    assert (await app.object("deals").find_one(created["id"]) or {})["owner"] == "sam"
    assert await app.object("deals").count() == 5


async def test_hidden_fields_never_appear_in_results(app: ObjectQL) -> None:
    sam = app.context(SAM).object("deals")
    for row in await sam.find():
        assert "cost" not in row and "secret" not in row
    created = await sam.create({"title": "t", "owner": "sam"})
    assert "cost" not in created and "secret" not in created
    updated = await sam.update(created["id"], {"title": "u"})
    assert "cost" not in updated and "secret" not in updated
    auditor = app.context(User("a", ("auditor",), {"regions": ["west"]})).object("deals")
    row = await auditor.find_one("d1")
    assert row is not None and row["cost"] == 1 and "secret" not in row


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": [["cost", ">", 0]]},
        {"filters": [["title", "=", "x"], "or", [["secret", "is_null"]]]},
        {"filters": {"$not": {"cost": {"$gt": 1}}}},
        {"sort": [["cost", "desc"]]},
        {"fields": ["title", "cost"]},
    ],
)
async def test_a_hidden_field_cannot_be_filtered_sorted_or_projected(app: ObjectQL, kwargs: dict[str, Any]) -> None:
    with pytest.raises(Forbidden) as info:
        await app.context(SAM).object("deals").find(**kwargs)
    assert info.value.details["field"] in ("cost", "secret")
    assert info.value.code == "FORBIDDEN"


async def test_hidden_field_filter_is_forbidden_for_count_too(app: ObjectQL) -> None:
    with pytest.raises(Forbidden) as info:
        await app.context(SAM).object("deals").count([["secret", "=", "s1"]])
    assert info.value.details == {"field": "secret", "path": "[0][0]"}


async def test_field_update_roles_govern_create_and_update(app: ObjectQL) -> None:
    sam = app.context(SAM).object("deals")
    with pytest.raises(Forbidden) as info:
        await sam.create({"title": "t", "owner": "sam", "cost": 5})
    assert info.value.details == {"field": "cost"}
    with pytest.raises(Forbidden):
        await sam.update("d1", {"cost": 5})
    assert (await app.context(ADMIN).object("deals").update("d1", {"cost": 5}))["cost"] == 5


async def test_system_user_bypasses_every_permission(app: ObjectQL) -> None:
    rows = await app.context(None).object("deals").find(filters=[["secret", "is_not_null"]], sort=[["cost", "asc"]])
    assert ids(rows) == ["d1", "d2"]


async def test_a_broken_row_rule_is_a_definition_error_naming_its_key_path(make_engine: Any) -> None:
    broken = """
fields:
  owner: {type: text}
permissions:
  rows:
    - roles: [sales]
      filters: [["ownr", "=", "$user.id"]]
"""
    with pytest.raises(DefinitionError) as info:
        await make_engine({"things": broken})
    assert "things.object.yml" in info.value.message
    assert "permissions.rows[0].filters[0][0]" in info.value.message


NOTES = """
fields:
  deal: {type: lookup, reference_to: deals}
  text: {type: text}
"""


async def test_a_lookup_may_point_only_at_a_record_its_writer_can_read(make_engine: Any) -> None:
    engine: ObjectQL = await make_engine({"deals": DEALS, "notes": NOTES})
    await engine.object("deals").create({"id": "d1", "owner": "sam", "region": "west"})
    await engine.object("deals").create({"id": "d2", "owner": "kim", "region": "west"})
    sam = engine.context(SAM).object("notes")
    assert (await sam.create({"deal": "d1"}))["deal"] == "d1"

    errors = []
    for target in ("d2", "no-such-deal"):  # kim's deal, hidden from sam by the row rules; a missing one
        with pytest.raises(ValidationError) as info:
            await sam.create({"deal": target})
        (error,) = info.value.errors
        errors.append({**error, "message": error["message"].replace(repr(target), "ID")})
    # Hidden and missing answer alike: a write is no way to learn which ids exist.
    assert errors[0] == errors[1] and errors[0]["field"] == "deal" and errors[0]["code"] == "lookup"

    note = await sam.create({"text": "t"})
    with pytest.raises(ValidationError):
        await sam.update(note["id"], {"deal": "d2"})
    # A user without read on the target object links to nothing; the system user and kim link as before.
    with pytest.raises(ValidationError):
        await engine.context(NOBODY).object("notes").create({"deal": "d1"})
    assert (await engine.context(KIM).object("notes").create({"deal": "d2"}))["deal"] == "d2"
    assert (await engine.object("notes").create({"deal": "d2"}))["deal"] == "d2"
