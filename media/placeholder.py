"""Blurhash placeholders as tiny inline PNGs.

Pages show each image's blurhash until the thumbnail loads. Decoding it in the browser
would need a script; a 6-8 px PNG as a ``data:`` URI is ~150 bytes, needs none, and is
allowed by our Content-Security-Policy (``img-src data:``).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import blurhash


@lru_cache(maxsize=4096)
def placeholder_data_uri(hash_: str | None, aspect: float = 1.0) -> str:
    """A data: URI of the decoded blurhash, or "" when there is none (or it is invalid)."""
    if not hash_ or not blurhash.is_valid_blurhash(hash_):
        return ""
    width = 8 if aspect >= 1 else max(2, round(8 * aspect))
    height = max(2, round(8 / aspect)) if aspect >= 1 else 8
    try:
        image = blurhash.decode(hash_, width, height)
    except Exception:  # a malformed remote blurhash must not break a page
        return ""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
