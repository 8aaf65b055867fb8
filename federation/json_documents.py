"""Reading the JSON documents other servers send: fast, and exactly as lenient as ``json``.

Every delivery's body is parsed at the inbox's door and again when it is processed.
``orjson`` parses a typical activity several times faster than the standard library,
but it is stricter: it refuses ``NaN``/``Infinity`` and lone surrogate escapes, which
``json`` reads. Whatever ``orjson`` refuses is read again by ``json``, so a document is
accepted or refused exactly as before. One value reads differently: an integer beyond 64
bits becomes a float (``json`` keeps it whole). In an activity numbers are sizes, counts
and durations, none near that range, and the inbox stores the body as received.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["loads"]


def loads(document: str | bytes) -> Any:
    """The parsed document; ``ValueError`` (or ``UnicodeDecodeError``) when it is not JSON."""
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return json.loads(document)
