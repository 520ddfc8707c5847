"""What a test does when a service or tool it needs is missing: fail in CI, skip elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, reason: str) -> NoReturn:
    """In CI (``CI`` set) a missing ``what`` fails the test, so nothing passes untested; elsewhere it skips."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(reason)  # outside CI only: the line above fails the test in CI
