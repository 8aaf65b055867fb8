"""The inbox queue seen from outside the server: backlog over time, processing rate from
the rows' own ``processed_at`` times, and the bare SQLite commit rate beside them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any


def sqlite_commit_rate(folder: Any, seconds: float = 1.0) -> float:
    """Single-row INSERT + COMMIT per second with the app's pragmas: the floor cost of one
    transaction per activity on this disk and core."""
    path = folder / "commit-rate.db"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (payload) VALUES (?)", ("x" * 600,))
            conn.execute("COMMIT")
            count += 1
        rate = count / (time.perf_counter() - started)
    for suffix in ("", "-wal", "-shm"):
        (folder / f"commit-rate.db{suffix}").unlink(missing_ok=True)
    return round(rate, 1)


def backlog(db_file: Any) -> dict[str, int]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        rows = conn.execute("SELECT state, count(*) FROM inbox_item GROUP BY state").fetchall()
    return {state: count for state, count in rows}


def _moment(text: str) -> float:
    return datetime.fromisoformat(text[:26]).replace(tzinfo=UTC).timestamp()


def processing_rate(db_file: Any) -> dict[str, Any]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        rows = conn.execute(
            "SELECT processed_at FROM inbox_item WHERE processed_at IS NOT NULL"
        ).fetchall()
        states = dict(
            conn.execute("SELECT state, count(*) FROM inbox_item GROUP BY state").fetchall()
        )
        errors = conn.execute(
            "SELECT last_error, count(*) FROM inbox_item WHERE last_error IS NOT NULL "
            "GROUP BY last_error ORDER BY 2 DESC LIMIT 3"
        ).fetchall()
    moments = sorted(_moment(r[0]) for r in rows)
    span = (moments[-1] - moments[0]) if len(moments) > 1 else 0.0
    return {
        "processed": len(moments),
        "seconds": round(span, 3),
        "per_s": round(len(moments) / span, 1) if span else None,
        "states": states,
        "errors": errors,
    }


def drained_since(db_file: Any, since: float) -> tuple[int, float]:
    """Rows processed at or after ``since`` (epoch seconds) and the seconds from ``since``
    to the last of them, from the rows' own ``processed_at``: a drain that ends between
    two samples of the backlog is timed to the row, not to the sampler's 0.25 s."""
    with sqlite3.connect(db_file, timeout=10) as conn:
        rows = conn.execute(
            "SELECT processed_at FROM inbox_item WHERE processed_at IS NOT NULL"
        ).fetchall()
    moments = [m for m in (_moment(r[0]) for r in rows) if m >= since]
    return len(moments), (max(moments) - since) if moments else 0.0


class Sampler:
    """Backlog over time, read from the database file beside the server."""

    def __init__(self, db_file: Any) -> None:
        self.db_file = db_file
        self.points: list[tuple[float, int, int]] = []  # (t, pending, processed)
        self.started = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            counts = await asyncio.to_thread(backlog, self.db_file)
            pending = counts.get("pending", 0)
            done = sum(v for k, v in counts.items() if k != "pending")
            self.points.append((round(time.perf_counter() - self.started, 2), pending, done))
            await asyncio.sleep(0.25)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def pending(self) -> int:
        return self.points[-1][1] if self.points else 0

    def processed(self) -> int:
        return self.points[-1][2] if self.points else 0
