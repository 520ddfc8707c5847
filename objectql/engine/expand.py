"""Expand: related records nested in each record a find returns (SPEC §15).

``expand={"customer": {"fields": [...]}, "orders": {"filters": [...], "sort": [...], "limit": 10}}`` names,
per key, a reference field of the object (its parent is nested under ``<field>_ref``: a record, or None when
there is none or the user may not see it; the id stays under ``<field>``) or one of its related lists (the
child records pointing at each record, a list under the list's name, at most ``limit`` per record, 100 when
not given). An entry may hold an ``expand`` of its own, down to three levels.

Every level is read as the user: the expanded object's read permission, its row rules and its field read
permissions apply as in a find. Whatever the number of records, each expanded relation of each level is one
query (:mod:`objectql.engine.related`), never one per record. The whole request is checked before anything
is read, so a bad entry is an error even when no record would have been expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from objectql.engine.filters.parse import AllOf, FieldGuard, forbid_unreadable, parse_filter
from objectql.engine.query import DEFAULT_LIMIT, parse_fields, parse_page, parse_sort
from objectql.errors import Forbidden, InvalidRequest
from objectql.metadata.model import ObjectDef

if TYPE_CHECKING:
    from objectql.engine.repository import ObjectRepository
    from objectql.engine.statements import Record

RepositoryOf = Callable[[str], "ObjectRepository"]

MAX_LEVELS = 3
_PARENT_KEYS = ("fields", "expand")
_LIST_KEYS = ("filters", "sort", "skip", "limit", "fields", "expand")


@dataclass(frozen=True)
class Expansion:
    """One checked entry of an ``expand``."""

    name: str  # the key: a reference field of the object, or one of its related lists
    path: str  # what errors about it are prefixed with: "expand.orders."
    target: str  # the object it reads
    field: str  # the reference field: the object's (a parent), the target's (a related list)
    many: bool  # a related list rather than a parent
    fields: tuple[str, ...] | None
    filters: Any
    sort: Any
    skip: int
    limit: int
    nested: tuple[Expansion, ...]

    @property
    def key(self) -> str:
        """Where the expanded data goes in each record."""
        return self.name if self.many else f"{self.name}_ref"


def check_expand(raw: Any, obj: ObjectDef, repository_of: RepositoryOf) -> tuple[Expansion, ...]:
    """Check ``raw`` against the definitions and the user's permissions; ``repository_of(name)`` is the
    repository of an object under the same user. Raises InvalidRequest, InvalidFilter or Forbidden."""
    return _check(raw, obj, repository_of, "expand", 1)


def _check(raw: Any, obj: ObjectDef, repository_of: RepositoryOf, at: str, level: int) -> tuple[Expansion, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise InvalidRequest(at, "an object of reference fields and related lists to expand")
    if level > MAX_LEVELS:
        raise InvalidRequest(at, f"at most {MAX_LEVELS} levels of expand")
    own = repository_of(obj.name)
    lists = own.engine.registry.related_lists(obj.name)
    out: list[Expansion] = []
    for name, entry in raw.items():
        path = f"{at}.{name}"
        fdef = obj.fields.get(name) if isinstance(name, str) else None
        if entry is None or entry is True:
            entry = {}
        if not isinstance(entry, dict):
            raise InvalidRequest(path, "an object (fields, filters, sort, skip, limit, expand), or {}")
        if fdef is not None and fdef.reference_to is not None:
            _check_keys(entry, _PARENT_KEYS, path)
            if not own.policy.can_read_field(name, own.user):
                raise Forbidden(
                    f"field {name!r} is not readable", details={"field": name, "object": obj.name, "path": path}
                )
            target, field, many = fdef.reference_to, name, False
        elif isinstance(name, str) and name in lists:
            _check_keys(entry, _LIST_KEYS, path)
            relation = lists[name]
            target, field, many = relation.child, relation.field, True
        else:
            expected = f"a reference field or related list of {obj.name}"
            raise InvalidRequest(path, expected, details={"object": obj.name, "name": name})
        repo = repository_of(target)
        repo.policy.require("read", repo.user)
        if many and not repo.policy.can_read_field(field, repo.user):
            raise Forbidden(
                f"field {field!r} of {target} is not readable",
                details={"field": field, "object": target, "path": path},
            )
        guard = _guard(repo)
        prefix = f"{path}."
        fields = parse_fields(entry.get("fields"), repo.obj, guard, name=f"{prefix}fields")
        skip, limit = parse_page(entry.get("skip"), entry.get("limit"), prefix)
        if many:
            parse_filter(AllOf(entry.get("filters"), labels=(f"{prefix}filters",)), repo.obj, guard=guard)
            parse_sort(entry.get("sort"), repo.obj, guard, name=f"{prefix}sort")
        nested = _check(entry.get("expand"), repo.obj, repository_of, f"{prefix}expand", level + 1)
        out.append(
            Expansion(
                name=name,
                path=prefix,
                target=target,
                field=field,
                many=many,
                fields=fields,
                filters=entry.get("filters"),
                sort=entry.get("sort"),
                skip=skip,
                limit=DEFAULT_LIMIT if limit is None else limit,
                nested=nested,
            )
        )
    return tuple(out)


def _check_keys(entry: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in entry:
        if key not in allowed:
            raise InvalidRequest(f"{path}.{key}", f"one of {', '.join(allowed)}", details={"key": key})


def _guard(repo: ObjectRepository) -> FieldGuard | None:
    if repo.user is None or not repo.policy.hides_fields():
        return None
    return forbid_unreadable(lambda f: repo.policy.can_read_field(f, repo.user))


def needs(expansions: Sequence[Expansion]) -> tuple[str, ...]:
    """The fields each record must hold for ``expansions`` to be expanded: the reference fields of its parents."""
    return tuple(dict.fromkeys(e.field for e in expansions if not e.many))


async def expand_records(records: list[Record], expansions: Sequence[Expansion], repository_of: RepositoryOf) -> None:
    """Nest what ``expansions`` ask for into ``records``, in place: one query per entry and level."""
    for entry in expansions:
        await _expand_one(records, entry, repository_of)


async def _expand_one(records: list[Record], entry: Expansion, repository_of: RepositoryOf) -> None:
    repo = repository_of(entry.target)
    extra = [f for f in needs(entry.nested) if entry.fields is not None and f not in entry.fields]
    fields = None if entry.fields is None else [*entry.fields, *extra]
    if entry.many:
        rows = await repo.find_related(
            entry.field,
            [r["id"] for r in records],
            filters=entry.filters,
            fields=fields,
            sort=entry.sort,
            skip=entry.skip,
            limit=entry.limit,
            path=entry.path,
        )
    else:
        rows = await repo.find_related("id", [r.get(entry.field) for r in records], fields=fields, path=entry.path)
    if entry.nested:
        await expand_records(rows, entry.nested, repository_of)
    hidden = set(extra)
    if entry.many and entry.fields is not None and entry.field not in entry.fields:
        hidden.add(entry.field)
    if entry.many:
        groups: dict[Any, list[Record]] = {}
        for row in rows:
            groups.setdefault(row[entry.field], []).append(row)
        for record in records:
            record[entry.key] = [_shown(row, hidden) for row in groups.get(record["id"], ())]
    else:
        by_id = {row["id"]: row for row in rows}
        for record in records:
            parent = by_id.get(record.get(entry.field))
            record[entry.key] = None if parent is None else _shown(parent, hidden)


class RecordExpander:
    """One checked ``expand`` of one object under one user, applied to records read elsewhere (the
    snapshot and the changes of a subscription): :meth:`__call__` nests the data into them in place."""

    def __init__(self, expansions: tuple[Expansion, ...], repository_of: RepositoryOf, key: Hashable) -> None:
        self.expansions = expansions
        self._repository_of = repository_of
        # Equal keys expand alike: the same entries, for the same permissions on every object.
        self.key = key
        # The reference fields a record must hold to be expanded, and where the expanded data goes.
        self.needs = needs(expansions)
        self.keys = tuple(e.key for e in expansions)

    async def __call__(self, records: list[Record]) -> None:
        await expand_records(records, self.expansions, self._repository_of)


def _shown(row: Record, hidden: set[str]) -> Record:
    """A copy of ``row`` for one record (a parent may be nested in many), without the fields read only to
    expand further."""
    return {k: v for k, v in row.items() if k not in hidden}


__all__ = ["MAX_LEVELS", "Expansion", "RecordExpander", "check_expand", "expand_records", "needs"]
