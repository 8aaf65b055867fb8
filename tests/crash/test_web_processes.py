"""``tessera serve --processes 2``: two web processes on one port, as real processes.

Each request here opens a connection of its own, so the kernel spreads them over both
processes (one listening socket each, ``SO_REUSEPORT``); 24 requests all reaching the
same one of two happens once in eight million runs. What is checked is what a user would
notice if the processes kept their caches apart: a change made through one process is
seen through every process at once, an ended session and a revoked token stop working
everywhere at once (not after ``page_cache_seconds``), a web process that dies is started
again, and SIGTERM stops them all.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.crash.instance import (
    ServerProcess,
    eventually,
    make_instance,
    run_cli,
    tessera_cli,
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc (Linux)"
)

TRIES = 24
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_processes(parent: int) -> list[int]:
    """The children of ``parent`` (its web processes), from /proc."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def written(pid: int) -> int:
    """Bytes ``pid`` has written (answers to its sockets, its access log lines)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no wchar for {pid}")


async def answered_by_all(
    pids: list[int], base: str, path: str, **kwargs: object
) -> list[httpx.Response]:
    """``every`` request, checking that each web process answered some of them: what one
    process keeps in its caches is then known to be in all of them."""
    before = {pid: written(pid) for pid in pids}
    responses = await every(base, path, **kwargs)
    idle = [pid for pid in pids if written(pid) == before[pid]]
    assert not idle, f"web processes {idle} answered none of {len(responses)} requests"
    return responses


async def fresh(base: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a connection of its own (a new client each time)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def every(base: str, path: str, **kwargs: object) -> list[httpx.Response]:
    return [await fresh(base, "GET", path, **kwargs) for _ in range(TRIES)]


async def sign_in(base: str) -> tuple[str, str]:
    """Sign alice in through the login form; returns her session and CSRF cookies as a
    Cookie header, and a CSRF token for her forms."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
        token = CSRF_RE.search((await browser.get("/login")).text)
        assert token is not None
        response = await browser.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert response.status_code == 303, response.text
        settings = await browser.get("/settings/apps")
        form = CSRF_RE.search(settings.text)
        assert settings.status_code == 200 and form is not None
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        return cookie, form.group(1)


async def test_two_web_processes_share_one_port_and_one_view_of_writes(tmp_path: Path) -> None:
    folder = make_instance(tmp_path / "instance")
    await tessera_cli(folder, "user", "create", "alice", "--password-stdin", stdin=PASSWORD)
    token = (await tessera_cli(folder, "token", "create", "alice")).split()[-1]
    bearer = {"Authorization": f"Bearer {token}"}
    server = ServerProcess(folder, tmp_path / "serve.log")
    await server.start("--processes", "2")
    base = folder.base_url
    try:
        assert server.process is not None
        parent = server.process.pid
        first = await eventually(lambda: _two(parent), what="two web processes")
        assert len(first) == 2

        # A second server cannot join the port (SO_REUSEPORT would let it split the
        # traffic): it stops with a message, and the first keeps its processes.
        code, _out, err = await run_cli(folder, "serve", "--processes", "2", "--no-first-admin")
        assert code == 1, err
        assert f"tessera: cannot listen on 127.0.0.1:{folder.port}: " in err
        assert "Traceback" not in err
        assert web_processes(parent) == first

        # Every process has the profile page in its cache.
        cookie, csrf = await sign_in(base)
        page = await answered_by_all(first, base, "/@alice")
        assert all(r.status_code == 200 and "Renamed" not in r.text for r in page)

        # A write through one process shows through all of them on the next request.
        renamed = await fresh(
            base,
            "PATCH",
            "/api/v1/accounts/update_credentials",
            headers=bearer,
            data={"display_name": "Renamed Alice"},
        )
        assert renamed.status_code == 200, renamed.text
        pages = await every(base, "/@alice")
        assert all("Renamed Alice" in r.text for r in pages), server.log()[-2000:]

        # Revoking the token's app (a form in one process) stops it in every process,
        # each of which has just resolved it (and keeps it for page_cache_seconds).
        apps = await fresh(base, "GET", "/settings/apps", headers={"Cookie": cookie})
        app_id = re.search(r'action="/settings/apps/(\d+)/revoke"', apps.text)
        assert app_id is not None, apps.text[-2000:]
        path = "/api/v1/accounts/verify_credentials"
        verified = await answered_by_all(first, base, path, headers=bearer)
        assert {r.status_code for r in verified} == {200}
        revoked = await fresh(
            base,
            "POST",
            f"/settings/apps/{app_id.group(1)}/revoke",
            headers={"Cookie": cookie},
            data={"csrf_token": csrf},
        )
        assert revoked.status_code in (200, 303), revoked.text
        after = await every(base, "/api/v1/accounts/verify_credentials", headers=bearer)
        assert {r.status_code for r in after} == {401}

        # Signing out in one process ends the session in every process, each of which
        # has just resolved it.
        home = await answered_by_all(first, base, "/home", headers={"Cookie": cookie})
        assert {r.status_code for r in home} == {200}
        out = await fresh(
            base, "POST", "/logout", headers={"Cookie": cookie}, data={"csrf_token": csrf}
        )
        assert out.status_code == 303
        ended = await every(base, "/home", headers={"Cookie": cookie})
        assert {r.status_code for r in ended} == {303}

        # A web process that dies is started again; the port keeps answering.
        os.kill(first[1], signal.SIGKILL)
        second = await eventually(
            lambda: _replaced(parent, first[1]), what=f"a new web process\n{server.log()}"
        )
        assert len(second) == 2 and first[1] not in second
        answered = await every(base, "/@alice")
        assert {r.status_code for r in answered} == {200}

        # SIGTERM ends every process, after their lifespans.
        process = server.process
        await server.stop()
        assert process.returncode == 0, server.log()[-2000:]
        for pid in second:
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    finally:
        await server.stop()


async def _two(parent: int) -> list[int] | None:
    pids = web_processes(parent)
    return pids if len(pids) == 2 else None


async def _replaced(parent: int, dead: int) -> list[int] | None:
    pids = web_processes(parent)
    return pids if len(pids) == 2 and dead not in pids else None


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_a_web_process_that_keeps_dying_stops_the_server_with_a_failure(
    tmp_path: Path,
) -> None:
    folder = make_instance(tmp_path / "instance")
    server = ServerProcess(folder, tmp_path / "serve.log")
    await server.start("--processes", "2")
    try:
        assert server.process is not None
        parent = server.process.pid
        for _death in range(5):  # the supervisor gives up at the fifth within a minute
            pids = await eventually(lambda: _two(parent), what=f"two processes\n{server.log()}")
            os.kill(pids[0], signal.SIGKILL)
            await eventually(
                lambda dead=pids[0]: _gone(parent, dead), what=f"a death seen\n{server.log()}"
            )
        process = server.process
        async with asyncio.timeout(60):
            await process.wait()
        assert process.returncode == 1, server.log()[-2000:]
        assert "ended within" in server.log()
    finally:
        await server.stop()


async def _gone(parent: int, dead: int) -> bool:
    try:
        return dead not in web_processes(parent)
    except FileNotFoundError:  # the supervisor itself has ended
        return True
