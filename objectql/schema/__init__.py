"""The GraphQL schema, built at runtime from the registry."""

from objectql.schema.builder import build_schema

__all__ = ["build_schema"]
