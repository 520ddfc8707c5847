"""Relation fields: delete behaviours, master-detail, and the reverse related lists they give their parents."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from objectql import DefinitionError
from objectql.metadata import DeleteBehavior, Registry


def app(tmp_path: Path, **objects: str) -> Path:
    folder = tmp_path / "objects"
    folder.mkdir()
    for name, body in objects.items():
        (folder / f"{name}.object.yml").write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


def test_each_reference_gives_its_parent_a_related_list_named_by_related_name(tmp_path: Path) -> None:
    registry = Registry.from_directory(
        app(
            tmp_path,
            customers="fields: {name: {type: text}}\n",
            orders="""
            fields:
              customer: {type: lookup, reference_to: customers}
              billed_to: {type: lookup, reference_to: customers, related_name: billed_orders,
                          delete_behavior: restrict}
            """,
            lines="fields: {order: {type: master_detail, reference_to: orders}}\n",
        )
    )
    lists = registry.related_lists("customers")
    assert sorted(lists) == ["billed_orders", "orders"]
    assert (lists["orders"].child, lists["orders"].field) == ("orders", "customer")
    assert lists["orders"].delete_behavior is DeleteBehavior.SET_NULL
    assert lists["billed_orders"].delete_behavior is DeleteBehavior.RESTRICT
    (lines,) = registry.children("orders")
    assert (lines.name, lines.child, lines.field, lines.delete_behavior) == (
        "lines",
        "lines",
        "order",
        DeleteBehavior.CASCADE,
    )
    order = registry.get("lines").field("order")
    assert order is not None and order.required
    assert registry.related_lists("lines") == {}


def test_a_required_lookup_holds_its_parent_unless_told_to_cascade(tmp_path: Path) -> None:
    registry = Registry.from_directory(
        app(
            tmp_path,
            customers="fields: {name: {type: text}}\n",
            orders="""
            fields:
              customer: {type: lookup, reference_to: customers, required: true}
              payer: {type: lookup, reference_to: customers, required: true, delete_behavior: cascade,
                      related_name: paid_orders}
            """,
        )
    )
    lists = registry.related_lists("customers")
    assert lists["orders"].delete_behavior is DeleteBehavior.RESTRICT
    assert lists["paid_orders"].delete_behavior is DeleteBehavior.CASCADE


@pytest.mark.parametrize(
    ("orders", "key", "expected"),
    [
        (
            "fields: {customer: {type: lookup, reference_to: customers, delete_behavior: explode}}\n",
            "fields.customer.delete_behavior",
            "one of set_null, restrict, cascade",
        ),
        (
            "fields: {customer: {type: lookup, reference_to: customers, required: true, delete_behavior: set_null}}\n",
            "fields.customer.delete_behavior",
            "restrict or cascade",
        ),
        (
            "fields: {customer: {type: master_detail, reference_to: customers, delete_behavior: restrict}}\n",
            "fields.customer.delete_behavior",
            "cascade",
        ),
        (
            "fields: {customer: {type: master_detail, reference_to: customers, required: false}}\n",
            "fields.customer.required",
            "true",
        ),
        (
            "fields: {customer: {type: lookup, reference_to: customers, related_name: Orders}}\n",
            "fields.customer.related_name",
            "a name matching",
        ),
        (
            "fields: {total: {type: number, related_name: orders}}\n",
            "fields.total.related_name",
            "only on a lookup or master_detail field",
        ),
        (
            "fields: {total: {type: number, delete_behavior: cascade}}\n",
            "fields.total.delete_behavior",
            "only on a lookup or master_detail field",
        ),
        (
            "fields: {a: {type: lookup, reference_to: customers}, b: {type: lookup, reference_to: customers}}\n",
            "fields.b.related_name",
            "unique on customers",
        ),
        (
            "fields: {customer: {type: lookup, reference_to: customers, related_name: name}}\n",
            "fields.customer.related_name",
            "not a field of customers",
        ),
    ],
)
def test_a_bad_relation_is_a_definition_error(tmp_path: Path, orders: str, key: str, expected: str) -> None:
    directory = app(tmp_path, customers="fields: {name: {type: text}}\n", orders=orders)
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(directory)
    assert key in info.value.message and expected in info.value.message
    assert "orders.object.yml" in info.value.message
