"""The building blocks of ``federation.parse``: reference shapes, origins, dates, the HTML
allow-list, attachments and tags (pure; re-exported by ``federation.parse``).

Each helper accepts every shape real servers send for its property - a single value or a
list, an id string or an object, a URL string, a Link object or a list of them - and
answers with plain values or ``None``, never an exception.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import nh3

MAX_ALT_TEXT = 10_000
"""Mastodon cuts incoming alt text at 10,000 characters; so do we."""

MAX_DIMENSION = 16_384
"""The widest or tallest side a remote attachment may declare; a larger (or a fractional,
zero or negative) width or height is dropped. The configured ``media.max_pixels`` limits
the area and needs the configuration, so ``federation.remote_media`` checks that; this
bound keeps a sender's number sane (and an integer column's) before anything sees it."""

MAX_URL_LENGTH = 8_192
"""Longest attachment URL kept; a longer one could not even be requested from a server
with common request-line limits (nginx answers 414 beyond 8 KB), so it is dropped."""

MAX_MEDIA_TYPE = 255
"""Longest declared media type kept (RFC 6838: type and subtype of at most 127 characters
each); a longer one is read as none, as a cut one would name nothing."""

MAX_BLURHASH = 100
"""Longest blurhash kept (the column's size; 9x9 components would need 166)."""

MAX_BLURHASH_SIZE_FLAG = 80
"""The largest first character of a blurhash, as a base-83 digit: 9 x 9 components."""

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
"""The blurhash alphabet, in digit order (base 83)."""

MAX_HASHTAGS = 30

ALLOWED_TAGS = frozenset(
    {"p", "br", "a", "span", "strong", "em", "b", "i", "u", "code", "pre", "blockquote"}
    | {"ul", "ol", "li"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "class"}, "span": {"class"}}
LINK_REL = "nofollow noopener noreferrer"


# --- shapes ------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """``None`` → ``[]``, a single value → ``[value]``, a list → itself."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [value]


def id_of(value: Any) -> str | None:
    """The id of a reference: the string itself, or an object's ``id`` (or Link ``href``)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        for key in ("id", "href"):
            found = value.get(key)
            if isinstance(found, str) and found.strip():
                return found.strip()
    if isinstance(value, list) and value:
        return id_of(value[0])
    return None


def ids_of(value: Any) -> list[str]:
    """Every id in a reference list, skipping entries that have none."""
    return [i for i in (id_of(v) for v in as_list(value)) if i]


def first(value: Any) -> Any:
    """The first element of a list (or the value itself); ``None`` for an empty list."""
    items = as_list(value)
    return items[0] if items else None


def type_of(value: Any) -> str:
    """An object's type; a list of types (JSON-LD allows it) gives its first string."""
    if not isinstance(value, dict):
        return ""
    for item in as_list(value.get("type")):
        if isinstance(item, str):
            return item.rsplit("#", 1)[-1].removeprefix("as:")
    return ""


def text_of(value: Any) -> str:
    """A string property, or the first value of its language map form; else ``""``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, str):
                return item
    return ""


ORIGIN_CACHE_MAX_URL = 512
"""Longer URLs are parsed every time: a cache entry keeps its key, and a remote server
chooses the length of the URLs it sends (up to the body cap)."""


def origin(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the unit the same-origin rule compares.

    Cached for URLs of ordinary length: processing asks this of the same few URLs (our
    base URL, the senders, the public collection) many times an activity, and
    ``urlsplit`` was a fifth of a batch's time."""
    if not url:
        return None
    if len(url) <= ORIGIN_CACHE_MAX_URL:
        return _cached_origin(url)
    return _origin(url)


@functools.lru_cache(maxsize=4096)
def _cached_origin(url: str) -> tuple[str, str, int] | None:
    return _origin(url)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https"):
        return None
    return parts.scheme, host.lower(), port or (443 if parts.scheme == "https" else 80)


def same_origin(a: str | None, b: str | None) -> bool:
    left = origin(a)
    return left is not None and left == origin(b)


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 as servers write it (``Z``, offsets, fractions); aware UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# --- HTML ----------------------------------------------------------------------------------


def sanitize_html(html: str) -> str:
    """Keep only simple text markup and links; every link gets ``rel=nofollow...``.

    An allow-list (not a block-list): scripts, styles, images, iframes, event handlers,
    ``javascript:`` URLs and unknown tags all disappear, their text kept where harmless.
    """
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        link_rel=LINK_REL,
        url_schemes={"http", "https"},
    )


def plain_text(html: str, limit: int = 5000) -> str:
    """The text of sanitised HTML (for titles and summaries): tags dropped, entities read,
    paragraphs and line breaks kept as newlines."""
    if not html:
        return ""
    spaced = html.replace("<br>", "\n").replace("</p>", "</p>\n\n")
    text = unescape(nh3.clean(spaced, tags=set()))
    return "\n".join(line.strip() for line in text.strip().splitlines())[:limit]


# --- attachments and tags -------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAttachment:
    url: str
    media_type: str  # as declared ("" when missing); the bytes are sniffed later anyway
    kind: str  # image | video | audio | unknown
    alt: str
    blurhash: str | None
    focal_point: tuple[float, float] | None
    width: int | None
    height: int | None


