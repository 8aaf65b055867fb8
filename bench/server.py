"""Processes under test: ``tessera serve`` itself, and the bare ceilings beside it.

Tessera runs as the real command (``tessera --config FILE serve``): migrations checked at
start, the production app, uvicorn with the settings ``tessera.cli.cmd_serve`` chooses
(uvloop and httptools when installed, access log at info level, no server header). The bare
Starlette app (``bench.bare_app``) is served by ``uvicorn.run`` with those same settings, so
the ratio between the two is the cost of Tessera's own work and nothing else.

Output of every process goes to a log file in the run's work folder (a terminal would make
logging a benchmark of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (as uvicorn does, with SO_REUSEADDR:
    connections of an earlier run still in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_config(folder: Path, port: int, *, db_file: Path, media_root: Path) -> Path:
    """A configuration for a benchmark instance on ``127.0.0.1:port``.

    ``allow_private_addresses`` lets it fetch actors from and deliver to the loopback peers
    the benchmarks run; the sign-in limits are raised because the driver signs in several
    users from one address (the limiter itself still runs on every sign-in). The instance
    runs as behind a reverse proxy (``trusted_proxy``), so each simulated client can carry
    its own address (see ``bench.reads.client_address``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f"""[instance]
domain = "127.0.0.1:{port}"
scheme = "http"
name = "Tessera benchmark"
registrations = "open"

[server]
host = "127.0.0.1"
port = {port}
secret_key_file = "{folder / "secret.key"}"
login_attempts_per_window = 1000
trusted_proxy = true

[database]
url = "sqlite+aiosqlite:///{db_file}"

[media]
root = "{media_root}"

[federation]
allow_private_addresses = true
"""
    )
    return path


REST_SECONDS = 2.0
"""How long after a load its memory is read: past the server's idle housekeeping
(``web.idle_gc``: a full collection after 0.2 s without requests, freed heap handed back
to the system after 1 s), so a figure is what the load left behind, not what was in use
as its last request was answered."""


@dataclass
class Served:
    """A running server process and what we learnt starting it."""

    name: str
    port: int
    process: asyncio.subprocess.Process
    startup_seconds: float
    log_path: Path
    rss_log: list[tuple[str, int]] = field(default_factory=list)
    at_rest: set[str] = field(default_factory=set)  # labels read REST_SECONDS after a load

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host_header(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss(self) -> int:
        """Resident memory of the server process and any children it started, in bytes."""
        proc = psutil.Process(self.process.pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return int(total)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def note_rss(self, label: str) -> int:
        value = self.rss()
        self.rss_log.append((label, value))
        return value

    async def note_rss_at_rest(self, label: str) -> int:
        """The memory a load leaves behind: read ``REST_SECONDS`` after it, as the idle
        figure is read a second after start-up."""
        await asyncio.sleep(REST_SECONDS)
        self.at_rest.add(label)
        return self.note_rss(label)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _wait_answer(port: int, path: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2.0) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited ({proc.returncode}); see {log}")
            try:
                response = await client.get(f"http://127.0.0.1:{port}{path}")
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.005)
    raise RuntimeError(f"server on port {port} did not answer; see {log}")


async def start_process(
    name: str, argv: list[str], port: int, log_path: Path, *, probe: str = "/"
) -> Served:
    """Start ``argv`` and wait for its first answer; the wait is the start-up time."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=log, stderr=log, cwd=str(ROOT), env=env
    )
    log.close()
    await _wait_answer(port, probe, proc, log_path)
    return Served(name, port, proc, time.perf_counter() - started, log_path)


def tessera_argv(config_path: Path) -> list[str]:
    """The ``tessera serve`` command of this virtual environment."""
    script = Path(sys.executable).with_name("tessera")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "tessera.cli"]
    return [*base, "--config", str(config_path), "serve", "--no-first-admin"]


async def start_tessera(config_path: Path, port: int, log_path: Path) -> Served:
    return await start_process("tessera", tessera_argv(config_path), port, log_path)


async def start_bare(
    port: int, log_path: Path, *, pages: Path | None = None, verify: tuple[Path, Path] | None = None
) -> Served:
    """``bench.bare_app``; with ``verify`` (the peer's keys file, an SQLite file) its inbox
    verifies and stores each delivery (``bench.bare_app.VerifyAndStore``)."""
    argv = [sys.executable, "-m", "bench.bare_app", "--port", str(port)]
    if pages is not None:
        argv += ["--pages", str(pages)]
    if verify is not None:
        argv += ["--keys", str(verify[0]), "--store", str(verify[1])]
    return await start_process("bare", argv, port, log_path, probe="/ping")
