"""Sampling profiles of the running server with py-spy, summarised for the report.

py-spy reads the server's stacks from outside (no code change, ~1% overhead with
``--nonblocking``), so the profile is of the same ``tessera serve`` the figures come from.
Profiles are taken during an extra load run, never during a measured one.

The summary answers "where does the CPU go": samples are attributed by their innermost
frame to a component (SQLAlchemy, Jinja, Starlette, uvicorn, our own packages, ...), and
the functions of our own code are ranked by inclusive share.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
AIOSQLITE_WAIT = ("aiosqlite/core.py", "59")  # ``tx.get()``: the thread waiting for work
COMPONENTS = [
    ("sqlalchemy", "SQLAlchemy (ORM, core, pool)"),
    ("sqlmodel", "SQLModel"),
    ("aiosqlite", "aiosqlite (SQLite calls in its thread)"),
    ("sqlite3", "sqlite3 driver"),
    ("jinja2", "Jinja2 templates"),
    ("markupsafe", "Jinja2 templates"),
    ("starlette", "Starlette"),
    ("uvicorn", "uvicorn (HTTP, logging)"),
    ("httptools", "uvicorn (HTTP, logging)"),
    ("logging", "logging (access log)"),
    ("cryptography", "cryptography (RSA)"),
    ("httpx", "httpx/httpcore (HTTP client)"),
    ("httpcore", "httpx/httpcore (HTTP client)"),
    ("h11", "httpx/httpcore (HTTP client)"),
    ("anyio", "httpx/httpcore (HTTP client)"),
    ("PIL", "Pillow"),
    ("blurhash", "blurhash"),
    ("pydantic", "pydantic (model validation)"),
    ("web/", "Tessera web/"),
    ("services/", "Tessera services/"),
    ("federation/", "Tessera federation/"),
    ("storage/", "Tessera storage/"),
    ("media/", "Tessera media/"),
    ("asyncio", "asyncio / uvloop"),
    ("uvloop", "asyncio / uvloop"),
    ("threading", "threads (waiting)"),
    ("concurrent", "threads (waiting)"),
]
OURS = ("web/", "services/", "federation/", "storage/", "media/")
"""py-spy names files relative to their sys.path entry: ``web/views.py``, ``sqlalchemy/...``."""


def py_spy_path() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def _ours(file: str) -> bool:
    return file.startswith(OURS) and "site-packages" not in file


def component(file: str) -> str:
    for needle, name in COMPONENTS:
        if (
            file.startswith(needle)
            or f"/{needle}" in file
            or (needle in file and "/" not in needle)
        ):
            return name
    return "other (Python runtime, stdlib)"


def parse_collapsed(text: str) -> list[tuple[list[tuple[str, str, str]], int]]:
    """(frames outermost first as (function, file, line), sample count) per stack."""
    stacks = []
    for line in text.splitlines():
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            continue
        frames = []
        for part in head.split(";"):
            match = FRAME.match(part.strip())
            if match:
                frames.append((match["func"], match["file"], match["line"] or ""))
            else:
                frames.append((part.strip(), "", ""))
        stacks.append((frames, int(count)))
    return stacks


def summarise(text: str, *, seconds: float, rate: int, top: int = 12) -> dict[str, Any]:
    """Where the server's CPU went.

    The event loop's thread is what limits a one-process server, so its busy share
    (samples / possible samples) is reported first, then its samples by component of the
    innermost frame. Worker threads (aiosqlite's connection threads, ``to_thread``) are
    counted apart; py-spy samples an aiosqlite thread blocked in ``tx.get()`` as active,
    so those samples are reported as waiting, not work.
    """
    stacks = parse_collapsed(text)
    possible = max(1.0, seconds * rate)
    loop: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    loop_total = 0
    for frames, count in stacks:
        if not frames:
            continue
        _func, file, line = frames[-1]
        in_thread = frames[0][0].startswith("Thread._bootstrap")
        if in_thread:
            waiting = (file, line) == AIOSQLITE_WAIT
            threads["waiting for work" if waiting else component(file)] += count
            continue
        loop_total += count
        loop[component(file)] += count
        seen: set[str] = set()
        for f_func, f_file, _line in frames:
            if _ours(f_file):
                key = f"{f_file}:{f_func}"
                if key not in seen:
                    seen.add(key)
                    ours[key] += count
    share = max(1, loop_total)
    return {
        "samples": loop_total,
        "loop_busy_pct": round(100 * loop_total / possible, 1),
        "components": [(n, round(100 * c / share, 1)) for n, c in loop.most_common()],
        "our_functions": [(n, round(100 * c / share, 1)) for n, c in ours.most_common(top)],
        "threads": [(n, round(100 * c / possible, 1)) for n, c in threads.most_common(6)],
    }


async def profile_pid(pid: int, seconds: float, out: Path, *, rate: int = 250) -> dict[str, Any]:
    """Record ``seconds`` of the process ``pid``; returns the summary (or why there is none)."""
    exe = py_spy_path()
    if exe is None:
        return {"error": "py-spy is not installed (pip install -e '.[bench]')"}
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--nonblocking",
        "--format",
        "raw",
        "-o",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed: {output.decode(errors='replace')[-300:]}"}
    summary = summarise(out.read_text(), seconds=max(1, round(seconds)), rate=rate)
    summary["raw"] = str(out)
    return summary
