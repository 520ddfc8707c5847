"""Running GraphQL documents for every transport: parse, validate, coerce variables, limit, execute.

Limits (docs/graphql.md), refused before execution with ``QUERY_TOO_COMPLEX``: at most 2000 tokens, depth 10
(the root field is depth 1, fragments inlined), 30 aliases (an alias in a fragment counts once per spread)
and a cost bound (``graphql_max_cost``: list sizes times selections, see :mod:`objectql.resolvers.measure`).
Introspection (``__schema``, ``__type``) has bounds of its own, which the standard introspection query of
schema tooling fits: depth 20, and no type lists nested three deep (graphql-core's own rule).
Introspection and "did you mean" suggestions can be switched off.

Variables are coerced to their declared types once, here, for every operation and transport: a value that
does not fit is the client's mistake, ``BAD_USER_INPUT`` naming the variable's path, before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.execution.values import VariableValues, get_variable_values
from graphql.pyutils import is_awaitable
from graphql.validation import NoSchemaIntrospectionCustomRule

from objectql.engine.core import ObjectQL
from objectql.engine.user import User
from objectql.realtime.operations import OperationError
from objectql.resolvers.context import GraphQLContext
from objectql.resolvers.errors import (
    BAD_USER_INPUT,
    GRAPHQL_PARSE_FAILED,
    GRAPHQL_VALIDATION_FAILED,
    QUERY_TOO_COMPLEX,
    format_error,
    request_error,
)
from objectql.resolvers.measure import FragmentCycle, measure
from objectql.resolvers.selection import root_field

MAX_TOKENS = 2000
MAX_DEPTH = 10
MAX_ALIASES = 30
# The standard introspection query (graphql-js getIntrospectionQuery with every option) is 15 deep: its
# type references are a chain of ofType. Nesting type lists in type lists (fields { type { fields … }) is
# graphql-core's MaxIntrospectionDepthRule's to refuse, in validation.
MAX_INTROSPECTION_DEPTH = 20
DEFAULT_MAX_COST = 100_000
DOCUMENT_CACHE_SIZE = 512
# A request's variables are checked until this many of them are found wrong.
MAX_VARIABLE_ERRORS = 10


class RequestError(OperationError):
    """A document refused before execution; ``errors`` are wire-ready."""


@dataclass(frozen=True)
class Prepared:
    query: str
    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    variables: dict[str, Any]  # as the client sent them
    fragments: Mapping[str, FragmentDefinitionNode]
    coerced: VariableValues  # the variables as their declared types, defaults applied

    @property
    def kind(self) -> str:
        return self.operation.operation.value

    @property
    def cache_key(self) -> tuple[str, str | None, str]:
        """Equal keys are the same operation with the same variables."""
        return (self.query, self.operation_name, json.dumps(self.variables, sort_keys=True, default=str))


def graphql_schema_of(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry builds (``Schema._schema``: a seam, docs/architecture.md); every
    document is validated and executed against it directly."""
    built = getattr(schema, "_schema", None)
    if not isinstance(built, GraphQLSchema):
        raise RuntimeError("this strawberry release keeps its graphql-core schema elsewhere (Schema._schema)")
    return built


