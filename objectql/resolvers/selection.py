"""What a GraphQL selection asks for, with fragments inlined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from objectql.errors import InvalidRequest


def selected_fields(selection: SelectionSetNode, fragments: Mapping[str, Any]) -> list[FieldNode]:
    """The fields of ``selection``, fragments inlined. A fragment spread again within the same selection adds
    nothing (as when the document is executed), so this takes time linear in the document."""
    out: list[FieldNode] = []
    _collect(selection, fragments, out, set())
    return out


def _collect(selection: SelectionSetNode, fragments: Mapping[str, Any], out: list[FieldNode], seen: set[str]) -> None:
    for node in selection.selections:
        if isinstance(node, FieldNode):
            out.append(node)
        elif isinstance(node, InlineFragmentNode):
            _collect(node.selection_set, fragments, out, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments and node.name.value not in seen:
            seen.add(node.name.value)
            _collect(fragments[node.name.value].selection_set, fragments, out, seen)


def root_field(selection: SelectionSetNode, fragments: Mapping[str, Any]) -> FieldNode:
    """The one root field of a subscription's selection."""
    fields = [f for f in selected_fields(selection, fragments) if f.name.value != "__typename"]
    if len(fields) != 1:
        raise InvalidRequest(None, "a subscription selects exactly one root field")
    return fields[0]


__all__ = ["root_field", "selected_fields"]
