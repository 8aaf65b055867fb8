"""Benchmark 5, footprint: start-up time, idle memory, and what load does to memory.

Start-up is measured as an operator sees it: from spawning ``tessera serve`` (on the
seeded 100,000-post database, so the migration check runs against a real file) to the first
answered request. The ceiling is the bare Starlette app started the same way: Python,
uvicorn and Starlette with nothing of ours.

Resident memory is the server process's RSS (psutil). It is read idle after start-up, after
20,000 mixed page requests (the growth target), after a further batch (a leak keeps
growing, a warm-up does not), and after each later load of the run. The growth readings
are taken at rest (``bench.server.REST_SECONDS`` after the load), as the idle one is.
"""

from __future__ import annotations

import asyncio
import statistics

from bench.figures import Figure, Section, ratio
from bench.harness import Run, start
from bench.loadgen import LoadSpec, run_load
from bench.server import REST_SECONDS, free_port, start_bare

MB = 1024 * 1024


async def startup(run: Run, section: Section) -> None:
    """Start Tessera a few times (the last one stays up for the run) and the bare app."""
    repeats = 1 if run.quick else 3
    times = []
    for attempt in range(repeats):
        served = await start(run)
        times.append(served.startup_seconds)
        if attempt < repeats - 1:
            await served.stop()
    bare_times, bare_rss = [], []
    for _ in range(repeats):
        bare = await start_bare(free_port(), run.work / "bare-start.log")
        bare_times.append(bare.startup_seconds)
        await asyncio.sleep(1.0)
        bare_rss.append(bare.rss())
        await bare.stop()
    await asyncio.sleep(1.0)
    server = run.tessera()
    idle = server.note_rss("idle after start-up")
    mine, floor = statistics.median(times), statistics.median(bare_times)
    section.series["startup_seconds"] = {"tessera": times, "bare": bare_times}
    section.add(
        Figure(
            group="Footprint",
            name="Start-up to first answered request",
            tessera=round(mine, 3),
            unit="s",
            ceiling=round(floor, 3),
            ceiling_label="bare Starlette app, same start",
            ratio=ratio(mine, floor),
            target="<= 1 s",
            met=mine <= 1.0,
            note=f"median of {repeats}; includes the migration check on the seeded database",
        )
    )
    section.add(
        Figure(
            group="Footprint",
            name="Resident memory, idle",
            tessera=round(idle / MB, 1),
            unit="MB",
            ceiling=round(statistics.median(bare_rss) / MB, 1),
            ceiling_label="bare Starlette app, idle",
            ratio=ratio(idle, statistics.median(bare_rss)),
            target="<= 100 MB",
            met=idle / MB <= 100,
        )
    )


CACHES_EXPIRED_SECONDS = 7.0
"""After the growth batches, memory is read once more this long after the last request:
past the page and entity caches' 5 seconds (the default ``page_cache_seconds``), when a
quiet server lets what they kept go (``web.idle_gc``). In the note, not the figure."""

SLOW: tuple[str, ...] = ()  # page kinds too slow to make thousands of requests of (none now)


def mixed_requests(reads: dict[str, list[bytes]], count: int) -> list[bytes]:
    """``count`` requests cycling through every page kind and every URL of each (but the
    kinds too slow to make 20,000 requests of in a benchmark run)."""
    kinds = [k for k in reads if k not in SLOW]
    out = []
    index = 0
    while len(out) < count:
        kind = kinds[index % len(kinds)]
        items = reads[kind]
        out.append(items[(index // len(kinds)) % len(items)])
        index += 1
    return out


async def growth(run: Run, section: Section, reads: dict[str, list[bytes]]) -> None:
    server = run.tessera()
    idle = next(v for label, v in server.rss_log if label == "idle after start-up")
    first = int(run.scaled(20_000, 4_000))
    second = int(run.scaled(5_000, 2_000))
    result = await run_load(
        LoadSpec(
            "127.0.0.1",
            run.port,
            mixed_requests(reads, first),
            concurrency=8,
            mode="once",
            label="growth 1",
        )
    )
    at_last_request = server.rss()
    after_first = await server.note_rss_at_rest(f"after {first:,} mixed page requests")
    await run_load(
        LoadSpec(
            "127.0.0.1",
            run.port,
            mixed_requests(reads, second)[::-1],
            concurrency=8,
            mode="once",
            label="growth 2",
        )
    )
    after_second = await server.note_rss_at_rest(f"after {first + second:,} mixed page requests")
    await asyncio.sleep(CACHES_EXPIRED_SECONDS - REST_SECONDS)
    quiet = server.rss()
    grown = (after_first - idle) / idle
    section.series["growth_load"] = {"rps": result.rps, "statuses": result.statuses}
    section.add(
        Figure(
            group="Footprint",
            name=f"Memory growth after {first:,} requests (idle to after)",
            tessera=round(100 * grown, 1),
            unit="%",
            target="<= 10 %",
            met=grown <= 0.10,
            note=(
                f"{idle / MB:.0f} MB idle, {after_first / MB:.0f} MB after "
                f"({at_last_request / MB:.0f} MB as the last request was answered), "
                f"{after_second / MB:.0f} MB after {second:,} more "
                f"({100 * (after_second - after_first) / after_first:+.1f}%: "
                + (
                    "still growing"
                    if after_second > after_first * 1.02
                    else "flat, a warm-up not a leak"
                )
                + f"); {quiet / MB:.0f} MB once the caches' seconds had passed"
            ),
        )
    )


def finish(run: Run, section: Section) -> None:
    """The memory after every load of the run, as figures and as a series for the plot."""
    server = run.tessera()
    idle = server.rss_log[0][1]
    section.series["rss_mb"] = [(label, round(v / MB, 1)) for label, v in server.rss_log]
    for label, value in server.rss_log[1:]:
        if label.startswith("after") and "mixed" not in label:
            section.add(
                Figure(
                    group="Footprint",
                    name=f"Resident memory {label}",
                    tessera=round(value / MB, 1),
                    unit="MB",
                    note=f"{100 * (value - idle) / idle:+.0f}% over idle"
                    + (
                        f"; read {REST_SECONDS:g} s after the load"
                        if label in server.at_rest
                        else ""
                    ),
                )
            )
