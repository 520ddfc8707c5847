"""``objectql init``: a small sample app copied from ``templates/app``: two objects, seed data, the users
``objectql serve --dev`` prints tokens for, and a ``.gitignore`` for the server's local state."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

TEMPLATE = files("objectql.server").joinpath("templates", "app")
# Files stored without their leading dot (package data skips hidden files), and the name each is written as.
DOTTED = {"gitignore": ".gitignore"}


class TargetNotEmpty(Exception):
    """The target exists and holds something: scaffolding never overwrites a user's files."""


def scaffold(target: Path) -> list[Path]:
    """Write the sample app into ``target`` (created when missing); returns the files written."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TargetNotEmpty(f"{target} already exists and is not empty; choose a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _copy(TEMPLATE, target, written)
    return sorted(written)


def _copy(source: Traversable, target: Path, written: list[Path]) -> None:
    for entry in source.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        dest = target / DOTTED.get(entry.name, entry.name)
        if entry.is_dir():
            dest.mkdir(exist_ok=True)
            _copy(entry, dest, written)
        else:
            dest.write_bytes(entry.read_bytes())
            written.append(dest)


__all__ = ["TargetNotEmpty", "scaffold"]
