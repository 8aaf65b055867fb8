"""Configuration: defaults that work, and one clear line for each kind of mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.config import load_config
from tessera.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.instance.domain == "localhost:8000"
    assert config.instance.scheme == "http"
    assert config.media.root == tmp_path / "data" / "media"
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tessera.db'}"
    assert config.media.max_pixels == 33_177_600
    assert config.federation.allow_private_addresses is False


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    path = write(tmp_path, "[media]\nroot = 'srv/media'\n")
    config = load_config(path, env={})
    assert config.media.root == tmp_path / "srv" / "media"


def test_env_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[instance]\ndomain = 'art.example'\nscheme = 'https'\n")
    config = load_config(env={"TESSERA_CONFIG": str(path)})
    assert config.base_url == "https://art.example"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[instance]\ndomian = 'x'\n", "instance.domian: unknown key"),
        ("[server]\nport = 'eighty'\n", "server.port: expected a whole number"),
        ("[instance]\nregistrations = 'sometimes'\n", "instance.registrations: must be one of"),
        (
            "[media]\nroot = '/no/such/folder/media'\n",
            "media.root: folder /no/such/folder does not exist",
        ),
        (
            "[federation]\nallow_private_addresses = 'yes'\n",
            "federation.allow_private_addresses: expected true or false",
        ),
        ("[databse]\nurl = 'x'\n", "databse: unknown section"),
        ("[database]\nurl = 'mysql://x'\n", "database.url: must start with"),
        ("not toml at all [", "not valid TOML"),
        ("[server]\npage_cache_seconds = -1\n", "server.page_cache_seconds: must not be negative"),
        (
            "[federation]\ndelivery_concurrency = 0\n",
            "federation.delivery_concurrency: must be between 1 and 1000",
        ),
        ("[server]\nprocesses = 0\n", "server.processes: must be between 1 and 32, got 0"),
        (
            "[server]\nprocesses = 2\n[database]\nurl = 'sqlite+aiosqlite:///:memory:'\n",
            "server.processes: several web processes need a database file",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert message in info.value.public


def test_cli_reports_one_line_and_exit_code(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 'eighty'\n")
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "tessera: server.port: expected a whole number, got 'eighty'"
    assert "Traceback" not in result.stderr


def test_check_config_ok(tmp_path: Path) -> None:
    path = write(tmp_path, "[instance]\ndomain = 'art.example'\n")
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout and "http://art.example" in result.stdout


def test_serve_refuses_a_bad_process_count_before_touching_anything(tmp_path: Path) -> None:
    path = write(tmp_path, "[instance]\ndomain = 'art.example'\n")
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli", "--config", str(path), "serve", "--processes", "33"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "tessera: --processes: must be between 1 and 32, got 33"
    assert not (tmp_path / "data").exists()


def test_several_processes_need_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork")  # as on Windows
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[server]\nprocesses = 2\n"), env={})
    assert "server.processes: several web processes need fork()" in info.value.public
    assert load_config(write(tmp_path, "[server]\nprocesses = 1\n"), env={}).server.processes == 1
