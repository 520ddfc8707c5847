"""Record ids: a client-supplied id fits the id alphabet or is a VALIDATION_ERROR on `id`; an id that does not fit
is never found (find_one None, update and delete NOT_FOUND, a record subscription NOT_FOUND), never an error of
the database."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import NotFound, ObjectQL, ValidationError
from objectql.engine.ids import is_id, new_id
from objectql.engine.views import build_view

NOTES = "fields:\n  title: {type: text}\n"
# Beyond the alphabet: a record channel's separator, white space, control characters, a leading punctuation
# mark, non-ASCII letters, a slash, one character too many, nothing at all.
OUTSIDE = ["a:b", "a b", "a\nb", "a\tb", "a\x00b", "_a", "-a", ".a", "@a", "é", "a/b", "x" * 129, ""]
INSIDE = ["a", "Z", "7", "ord_1001", "a.b-c_d@e", "x" * 128, "0"]


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"notes": NOTES})
    return engine


@pytest.mark.parametrize("bad", OUTSIDE)
async def test_a_client_supplied_id_outside_the_alphabet_is_a_validation_error_on_id(app: ObjectQL, bad: str) -> None:
    notes = app.object("notes")
    with pytest.raises(ValidationError) as info:
        await notes.create({"id": bad, "title": "x"})
    assert [e["field"] for e in info.value.errors] == ["id"]
    assert "ASCII letters, digits" in info.value.errors[0]["message"]
    assert await notes.count() == 0


async def test_ids_inside_the_alphabet_are_kept(app: ObjectQL) -> None:
    notes = app.object("notes")
    for good in INSIDE:
        assert (await notes.create({"id": good, "title": "x"}))["id"] == good
        assert (await notes.find_one(good) or {}).get("id") == good


def test_generated_ids_fit_the_alphabet() -> None:
    assert all(is_id(new_id()) for _ in range(1000))


@pytest.mark.parametrize("bad", [*OUTSIDE, "x" * 100_000])
async def test_an_id_outside_the_alphabet_is_not_found(app: ObjectQL, bad: str) -> None:
    notes = app.object("notes")
    await notes.create({"id": "a", "title": "x"})
    assert await notes.find_one(bad) is None
    with pytest.raises(NotFound):
        await notes.update(bad, {"title": "y"})
    with pytest.raises(NotFound):
        await notes.delete(bad)
    with pytest.raises(NotFound):
        build_view(app, "notes", None, record_id=bad)
    assert [r["title"] for r in await notes.find()] == ["x"]