class GraphQLExecutor:
    def __init__(
        self,
        engine: ObjectQL,
        schema: strawberry.Schema,
        *,
        introspection: bool = True,
        suggestions: bool = True,
        max_cost: int = DEFAULT_MAX_COST,
    ):
        self.engine = engine
        self.max_cost = max_cost
        self.schema = schema
        self.graphql_schema = graphql_schema_of(schema)
        self.rules = list(specified_rules) + ([] if introspection else [NoSchemaIntrospectionCustomRule])
        self.hide_suggestions = not suggestions
        # Overflow policy: the oldest entry is evicted (insertion order), keeping the cache bounded.
        self._documents: dict[str, tuple[DocumentNode, dict[str, FragmentDefinitionNode]] | RequestError] = {}

    def _checked_document(self, query: str) -> tuple[DocumentNode, dict[str, FragmentDefinitionNode]]:
        """Parse and validate ``query`` once: many clients send the same document (a bounded cache)."""
        cached = self._documents.get(query)
        if cached is None:
            cached = _parse_and_validate(self, query)
            if len(self._documents) >= DOCUMENT_CACHE_SIZE:
                self._documents.pop(next(iter(self._documents)))
            self._documents[query] = cached
        if isinstance(cached, RequestError):
            raise RequestError(cached.errors)
        return cached

    def context(self, user: User | None) -> GraphQLContext:
        return GraphQLContext(self.engine, user)

    def prepare(self, query: Any, variables: Any = None, operation_name: Any = None) -> Prepared:
        """Parse, validate and limit-check a request; raises RequestError."""
        if not isinstance(query, str) or not query.strip():
            raise RequestError([request_error("BAD_REQUEST", "a GraphQL request needs a query string")])
        if variables is not None and not isinstance(variables, dict):
            raise RequestError([request_error("BAD_REQUEST", "variables must be an object")])
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestError([request_error("BAD_REQUEST", "operationName must be a string")])
        document, fragments = self._checked_document(query)
        operation = _select_operation(document, operation_name)
        coerced = self._coerced(operation, variables or {})
        try:
            measured = measure(self.graphql_schema, operation, fragments, coerced.coerced)
        except FragmentCycle as exc:
            raise RequestError([request_error(GRAPHQL_VALIDATION_FAILED, str(exc))]) from None
        problems = [
            (measured.depth > MAX_DEPTH, f"the query is nested {measured.depth} deep (max {MAX_DEPTH})"),
            (measured.aliases > MAX_ALIASES, f"the query has {measured.aliases} aliases (max {MAX_ALIASES})"),
            (
                measured.introspection_depth > MAX_INTROSPECTION_DEPTH,
                f"the introspection is nested {measured.introspection_depth} deep (max {MAX_INTROSPECTION_DEPTH})",
            ),
            (
                measured.cost > self.max_cost,
                f"the query may cost {_rounded(measured.cost)} (lists' sizes times their selections; "
                f"max {self.max_cost}): ask for smaller pages or fewer fields",
            ),
        ]
        for refused, message in problems:
            if refused:
                raise RequestError([request_error(QUERY_TOO_COMPLEX, message)])
        return Prepared(query, document, operation, operation_name, dict(variables or {}), fragments, coerced)

    def _coerced(self, operation: OperationDefinitionNode, variables: dict[str, Any]) -> VariableValues:
        """The variables as the operation declares them; BAD_USER_INPUT naming each one that does not fit."""
        coerced = get_variable_values(
            self.graphql_schema,
            operation.variable_definitions or (),
            variables,
            max_errors=MAX_VARIABLE_ERRORS,
            hide_suggestions=self.hide_suggestions,
        )
        if isinstance(coerced, VariableValues):
            return coerced
        errors = []
        for error in coerced:
            # The message names the variable and the path inside it ("at 'o[0].field'"); a scalar's own
            # reason is in it too, so the original error (the scalar's exception) is not the client's concern.
            formatted = format_error(GraphQLError(error.message, error.nodes))
            formatted["extensions"]["code"] = BAD_USER_INPUT
            errors.append(formatted)
        raise RequestError(errors)

    async def execute(self, prepared: Prepared, user: User | None, root: Any = None) -> dict[str, Any]:
        """Execute a query or mutation (or one subscription event with ``root``) as ``user``."""
        return await self.run(prepared, self.context(user), root)

    async def run(self, prepared: Prepared, context: GraphQLContext, root: Any = None) -> dict[str, Any]:
        result = await self._execute(prepared.document, prepared, context, root)
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]
        return out

    async def run_each(self, prepared: Prepared, context: GraphQLContext, roots: Sequence[Any]) -> list[dict[str, Any]]:
        """A subscription document's result for each of ``roots`` (one event each), from one execution.

        The executed document selects the root field once per root, each under an alias of its own that
        resolves to its root; lookups of all of them share the context's batch loaders. Should one root's
        error null the whole answer (an error in a non-null field), each root is executed on its own."""
        if len(roots) == 1:
            return [await self.run(prepared, context, roots[0])]
        field = root_field(prepared.operation.selection_set, prepared.fragments)
        key = field.alias.value if field.alias is not None else field.name.value
        result = await self._execute(_per_root(prepared, field, len(roots)), prepared, context, _Roots(roots))
        if result.data is None:
            return [await self.run(prepared, context, root) for root in roots]
        out: list[dict[str, Any]] = [{"data": {key: result.data[f"_{i}"]}} for i in range(len(roots))]
        for error in result.errors or ():
            formatted = format_error(error)
            at = str(error.path[0]) if error.path else None
            if at is not None:
                formatted["path"][0] = key
            for i in [int(at[1:])] if at is not None else range(len(roots)):
                out[i].setdefault("errors", []).append(formatted)
        return out

    async def _execute(self, document: DocumentNode, prepared: Prepared, context: GraphQLContext, root: Any) -> Any:
        result = execute(
            self.graphql_schema,
            document,
            root_value=root,
            context_value=context,
            variable_values=prepared.variables,
            operation_name=prepared.operation_name,
            hide_suggestions=self.hide_suggestions,
            middleware=[_root_of_alias] if isinstance(root, _Roots) else None,
        )
        return await result if is_awaitable(result) else result


