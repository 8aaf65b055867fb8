"""Reading other servers' actor documents into plain fields (pure: no I/O, no database).

Real servers disagree on shapes that ActivityStreams leaves open, so the parser is tolerant
where the vocabulary allows choice and strict where identity is at stake:

* tolerant: a single value where a list is allowed (``publicKey``, ``icon``, ``url``), an
  id string where an object is allowed (``endpoints``, ``inbox``), a missing ``@context``,
  ``icon`` as an object, a list or a bare URL, GoToSocial's key id without a fragment;
* strict: the ``id`` must live on the host the document was fetched from (otherwise any
  server could publish a document "for" an account of another server), a key whose
  ``owner`` is another actor is ignored, ``preferredUsername`` is required (it is the
  handle people see and the row's unique name on its server), and only http(s) URLs are kept.

The summary is remote HTML: it is sanitised here with an allow-list, once, so every page
that shows it can trust what is stored. The display name is plain text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nh3

__all__ = [
    "ACTOR_TYPES",
    "RemoteActorFields",
    "first_url",
    "host_of",
    "id_of",
    "is_key_document",
    "parse_actor",
    "plain_text",
    "sanitize_html",
]

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})

MAX_DISPLAY_NAME = 100
"""Characters kept of a remote display name (Mastodon shows about 30; this leaves room)."""

MAX_SUMMARY_INPUT = 50_000
"""Characters of remote summary HTML read at all; the inbox caps whole bodies at 1 MB."""

MAX_USERNAME = 255

_ALLOWED_TAGS = {
    "p", "br", "a", "span", "strong", "em", "b", "i", "u",
    "code", "pre", "blockquote", "ul", "ol", "li",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "class"}, "span": {"class"}}
_LINK_REL = "nofollow noopener noreferrer"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class RemoteActorFields:
    """What we keep of a remote actor document; URLs are absolute http(s) or None."""

    ap_id: str
    domain: str
    actor_type: str
    username: str
    display_name: str
    summary_html: str
    url: str | None
    inbox: str | None
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    following: str | None
    key_id: str | None
    public_key_pem: str | None
    avatar_url: str | None
    header_url: str | None
    manually_approves_followers: bool
    discoverable: bool


def sanitize_html(html: str) -> str:
    """Remote HTML reduced to the allow-list: text formatting and links, nothing else.

    Links keep only ``href`` (http/https/mailto) and ``class`` (Mastodon marks mentions and
    hashtags with it) and get ``rel="nofollow noopener noreferrer"``; scripts and styles are
    dropped with their content.
    """
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel=_LINK_REL,
        clean_content_tags={"script", "style"},
        strip_comments=True,
    )


def plain_text(value: Any, limit: int) -> str:
    """A single line of text: controls and bidi overrides removed, spaces collapsed, capped."""
    if not isinstance(value, str):
        return ""
    text = _WHITESPACE.sub(" ", _CONTROL.sub("", value)).strip()
    return text[:limit].rstrip()


def id_of(value: Any) -> str | None:
    """The id in a reference: a string, or an object's ``id`` (first of a list)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


CACHED_URL_CHARS = 512
"""URLs longer than this are never kept by the caches of URL parts: real actor and key ids
are far shorter, and a sender must not be able to make a cache hold megabytes."""


def host_of(url: str, *, recurring: bool = True) -> str | None:
    """``host[:port]`` of a URL, lower-cased, the default port left out; None if unusable.

    Cached for ``recurring`` URLs (actor ids: the inbox asks it of every delivery's actor,
    a few thousand senders at most are busy at once, and ``urlsplit`` with its
    ``hostname``/``port`` properties was a tenth of a delivery's parsing). A URL seen once,
    such as an activity's id, is worked out without taking a place in the cache."""
    if recurring and len(url) <= CACHED_URL_CHARS:
        return _cached_host_of(url)
    return _host_of(url)


@functools.lru_cache(maxsize=4096)
def _cached_host_of(url: str) -> str | None:
    return _host_of(url)


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    hostname = parts.hostname
    if not hostname:
        return None
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host.lower()


