"""The run every benchmark shares: its folders, the seeded instance and helpers to talk to it.

One ``tessera serve`` process serves the whole run (reads, then media, then the inbox, then
fan-out), so the footprint figures can say what its memory does after each load.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.seed import SeedSize, seed_database
from bench.server import Served, free_port, port_is_free, start_tessera, write_config
from storage.db import Database
from storage.migrate import ensure_current

ROOT_DIR = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PREFERRED_PORT = 18731
BROWSER = {
    "Accept": "text/html,application/xhtml+xml",
    # what every browser sends: pages for nobody in particular come back gzipped
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "User-Agent": "tessera-bench",
}
PACKAGES = ("tessera", "web", "federation", "storage", "media", "services")


@dataclass
class Run:
    quick: bool
    work: Path
    seed_size: SeedSize
    port: int = 0
    seed: dict[str, Any] = field(default_factory=dict)
    server: Served | None = None
    config_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def db_file(self) -> Path:
        return self.work / "tessera.db"

    @property
    def media_root(self) -> Path:
        return self.work / "media"

    def scaled(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def tessera(self) -> Served:
        assert self.server is not None, "the Tessera server is not running"
        return self.server


def _cache_folder(size: SeedSize, port: int) -> Path:
    return RESULTS / "cache" / f"seed-{size.key}-port{port}"


def compile_sources() -> None:
    """Write the bytecode of our packages before any server starts.

    A deployment's ``pip install .`` compiles them at install time; the editable install
    the benchmarks run from does not, and where the environment forbids writing bytecode
    (``PYTHONDONTWRITEBYTECODE``, a read-only checkout) every start would compile 25,000
    lines again (~0.15 s of the start-up figure) and measure a first install, not a start.
    """
    for package in PACKAGES:
        compileall.compile_dir(ROOT_DIR / package, quiet=1)


def prepare(quick: bool) -> Run:
    """Make the work folder and put a seeded database in it (cached between runs).

    Ids and URLs in the rows carry the instance's address, so the cache is per port: the
    same port is reused whenever it is free.
    """
    compile_sources()
    size = SeedSize(200, 10_000, 50) if quick else SeedSize()
    port = PREFERRED_PORT if port_is_free(PREFERRED_PORT) else free_port()
    for old in RESULTS.glob("work-*"):  # earlier runs' folders, unless that run is still going
        pid = old.name.removeprefix("work-")
        if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
            shutil.rmtree(old, ignore_errors=True)
    work = RESULTS / f"work-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run = Run(quick=quick, work=work, seed_size=size, port=port)
    cache = _cache_folder(size, port)
    info_file = cache / "seed.json"
    if not info_file.exists():
        started = time.perf_counter()
        print(f"seeding {size.key} (once; cached in {cache}) ...", flush=True)
        info = seed_database(cache / "tessera.db", cache / "media", run.base, size)
        info["seconds"] = round(time.perf_counter() - started, 1)
        info_file.write_text(json.dumps(info))
    run.seed = json.loads(info_file.read_text())
    asyncio.run(_migrate(cache / "tessera.db"))
    shutil.copy(cache / "tessera.db", run.db_file)
    shutil.copytree(cache / "media", run.media_root)
    run.config_path = write_config(work, port, db_file=run.db_file, media_root=run.media_root)
    return run


async def _migrate(db_file: Path) -> None:
    """Bring a cached seed up to the current schema before it is copied, so that the
    start-up figure measures a start (with its migration check), not a one-time upgrade
    of 100,000 rows made by an older schema."""
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        await ensure_current(db)
    finally:
        await db.dispose()


async def start(run: Run) -> Served:
    assert run.config_path is not None
    run.server = await start_tessera(run.config_path, run.port, run.work / "tessera.log")
    return run.server


def client(run: Run, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=run.base, timeout=60, headers=BROWSER, **kw)


async def csrf_token(browser: httpx.AsyncClient, path: str) -> str:
    response = await browser.get(path)
    match = CSRF_RE.search(response.text)
    if not match:
        raise RuntimeError(f"no CSRF token on {path} ({response.status_code})")
    return match.group(1)


async def signed_in(run: Run, username: str) -> httpx.AsyncClient:
    """A browser signed in as ``username`` through the real ``/login`` form."""
    browser = client(run)
    token = await csrf_token(browser, "/login")
    response = await browser.post(
        "/login",
        data={"username": username, "password": run.seed["password"], "csrf_token": token},
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in of {username} failed: {response.status_code}")
    return browser


def cookie_header(browser: httpx.AsyncClient) -> str:
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
