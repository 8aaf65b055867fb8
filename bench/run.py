"""Run the benchmarks of issue 5 and regenerate docs/performance.md.

    python -m bench.run            # everything (~10-15 minutes on the 2-core machine)
    python -m bench.run --quick    # a ~2-minute smoke run: small database, short loads
    python -m bench.run --only reads,media
    python -m bench.run --report-only bench/results/latest.json

One ``tessera serve`` process serves the whole run: start-up and idle memory first, then
the memory-growth batch, reads, media, inbox and fan-out, with its memory read after each.
A benchmark that fails is recorded with its error and the others still run. Results go to
``bench/results/<timestamp>.json`` (and ``latest.json``); a full run also rewrites
``docs/performance.md`` and its plots, a quick run only when asked (``--write-docs``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fanout_bench, footprint, inbox_bench, media_bench, reads, report
from bench.figures import Section, machine
from bench.harness import RESULTS, ROOT_DIR, prepare

ALL = ("reads", "media", "inbox", "fanout")


async def _guard(section: Section, work: Callable[[], Awaitable[None]]) -> Section:
    started = time.perf_counter()
    already = len(section.figures)
    print(f"== {section.name}", flush=True)
    try:
        await work()
    except Exception as exc:
        section.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    section.seconds = time.perf_counter() - started
    for figure in section.figures[already:]:
        ceiling = f" | ceiling {figure.ceiling}" if figure.ceiling is not None else ""
        print(f"   {figure.name}: {figure.tessera} {figure.unit}{ceiling} | {figure.met}")
    return section


def query_plans() -> dict[str, Any]:
    """The query-plan test (tests/test_query_plans.py), run as the suite would run it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_query_plans.py",
            "-q",
            "-rxX",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-4:]
    return {"exit_code": proc.returncode, "summary": tail}


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    only = set(args.only.split(",")) if args.only else set(ALL)
    started = time.time()
    info = machine()
    run = await asyncio.to_thread(prepare, args.quick)
    sections: list[Section] = []
    foot = Section("Footprint")
    try:
        await _guard(foot, lambda: footprint.startup(run, foot))
        if run.server is None:
            raise RuntimeError(foot.error or "Tessera did not start")
        requests, samples = await reads.build_requests(run)
        if not args.no_growth:
            await _guard(foot, lambda: footprint.growth(run, foot, requests))
        if "reads" in only:
            sec = Section("Reads")
            sections.append(await _guard(sec, lambda: reads.run_reads(run, sec, requests, samples)))
        if "media" in only:
            sec_m = Section("Media")
            sections.append(
                await _guard(sec_m, lambda: media_bench.run_media(run, sec_m, requests["gallery"]))
            )
        if "inbox" in only:
            sec_i = Section("Inbox")
            sections.append(await _guard(sec_i, lambda: inbox_bench.run_inbox(run, sec_i)))
        if "fanout" in only:
            sec_f = Section("Fan-out")
            sections.append(await _guard(sec_f, lambda: fanout_bench.run_fanout(run, sec_f)))
        footprint.finish(run, foot)
        if "reads" in only:
            # Last: it restarts the server with several web processes and leaves it stopped.
            await _guard(sec, lambda: reads.run_web_processes(run, sec, requests))
    finally:
        if run.server is not None:
            await run.server.stop()
    sections.append(foot)
    plans = query_plans() if not args.skip_plans else {"skipped": True}
    return {
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "quick": args.quick,
        "machine": info,
        "seed": {"size": run.seed_size.key, "rows": run.seed.get("rows", {})},
        "sections": [s.to_dict() for s in sections],
        "query_plans": plans,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--skip-plans", action="store_true", help="do not run the query-plan test")
    parser.add_argument(
        "--no-growth",
        action="store_true",
        help="skip the 20,000-request memory-growth batch (for quick A/B runs of one section)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="also rewrite the docs on --quick"
    )
    parser.add_argument("--no-docs", action="store_true", help="never rewrite the docs")
    parser.add_argument("--report-only", type=Path, help="regenerate the docs from a results file")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads(args.report_only.read_text())
        report.write_docs(results)
        return 0
    results = asyncio.run(run_all(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "")
    path = RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json"
    text = json.dumps(results, indent=1)
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"results: {path} ({results['seconds']} s)")
    if not args.no_docs and (not args.quick or args.write_docs):
        report.write_docs(results)
        print("wrote docs/performance.md and docs/performance/*.png")
    failed = [s["name"] for s in results["sections"] if s["error"]]
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
