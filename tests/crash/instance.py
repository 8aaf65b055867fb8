"""A Tessera instance folder run by the real ``tessera`` command in child processes.

The crash tests need a server they can kill with SIGKILL, so it cannot live in the test's
own process: :class:`ServerProcess` runs ``python -m tessera.cli --config … serve`` and
kills or stops it. Its output goes to a log file (a pipe nobody reads would fill up and
block the server), shown in failure messages. The test reads the same SQLite file
through ``storage`` to see the queue as the server left it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import httpx
from sqlmodel import col, select

from storage.db import Database
from storage.federation_models import Delivery, OutboxActivity

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class InstanceFolder:
    """A folder holding ``config.toml``; the data (database, media, key) go to ./data."""

    root: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / 'data' / 'tessera.db'}"


def make_instance(root: Path) -> InstanceFolder:
    root.mkdir(parents=True, exist_ok=True)
    folder = InstanceFolder(root, free_port())
    folder.config_file.write_text(
        "[instance]\n"
        f'domain = "127.0.0.1:{folder.port}"\n'
        'scheme = "http"\n'
        'registrations = "closed"\n'
        "[server]\n"
        'host = "127.0.0.1"\n'
        f"port = {folder.port}\n"
        "[federation]\n"
        "allow_private_addresses = true\n",
        encoding="utf-8",
    )
    return folder


def _command(folder: InstanceFolder, *args: str) -> list[str]:
    return [sys.executable, "-m", "tessera.cli", "--config", str(folder.config_file), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


async def tessera_cli(folder: InstanceFolder, *args: str, stdin: str = "") -> str:
    """Run one ``tessera`` command to completion; returns its output, fails on an error."""
    code, out, err = await run_cli(folder, *args, stdin=stdin)
    assert code == 0, f"tessera {' '.join(args)}: {err}"
    return out


async def run_cli(
    folder: InstanceFolder, *args: str, stdin: str = ""
) -> tuple[int | None, str, str]:
    """Run one ``tessera`` command to completion: its exit code, output and errors."""
    process = await asyncio.create_subprocess_exec(
        *_command(folder, *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=folder.root,
        env=_env(),
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate(stdin.encode())
    return process.returncode, out.decode(), err.decode()


class ServerProcess:
    """``tessera serve`` on the folder's port, as a child process."""

    def __init__(self, folder: InstanceFolder, log_path: Path) -> None:
        self.folder = folder
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, *args: str, deadline: float = 60.0) -> None:
        """Start the server (``args`` added to ``serve``) and wait until it answers HTTP."""
        assert self.process is None, "already running"
        self._log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *_command(self.folder, "serve", "--no-first-admin", *args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.folder.root,
            env=_env(),
        )
        process = self.process

        async def answers() -> bool:
            assert process.returncode is None, f"tessera serve exited:\n{self.log()}"
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.get(f"{self.folder.base_url}/.well-known/nodeinfo")
            except httpx.TransportError:
                return False
            return response.status_code == 200

        await eventually(answers, deadline=deadline, what=lambda: f"server start\n{self.log()}")

    async def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no cleanup, open transactions lost."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if it does not exit in time (used at the end of tests)."""
        await self._end(signal.SIGTERM)

    async def _end(self, signum: int) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.send_signal(signum)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    deadline: float = 60.0,
    what: Callable[[], str] | str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; a generous limit, not a timing
    assertion (the processes and peers work in the background)."""
    try:
        async with asyncio.timeout(deadline):
            while not (value := await check()):
                await asyncio.sleep(0.05)
            return value
    except TimeoutError:
        message = what() if callable(what) else what
        raise AssertionError(f"not reached within {deadline} s: {message}") from None


@dataclass(frozen=True)
class QueueRow:
    """One ``delivery`` row as the test sees it, keyed like the peers' arrivals."""

    id: int
    activity_id: str
    activity_type: str
    inbox_url: str
    state: str
    locked: bool
    attempts: int

    @property
    def pair(self) -> tuple[str, str]:
        return (self.activity_id, self.inbox_url)


async def queue(db: Database) -> list[QueueRow]:
    async with db.session() as session:
        result = await session.exec(
            select(Delivery, OutboxActivity.ap_id, OutboxActivity.activity_type)
            .join(OutboxActivity, col(OutboxActivity.id) == col(Delivery.activity_id))
            .order_by(col(Delivery.id))
        )
        return [
            QueueRow(
                d.id, ap_id, kind, d.inbox_url, d.state, d.locked_until is not None, d.attempts
            )
            for d, ap_id, kind in result.all()
        ]
