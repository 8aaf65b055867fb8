"""Benchmark 4, reads: the pages people open, at 100,000 posts, against a bare server.

Each page kind is requested through a list of different real URLs (cursor pages of the
gallery, 100 profiles, 50 hashtags, ~450 post pages, the home pages of 8 signed-in users).
Anonymous requests carry a CSRF cookie like a returning browser, and are answered from the
anonymous page cache (``web.page_cache``) once a URL was rendered in the last few seconds,
as they would be in production. The same gallery and profile URLs are also requested
signed in (a real session cookie), which the cache never answers: those rows are the
rendering path itself.

The ceiling is ``bench.bare_app`` answering the very bytes Tessera answered for that page
kind, from memory, on the same uvicorn settings: the HTTP floor for a response of that
size. Throughput and latency are taken at 1, 8 and 32 requests in flight.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from pathlib import Path
from typing import Any

from bench.bare_app import GZIPPED_SUFFIX
from bench.figures import Figure, Section, ratio
from bench.harness import BROWSER, Run, client, cookie_header, signed_in
from bench.loadgen import LoadResult, LoadSpec, build_request, run_load
from bench.profiling import profile_pid
from bench.server import free_port, start_bare, start_process, tessera_argv

LEVELS = (1, 8, 32)
KINDS = (
    "gallery",
    "gallery_signed_in",
    "profile",
    "profile_signed_in",
    "tag",
    "post",
    "home",
    "api_home",
    "api_public",
)
SIGNED_IN = ("home", "gallery_signed_in", "profile_signed_in")
TITLES = {
    "gallery": "Gallery page (HTML)",
    "gallery_signed_in": "Gallery page (HTML, signed in: rendered, never cached)",
    "profile": "Profile grid (HTML)",
    "profile_signed_in": "Profile grid (HTML, signed in: rendered, never cached)",
    "tag": "Hashtag page (HTML)",
    "post": "Public post page (HTML)",
    "home": "Home timeline (HTML, signed in)",
    "api_home": "Home timeline (client API, 40 posts)",
    "api_public": "Local public timeline (client API, 40 posts)",
}
TARGET_RPS = {"gallery": 1000, "profile": 1000, "api_home": 1000}
API_HOME = "/api/v1/timelines/home?limit=40"
API_PUBLIC = "/api/v1/timelines/public?local=true&limit=40"


async def api_tokens(run: Run, names: list[str]) -> list[str]:
    """Bearer tokens made the way ``tessera token create`` makes them (set-up)."""
    from services.api_tokens import create_script_token
    from services.context import Services
    from tessera.config import load_config

    assert run.config_path is not None
    services = Services.from_config(load_config(run.config_path))
    try:
        return [await create_script_token(services, n, scopes="read") for n in names]
    finally:
        await services.close()


def client_address(index: int) -> str:
    """A distinct client address per request, sent as X-Forwarded-For.

    The instance runs as it would behind a reverse proxy (``trusted_proxy``): per-address
    limits (the client API allows 300 requests per 5 minutes per address or token, as
    Mastodon does) then count each simulated client apart instead of answering 429 to a
    benchmark that is one address. No traffic goes to these addresses: they are labels.
    """
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


def _get(run: Run, path: str, cookie: str, index: int) -> bytes:
    headers = {**BROWSER, "Cookie": cookie, "X-Forwarded-For": client_address(index)}
    return build_request("GET", path, run.host, headers)


async def build_requests(run: Run) -> tuple[dict[str, list[bytes]], dict[str, str]]:
    """Request lists per page kind, and one sample path per kind (for the bare copy)."""
    rnd = random.Random(11)
    seed = run.seed
    async with client(run) as browser:
        await browser.get("/login")  # a returning browser: it has its CSRF cookie
        anon = cookie_header(browser)
    first, last = seed["post_ids"]
    cursors = [None] + [rnd.randrange(first, last) for _ in range(59)]
    gallery = ["/" if c is None else f"/?max_id={c}" for c in cursors]
    profiles = [
        f"/@{name}" for name in rnd.sample(seed["accounts"], min(100, len(seed["accounts"])))
    ]
    tags = [f"/tags/{t}" for t in seed["tags"]]
    posts = [f"/@{name}/{post_id}" for name, post_id in seed["sample_posts"]]
    cookies = []
    for name in seed["accounts"][:8]:
        browser = await signed_in(run, name)
        cookies.append(cookie_header(browser))
        await browser.aclose()
    paths = {"gallery": gallery, "profile": profiles, "tag": tags, "post": posts}
    requests = {
        kind: [_get(run, p, anon, i) for i, p in enumerate(items)] for kind, items in paths.items()
    }
    requests["home"] = [_get(run, "/home", c, i) for i, c in enumerate(cookies)]
    for kind in ("gallery", "profile"):
        requests[f"{kind}_signed_in"] = [
            _get(run, p, cookies[i % len(cookies)], i) for i, p in enumerate(paths[kind])
        ]
    # A token may make 300 requests per 5 minutes: 25 per user spread the load.
    tokens = await api_tokens(run, [n for n in seed["accounts"][:8] for _ in range(25)])
    requests["api_home"] = [
        build_request(
            "GET",
            API_HOME,
            run.host,
            {
                "Accept": "application/json",
                "Authorization": f"Bearer {t}",
                "X-Forwarded-For": client_address(i),
            },
        )
        for i, t in enumerate(tokens)
    ]
    requests["api_public"] = [
        build_request(
            "GET",
            API_PUBLIC,
            run.host,
            {"Accept": "application/json", "X-Forwarded-For": client_address(i)},
        )
        for i in range(4000)
    ]
    samples = {kind: items[0] for kind, items in paths.items()}
    samples["home"] = "/home"
    samples["gallery_signed_in"] = samples["gallery"]
    samples["profile_signed_in"] = samples["profile"]
    samples["api_home"] = API_HOME
    samples["api_public"] = API_PUBLIC
    return requests, {"anon": anon, **samples, "home_cookie": cookies[0], "token": tokens[0]}


async def capture_pages(run: Run, samples: dict[str, str], folder: Path) -> dict[str, int]:
    """Save one real answer per page kind for the bare server to send; its size on the wire
    by kind, and its size unpacked by kind + ``GZIPPED_SUFFIX`` where it came gzipped."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    async with client(run) as browser:
        for kind in KINDS:
            cookie = samples["home_cookie"] if kind in SIGNED_IN else samples["anon"]
            headers = {"Cookie": cookie}
            if kind == "api_home":
                headers = {
                    "Authorization": f"Bearer {samples['token']}",
                    "Accept": "application/json",
                }
            # the bytes as they went over the wire: gzipped where Tessera gzipped them
            async with browser.stream("GET", samples[kind], headers=headers) as response:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            if response.status_code != 200:
                raise RuntimeError(f"{samples[kind]} answered {response.status_code}")
            encoding = response.headers.get("content-encoding")
            name = kind + GZIPPED_SUFFIX if encoding == "gzip" else kind
            if encoding not in (None, "gzip"):
                raise RuntimeError(f"{samples[kind]} came {encoding}-encoded")
            (folder / name).write_bytes(raw)
            sizes[kind] = len(raw)
            if encoding == "gzip":
                sizes[kind + GZIPPED_SUFFIX] = len(gzip.decompress(raw))
    return sizes


