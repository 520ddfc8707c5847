"""Summary fields in definitions: what the loader takes, and what the registry checks against the child object."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from objectql import DefinitionError
from objectql.metadata import FieldType, Kind, Registry, SummaryType, load_file

CUSTOMERS = """
fields:
  name: {{type: text}}
  summary: {{type: summary, summary_object: orders{rest}}}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  qty: {type: integer}
  weight: {type: number}
  total: {type: currency}
  note: {type: text}
  secret: {type: integer}
permissions:
  fields:
    secret: {read: [admin]}
"""


def app(tmp_path: Path, **objects: str) -> Path:
    folder = tmp_path / "objects"
    folder.mkdir(parents=True)
    for name, body in objects.items():
        (folder / f"{name}.object.yml").write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


def summary_kind(tmp_path: Path, rest: str) -> Kind:
    registry = Registry.from_directory(app(tmp_path, customers=CUSTOMERS.format(rest=rest), orders=ORDERS))
    field = registry.get("customers").field("summary")
    assert field is not None and field.summary is not None
    assert field.summary.reference == "customer"
    return field.kind


@pytest.mark.parametrize(
    ("rest", "kind"),
    [
        (", summary_type: count", Kind.INTEGER),
        (", summary_type: sum, summary_field: qty", Kind.INTEGER),
        (", summary_type: sum, summary_field: weight", Kind.FLOAT),
        (", summary_type: sum, summary_field: total", Kind.DECIMAL),
        (", summary_type: min, summary_field: total", Kind.DECIMAL),
        (", summary_type: max, summary_field: qty", Kind.INTEGER),
        (", summary_type: avg, summary_field: qty", Kind.FLOAT),
        (", summary_type: avg, summary_field: total", Kind.DECIMAL),
    ],
)
def test_a_summary_takes_the_kind_of_what_it_computes(tmp_path: Path, rest: str, kind: Kind) -> None:
    assert summary_kind(tmp_path, rest) is kind


def test_the_loader_reads_a_summary_with_its_filter(tmp_path: Path) -> None:
    path = tmp_path / "customers.object.yml"
    path.write_text(
        textwrap.dedent("""
        fields:
          paid_total:
            type: summary
            summary_object: orders
            summary_type: sum
            summary_field: total
            filters: [["status", "=", "paid"]]
            label: Paid
        """),
        encoding="utf-8",
    )
    field = load_file(path).declared["paid_total"]
    assert field.type is FieldType.SUMMARY and field.label == "Paid"
    assert field.summary is not None
    assert (field.summary.object, field.summary.type, field.summary.field, field.summary.filters) == (
        "orders",
        SummaryType.SUM,
        "total",
        [["status", "=", "paid"]],
    )


@pytest.mark.parametrize(
    ("spec", "key_path", "expected"),
    [
        ("{type: summary, summary_type: count}", "fields.s.summary_object", "the name of the object"),
        ("{type: summary, summary_object: orders}", "fields.s.summary_type", "one of count, sum, min, max, avg"),
        ("{type: summary, summary_object: orders, summary_type: sum}", "fields.s.summary_field", "orders field"),
        (
            "{type: summary, summary_object: orders, summary_type: count, summary_field: qty}",
            "fields.s.summary_field",
            "no summary_field on a count",
        ),
        ("{type: summary, summary_object: orders, summary_type: count, required: true}", "fields.s.required", "keys"),
        ("{type: summary, summary_object: orders, summary_type: count, default: 0}", "fields.s.default", "keys"),
        ("{type: integer, summary_type: count}", "fields.s.summary_type", "only on a summary field"),
        ("{type: integer, filters: []}", "fields.s.filters", "only on a summary field"),
    ],
)
def test_the_loader_refuses_a_malformed_summary_naming_the_key(
    tmp_path: Path, spec: str, key_path: str, expected: str
) -> None:
    path = tmp_path / "customers.object.yml"
    path.write_text(f"fields:\n  s: {spec}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    assert info.value.key_path == key_path and info.value.file == str(path)
    assert expected in info.value.expected


@pytest.mark.parametrize(
    ("rest", "key_path", "expected"),
    [
        (", summary_type: sum, summary_field: nope", "fields.summary.summary_field", "a field of orders"),
        (", summary_type: sum, summary_field: note", "fields.summary.summary_field", "('note' is text)"),
        (", summary_type: max, summary_field: customer", "fields.summary.summary_field", "('customer' is lookup)"),
        (", summary_type: sum, summary_field: created_at", "fields.summary.summary_field", "a field of orders"),
        (", summary_type: sum, summary_field: secret", "fields.summary.summary_field", "has read roles"),
    ],
)
def test_the_registry_refuses_a_summary_of_a_field_it_cannot_summarise(
    tmp_path: Path, rest: str, key_path: str, expected: str
) -> None:
    directory = app(tmp_path, customers=CUSTOMERS.format(rest=rest), orders=ORDERS)
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(directory)
    assert info.value.key_path == key_path and info.value.file.endswith("customers.object.yml")
    assert expected in info.value.expected


def test_the_summary_object_must_exist_and_point_at_the_parent_exactly_once(tmp_path: Path) -> None:
    missing = app(tmp_path / "a", customers=CUSTOMERS.format(rest=", summary_type: count").replace("orders", "nope"))
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(missing)
    assert info.value.key_path == "fields.summary.summary_object" and "a defined object" in info.value.expected

    no_link = app(
        tmp_path / "b",
        customers=CUSTOMERS.format(rest=", summary_type: count"),
        orders="fields: {qty: {type: integer}}\n",
    )
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(no_link)
    assert info.value.key_path == "fields.summary.summary_object"
    assert "exactly one lookup or master_detail field to customers (it has none; add one)" in info.value.expected

    two_links = app(
        tmp_path / "c",
        customers=CUSTOMERS.format(rest=", summary_type: count"),
        orders="""
        fields:
          customer: {type: lookup, reference_to: customers}
          billed_to: {type: lookup, reference_to: customers, related_name: billed}
        """,
    )
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(two_links)
    assert "(it has customer, billed_to)" in info.value.expected


def test_a_summary_of_a_summary_resolves_and_a_circle_of_them_is_refused(tmp_path: Path) -> None:
    registry = Registry.from_directory(
        app(
            tmp_path / "chain",
            customers="fields:\n  grand: {type: summary, summary_object: orders, summary_type: sum, "
            "summary_field: lines_total}\n",
            orders="fields:\n  customer: {type: lookup, reference_to: customers}\n"
            "  lines_total: {type: summary, summary_object: lines, summary_type: sum, summary_field: amount}\n",
            lines="fields:\n  order: {type: master_detail, reference_to: orders}\n  amount: {type: currency}\n",
        )
    )
    assert registry.get("customers").fields["grand"].kind is Kind.DECIMAL
    assert [(p, f.name) for p, f in registry.summaries_over("lines")] == [("orders", "lines_total")]
    assert [(p, f.name) for p, f in registry.summaries_over("orders")] == [("customers", "grand")]

    circle = app(
        tmp_path / "circle",
        a="fields:\n  b: {type: lookup, reference_to: b, related_name: as_list}\n"
        "  s: {type: summary, summary_object: b, summary_type: sum, summary_field: s}\n",
        b="fields:\n  a: {type: lookup, reference_to: a, related_name: bs_list}\n"
        "  s: {type: summary, summary_object: a, summary_type: sum, summary_field: s}\n",
    )
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(circle)
    assert info.value.key_path == "fields.s.summary_field" and "no circle of summaries" in info.value.expected
