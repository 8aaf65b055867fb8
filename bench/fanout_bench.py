"""Benchmark 2, fan-out: one image post to 10,000 remote followers on 1,000 servers.

The followers are rows like the ones fetching them would leave (10 per server, each server
on its own loopback address with a shared inbox; inserted directly: set-up). The post is
published through ``POST /compose`` like a person would, so the ``Create`` is queued in
the post's own transaction and the server's delivery worker (its lifespan task) signs and
sends it. ``bench.sink`` records when each delivery arrives and verifies a sample of the
signatures with the author's public key.

Ceilings, measured in the same run: RSA-2048 signs per second on one core (the delivery
worker signs on the event loop, so one core is what it uses: the floor cost of one
signature per request), and a bare POST loop to the same 1,000 inboxes with httpx (the
client API of Tessera's transport, on httpx's own pool) and with aiohttp (the pool under
that API), at the worker's default number of inboxes in flight. And the least a delivery
can be (``bench.bare_deliveries``): a loop in its own process that signs each request as
a delivery is signed and POSTs it, nothing else, with aiohttp and over a bare asyncio
socket. Its rate against the signing ceiling says how far any design can get, since a
delivery is a signature plus a request.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, insert

from bench import signing
from bench.figures import Figure, Section, ratio
from bench.harness import Run, csrf_token, signed_in
from bench.profiling import profile_pid
from bench.seed import _defaults, noisy_png
from bench.server import free_port
from bench.sink import host_address
from storage.ids import new_id
from storage.models import Actor, Follow
from tessera.config import FederationConfig

HOSTS = 1000
CONCURRENCY = FederationConfig().delivery_concurrency  # the delivery worker's default


def seed_followers(run: Run, author_id: int, sink_port: int, followers: int) -> None:
    """``followers`` remote accounts spread evenly over ``HOSTS`` servers, all following."""
    now = datetime.now(UTC)
    actor_base = _defaults(Actor, id=0, username="x", username_lower="x", ap_id="x")
    follow_base = _defaults(Follow, id=0, follower_id=0, followee_id=0)
    actors, follows = [], []
    for i in range(followers):
        domain = f"{host_address(i % HOSTS)}:{sink_port}"
        name = f"f{i}"
        ap_id = f"http://{domain}/users/{name}"
        actor_id = new_id()
        actors.append(
            {
                **actor_base,
                "id": actor_id,
                "username": name,
                "username_lower": name,
                "domain": domain,
                "ap_id": ap_id,
                "url": f"http://{domain}/@{name}",
                "inbox_url": f"{ap_id}/inbox",
                "shared_inbox_url": f"http://{domain}/inbox",
                "followers_url": f"{ap_id}/followers",
                "key_id": f"{ap_id}#main-key",
                "fetched_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        follows.append(
            {
                **follow_base,
                "id": new_id(),
                "follower_id": actor_id,
                "followee_id": author_id,
                "state": "accepted",
                "ap_id": f"{ap_id}/follows/{i}",
                "created_at": now,
            }
        )
    engine = create_engine(f"sqlite:///{run.db_file}", connect_args={"timeout": 30})
    with engine.begin() as conn:
        for start in range(0, followers, 2000):
            conn.execute(insert(Actor.__table__), actors[start : start + 2000])  # type: ignore[attr-defined]
            conn.execute(insert(Follow.__table__), follows[start : start + 2000])  # type: ignore[attr-defined]
    engine.dispose()


def delivery_states(run: Run) -> dict[str, int]:
    with sqlite3.connect(run.db_file, timeout=10) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM delivery GROUP BY state").fetchall())


async def sink_stats(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.get(f"http://{host_address(0)}:{port}/_stats")
        return response.json()


async def bare_loop(kind: str, port: int, body: bytes) -> float:
    """POSTs per second, one to each of the 1,000 inboxes, ``CONCURRENCY`` in flight."""
    urls = [f"http://{host_address(i)}:{port}/inbox" for i in range(HOSTS)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    headers = {"Content-Type": "application/activity+json"}
    started = time.perf_counter()
    if kind == "httpx":
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def one() -> None:
                while not queue.empty():
                    response = await client.post(queue.get_nowait(), content=body, headers=headers)
                    assert response.status_code == 202

            await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    else:
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def one_aiohttp() -> None:
                while not queue.empty():
                    async with session.post(queue.get_nowait(), data=body, headers=headers) as r:
                        await r.read()
                        assert r.status == 202

            await asyncio.gather(*(one_aiohttp() for _ in range(CONCURRENCY)))
    return HOSTS / (time.perf_counter() - started)


LEAST_KINDS: dict[str, tuple[str, bool]] = {
    "signed_aiohttp": ("aiohttp", True),
    "signed_raw": ("raw", True),
    "raw": ("raw", False),
}
"""The bare delivery loops of ``bench.bare_deliveries``: (client, signed)."""


async def least_deliveries(port: int, body_bytes: int, client: str, sign: bool) -> dict[str, float]:
    """``bench.bare_deliveries`` in a process of its own: sign (or not) and POST, nothing
    else, to the same 1,000 inboxes at the worker's concurrency."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare_deliveries",
        "--port",
        str(port),
        "--hosts",
        str(HOSTS),
        "--concurrency",
        str(CONCURRENCY),
        "--body-bytes",
        str(body_bytes),
        "--client",
        client,
        *(["--sign"] if sign else []),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.bare_deliveries failed ({proc.returncode})")
    return json.loads(out)