def _point(result: LoadResult) -> dict[str, Any]:
    answered = result.requests > 0  # a page slower than the window has no percentiles
    return {
        "concurrency": result.concurrency,
        "rps": result.rps,
        "p50_ms": result.p50_ms if answered else None,
        "p99_ms": result.p99_ms if answered else None,
        "requests": result.requests,
        "errors": result.errors,
        "statuses": result.statuses,
        "generator_cpu": result.generator_cpu,
    }


def _check(result: LoadResult, what: str) -> None:
    bad = {k: v for k, v in result.statuses.items() if k != "200"}
    if bad or result.errors:
        raise RuntimeError(f"{what}: statuses {result.statuses}, {result.errors} errors")


async def run_reads(
    run: Run, section: Section, requests: dict[str, list[bytes]], samples: dict[str, str]
) -> None:
    server = run.tessera()
    duration = run.scaled(4.0, 1.5)
    sizes = await capture_pages(run, samples, run.work / "pages")
    bare_port = free_port()
    bare = await start_bare(bare_port, run.work / "bare-reads.log", pages=run.work / "pages")
    curves: dict[str, list[dict[str, Any]]] = {}
    try:
        for kind in KINDS:
            curves[kind] = []
            curves[f"bare {kind}"] = []
            levels = LEVELS[:2] if kind == "api_public" else LEVELS
            for level in levels if not kind.endswith("_signed_in") else (8,):
                spec = LoadSpec(
                    "127.0.0.1",
                    run.port,
                    requests[kind],
                    concurrency=level,
                    duration=duration,
                    label=f"{kind}@{level}",
                )
                result = await run_load(spec)
                _check(result, spec.label)
                curves[kind].append(_point(result))
                if level == 8 or kind in ("gallery", "api_home"):
                    bare_req = build_request(
                        "GET", f"/page/{kind}", f"127.0.0.1:{bare_port}", BROWSER
                    )
                    ceiling = await run_load(
                        LoadSpec(
                            "127.0.0.1",
                            bare_port,
                            [bare_req],
                            concurrency=level,
                            duration=duration,
                            label=f"bare {kind}@{level}",
                        )
                    )
                    _check(ceiling, ceiling.label)
                    curves[f"bare {kind}"].append(_point(ceiling))
        profiles = {}
        for kind in ("gallery", "api_home"):
            spec = LoadSpec(
                "127.0.0.1",
                run.port,
                requests[kind],
                concurrency=8,
                duration=run.scaled(5.0, 2.0) + 1.0,
                label=f"profile {kind}",
            )
            load = asyncio.create_task(run_load(spec))
            await asyncio.sleep(0.7)
            profiles[kind] = await profile_pid(
                server.process.pid, run.scaled(5.0, 2.0), run.work / f"profile-{kind}.txt"
            )
            await load
    finally:
        await bare.stop()
    await server.note_rss_at_rest("after reads load")
    section.series["reads_curves"] = curves
    section.series["page_bytes"] = sizes
    section.series["profiles"] = profiles

    def at(kind: str, level: int) -> dict[str, Any]:
        return next(p for p in curves[kind] if p["concurrency"] == level)

    for kind in KINDS:
        mine, bare_point = at(kind, 8), at(f"bare {kind}", 8)
        target = TARGET_RPS.get(kind)
        note = f"{sizes[kind] // 1024} KiB page"
        if kind + GZIPPED_SUFFIX in sizes:
            note = f"{sizes[kind + GZIPPED_SUFFIX] // 1024} KiB page, {sizes[kind]:,} bytes gzipped"
        if kind.startswith("api_"):
            note = f"{sizes[kind] // 1024} KiB of JSON"
        section.add(
            Figure(
                group="Reads",
                name=f"{TITLES[kind]}, 8 in flight",
                tessera=mine["rps"],
                unit="req/s",
                ceiling=bare_point["rps"],
                ceiling_label="bare Starlette, same bytes",
                ratio=ratio(mine["rps"], bare_point["rps"]),
                target=f">= {target:,} req/s" if target else "",
                met=(mine["rps"] >= target) if target else None,
                note=note,
            )
        )
    for kind, level in (("api_home", 1), ("api_home", 8), ("profile", 8), ("gallery", 8)):
        mine, bare_point = at(kind, level), at(f"bare {kind}", level)
        for stat in ("p50_ms", "p99_ms"):
            target_text, met = "", None
            if kind == "api_home" and level == 1 and stat == "p50_ms":
                target_text, met = "<= 10 ms", (mine[stat] or 1e9) <= 10.0
            section.add(
                Figure(
                    group="Reads",
                    name=f"{TITLES[kind]} {stat[:3]} latency, {level} in flight",
                    tessera=mine[stat],
                    unit="ms",
                    ceiling=bare_point[stat],
                    ceiling_label="bare Starlette, same bytes",
                    ratio=ratio(mine[stat], bare_point[stat]),
                    target=target_text,
                    met=met,
                )
            )


