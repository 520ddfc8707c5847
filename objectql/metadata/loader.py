"""Load ``objects/<name>.object.yml`` files into :class:`ObjectDef` values.

Every problem raises :class:`DefinitionError` naming the file, the key path (``fields.size.type``) and
what was expected, so a broken definition is fixed from the message alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from objectql.errors import DefinitionError
from objectql.metadata.model import (
    DECLARABLE_TYPES,
    NAME_RE,
    REFERENCE_TYPES,
    SYSTEM_FIELD_NAMES,
    DeleteBehavior,
    FieldDef,
    FieldPermission,
    FieldType,
    IndexDef,
    Kind,
    ObjectDef,
    Permissions,
    RowRule,
    Summary,
    SummaryType,
)

SUFFIXES = (".object.yml", ".object.yaml")
_TOP_KEYS = {"name", "label", "description", "fields", "indexes", "permissions"}
_FIELD_KEYS = {
    "type",
    "required",
    "unique",
    "default",
    "index",
    "label",
    "description",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "options",
    "multiple",
    "reference_to",
    "delete_behavior",
    "related_name",
    "summary_object",
    "summary_field",
    "summary_type",
    "filters",
}
_SUMMARY_KEYS = {"summary_object", "summary_field", "summary_type", "filters"}
# What a summary field may say besides its summary: it is computed, so nothing about the values it takes.
_SUMMARY_FIELD_KEYS = {"type", "label", "description", "index", *_SUMMARY_KEYS}
_PERMISSION_ACTIONS = ("read", "create", "update", "delete")


def object_name_of(path: Path) -> str | None:
    for suffix in SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def definition_files(directory: Path) -> list[Path]:
    """The definition files of an app directory: ``DIR/objects/*.object.yml``, or ``DIR`` itself."""
    objects_dir = directory / "objects" if (directory / "objects").is_dir() else directory
    return sorted(p for p in objects_dir.iterdir() if p.is_file() and object_name_of(p) is not None)


def load_file(path: Path) -> ObjectDef:
    file = str(path)
    name = object_name_of(path)
    if name is None:
        raise DefinitionError(file, "", f"a definition file name ends with {SUFFIXES[0]}")
    if not NAME_RE.match(name):
        raise DefinitionError(file, "", f"the object name {name!r} (the file stem) to match {NAME_RE.pattern}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise yaml_error(file, exc) from None
    return _Parser(file, name).object_def(raw)


def yaml_error(file: str, exc: yaml.YAMLError) -> DefinitionError:
    """A YAML parse error as a definition error: where it is and what the parser found wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return DefinitionError(file, where, f"valid YAML ({problem})")


class _Parser:
    def __init__(self, file: str, name: str) -> None:
        self.file = file
        self.name = name

    def fail(self, key_path: str, expected: str) -> DefinitionError:
        return DefinitionError(self.file, key_path, expected)

    def mapping(self, value: Any, key_path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key_path, "a mapping")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(key_path, f"string keys, not {key!r}")
        return value

    def known_keys(self, value: dict[str, Any], allowed: set[str], key_path: str) -> None:
        for key in value:
            if key not in allowed:
                where = f"{key_path}.{key}" if key_path else key
                raise self.fail(where, f"one of the keys {', '.join(sorted(allowed))}")

    def string(self, value: Any, key_path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key_path, "a string")
        return value

    def boolean(self, value: Any, key_path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key_path, "true or false")
        return value

    def number(self, value: Any, key_path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key_path, "a finite number")
        return value

    def count(self, value: Any, key_path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key_path, "a whole number >= 0")
        return value

    def roles(self, value: Any, key_path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
            raise self.fail(key_path, "a list of role names")
        return tuple(value)

    def object_def(self, raw: Any) -> ObjectDef:
        if raw is None:
            raw = {}
        doc = self.mapping(raw, "")
        self.known_keys(doc, _TOP_KEYS, "")
        if "name" in doc and doc["name"] != self.name:
            raise self.fail("name", f"the file stem {self.name!r} (or no name key)")
        label = self.string(doc.get("label", self.name), "label")
        description = self.string(doc["description"], "description") if "description" in doc else None
        fields_raw = self.mapping(doc.get("fields") or {}, "fields")
        declared = {fname: self.field_def(fname, fraw) for fname, fraw in fields_raw.items()}
        names = {"id", *declared, *SYSTEM_FIELD_NAMES}
        indexes = self.indexes(doc.get("indexes") or {}, names)
        permissions = self.permissions(doc["permissions"], names) if "permissions" in doc else None
        return ObjectDef(
            name=self.name,
            file=self.file,
            label=label,
            description=description,
            declared=declared,
            indexes=indexes,
            permissions=permissions,
        )

    def field_def(self, fname: str, raw: Any) -> FieldDef:
        base = f"fields.{fname}"
        if not NAME_RE.match(fname):
            raise self.fail(base, f"a field name matching {NAME_RE.pattern}")
        if fname in SYSTEM_FIELD_NAMES:
            raise self.fail(base, f"a name other than the system fields {', '.join(SYSTEM_FIELD_NAMES)}")
        spec = self.mapping(raw, base)
        self.known_keys(spec, _FIELD_KEYS, base)
        type_name = spec.get("type")
        valid_types = [t.value for t in DECLARABLE_TYPES]
        if type_name not in valid_types:
            raise self.fail(f"{base}.type", f"one of {', '.join(valid_types)}")
        ftype = FieldType(type_name)
        if ftype is FieldType.SUMMARY:
            return self.summary_field(fname, spec, base)
        for key in _SUMMARY_KEYS:
            if key in spec:
                raise self.fail(f"{base}.{key}", f"{key} only on a summary field")
        opts: dict[str, Any] = {}
        for key in ("required", "unique", "index", "multiple"):
            if key in spec:
                opts[key] = self.boolean(spec[key], f"{base}.{key}")
        for key in ("label", "description"):
            if key in spec:
                opts[key] = self.string(spec[key], f"{base}.{key}")
        probe = FieldDef(fname, ftype, multiple=bool(opts.get("multiple")))
        numeric = probe.kind in (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL)
        for key in ("min", "max"):
            if key in spec:
                if not numeric:
                    raise self.fail(f"{base}.{key}", "no min/max on a non-numeric field")
                opts[key] = self.number(spec[key], f"{base}.{key}")
        for key in ("min_length", "max_length", "pattern"):
            if key in spec and not probe.is_text:
                raise self.fail(f"{base}.{key}", f"no {key} on a non-text field")
        for key in ("min_length", "max_length"):
            if key in spec:
                opts[key] = self.count(spec[key], f"{base}.{key}")
        if "pattern" in spec:
            pattern = self.string(spec["pattern"], f"{base}.pattern")
            try:
                re.compile(pattern)
            except re.error:
                raise self.fail(f"{base}.pattern", "a valid regular expression") from None
            opts["pattern"] = pattern
        if "multiple" in spec and ftype is not FieldType.SELECT:
            raise self.fail(f"{base}.multiple", "multiple only on a select field")
        if ftype is FieldType.SELECT:
            options = spec.get("options")
            if not isinstance(options, list) or not options:
                raise self.fail(f"{base}.options", "a non-empty list of option strings")
            for i, opt in enumerate(options):
                if not isinstance(opt, str) or not opt:
                    raise self.fail(f"{base}.options[{i}]", "a non-empty string")
            if len(set(options)) != len(options):
                raise self.fail(f"{base}.options", "distinct option strings")
            opts["options"] = tuple(options)
        elif "options" in spec:
            raise self.fail(f"{base}.options", "options only on a select field")
        if ftype in REFERENCE_TYPES:
            target = spec.get("reference_to")
            if not isinstance(target, str) or not NAME_RE.match(target):
                raise self.fail(f"{base}.reference_to", "the name of the referenced object")
            opts["reference_to"] = target
            opts.update(self.reference_options(ftype, spec, base))
        else:
            for key in ("reference_to", "delete_behavior", "related_name"):
                if key in spec:
                    raise self.fail(f"{base}.{key}", f"{key} only on a lookup or master_detail field")
        if "default" in spec:
            check = _DEFAULT_CHECKS.get(probe.kind)
            value = spec["default"]
            if value is not None and check is not None and not check(value):
                raise self.fail(f"{base}.default", f"a default of the field's type ({ftype.value})")
            if ftype is FieldType.SELECT and value is not None:
                allowed = opts["options"]
                values = value if isinstance(value, list) else [value]
                if not all(v in allowed for v in values):
                    raise self.fail(f"{base}.default", f"one of the options {', '.join(allowed)}")
            opts["has_default"] = True
            opts["default"] = value
        return FieldDef(fname, ftype, **opts)

    def summary_field(self, fname: str, spec: dict[str, Any], base: str) -> FieldDef:
        """A ``summary`` field: what it computes over which child object. The registry checks it against the
        child (its reference to this object, the summarised field) and the engine checks its filters."""
        self.known_keys(spec, _SUMMARY_FIELD_KEYS, base)
        target = spec.get("summary_object")
        if not isinstance(target, str) or not NAME_RE.match(target):
            raise self.fail(f"{base}.summary_object", "the name of the object whose records are summarised")
        types = [t.value for t in SummaryType]
        if spec.get("summary_type") not in types:
            raise self.fail(f"{base}.summary_type", f"one of {', '.join(types)}")
        stype = SummaryType(spec["summary_type"])
        summarised: str | None = None
        if stype is SummaryType.COUNT:
            if "summary_field" in spec:
                raise self.fail(f"{base}.summary_field", "no summary_field on a count (it counts records)")
        else:
            summarised = spec.get("summary_field")
            if not isinstance(summarised, str) or not NAME_RE.match(summarised):
                raise self.fail(f"{base}.summary_field", f"the name of the {target} field to {stype.value}")
        opts: dict[str, Any] = {}
        for key in ("label", "description"):
            if key in spec:
                opts[key] = self.string(spec[key], f"{base}.{key}")
        if "index" in spec:
            opts["index"] = self.boolean(spec["index"], f"{base}.index")
        summary = Summary(object=target, type=stype, field=summarised, filters=spec.get("filters"))
        return FieldDef(fname, FieldType.SUMMARY, summary=summary, **opts)

    def reference_options(self, ftype: FieldType, spec: dict[str, Any], base: str) -> dict[str, Any]:
        """``delete_behavior`` and ``related_name`` of a reference field; a master_detail is required and
        cascades (its details cannot outlive their parent)."""
        opts: dict[str, Any] = {}
        if "related_name" in spec:
            related = spec["related_name"]
            if not isinstance(related, str) or not NAME_RE.match(related):
                raise self.fail(f"{base}.related_name", f"a name matching {NAME_RE.pattern}")
            opts["related_name"] = related
        behaviors = [b.value for b in DeleteBehavior]
        if ftype is FieldType.MASTER_DETAIL:
            if spec.get("required", True) is not True:
                raise self.fail(f"{base}.required", "true (a master_detail always has its parent) or no key")
            if spec.get("delete_behavior", DeleteBehavior.CASCADE.value) != DeleteBehavior.CASCADE.value:
                raise self.fail(f"{base}.delete_behavior", "cascade (a master_detail's details go with it) or no key")
            opts.update(required=True, delete_behavior=DeleteBehavior.CASCADE)
        else:
            # An optional lookup is cleared with its parent; a required one cannot be, so it holds its parent.
            required = spec.get("required") is True
            default = DeleteBehavior.RESTRICT if required else DeleteBehavior.SET_NULL
            behavior = spec.get("delete_behavior", default.value)
            if behavior not in behaviors:
                raise self.fail(f"{base}.delete_behavior", f"one of {', '.join(behaviors)}")
            if required and behavior == DeleteBehavior.SET_NULL.value:
                raise self.fail(f"{base}.delete_behavior", "restrict or cascade on a required lookup (not set_null)")
            opts["delete_behavior"] = DeleteBehavior(behavior)
        return opts

    def indexes(self, raw: Any, names: set[str]) -> tuple[IndexDef, ...]:
        out: list[IndexDef] = []
        for iname, spec in self.mapping(raw, "indexes").items():
            base = f"indexes.{iname}"
            if not NAME_RE.match(iname):
                raise self.fail(base, f"an index name matching {NAME_RE.pattern}")
            spec = self.mapping(spec, base)
            self.known_keys(spec, {"fields", "unique"}, base)
            fields = spec.get("fields")
            if not isinstance(fields, list) or not fields:
                raise self.fail(f"{base}.fields", "a non-empty list of field names")
            for i, f in enumerate(fields):
                if f not in names:
                    raise self.fail(f"{base}.fields[{i}]", "the name of a field of this object")
            unique = self.boolean(spec.get("unique", False), f"{base}.unique")
            out.append(IndexDef(iname, tuple(fields), unique))
        return tuple(out)

    def permissions(self, raw: Any, names: set[str]) -> Permissions:
        spec = self.mapping(raw or {}, "permissions")
        self.known_keys(spec, {*_PERMISSION_ACTIONS, "fields", "rows"}, "permissions")
        actions = {a: self.roles(spec[a], f"permissions.{a}") for a in _PERMISSION_ACTIONS if a in spec}
        fields: dict[str, FieldPermission] = {}
        for fname, fspec in self.mapping(spec.get("fields") or {}, "permissions.fields").items():
            base = f"permissions.fields.{fname}"
            if fname not in names:
                raise self.fail(base, "the name of a field of this object")
            if fname == "id":
                raise self.fail(base, "a field other than id (id is always readable)")
            fspec = self.mapping(fspec, base)
            self.known_keys(fspec, {"read", "update"}, base)
            fields[fname] = FieldPermission(
                read=self.roles(fspec["read"], f"{base}.read") if "read" in fspec else None,
                update=self.roles(fspec["update"], f"{base}.update") if "update" in fspec else None,
            )
        rows_raw = spec.get("rows") or []
        if not isinstance(rows_raw, list):
            raise self.fail("permissions.rows", "a list of {roles, filters} rules")
        rows: list[RowRule] = []
        for i, rspec in enumerate(rows_raw):
            base = f"permissions.rows[{i}]"
            rspec = self.mapping(rspec, base)
            self.known_keys(rspec, {"roles", "filters"}, base)
            if "filters" not in rspec:
                raise self.fail(f"{base}.filters", "a filter (the filter DSL)")
            rows.append(RowRule(self.roles(rspec.get("roles"), f"{base}.roles"), rspec["filters"], base))
        return Permissions(**actions, fields=fields, rows=tuple(rows))


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


_DEFAULT_CHECKS: dict[Kind, Callable[[Any], bool]] = {
    Kind.TEXT: lambda v: isinstance(v, str),
    Kind.INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    Kind.FLOAT: _is_number,
    Kind.DECIMAL: _is_number,
    Kind.BOOLEAN: lambda v: isinstance(v, bool),
}
