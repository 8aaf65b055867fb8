"""``tessera check-config`` shows the database it would use, never its password.

Its output ends up in terminals, support threads and CI logs; the password in a
PostgreSQL URL (or passed as a query parameter) must not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import redacted_url


def check_config(tmp_path: Path, database_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"[database]\nurl = '{database_url}'\n")
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_password_is_not_printed(tmp_path: Path) -> None:
    out = check_config(tmp_path, "postgresql+asyncpg://tessera:Hunter2-s3cret@db.internal/gallery")
    assert "Hunter2-s3cret" not in out
    assert "database: postgresql+asyncpg://tessera:***@db.internal/gallery" in out


def test_a_password_query_parameter_is_not_printed(tmp_path: Path) -> None:
    out = check_config(tmp_path, "postgresql+asyncpg://tessera@db/gallery?password=Hunter2-s3cret")
    assert "Hunter2-s3cret" not in out
    assert "password=redacted" in out


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////srv/tessera/data/tessera.db",
        "sqlite+aiosqlite:///:memory:",
        "postgresql+asyncpg://tessera@db.internal:5433/gallery",
    ],
)
def test_urls_without_secrets_are_shown_as_written(url: str) -> None:
    assert redacted_url(url) == url


def test_an_unparseable_url_is_not_echoed() -> None:
    assert redacted_url("postgresql+asyncpg://u:Hunter2@[::1") == "<unparseable database URL>"
