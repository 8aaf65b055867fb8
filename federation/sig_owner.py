"""Does the key that signed a request belong to the activity's actor?

A valid signature only proves that *some* key signed the request. An inbox must also check
that the key belongs to the actor named in the activity, or any fediverse account could post
activities "from" any other. Key ids come in several shapes - ``ACTOR#main-key`` (Mastodon,
Misskey, Pleroma) and ``ACTOR/main-key`` (GoToSocial) among them - so ownership is decided from
the fetched key/actor document, never from string prefixes.
"""

from __future__ import annotations

import functools
from urllib.parse import urldefrag, urlsplit

__all__ = ["key_owner_matches"]

_DEFAULT_PORTS = {"https": 443, "http": 80}


_CACHED_URL_CHARS = 512
"""Longer URLs are worked out each time: real key and actor ids are far shorter, and a
sender must not be able to make the cache hold megabytes."""


def _url_parts(url: str) -> tuple[str, str, str] | None:
    """(scheme, host[:non-default port], rest) with case and default ports normalised.

    Cached: every delivery asks it of its key id, its actor and the key's owner, the same
    few thousand URLs over and over."""
    if len(url) <= _CACHED_URL_CHARS:
        return _cached_url_parts(url)
    return _parse_url_parts(url)


@functools.lru_cache(maxsize=4096)
def _cached_url_parts(url: str) -> tuple[str, str, str] | None:
    return _parse_url_parts(url)


def _parse_url_parts(url: str) -> tuple[str, str, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return scheme, host, rest + (f"#{parts.fragment}" if parts.fragment else "")


def key_owner_matches(key_id: str, actor_id: str, key_owner: str | None) -> bool:
    """Whether the key that signed a request may speak for the activity's ``actor``.

    ``key_owner`` is the owner learnt by fetching ``key_id`` (the key document's ``owner``,
    or the id of the actor document that holds the key). When known it decides: it must be
    the actor. Key ids are not assumed to be ``ACTOR#main-key``; GoToSocial uses
    ``ACTOR/main-key``, and a prefix test would let ``/users/bob-evil`` speak for
    ``/users/bob``. The key must also live on the actor's origin, because a key document is
    only trusted about actors on its own server.

    Without a fetched owner the only safe conclusion is the structural one: a key id that is
    the actor id itself or the actor id plus a fragment lives *inside* the actor document.
    Anything else (such as a path-style id) needs the owner to be fetched; this returns False.
    """
    key_parts, actor_parts = _url_parts(key_id), _url_parts(actor_id)
    if key_parts is None or actor_parts is None or key_parts[:2] != actor_parts[:2]:
        return False
    if key_owner is not None:
        return _url_parts(key_owner) == actor_parts
    return _url_parts(urldefrag(key_id).url) == actor_parts
