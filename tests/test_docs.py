"""Claims in docs/ that can be checked cheaply: every command and flag of the CLI is in docs/cli.md, every
OBJECTQL_* variable the docs name is a real setting, and every relative link between pages resolves."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from objectql.server.cli import build_parser
from objectql.server.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]
# Variables the tests themselves read; not settings of the server.
NOT_SETTINGS = {"OBJECTQL_TEST_POSTGRES_URL", "OBJECTQL_APP_DIR"}


def commands() -> dict[str, list[str]]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        name: [o for action in cmd._actions for o in action.option_strings if o not in ("-h", "--help")]
        for name, cmd in sub.choices.items()
    }


def test_every_command_has_its_section_and_every_flag_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, flags in commands().items():
        assert re.search(rf"^## `objectql {name}\b", text, re.MULTILINE), f"docs/cli.md has no section for {name}"
        for flag in flags:
            mentioned = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
            assert mentioned, f"docs/cli.md does not mention {name} {flag}"


def test_every_variable_the_docs_name_is_a_setting() -> None:
    known = {s.env for s in SETTINGS} | NOT_SETTINGS
    for page in DOCS:
        # A name followed by "_*" is a family (OBJECTQL_JWT_*), not a setting.
        named = set(re.findall(r"OBJECTQL_[A-Z_]*[A-Z](?![A-Z_*])", page.read_text(encoding="utf-8")))
        assert named <= known, f"{page.relative_to(ROOT)} names unknown settings: {sorted(named - known)}"


def test_every_relative_link_resolves() -> None:
    for page in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"


def test_the_readmes_two_commands_say_what_they_need() -> None:
    """`make serve` and `make test` create a virtualenv with the Python of pyproject.toml and build the playground
    with npm, whose build script runs on the Node.js of playground/package.json: the README says so by them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    python = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    node = json.loads((ROOT / "playground" / "package.json").read_text(encoding="utf-8"))["engines"]["node"]
    assert python is not None and node.startswith(">=")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^serve: .*\bplayground\b", makefile, re.MULTILINE)
    assert re.search(r"^test: .*\bplayground\b", makefile, re.MULTILINE)
    for needed in (f"Python {python[1]}", f"Node.js {node[2:]}", "npm"):
        assert needed in section, f"README.md's two commands do not say they need {needed}"
