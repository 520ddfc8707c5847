"""The package as users get it: build the sdist and, from it, the wheel; install the wheel into a fresh
virtualenv outside the checkout; serve the example from there and load the playground in Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.browser.test_playground_browser import (
    ROOT,
    SECRET,
    SHOP,
    Offline,
    browser,
    bundle,
    chromium,
    offline,
    open_playground,
    server_at,
)

__all__ = ["browser", "bundle", "chromium", "offline"]  # fixtures used below
INSTALL_TIMEOUT = 900.0  # a bound on a hung install, not a performance expectation


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_installed_wheel_serves_the_example_with_its_playground(
    tmp_path: Path, bundle: Path, offline: Offline
) -> None:
    dist = tmp_path / "dist"
    # `python -m build` makes the sdist, then the wheel from the unpacked sdist (not from the checkout).
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=tmp_path)
    (sdist,) = dist.glob("objectql-*.tar.gz")
    (wheel,) = dist.glob("objectql-*.whl")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(n.endswith("objectql/server/playground_bundle/manifest.json") for n in names)
    assert any(n.endswith("playground/package-lock.json") for n in names)
    assert not any("node_modules" in n for n in names)
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = archive.namelist()
    assert "objectql/server/playground_bundle/manifest.json" in wheel_names
    assert any(n.endswith("licenses/LICENSE") for n in wheel_names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path)
    # Imported from the new environment, not from this checkout.
    where = run([str(venv / "bin" / "python"), "-c", "import objectql; print(objectql.__file__)"], cwd=tmp_path)
    assert where.strip().startswith(str(venv)), where
    assert "serve" in run([str(venv / "bin" / "python"), "-m", "objectql", "--help"], cwd=tmp_path)

    app = tmp_path / "shop"
    shutil.copytree(SHOP, app, ignore=shutil.ignore_patterns("*.db*"))
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}, [str(venv / "bin" / "objectql")], app) as server:
        page = open_playground(offline, server.base)
        page.click('button[aria-label="Show Documentation Explorer"]')
        page.wait_for_selector(".graphiql-doc-explorer-root-type >> text=Subscription", timeout=15_000)
        offline.assert_stayed_local()
