"""Packaging hooks: the wheel and the sdist carry the built GraphiQL playground.

The bundle is built from the pinned, integrity-checked ``playground/package-lock.json`` (``npm ci``, then
``npm run build``) into ``objectql/server/playground_bundle/`` when it is missing or older than its sources,
and is then package data like any other. An sdist carries the bundle too, so building a wheel from it
needs no Node.js. The bundle is never committed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
SOURCES = ROOT / "playground"
BUNDLE = ROOT / "objectql" / "server" / "playground_bundle"
MANIFEST = BUNDLE / "manifest.json"


def _newest_source() -> float:
    files = [SOURCES / "package.json", SOURCES / "package-lock.json", SOURCES / "build.mjs"]
    files += [p for p in (SOURCES / "src").rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def ensure_playground() -> None:
    """Build the playground bundle unless an up-to-date one is there (or there are no sources: an sdist)."""
    if (ROOT / "PKG-INFO").is_file() and MANIFEST.is_file():
        return  # an unpacked sdist: it carries the bundle built with it
    if not (SOURCES / "package-lock.json").is_file():
        raise SystemExit("no playground bundle and no playground/ sources to build it from")
    if MANIFEST.is_file() and MANIFEST.stat().st_mtime >= _newest_source():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building objectql needs npm (Node.js 20+) to bundle the GraphQL playground")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SOURCES, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=SOURCES, check=True)


class BuildPy(build_py):
    def run(self) -> None:
        ensure_playground()
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        ensure_playground()
        super().run()


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
