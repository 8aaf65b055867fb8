"""Time-ordered 63-bit ids (like Mastodon's snowflakes).

Ids that sort by creation time let every list paginate by cursor (``max_id``) on the
primary key alone, and let a post know its own URL before the row is inserted.
"""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = 0


def new_id(now_ms: int | None = None) -> int:
    """Milliseconds since the epoch in the high bits, 16 random-then-counting low bits."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    candidate = (ms << 16) | secrets.randbits(12)
    with _lock:
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
    return candidate
