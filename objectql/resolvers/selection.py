"""What a GraphQL selection asks for, with fragments inlined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode


def selected_fields(selection: SelectionSetNode, fragments: Mapping[str, Any]) -> list[FieldNode]:
    out: list[FieldNode] = []
    for node in selection.selections:
        if isinstance(node, FieldNode):
            out.append(node)
        elif isinstance(node, InlineFragmentNode):
            out.extend(selected_fields(node.selection_set, fragments))
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
            out.extend(selected_fields(fragments[node.name.value].selection_set, fragments))
    return out


__all__ = ["selected_fields"]
