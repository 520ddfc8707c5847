"""One table's write statements and the row a record is stored as: shared by the repository and by the
writes a write causes on other records (:mod:`objectql.engine.derived`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Insert, Table, Update, bindparam, delete, insert, update

from objectql.engine.tables import lower_column_name
from objectql.metadata.model import ObjectDef

Record = dict[str, Any]

# The bound parameter naming the row an update or delete is about; no field name starts with an underscore.
ROW_ID = "_objectql_row_id"
# How many ids one ``IN (...)`` list carries at most (SQLite bounds the parameters of a statement).
ID_CHUNK = 500


@dataclass(frozen=True)
class WriteStatements:
    """One table's write statements, built once: the values come as parameters, so SQLAlchemy computes
    each statement's cache key once instead of for every write."""

    insert: Insert
    update: Update
    delete: Delete


@functools.cache
def writes(table: Table) -> WriteStatements:
    by_id = table.c.id == bindparam(ROW_ID)
    return WriteStatements(insert(table), update(table).where(by_id), delete(table).where(by_id))


def stored_row(obj: ObjectDef, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as its table stores it: with the lower-cased shadow of each text field."""
    row = dict(record)
    for fdef in obj.fields.values():
        if fdef.is_text:
            value = record.get(fdef.name)
            row[lower_column_name(fdef.name)] = value.lower() if isinstance(value, str) else None
    return row


def chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]
