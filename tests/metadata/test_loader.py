"""Definition files: every type and option loads; a mistake names file, key path and expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from objectql import DefinitionError
from objectql.metadata import FieldType, Registry, load_file
from objectql.metadata.model import DECLARABLE_TYPES

ALL_TYPES = """
label: Everything
description: one field of each type
fields:
  t:   {type: text, required: true, unique: true, index: true, label: T, description: d,
        min_length: 1, max_length: 9, pattern: "^a", default: a}
  ta:  {type: textarea}
  em:  {type: email}
  u:   {type: url}
  ph:  {type: phone}
  n:   {type: number, min: -1.5, max: 10}
  i:   {type: integer, default: 3}
  c:   {type: currency, min: 0}
  p:   {type: percent}
  b:   {type: boolean, default: false}
  d:   {type: date}
  dt:  {type: datetime}
  s:   {type: select, options: [x, y], default: x}
  sm:  {type: select, options: [x, y], multiple: true}
  l:   {type: lookup, reference_to: everything}
  md:  {type: master_detail, reference_to: everything}
  j:   {type: json}
  sc:  {type: summary, summary_object: everything, summary_type: count}
indexes:
  by_t_and_n: {fields: [t, n], unique: true}
  by_created: {fields: [created_at]}
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.object.yml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_every_field_type_and_option_loads(tmp_path: Path) -> None:
    obj = load_file(write(tmp_path, "everything", ALL_TYPES))
    assert obj.name == "everything" and obj.label == "Everything"
    assert {f.type for f in obj.declared.values()} == set(DECLARABLE_TYPES)
    t = obj.declared["t"]
    assert (t.required, t.unique, t.index, t.min_length, t.max_length, t.pattern) == (
        True,
        True,
        True,
        1,
        9,
        "^a",
    )
    assert t.has_default and t.default == "a"
    assert obj.declared["sm"].multiple and obj.declared["s"].options == ("x", "y")
    assert obj.declared["l"].reference_to == "everything"
    assert [i.name for i in obj.indexes] == ["by_t_and_n", "by_created"] and obj.indexes[0].unique
    assert list(obj.fields)[:2] == ["id", "t"]
    assert list(obj.fields)[-3:] == ["created_at", "updated_at", "created_by"]
    assert obj.fields["id"].type is FieldType.ID


BROKEN = [
    ("unknown top-level key", "fields: {}\nfeilds: {}\n", "feilds", "one of the keys"),
    ("name differs from stem", "name: other\n", "name", "the file stem"),
    ("bad field name", "fields: {Bad: {type: text}}\n", "fields.Bad", "a field name matching"),
    ("system field name", "fields: {created_at: {type: text}}\n", "fields.created_at", "a name other than"),
    ("unknown type", "fields: {size: {type: strng}}\n", "fields.size.type", "one of text, textarea"),
    ("missing type", "fields: {size: {required: true}}\n", "fields.size.type", "one of text"),
    (
        "unknown option",
        "fields: {size: {type: text, requird: true}}\n",
        "fields.size.requird",
        "one of the keys",
    ),
    (
        "required not boolean",
        "fields: {size: {type: text, required: yes please}}\n",
        "fields.size.required",
        "true or false",
    ),
    ("min on text", "fields: {size: {type: text, min: 1}}\n", "fields.size.min", "non-numeric"),
    (
        "max_length on number",
        "fields: {size: {type: number, max_length: 1}}\n",
        "fields.size.max_length",
        "non-text",
    ),
    (
        "negative max_length",
        "fields: {size: {type: text, max_length: -1}}\n",
        "fields.size.max_length",
        "a whole number >= 0",
    ),
    ("bad pattern", "fields: {size: {type: text, pattern: '('}}\n", "fields.size.pattern", "a valid regular"),
    ("select without options", "fields: {size: {type: select}}\n", "fields.size.options", "a non-empty list"),
    (
        "duplicate options",
        "fields: {size: {type: select, options: [a, a]}}\n",
        "fields.size.options",
        "distinct",
    ),
    (
        "options on text",
        "fields: {size: {type: text, options: [a]}}\n",
        "fields.size.options",
        "only on a select",
    ),
    (
        "multiple on text",
        "fields: {size: {type: text, multiple: true}}\n",
        "fields.size.multiple",
        "only on a select",
    ),
    ("lookup without target", "fields: {size: {type: lookup}}\n", "fields.size.reference_to", "the name of"),
    (
        "default of wrong type",
        "fields: {size: {type: integer, default: x}}\n",
        "fields.size.default",
        "a default of the field's type",
    ),
    (
        "default not an option",
        "fields: {size: {type: select, options: [a], default: b}}\n",
        "fields.size.default",
        "one of the options",
    ),
    (
        "index on unknown field",
        "fields: {a: {type: text}}\nindexes: {by_x: {fields: [x]}}\n",
        "indexes.by_x.fields[0]",
        "the name of a field",
    ),
    (
        "permissions roles not a list",
        "permissions: {read: admin}\n",
        "permissions.read",
        "a list of role names",
    ),
    (
        "permissions unknown field",
        "permissions: {fields: {nope: {read: [a]}}}\n",
        "permissions.fields.nope",
        "the name of a field",
    ),
    (
        "row rule without filters",
        "permissions: {rows: [{roles: [a]}]}\n",
        "permissions.rows[0].filters",
        "a filter",
    ),
    ("not a mapping", "- a\n- b\n", "", "a mapping"),
    ("invalid yaml", "fields: {a: [\n", "line", "valid YAML"),
]


@pytest.mark.parametrize(("case", "body", "key_path", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_definition_names_file_key_path_and_expectation(
    tmp_path: Path, case: str, body: str, key_path: str, expected: str
) -> None:
    path = write(tmp_path, "things", body)
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    message = info.value.message
    assert message.startswith(str(path)), message
    assert key_path in message and expected in message, message
    assert info.value.code == "DEFINITION_ERROR"


def test_a_file_stem_that_is_not_a_valid_name_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        load_file(write(tmp_path, "Bad-Name", "fields: {}\n"))
    assert "Bad-Name" in info.value.message


def test_registry_rejects_a_reference_to_an_undefined_object(tmp_path: Path) -> None:
    (tmp_path / "objects").mkdir()
    write(tmp_path / "objects", "orders", "fields: {customer: {type: lookup, reference_to: customers}}\n")
    with pytest.raises(DefinitionError) as info:
        Registry.from_directory(tmp_path)
    assert "fields.customer.reference_to" in info.value.message


def test_registry_loads_a_directory_of_definitions(tmp_path: Path) -> None:
    write(tmp_path, "a", "fields: {x: {type: text}}\n")
    write(tmp_path, "b", "fields: {a: {type: lookup, reference_to: a}}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    registry = Registry.from_directory(tmp_path)
    assert registry.names() == ["a", "b"] and "a" in registry and len(registry) == 2
