"""The same flows on PostgreSQL: a throwaway cluster for the session, a fresh database
per test (a copy of one migrated template, as the SQLite tests copy a migrated file).

Tessera promises to scale out on PostgreSQL, so the dialect-specific paths (``ON CONFLICT``,
``FOR UPDATE SKIP LOCKED``, 64-bit ids, typed parameters under asyncpg) must run somewhere.
The cluster is started from the PostgreSQL server programs on this machine (Debian's
``postgresql`` package; ``initdb`` will not run as root, so as root they run as the
``postgres`` account). Without them the tests skip with the reason; CI installs the
package and sets ``TESSERA_REQUIRE_POSTGRES=1``, which turns that skip into a failure.
Nothing listens beyond 127.0.0.1, durability is off (a test database is thrown away), and
the cluster is stopped when the session ends.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database
from storage.migrate import upgrade
from tessera.config import Config
from tests.conftest import make_config

REQUIRE = "TESSERA_REQUIRE_POSTGRES"


def _server_programs() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "initdb").exists():
            return folder
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason}; {REQUIRE}=1 makes PostgreSQL required")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    port: int
    user: str = "tessera"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    async def admin(self, statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=self.user, database="postgres"
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _unavailable("asyncpg is not installed")
    programs = _server_programs()
    if programs is None:
        _unavailable("no PostgreSQL server programs (initdb, pg_ctl) on this machine")
        raise AssertionError("unreachable")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root; pytest's own folders are root's alone
        as_user = ["runuser", "-u", "postgres", "--"]
        root = Path(tempfile.mkdtemp(prefix="tessera-postgres-"))
        root.chmod(0o755)
        shutil.chown(root, "postgres")
    else:
        root = tmp_path_factory.mktemp("postgres")
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if as_user:
        shutil.chown(sockets, "postgres")
    port = _free_port()
    subprocess.run(
        [
            *as_user,
            *(str(programs / "initdb"), "-D", str(data), "-U", "tessera"),
            *("--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"),
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=200"
    )
    log = root / "server.log"
    started = subprocess.run(
        [
            *as_user,
            *(str(programs / "pg_ctl"), "-D", str(data), "-o", options),
            *("-l", str(log), "-w", "-t", "60", "start"),
        ],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log.read_text()}")
    try:
        yield Cluster(port)
    finally:
        subprocess.run(
            [*as_user, str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        if as_user:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_cluster: Cluster) -> str:
    """A database migrated to the newest schema, copied for each test."""

    async def go() -> None:
        await pg_cluster.admin("CREATE DATABASE tessera_template")
        db = Database(pg_cluster.url("tessera_template"))
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(go())
    return "tessera_template"


_numbers = itertools.count(1)


@pytest.fixture
def config(
    tmp_path: Path, pg_cluster: Cluster, pg_template: str, config_overrides: dict[str, Any]
) -> Iterator[Config]:
    """As the SQLite suite's ``config``, on a database of its own."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    asyncio.run(pg_cluster.admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    overrides = dict(config_overrides)
    overrides["database"] = {**overrides.get("database", {}), "url": pg_cluster.url(name)}
    try:
        yield make_config(tmp_path, **overrides)
    finally:  # after the services that used it have closed (they depend on this fixture)
        asyncio.run(pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(autouse=True)
def _on_postgresql(request: pytest.FixtureRequest) -> None:
    """Every test here that builds the application builds it on PostgreSQL (a test whose
    fixtures fell back to the SQLite ``config`` would prove nothing about this dialect)."""
    if "config" in request.fixturenames:
        url = request.getfixturevalue("config").database.url
        assert url.startswith("postgresql+asyncpg://"), url