def first_url(value: Any, *, prefer_html: bool = False) -> str | None:
    """The first http(s) URL in a ``url``-like value: a string, a Link/Image object
    (``href`` or ``url``), or a list of those. With ``prefer_html``, a ``text/html`` link
    wins over the others (Pleroma and Misskey list several representations)."""
    items = value if isinstance(value, list) else [value]
    found: list[tuple[bool, str]] = []
    for item in items[:20]:
        candidate: Any = item
        media = ""
        if isinstance(item, dict):
            candidate = item.get("href") or item.get("url")
            media = str(item.get("mediaType") or "")
            if isinstance(candidate, list | dict):
                candidate = first_url(candidate)
        url = _http_url(candidate)
        if url:
            found.append((media.startswith("text/html"), url))
    if not found:
        return None
    if prefer_html:
        for is_html, url in found:
            if is_html:
                return url
    return found[0][1]


def _image_url(value: Any) -> str | None:
    """``icon``/``image``: an Image object, a list of them, or a bare URL."""
    items = value if isinstance(value, list) else [value]
    for item in items[:20]:
        url = first_url(item.get("url") if isinstance(item, dict) else item)
        if url:
            return url
    return None


def _types(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _same_host(url: str, other: str) -> bool:
    a, b = host_of(url), host_of(other)
    return a is not None and a == b


def _pick_key(value: Any, actor_id: str, want_key_id: str | None) -> tuple[str | None, str | None]:
    """(key id, PEM) of the actor's key: the one named ``want_key_id`` if listed, else the
    first usable. Keys owned by another actor, or on another host, are skipped."""
    items = value if isinstance(value, list) else [value]
    usable: list[tuple[str, str]] = []
    for item in items[:20]:
        if not isinstance(item, dict):
            continue
        key_id, pem, owner = item.get("id"), item.get("publicKeyPem"), id_of(item.get("owner"))
        if not isinstance(key_id, str) or not isinstance(pem, str) or not pem.strip():
            continue
        if (owner is not None and owner != actor_id) or not _same_host(key_id, actor_id):
            continue
        usable.append((key_id, pem))
    for key_id, pem in usable:
        if key_id == want_key_id:
            return key_id, pem
    return usable[0] if usable else (None, None)


def _username(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip()
    if not name or len(name) > MAX_USERNAME or _CONTROL.search(name):
        return None
    if any(ch.isspace() for ch in name) or "@" in name or "/" in name:
        return None
    return name


def is_key_document(doc: Any) -> bool:
    """A stand-alone key document (GoToSocial serves one at ``ACTOR/main-key``)."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("publicKeyPem"), str)
        and id_of(doc.get("owner")) is not None
    )


def parse_actor(
    doc: Any, *, fetched_from: str, want_key_id: str | None = None
) -> RemoteActorFields | None:
    """The fields of an actor document, or None when it is not a usable actor.

    ``fetched_from`` is the URL the document came from (after redirects); the document's
    ``id`` must be on the same host. ``want_key_id`` chooses among several keys.
    """
    if not isinstance(doc, dict):
        return None
    ap_id = _http_url(doc.get("id"))
    types = _types(doc.get("type"))
    kind = next((t for t in types if t in ACTOR_TYPES), None)
    if ap_id is None or kind is None or not _same_host(ap_id, fetched_from):
        return None
    domain = host_of(ap_id)
    username = _username(doc.get("preferredUsername"))
    if domain is None or username is None:
        return None
    endpoints = doc.get("endpoints")
    shared = _http_url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
    key_id, pem = _pick_key(doc.get("publicKey"), ap_id, want_key_id)
    summary = doc.get("summary")
    summary_html = sanitize_html(summary[:MAX_SUMMARY_INPUT]) if isinstance(summary, str) else ""
    return RemoteActorFields(
        ap_id=ap_id,
        domain=domain,
        actor_type=kind,
        username=username,
        display_name=plain_text(doc.get("name"), MAX_DISPLAY_NAME),
        summary_html=summary_html,
        url=first_url(doc.get("url"), prefer_html=True),
        inbox=_http_url(id_of(doc.get("inbox"))),
        shared_inbox=shared,
        outbox=_http_url(id_of(doc.get("outbox"))),
        followers=_http_url(id_of(doc.get("followers"))),
        following=_http_url(id_of(doc.get("following"))),
        key_id=key_id,
        public_key_pem=pem,
        avatar_url=_image_url(doc.get("icon")),
        header_url=_image_url(doc.get("image")),
        manually_approves_followers=doc.get("manuallyApprovesFollowers") is True,
        discoverable=doc.get("discoverable") is True,
    )
