"""Whether this process has background work under way: deliveries being sent, inbox items
being processed.

Why: the web layer saves full garbage collections for moments when nothing is waiting on
the process (``web.idle_gc``), and it told those moments by the HTTP requests in flight.
A fan-out has none: the delivery worker sends a thousand signed requests while no request
to the server is open, so a full collection (every object the claims made included, tens
of milliseconds) could start in the middle of it and hold every delivery in flight; a
benchmark profile of a fan-out had 6% of its samples in one. Work in progress is counted
here, where the workers can reach it (web imports federation, not the other way round).
A plain counter, because the event loop's thread is the only one that changes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_under_way = 0


@contextlib.contextmanager
def working() -> Iterator[None]:
    """Mark background work under way for the duration of the block (it may await)."""
    global _under_way
    _under_way += 1
    try:
        yield
    finally:
        _under_way -= 1


def busy() -> bool:
    """Whether any background work of this process is under way."""
    return _under_way > 0
