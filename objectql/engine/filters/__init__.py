"""The filter DSL: parse (both forms) → AST → SQL compiler / in-memory matcher."""

from objectql.engine.filters.ast import FALSE, TRUE, And, Const, Criterion, Node, Not, Op, Or, UserToken
from objectql.engine.filters.matcher import compile_matcher
from objectql.engine.filters.parse import bind_user, parse_filter
from objectql.engine.filters.sql import compile_sql

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Const",
    "Criterion",
    "Node",
    "Not",
    "Op",
    "Or",
    "UserToken",
    "bind_user",
    "compile_matcher",
    "compile_sql",
    "parse_filter",
]
