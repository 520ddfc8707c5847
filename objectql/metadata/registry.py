"""The registry: every object definition of an app, checked as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from objectql.errors import DefinitionError, NotFound
from objectql.metadata.loader import definition_files, load_file
from objectql.metadata.model import ObjectDef, Relation


class Registry:
    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[str, ObjectDef] = {}
        self._relations: dict[str, dict[str, Relation]] | None = None
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
