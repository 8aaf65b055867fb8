"""Benchmark 3, media: upload-to-ready through ``POST /compose`` against bare Pillow.

Tessera's figure is the whole publish as a browser sees it: the multipart upload over
loopback, CSRF check, format sniffing and header limits, decode, generation metadata, the
metadata-free original, display and thumbnail WebPs, blurhash, files written by hash, rows
committed, and the 303 to the post page (the post is ready when it arrives: processing
happens before the answer). Every upload is a different image (no file is deduplicated).

The ceiling is the same pixel work done by Pillow alone in this process, on the same
bytes: decode, the display WebP (quality 88, method 4; no resize up to 2048 px), the 640 px
LANCZOS thumbnail WebP (quality 82, method 4) and the 64 px BOX copy with the blurhash C
encoder: ``media.derivatives``'s parameters, none of its code.

The event-loop check runs gallery requests at 1 in flight for the whole time 2048x2048
uploads are processed back to back: if image work ran on the event loop, those requests
would wait for it.
"""

from __future__ import annotations

import asyncio
import io
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import blurhash
from PIL import Image

from bench.figures import Figure, Section, ratio
from bench.harness import Run, csrf_token, signed_in
from bench.loadgen import LoadSpec, run_load
from bench.seed import noisy_png

MEDIA_KEY = re.compile(r"/media/([0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]+)")

try:
    from blurhash._functions import ffi as _bh_ffi
    from blurhash._functions import lib as _bh_lib
except ImportError:  # pragma: no cover
    _bh_ffi = _bh_lib = None


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    long_edge = max(size)
    if long_edge <= edge:
        return size
    scale = edge / long_edge
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


def _blurhash(image: Image.Image) -> str:
    small = image.resize(_fit(image.size, 64), Image.Resampling.BOX).convert("RGB")
    if _bh_lib is None or _bh_ffi is None:
        return blurhash.encode(small, 4, 4)
    out = _bh_ffi.new("char[]", 200)
    pixels = small.tobytes()
    _bh_lib.create_hash_from_pixels(
        4,
        4,
        small.width,
        small.height,
        _bh_ffi.from_buffer("uint8_t[]", pixels),
        small.width * 3,
        out,
    )
    return _bh_ffi.string(out).decode("ascii")


def bare_pillow(data: bytes) -> float:
    """Seconds Pillow alone takes for the pixel work of one upload."""
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        size = _fit(rgb.size, 2048)
        display = (
            rgb
            if size == rgb.size
            else rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        )
        _webp(display, 88)
        thumb = display.resize(_fit(display.size, 640), Image.Resampling.LANCZOS, reducing_gap=3.0)
        _webp(thumb, 82)
        _blurhash(thumb)
    return time.perf_counter() - started


async def upload(browser, token: str, data: bytes, name: str) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = await browser.post(
        "/compose",
        data={
            "csrf_token": token,
            "caption": f"benchmark upload {name} #bench",
            "visibility": "public",
        },
        files=[("images", (f"{name}.png", data, "image/png"))],
        follow_redirects=False,
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 303:
        raise RuntimeError(f"upload {name} answered {response.status_code}: {response.text[:300]}")
    return elapsed, response.headers["location"]


async def check_ready(browser, location: str) -> None:  # type: ignore[no-untyped-def]
    """The post page shows the image and its three files (original, display, thumbnail)
    are served: the upload is ready, not queued."""
    page = await browser.get(location)
    keys = set(MEDIA_KEY.findall(page.text))
    if page.status_code != 200 or len(keys) < 3:
        raise RuntimeError(f"{location} is not ready: {page.status_code}, {len(keys)} files")
    for key in keys:
        answer = await browser.get(f"/media/{key}")
        if answer.status_code != 200:
            raise RuntimeError(f"/media/{key} answered {answer.status_code}")


async def run_media(run: Run, section: Section, gallery_requests: list[bytes]) -> None:
    server = run.tessera()
    repeats = int(run.scaled(5, 2))
    browser = await signed_in(run, run.seed["accounts"][1])
    token = await csrf_token(browser, "/compose")
    series: dict[str, dict[str, list[float]]] = {}
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        images = {
            edge: await asyncio.gather(
                *(
                    loop.run_in_executor(pool, noisy_png, edge, edge, 1000 + edge + i)
                    for i in range(repeats + 1)
                )
            )
            for edge in (1024, 2048)
        }
        for edge, datas in images.items():
            await upload(browser, token, datas[-1], f"warm-{edge}")  # first use of each path
            mine, bare = [], []
            for i, data in enumerate(datas[:repeats]):
                elapsed, location = await upload(browser, token, data, f"{edge}-{i}")
                mine.append(elapsed)
                await check_ready(browser, location)
                bare.append(await loop.run_in_executor(pool, bare_pillow, data))
            series[str(edge)] = {"tessera": mine, "bare": bare, "bytes": [len(d) for d in datas]}
            t, b = statistics.median(mine), statistics.median(bare)
            section.add(
                Figure(
                    group="Media",
                    name=f"Upload to ready, {edge}x{edge} PNG",
                    tessera=round(t * 1000, 1),
                    unit="ms",
                    ceiling=round(b * 1000, 1),
                    ceiling_label="bare Pillow, one thread: decode, same resizes and encodes",
                    ratio=ratio(t, b),
                    target="<= 1.3x bare Pillow",
                    met=t / b <= 1.3,
                    note=(
                        f"median of {repeats}, "
                        f"{statistics.median(series[str(edge)]['bytes']) / 1e6:.1f} MB upload; "
                        "Tessera encodes the thumbnail in a second thread"
                    ),
                )
            )
        # The event loop stays free: page requests during back-to-back 2048x2048 uploads.
        window = run.scaled(8.0, 3.0)
        extra = [noisy_png(2048, 2048, 5000 + i) for i in range(int(window) + 2)]
    load = asyncio.create_task(
        run_load(
            LoadSpec(
                "127.0.0.1",
                run.port,
                gallery_requests,
                concurrency=1,
                duration=window,
                warmup=0.0,
                label="pages during uploads",
            )
        )
    )
    uploads, index = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < window and index < len(extra):
        await upload(browser, token, extra[index], f"during-{index}")
        uploads += 1
        index += 1
    during = await load
    await browser.aclose()
    await server.note_rss_at_rest("after media load")
    section.series["media"] = series
    section.series["pages_during_uploads"] = {
        "p50_ms": during.p50_ms,
        "p99_ms": during.p99_ms,
        "max_ms": during.max_ms,
        "requests": during.requests,
        "uploads": uploads,
    }
    section.add(
        Figure(
            group="Media",
            name="Gallery page p99 while 2048x2048 uploads are processed",
            tessera=during.p99_ms,
            unit="ms",
            target="<= 50 ms",
            met=during.p99_ms <= 50.0,
            note=f"1 page request in flight, {during.requests} requests during {uploads} uploads; p50 {during.p50_ms:.1f} ms, max {during.max_ms:.1f} ms",
        )
    )
