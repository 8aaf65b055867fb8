"""Content negotiation: does a request want the ActivityPub JSON or the HTML page?

The same URL serves both (a profile, a post): servers fetch it with
``Accept: application/activity+json`` and browsers with ``text/html, ..., */*;q=0.8``.
Only explicitly named types count, never wildcards: a browser's ``*/*`` must not turn its
page into JSON, and a bare ``*/*`` from a script should get the page's default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

AP_TYPES = frozenset({"application/activity+json", "application/ld+json", "application/json"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_accept(header: str) -> list[tuple[str, float]]:
    """Media ranges with their q-values, as (lower-cased type, q); malformed q drops the range."""
    ranges: list[tuple[str, float]] = []
    for item in _split_outside_quotes(header or "", ","):
        pieces = _split_outside_quotes(item, ";")
        media = pieces[0].strip().lower()
        if not media or "/" not in media:
            continue
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            ranges.append((media, q))
    return ranges


def _best(ranges: list[tuple[str, float]], types: frozenset[str]) -> float:
    return max((q for media, q in ranges if media in types), default=0.0)


MEMO_LIMIT = 256
"""Accept values up to this length have their answers remembered (``MEMO_SIZE`` of them,
so at most ~70 KB a function whatever clients send): clients send a handful of distinct
values, and parsing one costs ~10 µs, as much as the rest of answering a kept page.
Longer ones are parsed each time, so nobody can pin large strings in the memo."""
MEMO_SIZE = 256


class Remembered:
    """``answer`` with its results for short header values kept (``MEMO_LIMIT``)."""

    def __init__(self, answer: Callable[[str | None], bool]) -> None:
        self.answer = answer
        self.memo = functools.lru_cache(maxsize=MEMO_SIZE)(answer)
        functools.update_wrapper(self, answer)

    def __call__(self, value: str | None) -> bool:
        if value is None or len(value) <= MEMO_LIMIT:
            return self.memo(value)
        return self.answer(value)


@Remembered
def wants_activity_json(accept_header: str | None) -> bool:
    """True when the client names an ActivityPub type at least as highly as HTML.

    ``application/ld+json`` counts with or without the ActivityStreams profile (some
    servers drop it), and so does plain ``application/json``, which older software sends.
    """
    ranges = parse_accept(accept_header or "")
    ap = _best(ranges, AP_TYPES)
    return ap > 0.0 and ap >= _best(ranges, HTML_TYPES)


@Remembered
def prefers_html(accept_header: str | None) -> bool:
    """True when the client names HTML above every ActivityPub type (a browser).

    Used on the ActivityPub URLs themselves (``/users/NAME``), where JSON is the default:
    a request with no Accept header, or only ``*/*``, still gets the document.
    """
    ranges = parse_accept(accept_header or "")
    html = _best(ranges, HTML_TYPES)
    return html > 0.0 and html > _best(ranges, AP_TYPES)
