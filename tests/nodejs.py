"""Node.js for tests that drive npm clients: the ``node`` executable, with a folder's packages installed.

When node or npm is missing (or too old) the test fails in CI (``CI`` set) and is skipped elsewhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unavailable import unavailable

NODE_MAJOR = 20
INSTALL_TIMEOUT = 300.0


def _installed(folder: Path) -> bool:
    dependencies = json.loads((folder / "package.json").read_text(encoding="utf-8"))["dependencies"]
    return all((folder / "node_modules" / name / "package.json").is_file() for name in dependencies)


def node_with_packages(folder: Path) -> str:
    """``node``'s path, after ``npm ci`` in ``folder`` when any of its dependencies is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("Node.js", "node or npm is not installed")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < NODE_MAJOR:
        unavailable("Node.js", f"Node.js {version.strip()} is older than {NODE_MAJOR}")
    if not _installed(folder):
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in {folder}:\n{result.stderr[-2000:]}")
    return node