async def run_fanout(run: Run, section: Section) -> None:
    server = run.tessera()
    followers = int(run.scaled(10_000, 2_000))
    author_name = run.seed["accounts"][3]
    with sqlite3.connect(run.db_file) as conn:
        author_id, public_pem = conn.execute(
            "SELECT id, public_key_pem FROM actor WHERE username = ? AND domain IS NULL",
            (author_name,),
        ).fetchone()
    key_file = run.work / "author-public.pem"
    key_file.write_text(public_pem)
    sink_port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sink",
        "--port",
        str(sink_port),
        "--hosts",
        str(HOSTS),
        "--public-key",
        str(key_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=(run.work / "sink.log").open("ab"),
    )
    try:
        assert sink.stdout is not None
        ready = await asyncio.wait_for(sink.stdout.readline(), 60)
        if b"ready" not in ready:
            raise RuntimeError("the sink did not start")
        await asyncio.to_thread(seed_followers, run, author_id, sink_port, followers)
        rates = await asyncio.to_thread(signing.rsa_rates, 1.0)
        image = await asyncio.to_thread(noisy_png, 1024, 1024, 77)
        browser = await signed_in(run, author_name)
        token = await csrf_token(browser, "/compose")
        published = time.time()
        response = await browser.post(
            "/compose",
            data={
                "csrf_token": token,
                "caption": "to 10,000 followers #fanout",
                "visibility": "public",
            },
            files=[("images", ("fanout.png", image, "image/png"))],
        )
        answered = time.time()
        await browser.aclose()
        if response.status_code != 303:
            raise RuntimeError(f"publishing answered {response.status_code}")
        profile = await profile_pid(server.process.pid, 3.0, run.work / "profile-fanout.txt")
        deadline = time.monotonic() + run.scaled(180, 60)
        stats = await sink_stats(sink_port)
        while stats["count"] < HOSTS and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            stats = await sink_stats(sink_port)
        await asyncio.sleep(1.0)  # let the last results be recorded
        stats = await sink_stats(sink_port)
        states = delivery_states(run)
        await server.note_rss_at_rest("after fan-out load")
        with sqlite3.connect(run.db_file) as conn:
            payload_bytes = conn.execute(
                "SELECT length(payload) FROM outbox_activity ORDER BY id DESC LIMIT 1"
            ).fetchone()[0]
        body = b"x" * int(payload_bytes)
        bare_httpx = await bare_loop("httpx", sink_port, body)
        bare_aiohttp = await bare_loop("aiohttp", sink_port, body)
        least = {
            name: await least_deliveries(sink_port, len(body), *how)
            for name, how in LEAST_KINDS.items()
        }
    finally:
        sink.terminate()
        await sink.wait()
    arrivals = [t for t in stats["arrivals"] if t >= published]
    count = len(arrivals)
    span = (arrivals[-1] - arrivals[0]) if count > 1 else 0.0
    rate = round(count / span, 1) if span else None
    to_last = round(arrivals[-1] - published, 2) if arrivals else None
    section.series["fanout"] = {
        "progress": [(round(t - published, 3), i + 1) for i, t in enumerate(arrivals)],
        "publish_seconds": round(answered - published, 3),
        "states": states,
        "sink": {k: stats[k] for k in ("count", "hosts", "verified", "failed", "reasons")},
        "rsa": rates,
        "bare_httpx_per_s": round(bare_httpx, 1),
        "bare_aiohttp_per_s": round(bare_aiohttp, 1),
        "least": least,
        "followers": followers,
        "profile": profile,
    }
    sign = rates["sign_per_s"]
    section.add(
        Figure(
            group="Fan-out",
            name=f"Deliveries per second ({followers:,} followers, {HOSTS:,} inboxes)",
            tessera=rate,
            unit="deliveries/s",
            ceiling=sign,
            ceiling_label="RSA-2048 signs/s, 1 core (the worker signs on the event loop)",
            ratio=ratio(rate, sign),
            target=">= 70% of the signing ceiling",
            met=bool(rate and rate >= 0.7 * sign),
            note=f"signatures verified by the sink: {stats['verified']} ok, {stats['failed']} bad (1 in 10 checked)",
        )
    )
    section.add(
        Figure(
            group="Fan-out",
            name="Deliveries per second against a bare POST loop to the same sink",
            tessera=rate,
            unit="deliveries/s",
            ceiling=round(bare_httpx, 1),
            ceiling_label=f"bare httpx, {CONCURRENCY} in flight (aiohttp: {bare_aiohttp:.0f}/s)",
            ratio=ratio(rate, bare_httpx),
        )
    )
    signed, raw_signed, raw = (least[k]["per_s"] for k in LEAST_KINDS)
    section.add(
        Figure(
            group="Fan-out",
            name="Deliveries per second against the least a delivery is (sign, then POST)",
            tessera=rate,
            unit="deliveries/s",
            ceiling=signed,
            ceiling_label=(
                f"a bare loop that signs and POSTs with aiohttp, {CONCURRENCY} in flight, "
                f"uvloop, own process ({100 * signed / sign:.0f}% of the signing ceiling)"
            ),
            ratio=ratio(rate, signed),
            note=(
                f"the same loop over a bare asyncio socket instead of aiohttp: "
                f"{raw_signed:,.0f}/s signed ({100 * raw_signed / sign:.0f}% of the signing "
                f"ceiling), {raw:,.0f}/s unsigned; CPU per delivery "
                f"{least['signed_aiohttp']['cpu_us_per_delivery']:.0f} / "
                f"{least['signed_raw']['cpu_us_per_delivery']:.0f} / "
                f"{least['raw']['cpu_us_per_delivery']:.0f} µs"
            ),
        )
    )
    section.add(
        Figure(
            group="Fan-out",
            name="Time from publishing to the last delivery",
            tessera=to_last,
            unit="s",
            ceiling=round(count / sign, 2) if sign else None,
            ceiling_label="signing alone, 1 core",
            ratio=ratio(to_last, count / sign if sign else None),
            note=f"includes the upload ({answered - published:.2f} s to the 303); the worker is woken by the commit",
        )
    )
    section.add(
        Figure(
            group="Fan-out",
            name=f"Signed requests for {followers:,} followers on {HOSTS:,} servers",
            tessera=stats["count"],
            unit="requests",
            target=f"{HOSTS:,} (one per shared inbox)",
            met=stats["count"] == HOSTS and stats["hosts"] == HOSTS,
            note=f"delivery rows: {json.dumps(states)}",
        )
    )
