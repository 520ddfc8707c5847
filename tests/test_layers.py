"""Imports point one way: errors ← metadata ← engine ← realtime ← resolvers ← schema ← server.

Every import in a module counts, also inside functions and ``TYPE_CHECKING`` blocks: a lazy import
is a dependency too. The realtime core sees only the engine's value types (users, events, views),
never the engine facade; its transports are the only part that knows ASGI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "objectql"

# The engine beyond its value types: the facade, its database, its repositories.
ENGINE_INTERNALS = (
    "objectql.engine.core",
    "objectql.engine.database",
    "objectql.engine.repository",
    "objectql.engine.source",
    "objectql.engine.tables",
    "objectql.engine.unit",
)

# What each part of the package must not import (prefixes of module names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "objectql.errors": ("objectql.",),
    "objectql.metadata": (
        "objectql.engine",
        "objectql.realtime",
        "objectql.resolvers",
        "objectql.schema",
        "objectql.server",
    ),
    "objectql.engine": ("objectql.realtime", "objectql.resolvers", "objectql.schema", "objectql.server"),
    # The transports: the only part of realtime that knows ASGI; the engine only through the core's source.
    "objectql.realtime.transports": (
        *ENGINE_INTERNALS,
        "objectql.resolvers",
        "objectql.schema",
        "objectql.server",
        "strawberry",
        "graphql",
    ),
    # The core: no transport, no web framework or server, no engine facade, no GraphQL.
    "objectql.realtime": (
        *ENGINE_INTERNALS,
        "objectql.realtime.transports",
        "objectql.resolvers",
        "objectql.schema",
        "objectql.server",
        "starlette",
        "uvicorn",
        "strawberry",
        "graphql",
    ),
    "objectql.resolvers": ("objectql.realtime.transports", "objectql.schema", "objectql.server"),
    "objectql.schema": ("objectql.realtime.transports", "objectql.server"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, relative imports resolved against ``module``."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def rules_for(module: str) -> tuple[str, ...]:
    """The forbidden prefixes of the most specific part ``module`` belongs to."""
    owners = [part for part in FORBIDDEN if module == part or module.startswith(part + ".")]
    return FORBIDDEN[max(owners, key=len)] if owners else ()


def violations(module: str, names: set[str]) -> list[str]:
    forbidden = rules_for(module)
    return sorted(
        name for name in names if any(name == p.rstrip(".") or name.startswith(p.rstrip(".") + ".") for p in forbidden)
    )


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down_the_layers(path: Path) -> None:
    module = module_name(path)
    names = imported(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
    assert violations(module, names) == []


def test_the_check_sees_lazy_relative_and_type_checking_imports() -> None:
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from objectql.resolvers.live import GraphQLRenderer
def later():
    import strawberry
    from ..server import app
"""
    names = imported(source, "objectql.realtime.hub")
    assert violations("objectql.realtime.hub", names) == [
        "objectql.resolvers.live",
        "objectql.resolvers.live.GraphQLRenderer",
        "objectql.server",
        "objectql.server.app",
        "strawberry",
    ]
    assert violations("objectql.engine.core", imported("from objectql.realtime import hub", "objectql.engine.core"))
    assert violations("objectql.resolvers.live", {"objectql.realtime.transports.sse"})
    assert not violations("objectql.resolvers.live", {"objectql.realtime.changes"})
    assert not violations("objectql.realtime.transports.sse", {"objectql.realtime.opening"})
    assert violations("objectql.realtime.hub", {"starlette.requests", "objectql.engine.core"})
    assert violations("objectql.realtime.transports.sse", {"objectql.engine.repository"})
    assert not violations("objectql.realtime.transports.sse", {"starlette.requests"})


def test_no_public_class_or_type_alias_is_defined_twice() -> None:
    """One word, one meaning: a public class or type alias name names one thing in the whole package."""
    defined: dict[str, list[str]] = {}
    for path in MODULES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            name = None
            if isinstance(node, ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                # A type alias: a capitalised name that is not a CONSTANT.
                if isinstance(target, ast.Name) and target.id[:1].isupper() and not target.id.isupper():
                    name = target.id
            if name is not None and not name.startswith("_"):
                defined.setdefault(name, []).append(module_name(path))
    assert {name: modules for name, modules in defined.items() if len(modules) > 1} == {}
