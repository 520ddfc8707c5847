"""The benchmark suite (``bench/``) stays importable and every command it documents reads its options.

No benchmark runs here: performance is measured by hand (docs/benchmarks.md), never timed in tests.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import runpy
import sys
from pathlib import Path

import pytest
from uvicorn.importer import import_from_string

import bench
from bench.servers.objectql_app import WORKER_APP
from bench.servers.process import MODULES

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The packages of the suite by role, each importing only those before it (bench/__init__.py); the top-level
# modules are the commands and may import anything.
LAYERS = ["common", "servers", "load", "runs", "report", "scenarios"]
# What users run (docs/benchmarks.md), then the servers the benchmarks start as subprocesses.
COMMANDS = [
    "bench.fanout",
    "bench.graphql_fanout",
    "bench.live_views",
    "bench.write_throughput",
    "bench.aggregate_groups",
    "bench.unaffected_groups",
    "bench.related_fanout",
    *sorted(MODULES.values()),
]
BENCH_MODULES = sorted(info.name for info in pkgutil.walk_packages(bench.__path__, "bench."))


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_every_bench_module_imports(name: str) -> None:
    importlib.import_module(name)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_prints_its_help(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As ``python -m <name> --help`` runs it: the module as ``__main__``, not the already imported one.
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    assert exited.value.code == 0
    assert f"usage: python -m {name}" in capsys.readouterr().out


def test_every_bench_command_the_docs_give_is_checked() -> None:
    texts = [(ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "Makefile")]
    texts += [page.read_text(encoding="utf-8") for page in sorted((ROOT / "docs").glob("*.md"))]
    documented = {found for text in texts for found in re.findall(r"python -m (bench(?:\.\w+)+)", text)}
    assert documented, "docs/benchmarks.md names no bench command"
    assert documented <= set(COMMANDS)


def test_the_worker_app_of_a_multi_worker_server_resolves() -> None:
    assert callable(import_from_string(WORKER_APP))


def imported(path: Path) -> set[str]:
    """The bench modules ``path`` imports, also inside functions and ``TYPE_CHECKING`` blocks."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("bench.")}


@pytest.mark.parametrize("layer", LAYERS)
def test_each_bench_package_imports_only_the_ones_before_it(layer: str) -> None:
    allowed = LAYERS[: LAYERS.index(layer) + 1]
    for path in sorted((BENCH / layer).glob("*.py")):
        for name in imported(path):
            part = name.split(".")[1]
            assert part in allowed, f"bench/{layer}/{path.name} imports {name}"
