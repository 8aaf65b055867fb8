"""Benchmark 1, inbox: signed deliveries accepted per second, then processed.

Remote accounts live on a fake server (``bench.peer``) that serves their actor documents;
every delivery is a real draft-cavage signature over a real body (a ``Like`` of a local
post, or a ``Create`` of a comment on one), made in advance so the generator only sends.
Tessera verifies, stores and answers 202 for each (``POST /inbox``), then processes them.

* Warm keys: 64 senders, each seen once before the measured runs, so their keys are cached.
* Cold keys: every delivery from a new sender, so each costs Tessera a signed GET of the
  actor document from the peer and an actor row before the verify.
* Ceilings: (a) ``bench.bare_app``'s ``POST /inbox`` (reads the body, answers 202) under the
  same load and uvicorn settings; (b) RSA-2048 verifies per second on one core.
* Processing: the rows' own ``processed_at`` times give the rate; a sampler reads the
  backlog (pending rows) every 0.25 s during and after acceptance. When the server does not
  process its inbox itself, ``bench.inbox_worker`` runs ``inbox_process.run_once`` beside
  it (what a ``tessera worker`` process would do), and the report says so.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import signing
from bench.figures import Figure, Section, ratio
from bench.harness import Run
from bench.inbox_queue import Sampler, drained_since, processing_rate, sqlite_commit_rate
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.peer import actor_url, key_id, key_index
from bench.profiling import profile_pid
from bench.server import free_port, start_bare, start_process

LEVELS = (1, 8, 32)
LEAST_LEVELS = (8, 32)
"""Where the inbox is also compared with the least acceptance can be (``bench.bare_app``'s
``VerifyAndStore``): the levels of the acceptance target."""
WARM_SENDERS = 64


def _counts(run: Run) -> dict[str, int]:
    if run.quick:
        return {"1": 200, "8": 600, "32": 600, "cold": 200, "profile": 1200}
    # the profile's load must outlast the profile (3 s at ~1,500 deliveries a second)
    return {"1": 600, "8": 3000, "32": 3000, "cold": 1000, "profile": 6000}


def _jobs(
    run: Run,
    peer_base: str,
    keys: list[tuple[str, str]],
    senders: list[str],
    count: int,
    first_number: int,
) -> list[tuple]:
    targets = [f"{run.base}/users/{name}/statuses/{pid}" for name, pid in run.seed["sample_posts"]]
    inbox = f"{run.base}/inbox"
    published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    jobs = []
    for i in range(count):
        name = senders[i % len(senders)]
        actor = actor_url(peer_base, name)
        number = first_number + i
        target = targets[number % len(targets)]
        activity = (
            signing.like(actor, number, target)
            if i % 2 == 0
            else signing.reply(actor, number, target, published)
        )
        private = keys[key_index(name, len(keys))][1]
        jobs.append((inbox, run.host, "/inbox", key_id(peer_base, name), private, activity))
    return jobs


def _point(result: LoadResult) -> dict[str, float]:
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def _curve(results: dict[str, LoadResult], levels: tuple[int, ...]) -> list[dict[str, float]]:
    """Throughput and latency at each number in flight, for the plots."""
    return [{"concurrency": level, **_point(results[str(level)])} for level in levels]


def _accepted(result: LoadResult, what: str) -> None:
    if set(result.statuses) != {"202"} or result.errors:
        raise RuntimeError(f"{what}: statuses {result.statuses}, {result.errors} errors")


async def run_inbox(run: Run, section: Section) -> None:
    server = run.tessera()
    counts = _counts(run)
    rates = await asyncio.to_thread(signing.rsa_rates, 1.0)
    keys = await asyncio.to_thread(signing.new_keypairs, 8)
    keys_file = run.work / "peer-keys.json"
    keys_file.write_text(json.dumps(keys))
    peer_port = free_port()
    peer = await start_process(
        "peer",
        [sys.executable, "-m", "bench.peer", "--port", str(peer_port), "--keys", str(keys_file)],
        peer_port,
        run.work / "peer.log",
        probe="/ping",
    )
    peer_base = f"http://127.0.0.1:{peer_port}"
    warm = [f"s{i}" for i in range(WARM_SENDERS)]
    started = time.perf_counter()
    plan: dict[str, list[bytes]] = {}
    number = 0
    plan["prewarm"] = signing.presign(_jobs(run, peer_base, keys, warm, len(warm), number))
    number += len(warm)
    for level in LEVELS:
        key = str(level)
        plan[key] = await asyncio.to_thread(
            signing.presign, _jobs(run, peer_base, keys, warm, counts[key], number)
        )
        number += counts[key]
    plan["profile"] = await asyncio.to_thread(
        signing.presign, _jobs(run, peer_base, keys, warm, counts["profile"], number)
    )
    number += counts["profile"]
    cold = [f"s{100_000 + i}" for i in range(counts["cold"])]
    plan["cold"] = await asyncio.to_thread(
        signing.presign, _jobs(run, peer_base, keys, cold, counts["cold"], number)
    )
    section.notes.append(
        f"{sum(len(v) for v in plan.values()):,} deliveries signed in advance in "
        f"{time.perf_counter() - started:.1f} s (2 processes)"
    )
    sampler = Sampler(run.db_file)
    sampler.start()
    results: dict[str, LoadResult] = {}
    bare_results: dict[str, LoadResult] = {}
    least_results: dict[str, LoadResult] = {}
    worker_mode = "in the tessera serve process (lifespan worker)"
    try:
        pre = await run_load(
            LoadSpec(
                "127.0.0.1", run.port, plan["prewarm"], concurrency=8, mode="once", label="prewarm"
            )
        )
        _accepted(pre, "prewarm")
        accept_started = time.perf_counter()
        processed_before = sampler.processed()
        # cold keys first: at ~100 deliveries a second they would let processing catch up,
        # and the drain measured after the warm runs would find nothing left to drain
        results["cold"] = await run_load(
            LoadSpec(
                "127.0.0.1",
                run.port,
                plan["cold"],
                concurrency=8,
                mode="once",
                label="inbox cold @8",
            )
        )
        _accepted(results["cold"], "inbox cold @8")
        for level in LEVELS:
            key = str(level)
            results[key] = await run_load(
                LoadSpec(
                    "127.0.0.1",
                    run.port,
                    plan[key],
                    concurrency=level,
                    mode="once",
                    label=f"inbox warm @{level}",
                )
            )
            _accepted(results[key], f"inbox warm @{level}")
        accept_seconds = time.perf_counter() - accept_started
        server.note_rss("after inbox load (accepted)")
        processed_during = sampler.processed() - processed_before
        worker = None
        if processed_during == 0:
            await asyncio.sleep(3.0)
        if sampler.processed() == 0:
            worker_mode = (
                "in a separate process running inbox_process.run_once (bench.inbox_worker)"
            )
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.inbox_worker",
                str(run.config_path),
                stdout=asyncio.subprocess.PIPE,
                stderr=(run.work / "inbox-worker.log").open("ab"),
            )
        drain_started = time.perf_counter()
        drain_wall = time.time()
        processing_profile: dict[str, Any] = {"error": "the backlog was empty"}
        if sampler.pending() > 0:
            processing_profile = await profile_pid(
                (worker or server.process).pid, 3.0, run.work / "profile-inbox-processing.txt"
            )
        deadline = drain_started + run.scaled(150, 45)
        while sampler.pending() > 0 and time.perf_counter() < deadline:
            await asyncio.sleep(0.25)
        left_after_drain = sampler.pending()  # before the profile's deliveries arrive
        drained, drain_seconds = await asyncio.to_thread(drained_since, run.db_file, drain_wall)
        drain_rate = drained / drain_seconds if drain_seconds > 0 else 0.0
        if worker is not None:
            worker.terminate()
            await worker.wait()
        await server.note_rss_at_rest("after inbox load (processed)")
        load = asyncio.create_task(
            run_load(
                LoadSpec(
                    "127.0.0.1",
                    run.port,
                    plan["profile"],
                    concurrency=8,
                    mode="once",
                    label="inbox profile",
                )
            )
        )
        await asyncio.sleep(0.3)
        profile = await profile_pid(
            server.process.pid, run.scaled(3.0, 1.0), run.work / "profile-inbox.txt"
        )
        await load
        bare_port = free_port()
        bare = await start_bare(bare_port, run.work / "bare-inbox.log")
        try:
            sample = plan["8"][:2000]
            for level in LEVELS:
                bare_results[str(level)] = await run_load(
                    LoadSpec(
                        "127.0.0.1",
                        bare_port,
                        sample,
                        concurrency=level,
                        duration=run.scaled(4.0, 1.5),
                        label=f"bare inbox @{level}",
                    )
                )
                _accepted(bare_results[str(level)], f"bare inbox @{level}")
        finally:
            await bare.stop()
        least_port = free_port()
        least = await start_bare(
            least_port,
            run.work / "bare-inbox-verified.log",
            verify=(keys_file, run.work / "bare-inbox.db"),
        )
        try:
            for level in LEAST_LEVELS:
                least_results[str(level)] = await run_load(
                    LoadSpec(
                        "127.0.0.1",
                        least_port,
                        plan[str(level)],
                        concurrency=level,
                        mode="once",
                        label=f"bare verified inbox @{level}",
                    )
                )
                _accepted(least_results[str(level)], f"bare verified inbox @{level}")
        finally:
            await least.stop()
    finally:
        await sampler.stop()
        await peer.stop()
    processing = processing_rate(run.db_file)
    section.series["inbox"] = {
        "curve": _curve(results, LEVELS),
        "bare": _curve(bare_results, LEVELS),
        "least": _curve(least_results, LEAST_LEVELS),
        "cold": _point(results["cold"]),
        "backlog": sampler.points,
        "processing": processing,
        "worker_mode": worker_mode,
        "profile": profile,
        "processing_profile": processing_profile,
        "rsa": rates,
        "accept_seconds": round(accept_seconds, 2),
        "drain_seconds": round(drain_seconds, 2),
        "drain_rate": round(drain_rate, 1),
        "left_after_drain": left_after_drain,
        "processed_during_acceptance": processed_during,
        "accepted_total": sum(r.requests for r in results.values()),
    }
    processing["drain_per_s"] = round(drain_rate, 1)
    processing["sqlite_commits_per_s"] = await asyncio.to_thread(sqlite_commit_rate, run.work)
    processing["during_acceptance_per_s"] = round(processed_during / accept_seconds, 1)
    _figures(
        section,
        results,
        bare_results,
        least_results,
        rates,
        processing,
        sampler,
        (drain_seconds, left_after_drain),
        worker_mode,
    )


def _figures(
    section: Section,
    results: dict[str, LoadResult],
    bare: dict[str, LoadResult],
    least: dict[str, LoadResult],
    rates: dict[str, float],
    processing: dict[str, Any],
    sampler: Sampler,
    drain: tuple[float, int],
    worker_mode: str,
) -> None:
    drain_seconds, left_after_drain = drain
    for level in (8, 32):
        mine, floor = results[str(level)], bare[str(level)]
        section.add(
            Figure(
                group="Inbox",
                name=f"Signed deliveries accepted (verified, stored, 202), {level} in flight",
                tessera=mine.rps,
                unit="req/s",
                ceiling=floor.rps,
                ceiling_label="bare Starlette POST /inbox -> 202",
                ratio=ratio(mine.rps, floor.rps),
                target=">= 50% of bare",
                met=mine.rps >= 0.5 * floor.rps,
                note=f"warm key cache; p50 {mine.p50_ms:.1f} ms",
            )
        )
    for level in LEAST_LEVELS:
        mine, floor, plain = results[str(level)], least[str(level)], bare[str(level)]
        section.add(
            Figure(
                group="Inbox",
                name=f"Accepted against the least acceptance can be, {level} in flight",
                tessera=mine.rps,
                unit="req/s",
                ceiling=floor.rps,
                ceiling_label=(
                    "bare Starlette POST /inbox that verifies (digest, signature, key owner, "
                    f"date) and stores by group commit ({100 * floor.rps / plain.rps:.0f}% of "
                    "the bare endpoint)"
                ),
                ratio=ratio(mine.rps, floor.rps),
                note=f"the same deliveries; its p50 {floor.p50_ms:.1f} ms, p99 {floor.p99_ms:.1f} ms",
            )
        )
    p99 = results["32"].p99_ms
    section.add(
        Figure(
            group="Inbox",
            name="Inbox p99 latency, 32 in flight",
            tessera=p99,
            unit="ms",
            ceiling=bare["32"].p99_ms,
            ceiling_label="bare Starlette, same load",
            ratio=ratio(p99, bare["32"].p99_ms),
            target="<= 50 ms",
            met=p99 <= 50.0,
        )
    )
    cold = results["cold"]
    section.add(
        Figure(
            group="Inbox",
            name="Accepted with a cold key cache (every sender new), 8 in flight",
            tessera=cold.rps,
            unit="req/s",
            ceiling=bare["8"].rps,
            ceiling_label="bare Starlette POST /inbox -> 202",
            ratio=ratio(cold.rps, bare["8"].rps),
            note=f"each costs a signed GET of the actor document; p50 {cold.p50_ms:.1f} ms, p99 {cold.p99_ms:.1f} ms",
        )
    )
    best = max(r.rps for key, r in results.items() if key != "cold")
    section.add(
        Figure(
            group="Inbox",
            name="Best accepted rate against RSA-2048 verifies on one core",
            tessera=best,
            unit="req/s",
            ceiling=rates["verify_per_s"],
            ceiling_label="cryptography verify, 1 core",
            ratio=ratio(best, rates["verify_per_s"]),
        )
    )
    states = processing["states"]
    commits = processing.get("sqlite_commits_per_s")
    section.add(
        Figure(
            group="Inbox",
            name="Activities processed per second, once acceptance is over",
            tessera=processing["drain_per_s"],
            unit="activities/s",
            ceiling=commits,
            ceiling_label="single-row SQLite commits/s (WAL, synchronous=NORMAL), 1 core",
            ratio=ratio(processing["drain_per_s"], commits),
            target=">= 1,000/s",
            met=(processing["drain_per_s"] or 0) >= 1000,
            note=(
                f"{worker_mode}; {processing['during_acceptance_per_s']}/s while deliveries "
                f"were arriving; rows at the end of the section, the profile's deliveries "
                f"included: {states}"
            ),
        )
    )
    peak = max((p[1] for p in sampler.points), default=0)
    section.add(
        Figure(
            group="Inbox",
            name="Backlog: most pending at once / seconds to drain after acceptance",
            tessera=peak,
            unit="rows",
            target="keeps up (no unbounded backlog)",
            met=left_after_drain == 0 and peak < 0.1 * sum(r.requests for r in results.values()),
            note=(
                f"drained {drain_seconds:.1f} s after the last delivery; "
                f"{left_after_drain} left pending then"
            ),
        )
    )
