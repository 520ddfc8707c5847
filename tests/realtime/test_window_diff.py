"""Property: the changes :func:`diff` gives, applied in order as a client applies them, turn any window into
any other — rows left removed first, unchanged rows kept in place, the others put at their index."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from objectql.realtime.windows import diff
from tests.realtime.windows import WindowModel

rows = st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 3), max_size=8)


def ordered(values: dict[str, int]) -> list[dict[str, Any]]:
    """A window: rows in (value, id) order, as a window orders them."""
    return [{"id": rid, "v": v} for rid, v in sorted(values.items(), key=lambda kv: (kv[1], kv[0]))]


@given(before=rows, after=rows)
def test_applying_the_diff_gives_the_new_window(before: dict[str, int], after: dict[str, int]) -> None:
    old, new = ordered(before), ordered(after)
    model = WindowModel(old)
    by_id = {row["id"]: row for row in new}
    steps = diff(old, new, 0)
    for effect, index, rid in steps:
        record = {"id": rid} if index is None else by_id[rid]
        model.apply({"effect": effect, "index": index, "record": record})
    assert model.records == new
    # Rows held by both, unchanged, get no message; every other row of either window gets one.
    unchanged = {rid for rid in before.keys() & after.keys() if before[rid] == after[rid]}
    assert {rid for _, _, rid in steps} == (before.keys() | after.keys()) - unchanged