def pick_url(value: Any) -> tuple[str | None, str]:
    """(url, media type) from a string, a Link object, or a list of either.

    In a list, the first entry declaring an image type wins (Peertube and Pixelfed send
    several renditions); otherwise the first usable entry.
    """
    candidates: list[tuple[str, str]] = []
    for item in as_list(value):
        if isinstance(item, str) and item.strip():
            candidates.append((item.strip(), ""))
        elif isinstance(item, dict):
            href = item.get("href") if isinstance(item.get("href"), str) else None
            href = href or (item.get("url") if isinstance(item.get("url"), str) else None)
            if href:
                mime = item.get("mediaType")
                candidates.append((href.strip(), mime if isinstance(mime, str) else ""))
    for url, mime in candidates:
        if mime.startswith("image/"):
            return url, mime
    return candidates[0] if candidates else (None, "")


def _dimension(value: Any) -> int | None:
    """A declared width or height: a whole number from 1 to ``MAX_DIMENSION`` (an integer,
    a float without a fraction, or a string of ASCII digits); None for anything else. A
    string is converted only when short: Python refuses to read an integer of more than
    4,300 digits, and a parser must answer, not raise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (0 < len(value) <= 10 and value.isascii() and value.isdigit()):  # not "²"
            return None
        value = int(value)
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            return None
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_DIMENSION:
        return value
    return None


def _focal_point(value: Any) -> tuple[float, float] | None:
    """Mastodon's ``focalPoint`` [x, y], each clamped into -1..1 (the image's edges); None
    unless it is two finite numbers (JSON ``true`` is not one)."""
    items = as_list(value)
    if len(items) != 2 or any(isinstance(v, bool) for v in items):
        return None
    try:
        x, y = (float(v) for v in items)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y))


def _blurhash(value: Any) -> str | None:
    """A blurhash that can be decoded: base 83 throughout, and exactly as long as its first
    character's component counts say (4 + 2 x columns x rows), at most ``MAX_BLURHASH``.
    That character is (rows - 1) x 9 + (columns - 1) for 1 to 9 of each, so at most 80
    (``|``). ``}`` (81) and ``~`` (82) are base 83 too but outside the format (they would
    read as 10 rows, which the format does not allow and no encoder writes); a hash of the
    length they imply would pass the length test, so they are refused on their own.
    Anything else would fail, or draw garbage, in every client that shows it."""
    if not isinstance(value, str) or not 6 <= len(value) <= MAX_BLURHASH:
        return None
    if not set(value) <= set(_BASE83):
        return None
    size = _BASE83.index(value[0])
    if size > MAX_BLURHASH_SIZE_FLAG:
        return None
    columns, rows = size % 9 + 1, size // 9 + 1
    return value if len(value) == 4 + 2 * columns * rows else None


def _kind(type_name: str, media_type: str) -> str:
    major = media_type.split("/", 1)[0].lower() if media_type else ""
    if major in ("image", "video", "audio"):
        return major
    return {"Image": "image", "Video": "video", "Audio": "audio"}.get(type_name, "unknown")


def parse_attachment(value: Any) -> ParsedAttachment | None:
    """One ``attachment`` entry (Document, Image, Video, ...); None when it has no URL."""
    if isinstance(value, str):
        value = {"type": "Document", "url": value}
    if not isinstance(value, dict):
        return None
    url, url_mime = pick_url(value.get("url") or value.get("href"))
    if not url or len(url) > MAX_URL_LENGTH or origin(url) is None:
        return None
    declared = value.get("mediaType")
    media_type = declared if isinstance(declared, str) and declared else url_mime
    if len(media_type) > MAX_MEDIA_TYPE:
        media_type = ""
    # Mastodon reads ``summary`` first, then ``name``; either may be null.
    alt = (text_of(value.get("summary")) or text_of(value.get("name"))).strip()
    return ParsedAttachment(
        url=url,
        media_type=media_type,
        kind=_kind(type_of(value), media_type),
        alt=alt[:MAX_ALT_TEXT],
        blurhash=_blurhash(value.get("blurhash")),
        focal_point=_focal_point(value.get("focalPoint")),
        width=_dimension(value.get("width")),
        height=_dimension(value.get("height")),
    )


@dataclass(frozen=True)
class ParsedTags:
    hashtags: tuple[str, ...]  # display names without '#', first spelling wins per name
    mentions: tuple[str, ...]  # actor ids (hrefs) of Mention tags


def parse_tags(value: Any) -> ParsedTags:
    hashtags: list[str] = []
    seen: set[str] = set()
    mentions: list[str] = []
    for tag in as_list(value):
        if not isinstance(tag, dict):
            continue
        kind = type_of(tag)
        if kind == "Hashtag":
            name = text_of(tag.get("name")).strip().lstrip("#").strip()
            if name and len(name) <= 100 and name.lower() not in seen:
                seen.add(name.lower())
                hashtags.append(name)
        elif kind == "Mention":
            href = id_of(tag.get("href"))
            if href and href not in mentions:
                mentions.append(href)
    return ParsedTags(tuple(hashtags[:MAX_HASHTAGS]), tuple(mentions))
