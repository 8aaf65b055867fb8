"""A closed-loop HTTP/1.1 load generator: exactly N requests in flight, per-request latency.

Why not httpx or aiohttp: on this 2-core machine the generator shares the CPU with the
server it measures, and a bare Starlette endpoint answers faster than one httpx client can
ask (encode/httpx#3215). A generator that costs more CPU per request than the server would
make the *ceiling* look low and every ratio look good. So requests are prepared as raw bytes
in advance (signatures included), written on ``N`` keep-alive connections, and answers are
parsed with ``httptools`` (the C parser uvicorn uses), on uvloop: a few microseconds of our
CPU per request. Each connection sends its next request when the previous answer is complete
(closed loop), so ``concurrency`` is the number in flight.

Runs in its own process (``python -m bench.loadgen SPEC OUT``) so it never shares a GIL with
the benchmark driver; :func:`run_load` is the driver's side.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httptools


@dataclass
class LoadSpec:
    """What to send. ``mode="cycle"`` repeats ``requests`` for ``duration`` seconds (after
    ``warmup`` seconds whose answers are not counted); ``mode="once"`` sends each request
    exactly once (signed inbox deliveries must not be replayed) and stops."""

    host: str
    port: int
    requests: list[bytes]
    concurrency: int = 8
    mode: str = "cycle"
    duration: float = 5.0
    warmup: float = 0.5
    timeout: float = 30.0
    bin_seconds: float = 0.25
    label: str = ""


@dataclass
class LoadResult:
    label: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    statuses: dict[str, int]
    errors: int
    generator_cpu: float  # CPU seconds the generator used per wall second (0..1 per core)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (t, answers in bin)
    first_start: float = 0.0  # wall-clock (time.time) of the first request sent
    last_end: float = 0.0  # wall-clock of the last answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


class _Conn(asyncio.Protocol):
    """One keep-alive connection; ``send`` writes a request and waits for its answer."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[int] | None = None
        self.keep_alive = True
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.done is not None and not self.done.done():
                self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("connection closed"))
        if not self.lost.done():
            self.lost.set_result(None)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.done is not None and not self.done.done():
            self.done.set_result(self.parser.get_status_code())

    def _expire(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(TimeoutError("no answer in time"))

    async def send(self, request: bytes, timeout: float) -> int:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        timer = loop.call_later(timeout, self._expire)
        self.transport.write(request)
        try:
            return await self.done
        finally:
            timer.cancel()


async def _connect(host: str, port: int) -> _Conn:
    loop = asyncio.get_running_loop()
    _transport, proto = await loop.create_connection(_Conn, host, port)
    return proto


async def generate(spec: LoadSpec) -> LoadResult:
    """Run the load described by ``spec`` in this process's event loop."""
    latencies: list[float] = []
    ends: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    next_index = 0
    total = len(spec.requests)
    perf0 = time.perf_counter()
    wall0 = time.time()
    count_from = perf0 + (spec.warmup if spec.mode == "cycle" else 0.0)
    stop_at = count_from + spec.duration if spec.mode == "cycle" else float("inf")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)

    def take() -> bytes | None:
        nonlocal next_index
        if spec.mode == "once":
            if next_index >= total:
                return None
            request = spec.requests[next_index]
        else:
            request = spec.requests[next_index % total]
        next_index += 1
        return request

    async def worker() -> None:
        nonlocal errors
        conn: _Conn | None = None
        while time.perf_counter() < stop_at:
            request = take()
            if request is None:
                break
            try:
                if conn is None or not conn.keep_alive or conn.lost.done():
                    if conn is not None and conn.transport is not None:
                        conn.transport.close()
                    conn = await _connect(spec.host, spec.port)
                start = time.perf_counter()
                status = await conn.send(request, spec.timeout)
                end = time.perf_counter()
            except (OSError, ConnectionError, TimeoutError, httptools.HttpParserError):
                errors += 1
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            if start >= count_from:
                latencies.append(end - start)
                ends.append(end)
                key = str(status)
                statuses[key] = statuses.get(key, 0) + 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    perf1 = time.perf_counter()
    span_start = count_from if spec.mode == "cycle" else perf0
    span_end = max(ends) if ends and spec.mode == "once" else min(perf1, stop_at)
    seconds = max(1e-9, span_end - span_start)
    ordered = sorted(latencies)
    bins: dict[int, int] = {}
    for end in ends:
        slot = int((end - span_start) / spec.bin_seconds)
        bins[slot] = bins.get(slot, 0) + 1
    timeline = [(round(k * spec.bin_seconds, 3), v) for k, v in sorted(bins.items())]
    used = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return LoadResult(
        label=spec.label,
        concurrency=spec.concurrency,
        requests=len(latencies),
        seconds=round(seconds, 4),
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(percentile(ordered, 50) * 1000, 3),
        p90_ms=round(percentile(ordered, 90) * 1000, 3),
        p99_ms=round(percentile(ordered, 99) * 1000, 3),
        max_ms=round((ordered[-1] if ordered else 0.0) * 1000, 3),
        mean_ms=round((sum(ordered) / len(ordered) if ordered else 0.0) * 1000, 3),
        statuses=statuses,
        errors=errors,
        generator_cpu=round(used / max(1e-9, perf1 - perf0), 3),
        timeline=timeline,
        first_start=wall0 + (span_start - perf0),
        last_end=wall0 + ((max(ends) if ends else perf1) - perf0),
    )


def build_request(
    method: str,
    path: str,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    """The raw bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        if name.lower() != "host":
            lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def run_load(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` in a separate generator process and return its result."""
    with tempfile.TemporaryDirectory(prefix="tessera-load-") as folder:
        spec_path, out_path = Path(folder) / "spec.pkl", Path(folder) / "out.json"
        spec_path.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", str(spec_path), str(out_path)
        )
        code = await proc.wait()
        if code != 0:
            raise RuntimeError(f"load generator failed ({code}) for {spec.label}")
        data = json.loads(out_path.read_text())
    data["timeline"] = [tuple(x) for x in data["timeline"]]
    return LoadResult(**data)


def main(argv: list[str]) -> int:
    spec = pickle.loads(Path(argv[1]).read_bytes())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    result = runner(generate(spec))
    Path(argv[2]).write_text(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
