"""The ``objectql`` command, run in-process: check, init, and serve's refusals before it starts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from objectql.metadata.registry import Registry
from objectql.server.cli import main
from objectql.server.development import DevUser, dev_users
from objectql.server.settings import SETTINGS
from tests.conftest import write_objects
from tests.unavailable import unavailable

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OBJECTQL_* variables must not change what these tests see."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


# -- check -------------------------------------------------------------------------------------------


def test_check_prints_one_line_per_object_with_its_field_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SHOP)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["customers: 7 fields", "lines: 4 fields", "orders: 8 fields", "products: 7 fields"]
    assert out[4].startswith("seed.yml: ")
    assert out[5] == "presence.yml: 3 channel patterns"


def test_check_of_a_broken_definition_exits_1_naming_file_and_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_dir = write_objects(tmp_path, {"boxes": "fields:\n  size: {type: huge}\n"})
    assert main(["check", str(app_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{app_dir / 'objects' / 'boxes.object.yml'}: fields.size.type: ")


def test_check_reports_a_broken_row_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = """
        fields:
          owner: {type: text}
        permissions:
          rows:
            - roles: [sales]
              filters: [["ownr", "=", "$user.id"]]
    """
    app_dir = write_objects(tmp_path, {"notes": body})
    assert main(["check", str(app_dir)]) == 1
    assert "permissions.rows[0].filters" in capsys.readouterr().err


def test_check_reports_a_broken_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_dir = write_objects(tmp_path, {"notes": "fields:\n  title: {type: text}\n"})
    (app_dir / "seed.yml").write_text("notes:\n  - {titel: Hello}\n", encoding="utf-8")
    assert main(["check", str(app_dir)]) == 1
    assert capsys.readouterr().err.startswith(f"{app_dir / 'seed.yml'}: notes[0].titel: ")


def test_check_applies_the_text_bound_to_seed_records_as_the_server_will(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir = write_objects(tmp_path, {"notes": "fields:\n  title: {type: text}\n"})
    (app_dir / "seed.yml").write_text(f"notes:\n  - {{title: {'x' * 70_000}}}\n", encoding="utf-8")
    assert main(["check", str(app_dir)]) == 1
    assert capsys.readouterr().err.startswith(f"{app_dir / 'seed.yml'}: notes[0]: a valid record: ")
    monkeypatch.setenv("OBJECTQL_MAX_TEXT_LENGTH", "70000")
    assert main(["check", str(app_dir)]) == 0
    monkeypatch.setenv("OBJECTQL_MAX_TEXT_LENGTH", "0")
    assert main(["check", str(app_dir)]) == 2
    assert "setting max_text_length: must be at least 1" in capsys.readouterr().err


def test_check_of_a_directory_without_objects_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 1
    assert "object.yml" in capsys.readouterr().err


# -- init --------------------------------------------------------------------------------------------


def test_init_scaffolds_an_app_that_check_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "myapp"
    assert main(["init", str(target)]) == 0
    assert (target / "seed.yml").is_file()
    assert sorted(p.name for p in (target / "objects").iterdir()) == [
        "projects.object.yml",
        "tasks.object.yml",
    ]
    capsys.readouterr()
    assert main(["check", str(target)]) == 0
    out = capsys.readouterr().out
    assert "projects: " in out and "tasks: " in out


def test_init_writes_development_users_and_ignores_the_servers_local_state(tmp_path: Path) -> None:
    target = tmp_path / "myapp"
    assert main(["init", str(target)]) == 0
    registry = Registry.from_directory(target)
    assert [user.sub for user in dev_users(target, registry)] == ["admin", "sam", "kim"]
    if shutil.which("git") is None:
        unavailable("git", "git is not installed")
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    local_state = [".objectql/dev-key", ".objectql/dev-tokens", "objectql.db", "objectql.db-wal"]
    ignored = subprocess.run(
        ["git", "check-ignore", *local_state], cwd=target, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == local_state
    tracked = subprocess.run(["git", "check-ignore", "dev-users.yml", "seed.yml"], cwd=target, check=False)
    assert tracked.returncode == 1  # nothing of the app itself is ignored


def test_without_dev_users_there_is_an_admin_with_every_role_and_one_user_per_role(tmp_path: Path) -> None:
    app_dir = write_objects(
        tmp_path,
        {
            "notes": "fields:\n  text: {type: text}\npermissions:\n  read: [editor, auditor]\n  create: [editor]\n"
            "  rows:\n    - roles: [editor]\n      filters: [['created_by', '=', '$user.id']]\n",
            "boxes": "fields:\n  size: {type: text}\npermissions:\n  read: [admin]\n",
        },
    )
    users = dev_users(app_dir, Registry.from_directory(app_dir))
    assert [(u.sub, u.roles) for u in users] == [
        ("admin", ("admin", "auditor", "editor")),
        ("auditor", ("auditor",)),
        ("editor", ("editor",)),
    ]
    open_app = write_objects(tmp_path / "open", {"notes": "fields:\n  text: {type: text}\n"})
    assert dev_users(open_app, Registry.from_directory(open_app)) == [DevUser("admin", ())]


def test_init_into_an_empty_directory_is_allowed(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path)]) == 0


def test_init_refuses_a_non_empty_directory_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# -- serve (refusals only; the real server runs in test_serve.py) ------------------------------------


def test_serve_refuses_several_workers_with_the_memory_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(SHOP), "--workers", "2", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    err = capsys.readouterr().err
    assert "workers" in err and "shared broker" in err
    assert "redis://" in err and "postgresql://" in err
    assert not (tmp_path / "x.db").exists()


def test_serve_refuses_several_workers_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OBJECTQL_WORKERS", "4")
    assert main(["serve", str(SHOP)]) == 2
    assert "shared broker" in capsys.readouterr().err


def test_serve_with_a_bad_port_names_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(SHOP), "--port", "abc"]) == 2
    err = capsys.readouterr().err
    assert "setting port" in err and "--port" in err


def test_serve_refuses_a_broken_app_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_dir = write_objects(tmp_path, {"boxes": "fields:\n  size: {type: huge}\n"})
    assert main(["serve", str(app_dir)]) == 1
    assert "fields.size.type" in capsys.readouterr().err


def test_serve_flags_come_from_the_settings_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = capsys.readouterr().out
    for setting in SETTINGS:
        if setting.flag:
            assert setting.flag in help_text
            assert setting.env in help_text
