"""The registry: every object definition of an app, checked as a whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from objectql.errors import DefinitionError, NotFound
from objectql.metadata.loader import definition_files, load_file
from objectql.metadata.model import FieldDef, Kind, ObjectDef, Relation, Summary, SummaryType

_NUMERIC = (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL)
_Chain = tuple[tuple[str, str], ...]
_Resolve = Callable[[ObjectDef, FieldDef, _Chain], FieldDef]


class Registry:
    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[str, ObjectDef] = {}
        self._relations: dict[str, dict[str, Relation]] | None = None
        self._summaries: dict[str, list[tuple[str, FieldDef]]] | None = None
        for obj in objects or []:
            self.add(obj)

    @classmethod
    def from_directory(cls, directory: str | Path) -> Registry:
        path = Path(directory)
        if not path.is_dir():
            raise DefinitionError(str(path), "", "an app directory holding objects/<name>.object.yml files")
        registry = cls([load_file(p) for p in definition_files(path)])
        registry.check()
        return registry

    def add(self, obj: ObjectDef) -> None:
        if obj.name in self._objects:
            raise DefinitionError(obj.file, "", f"a unique object name ({obj.name!r} is defined twice)")
        self._objects[obj.name] = obj
        self._relations = None
        self._summaries = None

    def check(self) -> None:
        """Cross-object checks: every reference names a defined object, and no related list's name clashes
        with a field of its parent or another related list."""
        for obj in self._objects.values():
            for f in obj.declared.values():
                if f.reference_to is not None and f.reference_to not in self._objects:
                    raise DefinitionError(
                        obj.file, f"fields.{f.name}.reference_to", f"a defined object, not {f.reference_to!r}"
                    )
        self._relations = self._collect_relations()
        self._resolve_summaries()

    def _resolve_summaries(self) -> None:
        """Check every summary field against its child object and fill in the child's reference field and
        the summary's value kind; a summary of a summary is resolved first, and a circle of them refused."""
        resolved: dict[tuple[str, str], FieldDef] = {}

        def resolve(obj: ObjectDef, fdef: FieldDef, seen: _Chain) -> FieldDef:
            key = (obj.name, fdef.name)
            if key in resolved:
                return resolved[key]
            if key in seen:
                chain = " -> ".join(f"{o}.{f}" for o, f in (*seen, key))
                raise DefinitionError(
                    obj.file, f"fields.{fdef.name}.summary_field", f"no circle of summaries ({chain})"
                )
            summary = fdef.summary
            assert summary is not None
            resolved[key] = replace(fdef, summary=self._summary(obj, fdef, summary, (*seen, key), resolve))
            return resolved[key]

        for obj in list(self._objects.values()):
            for fdef in obj.declared.values():
                if fdef.summary is not None:
                    resolve(obj, fdef, ())
        over: dict[str, list[tuple[str, FieldDef]]] = {name: [] for name in self._objects}
        for (parent, _), fdef in resolved.items():
            obj = self._objects[parent]
            self._objects[parent] = replace(obj, declared={**obj.declared, fdef.name: fdef})
            assert fdef.summary is not None
            over[fdef.summary.object].append((parent, fdef))
        self._summaries = over

    def _summary(self, obj: ObjectDef, fdef: FieldDef, summary: Summary, seen: _Chain, resolve: _Resolve) -> Summary:
        base = f"fields.{fdef.name}"
        child = self._objects.get(summary.object)
        if child is None:
            raise DefinitionError(obj.file, f"{base}.summary_object", f"a defined object, not {summary.object!r}")
        references = [f.name for f in child.declared.values() if f.is_reference and f.reference_to == obj.name]
        if len(references) != 1:
            found = f"it has {', '.join(references)}" if references else "it has none; add one"
            expected = f"an object with exactly one lookup or master_detail field to {obj.name} ({found})"
            raise DefinitionError(obj.file, f"{base}.summary_object", expected)
        if summary.type is SummaryType.COUNT:
            return replace(summary, reference=references[0], kind=Kind.INTEGER)
        assert summary.field is not None
        target = child.declared.get(summary.field)
        if target is None:
            raise DefinitionError(obj.file, f"{base}.summary_field", f"a field of {child.name}, not {summary.field!r}")
        if target.summary is not None:
            target = resolve(child, target, seen)
        if target.kind not in _NUMERIC or target.multiple:
            expected = f"a number, integer or currency field of {child.name} ({summary.field!r} is {target.type.value})"
            raise DefinitionError(obj.file, f"{base}.summary_field", expected)
        hidden = child.permissions.fields.get(summary.field) if child.permissions else None
        if hidden is not None and hidden.read is not None:
            expected = (
                f"a field every reader may read ({child.name}.{summary.field} has read roles; the summary would "
                "show it to every reader of this object)"
            )
            raise DefinitionError(obj.file, f"{base}.summary_field", expected)
        kind = target.kind
        if summary.type is SummaryType.AVG and kind is not Kind.DECIMAL:
            kind = Kind.FLOAT
        return replace(summary, reference=references[0], kind=kind)

    def _collect_relations(self) -> dict[str, dict[str, Relation]]:
        relations: dict[str, dict[str, Relation]] = {name: {} for name in self._objects}
        for child in self._objects.values():
            for f in child.declared.values():
                if f.reference_to is None or f.reference_to not in self._objects or f.delete_behavior is None:
                    continue
                parent = self._objects[f.reference_to]
                name = f.related_name or child.name
                key = f"fields.{f.name}.related_name"
                if name in parent.fields or f"{name}_ref" in parent.fields:
                    expected = f"a related list name that is not a field of {parent.name} ({name!r} is)"
                    raise DefinitionError(child.file, key, expected)
                taken = relations[parent.name].get(name)
                if taken is not None:
                    expected = (
                        f"a related list name unique on {parent.name} ({name!r} is also "
                        f"{taken.child}.{taken.field}'s; give one a related_name)"
                    )
                    raise DefinitionError(child.file, key, expected)
                relations[parent.name][name] = Relation(parent.name, name, child.name, f.name, f.delete_behavior)
        return relations

    def related_lists(self, name: str) -> dict[str, Relation]:
        """The reverse relations of object ``name``, by related-list name."""
        if self._relations is None:
            self._relations = self._collect_relations()
        self.get(name)
        return self._relations[name]

    def children(self, name: str) -> list[Relation]:
        """Every reverse relation pointing at object ``name`` (what deleting one of its records touches)."""
        return list(self.related_lists(name).values())

    def summaries_over(self, name: str) -> list[tuple[str, FieldDef]]:
        """The summary fields computed from the records of object ``name``: (parent object, field)."""
        if self._summaries is None:
            self._resolve_summaries()
        assert self._summaries is not None
        return self._summaries.get(name, [])

    def get(self, name: str) -> ObjectDef:
        try:
            return self._objects[name]
        except KeyError:
            raise NotFound(f"unknown object {name!r}", details={"object": name}) from None

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def names(self) -> list[str]:
        return list(self._objects)