PROCESS_KINDS = ("api_home", "gallery_signed_in", "home", "profile_signed_in")
"""The reads a page cache does not answer: what more web processes are for."""


async def run_web_processes(
    run: Run, section: Section, requests: dict[str, list[bytes]], processes: int = 2
) -> None:
    """The rendered reads again, with ``tessera serve --processes N`` on the same database,
    against the one process of the reads section in the same run. Runs after every other
    section: it stops the benchmark's server and leaves it stopped."""
    one = section.series.get("reads_curves") or {}
    server = run.tessera()
    await server.stop()
    run.server = None
    assert run.config_path is not None
    served = await start_process(
        "tessera",
        [*tessera_argv(run.config_path), "--processes", str(processes)],
        run.port,
        run.work / f"tessera-{processes}-processes.log",
    )
    duration = run.scaled(4.0, 1.5)
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in PROCESS_KINDS:
            spec = LoadSpec(
                "127.0.0.1",
                run.port,
                requests[kind],
                concurrency=8,
                duration=duration,
                label=f"{kind}@8, {processes} processes",
            )
            result = await run_load(spec)
            _check(result, spec.label)
            results[kind] = _point(result)
    finally:
        await served.stop()
    section.series["web_processes"] = {"processes": processes, "points": results}
    for kind in PROCESS_KINDS:
        single = next((p for p in one.get(kind, []) if p["concurrency"] == 8), None)
        target = TARGET_RPS.get(kind)
        rps = results[kind]["rps"]
        section.add(
            Figure(
                group="Reads",
                name=f"{TITLES[kind]}, 8 in flight, {processes} web processes",
                tessera=rps,
                unit="req/s",
                ceiling=single["rps"] if single else None,
                ceiling_label="one web process, same run",
                ratio=ratio(rps, single["rps"]) if single else None,
                target=f">= {target:,} req/s" if target else "",
                met=(rps >= target) if target else None,
                note=f"p50 {results[kind]['p50_ms']} ms, p99 {results[kind]['p99_ms']} ms",
            )
        )
