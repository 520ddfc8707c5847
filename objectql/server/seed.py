"""Seed data: ``DIR/seed.yml`` inserted at start-up into objects whose table is still empty.

The file maps object names to lists of records::

    customers:
      - {id: cus_ada, name: Ada Lovelace, email: ada@example.com}
    orders:
      - {customer: cus_ada, total: 42}

Objects are seeded in file order, so an object that others reference comes first. Records go through the
engine as the system user (defaults, validation and change events apply as for any write), one
transaction for the whole file, and an object is skipped when it already has records: restarting a
server never duplicates its seed. Problems raise :class:`DefinitionError` naming the file and the record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from objectql.engine.core import ObjectQL
from objectql.engine.validation import READ_ONLY
from objectql.errors import DefinitionError, ObjectQLError
from objectql.metadata.loader import yaml_error
from objectql.metadata.registry import Registry

log = logging.getLogger("objectql.server")

SEED_FILE = "seed.yml"

Seed = dict[str, list[dict[str, Any]]]


def seed_path(app_dir: Path) -> Path:
    return app_dir / SEED_FILE


def read_seed(path: Path, registry: Registry) -> Seed:
    """Parse and shape-check a seed file against the registry (no database needed)."""
    file = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(file, "", f"a readable file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise yaml_error(file, exc) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DefinitionError(file, "", "a mapping of object name to a list of records")
    seed: Seed = {}
    for name, records in raw.items():
        if not isinstance(name, str) or name not in registry:
            raise DefinitionError(file, str(name), f"the name of a defined object ({', '.join(registry.names())})")
        if records is None:
            records = []
        if not isinstance(records, list):
            raise DefinitionError(file, name, "a list of records")
        obj = registry.get(name)
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise DefinitionError(file, f"{name}[{i}]", "a mapping of field names to values")
            for key in record:
                if key not in obj.fields or key in READ_ONLY:
                    where = f"{name}[{i}].{key}"
                    raise DefinitionError(file, where, f"a field of {name} that can be set (id or a declared field)")
        seed[name] = records
    return seed


async def load_seed(app: ObjectQL, app_dir: Path) -> dict[str, int]:
    """Insert ``DIR/seed.yml`` into the empty objects; returns how many records each object got."""
    path = seed_path(app_dir)
    if not path.is_file():
        return {}
    seed = read_seed(path, app.registry)
    inserted: dict[str, int] = {}
    # Exclusive: several workers starting at once must not all see empty tables and seed them.
    async with app.transaction(exclusive="objectql-seed") as tx:
        for name, records in seed.items():
            repo = tx.object(name)
            if not records or await repo.count() > 0:
                continue
            for i, record in enumerate(records):
                try:
                    await repo.create(dict(record))
                except ObjectQLError as exc:
                    # Surface the record's position in the file: the engine's own message only
                    # names fields, which is not enough to find a record among dozens.
                    raise DefinitionError(str(path), f"{name}[{i}]", f"a valid record: {exc.message}") from None
            inserted[name] = len(records)
    if inserted:
        summary = ", ".join(f"{count} {name}" for name, count in inserted.items())
        log.info("seed: inserted %s from %s", summary, path)
    return inserted


__all__ = ["SEED_FILE", "Seed", "load_seed", "read_seed", "seed_path"]
