"""A database that cannot be reached is a typed, stable error, and no error carries SQL or driver text."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectql import InvalidRequest, ObjectQL, Unavailable
from tests.conftest import write_objects

NOTES = """
fields:
  text: {type: text}
"""


async def test_an_unreachable_postgresql_is_unavailable(tmp_path: Path) -> None:
    app = ObjectQL(write_objects(tmp_path, {"notes": NOTES}), "postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(Unavailable) as info:
        await app.init()
    assert info.value.code == "UNAVAILABLE"
    assert "127.0.0.1" not in info.value.message and "connect" not in info.value.message.lower()


async def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with pytest.raises(Unavailable):
        await ObjectQL(write_objects(tmp_path, {"notes": NOTES}), url).init()


async def test_using_the_engine_before_init_is_a_clear_error(tmp_path: Path) -> None:
    app = ObjectQL(write_objects(tmp_path, {"notes": NOTES}), "sqlite:///unused.db")
    with pytest.raises(InvalidRequest) as info:
        app.object("notes")
    assert "init()" in info.value.message
