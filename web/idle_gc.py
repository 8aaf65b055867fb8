"""Full garbage collections, and memory handed back, while the server is idle, not in the
middle of a burst.

Why: a full (generation 2) collection walks every container object the process has made
since start-up (what start-up made is frozen out of its sight, ``tessera.serving``): the
key cache's actors, SQLAlchemy's compiled statements, the modules imported on first use.
Once the caches have filled that is 35-60,000 objects and 20-45 ms of the event loop, and
under CPython's default thresholds one ran every second or two of an inbox flood
(measured with ``gc.callbacks`` in the benchmark: 12 in one inbox run). Every request in
flight waits for it, so one collection during a burst of federated deliveries decided
the inbox's p99 latency at 32 in flight (docs/performance.md).

How: the automatic full collection is put off to every ``FULL_EVERY`` collections of
the middle generation (about a hundred times rarer than the default's ten), which bounds
the garbage a server that is never idle keeps; and while no request has been in flight
for ``QUIET_SECONDS``, a background task runs the full collection the default would have
run by now. Younger generations are collected as before: they are small and quick
(~0.3-1.5 ms). Cyclic garbage that reaches the oldest generation is rare here (tens of
objects a collection), so waiting for a quiet moment costs no measurable memory.
Background work (inbox processing, deliveries) holds the collection off too, while it is
under way (``federation.background``): a fan-out has no request in flight, and a full
collection in the middle of one held every delivery in flight.

Only for the generational collector of CPython 3.11-3.13, whose thresholds and counts
this reads: 3.14 changed the collector (an incremental one in its first releases, with
other meanings for ``set_threshold`` and ``get_count``), so there the lifespan leaves
collection alone (``GENERATIONAL``).

The same quiet moments give freed memory back to the operating system. glibc's malloc
keeps what a burst of requests freed inside its heaps for the next burst; after the
benchmark's 20,000 mixed page requests that was 4-5 MB of the process's resident memory
that nothing used, and ``malloc_trim(0)`` returned ~2.7 MB of it in under a millisecond.
It runs once a process has had no request in flight for ``TRIM_QUIET_SECONDS`` after
answering some, so a quiet server costs nothing and a busy one trims between bursts. Where
the C library has no ``malloc_trim`` (musl, macOS) this part does nothing.

And they empty caches whose every entry has expired: the page and entity caches keep what
a request rendered for a few seconds, but hold it until the next request replaces it, so a
server that goes quiet after a busy hour kept megabytes of pages nobody could be served.
A cache registers with ``after_quiet(seconds, forget)``; ``forget`` runs once no request
has been answered for that long (every entry it holds was made by a request, so all have
expired), at most once per quiet spell, and the heap is trimmed again after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from federation import background

FULL_EVERY = 1000
"""Middle-generation collections before a full one runs regardless of load (default 10)."""

DUE_AFTER = 10
"""Middle-generation collections after which an idle moment is used for a full one: the
default's cadence, without its rule that waits for enough new long-lived objects, so a
lightly loaded server collects somewhat more often than before, always while idle."""

GENERATIONAL = sys.version_info < (3, 14)
"""Whether this interpreter's collector is the one this module was measured against."""

QUIET_SECONDS = 0.2
CHECK_SECONDS = 0.5
TRIM_QUIET_SECONDS = 1.0
"""Longer than the collection's quiet: a trim hands pages back that the next request may
have to fault in again, so it waits for the end of a burst, not a pause within one."""


def _find_malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # TypeError: no C library by that name
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: function(0)


MALLOC_TRIM = _find_malloc_trim()


_holders = 0
_saved_thresholds: tuple[int, int, int] | None = None


def _hold_thresholds() -> None:
    global _holders, _saved_thresholds
    if _holders == 0:
        _saved_thresholds = gc.get_threshold()
        gc.set_threshold(_saved_thresholds[0], _saved_thresholds[1], FULL_EVERY)
    _holders += 1


def _release_thresholds() -> None:
    global _holders
    _holders -= 1
    if _holders == 0 and _saved_thresholds is not None:
        gc.set_threshold(*_saved_thresholds)


@dataclass
class _QuietHook:
    seconds: float
    forget: Callable[[], object]
    due: bool = False


class IdleCollector:
    """Knows how many HTTP requests are in flight (``CountRequests`` tells it) and runs the
    full collections and the trims when there are none."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.in_flight = 0
        self.last_active = clock()
        self.collections = 0
        self.trims = 0
        self.trim_due = False
        self._quiet_hooks: list[_QuietHook] = []

    def after_quiet(self, seconds: float, forget: Callable[[], object]) -> None:
        """Run ``forget`` once no request has been in flight for ``seconds`` after some
        were answered (for caches whose entries all expire within ``seconds``)."""
        self._quiet_hooks.append(_QuietHook(seconds, forget))

    def answered(self) -> None:
        """A request was answered (``CountRequests``)."""
        self.last_active = self.clock()
        self.trim_due = True
        for hook in self._quiet_hooks:
            hook.due = True

    def forget_if_quiet(self) -> int:
        """Run the quiet hooks whose time has come; how many ran."""
        if self.in_flight:
            return 0
        quiet = self.clock() - self.last_active
        ran = 0
        for hook in self._quiet_hooks:
            if hook.due and quiet >= hook.seconds:
                hook.due = False
                hook.forget()
                ran += 1
        if ran:
            self.trim_due = True
        return ran

    def idle(self) -> bool:
        """No request in flight for ``QUIET_SECONDS``, and no background work under way
        (a fan-out or an inbox pass has no request in flight, but every delivery or item
        in it would wait for the collection)."""
        return (
            self.in_flight == 0
            and not background.busy()
            and self.clock() - self.last_active >= QUIET_SECONDS
        )

    def collect_if_idle(self) -> bool:
        """Run a full collection if one is due and nothing is being answered."""
        if not GENERATIONAL or gc.get_count()[2] < DUE_AFTER or not self.idle():
            return False
        gc.collect()
        self.collections += 1
        return True

    def trim_if_idle(self) -> bool:
        """Give freed heap memory back once requests have been answered and none has been
        in flight for ``TRIM_QUIET_SECONDS``."""
        if (
            MALLOC_TRIM is None
            or not self.trim_due
            or self.in_flight
            or self.clock() - self.last_active < TRIM_QUIET_SECONDS
        ):
            return False
        self.trim_due = False
        MALLOC_TRIM()
        self.trims += 1
        return True

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: the thresholds and the background task, both undone at
        the end. The thresholds belong to the process, and one process may run several
        apps whose lifespans overlap in any order (two instances in a test), so they are
        changed by the first to start and put back by the last to stop."""
        if GENERATIONAL:
            _hold_thresholds()
        task = asyncio.create_task(self._run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if GENERATIONAL:
                _release_thresholds()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            self.collect_if_idle()
            self.forget_if_quiet()
            self.trim_if_idle()


class CountRequests:
    """The outermost middleware: tells the collector when a request starts and ends."""

    def __init__(self, app: ASGIApp, *, collector: IdleCollector) -> None:
        self.app = app
        self.collector = collector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        collector = self.collector
        collector.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            collector.in_flight -= 1
            collector.answered()