class _Roots:
    """The root value of an execution for several events: the root field's alias ``_i`` resolves to the i-th."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = values


def _root_of_alias(resolve: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    """Middleware: the root field under alias ``_i`` resolves with the i-th root value."""
    if isinstance(root, _Roots) and info.path.prev is None:
        root = root.values[int(str(info.path.key)[1:])]
    return resolve(root, info, **args)


def _per_root(prepared: Prepared, field: FieldNode, count: int) -> DocumentNode:
    """``prepared``'s document with its root field selected ``count`` times, aliased ``_0``, ``_1``, …"""
    copies = tuple(replace(field, alias=NameNode(value=f"_{i}")) for i in range(count))
    operation = replace(prepared.operation, selection_set=SelectionSetNode(selections=copies))
    return DocumentNode(definitions=(operation, *prepared.fragments.values()))


def _parse_and_validate(
    executor: GraphQLExecutor, query: str
) -> tuple[DocumentNode, dict[str, FragmentDefinitionNode]] | RequestError:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLSyntaxError as exc:
        if "tokens" in exc.message and "more than" in exc.message:
            return RequestError([request_error(QUERY_TOO_COMPLEX, f"the document has more than {MAX_TOKENS} tokens")])
        error = format_error(exc)
        error["extensions"]["code"] = GRAPHQL_PARSE_FAILED
        return RequestError([error])
    errors = validate(executor.graphql_schema, document, executor.rules, hide_suggestions=executor.hide_suggestions)
    if errors:
        # A scalar's parse error is carried as an original error: it is still a validation error.
        return RequestError([format_error(e.__class__(e.message, e.nodes)) for e in errors])
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return document, fragments


def _select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        if len(operations) != 1:
            raise RequestError([request_error("BAD_REQUEST", "name the operation to run (operationName)")])
        return operations[0]
    for op in operations:
        if op.name is not None and op.name.value == name:
            return op
    raise RequestError([request_error("BAD_REQUEST", f"no operation named {name!r}")])


def _rounded(cost: int) -> str:
    """A cost for a message: a document can ask for more than a number should print."""
    return str(cost) if cost < 10**12 else f"more than 10^{len(str(cost)) - 1}"


def is_subscription(prepared: Prepared) -> bool:
    return prepared.operation.operation is OperationType.SUBSCRIPTION


__all__ = ["GraphQLError", "GraphQLExecutor", "Prepared", "RequestError", "is_subscription"]
