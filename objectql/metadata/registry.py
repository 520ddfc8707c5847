"""The registry: every object definition of an app, checked as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from objectql.errors import DefinitionError, NotFound
from objectql.metadata.loader import definition_files, load_file
from objectql.metadata.model import ObjectDef


class Registry:
    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[str, ObjectDef] = {}
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

    def check(self) -> None:
        """Cross-object checks: every reference names a defined object."""
        for obj in self._objects.values():
            for f in obj.declared.values():
                if f.reference_to is not None and f.reference_to not in self._objects:
                    raise DefinitionError(
                        obj.file, f"fields.{f.name}.reference_to", f"a defined object, not {f.reference_to!r}"
                    )

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
