"""Time-ordered 63-bit ids (like Mastodon's snowflakes).

Ids that sort by creation time let every list paginate by cursor (``max_id``) on the
primary key alone, and let a post know its own URL before the row is inserted.

Layout: milliseconds since the epoch in the high bits, then 10 random-then-counting bits,
then a 6-bit tag of the process. Several processes write to one database (the web
processes of ``tessera serve``, ``tessera worker``, the CLI); without the tag, two of them
making ids in the same millisecond would collide one time in a few thousand, and the
second insert would fail. The web processes of one server are tagged 0, 1, 2, ... up to
31 (set after the fork, ``set_process_tag``), so they never collide with each other; any
other process (``tessera worker``, the CLI) takes a random tag from 32 to 63, so it never
meets a web process's tag either.
"""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["TAG_BITS", "new_id", "set_process_tag"]

TAG_BITS = 6
_TAG_MASK = (1 << TAG_BITS) - 1
_lock = threading.Lock()
_last = 0
_tag = (1 << (TAG_BITS - 1)) | secrets.randbits(TAG_BITS - 1)  # 32-63: see above


def set_process_tag(tag: int) -> None:
    """Tag this process's ids with ``tag`` (0-63), distinct among the processes that may
    write at the same moment."""
    global _tag
    if not 0 <= tag <= _TAG_MASK:
        raise ValueError(f"process tag must be between 0 and {_TAG_MASK}")
    with _lock:
        _tag = tag


def new_id(now_ms: int | None = None) -> int:
    """The next id of this process: later than every id it made before, ending in its tag."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        candidate = (ms << 16) | (secrets.randbits(16 - TAG_BITS - 2) << TAG_BITS) | _tag
        if candidate <= _last:
            # the next free id with this tag (the low bits keep counting, a millisecond's
            # worth of them being 1,024 ids; past that the id runs a little ahead of time)
            candidate = ((_last >> TAG_BITS) + 1) << TAG_BITS | _tag
        _last = candidate
    return candidate
