"""SQL tables from object definitions, and the non-destructive schema sync.

Each object is one table named after it: system columns, one column per declared field, and for each
text-like field a shadow column ``_lc_<field>`` holding Python's ``str.lower()`` of the value (what the
pattern operators compare, identically on every database). Declared columns are nullable in SQL:
``required`` is enforced by validation, so adding a required field to a live table never fails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    inspect,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

from objectql.engine.values import CURRENCY_PLACES, tidy_decimal
from objectql.metadata.model import FieldDef, Kind, ObjectDef
from objectql.metadata.registry import Registry

EVENTS_TABLE = "_objectql_events"
SEQ_TABLE = "_objectql_seq"
_SCALE = 10**CURRENCY_PLACES


def lower_column_name(field: str) -> str:
    return f"_lc_{field}"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect (microsecond precision)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        # SQLite keeps fixed-width naive text, which sorts chronologically.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Currency(TypeDecorator[Decimal]):
    """Exact amounts with 4 decimal places, stored as scaled 64-bit integers on every dialect."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | float | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(Decimal(str(value)) * _SCALE)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return tidy_decimal(Decimal(int(value)).scaleb(-CURRENCY_PLACES))


def _text_type() -> TypeEngine[Any]:
    # Code-point order on PostgreSQL whatever the database collation, so that indexes serve the
    # ``COLLATE "C"`` comparisons and ORDER BY the filter compiler emits.
    return Text().with_variant(Text(collation="C"), "postgresql")


def _json_type() -> TypeEngine[Any]:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


_COLUMN_TYPES: dict[Kind, Any] = {
    Kind.TEXT: _text_type,
    Kind.INTEGER: BigInteger,
    Kind.FLOAT: lambda: Float(precision=53),
    Kind.DECIMAL: Currency,
    Kind.BOOLEAN: lambda: Boolean(create_constraint=False),
    Kind.DATE: Date,
    Kind.DATETIME: UTCDateTime,
    Kind.JSON: _json_type,
}


def column_type(fdef: FieldDef) -> TypeEngine[Any]:
    return _COLUMN_TYPES[fdef.kind]()  # type: ignore[no-any-return]


def _columns(obj: ObjectDef) -> list[Column[Any]]:
    cols: list[Column[Any]] = []
    for fdef in obj.fields.values():
        if fdef.name == "id":
            cols.append(Column("id", _text_type(), primary_key=True))
        else:
            cols.append(Column(fdef.name, column_type(fdef), nullable=True, index=fdef.index))
        if fdef.is_text:
            cols.append(Column(lower_column_name(fdef.name), _text_type(), nullable=True))
    return cols


def build_metadata(registry: Registry) -> MetaData:
    metadata = MetaData()
    for obj in registry:
        table = Table(obj.name, metadata, *_columns(obj))
        table.info["text_columns"] = frozenset(f.name for f in obj.fields.values() if f.is_text)
        for fdef in obj.declared.values():
            if fdef.unique:
                Index(unique_index_name(obj.name, fdef.name), table.c[fdef.name], unique=True)
        for idx in obj.indexes:
            Index(f"ix_{obj.name}__{idx.name}", *(table.c[f] for f in idx.fields), unique=idx.unique)
    Table(
        EVENTS_TABLE,
        metadata,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("object", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("record_id", Text, nullable=False),
        Column("user_id", Text, nullable=True),
        Column("ts", UTCDateTime, nullable=False),
        Column("payload", Text, nullable=False),
        Index("ix__objectql_events_object_seq", "object", "seq"),
    )
    Table(
        SEQ_TABLE,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("value", BigInteger, nullable=False),
    )
    return metadata


def unique_index_name(object_name: str, field: str) -> str:
    return f"uq_{object_name}_{field}"


def sync_schema(conn: Connection, metadata: MetaData) -> list[str]:
    """Create what is missing (tables, columns, indexes); never drop or alter. Returns what it did."""
    inspector = inspect(conn)
    existing_tables = set(inspector.get_table_names())
    done: list[str] = []
    preparer = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            table.create(conn)
            done.append(f"create table {table.name}")
            continue
        have_cols = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name in have_cols:
                continue
            ddl_type = col.type.compile(dialect=conn.dialect)
            target, column = preparer.format_table(table), preparer.format_column(col)
            conn.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN {column} {ddl_type}")
            done.append(f"add column {table.name}.{col.name}")
        have_idx = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in have_idx:
                index.create(conn)
                done.append(f"create index {index.name}")
    return done
