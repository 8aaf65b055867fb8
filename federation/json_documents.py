"""Reading the JSON documents other servers send: fast, and as lenient as ``json``.

Every delivery's body is parsed at the inbox's door and again when it is processed.
``orjson`` parses a typical activity several times faster than the standard library,
but it is stricter: it refuses ``NaN``/``Infinity`` and lone surrogate escapes, which
``json`` reads. Whatever ``orjson`` refuses is read again by ``json``, so every document
``json`` accepts is accepted. Two differences remain: an integer beyond 64 bits becomes a
float (``json`` keeps it whole; in an activity numbers are sizes, counts and durations,
none near that range, and the inbox stores the body as received), and arrays or objects
nested about 1,000 deep, past ``json``'s recursion limit but within ``orjson``'s, are
read. Anything nested deeper is refused with a ``ValueError`` like any other bad
document (``json`` raised ``RecursionError``, which callers did not expect).
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
        try:
            return json.loads(document)
        except RecursionError:
            raise ValueError("the document is nested too deeply") from None
