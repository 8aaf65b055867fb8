"""Resolving the ``@name`` and ``@name@domain`` a caption contains to actors.

Resolution happens *before* the post's transaction, because an unknown remote handle
costs a WebFinger lookup and an actor fetch (seconds, on a slow server) and no write
transaction should stay open over the network. Local names are looked up by query;
remote handles come from the actor table when we know them, and otherwise through
``federation.fetch.resolve_handle``. A handle that cannot be resolved (no such account,
a server down, a lying document) is simply left unlinked, as Mastodon does: the post is
still published.

The result maps :func:`federation.content.mention_key` of every handle as typed to its
actor, so that rendering (``render_caption(..., mentions=...)``) links exactly what was
resolved and the post's ``mention`` rows name the same actors.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from federation.content import MentionKey, extract_mentions, mention_key, render_caption
from federation.fetch import resolve_handle
from services.context import Services
from storage import mention_queries as mq
from storage.models import Actor
from tessera.errors import TesseraError

__all__ = [
    "MAX_MENTIONS",
    "Resolved",
    "known_mentions",
    "links",
    "mentioned",
    "render",
    "resolve_mentions",
]

log = logging.getLogger("tessera.mentions")

MAX_MENTIONS = 30
"""At most this many handles of one caption are resolved (and notified, and delivered to):
a caption naming hundreds of accounts is spam, and each unknown one costs remote fetches."""

Resolved = dict[MentionKey, Actor]


def _handles(services: Services, text: str) -> list[tuple[str, str | None]]:
    """The caption's handles, ``@name@our.domain`` folded into the local ``@name``."""
    local = services.config.instance.domain.lower()
    found: list[tuple[str, str | None]] = []
    for name, domain in extract_mentions(text)[:MAX_MENTIONS]:
        found.append((name, None if domain and domain.lower() == local else domain))
    return found


async def known_mentions(services: Services, session: AsyncSession, text: str) -> Resolved:
    """The handles of ``text`` that resolve without the network (local accounts and remote
    actors already in the actor table). Each typed form is a key of the result."""
    typed = extract_mentions(text)[:MAX_MENTIONS]
    handles = _handles(services, text)
    local = await mq.local_actors_named(session, [n for n, d in handles if d is None])
    remote = await mq.remote_actors_by_handle(session, [(n, d) for n, d in handles if d])
    resolved: Resolved = {}
    for (name, domain), (_, folded) in zip(typed, handles, strict=True):
        if folded is None:
            actor = local.get(name.lower())
        else:
            actor = remote.get((name.lower(), folded.lower()))
        if actor is not None:
            resolved[mention_key(name, domain)] = actor
    return resolved


async def _fetch(services: Services, name: str, domain: str) -> Actor | None:
    try:
        return await resolve_handle(services, f"{name}@{domain}")
    except TesseraError as exc:
        log.info("mention @%s@%s left unlinked: %s", name, domain, exc.public)
        return None


async def resolve_mentions(services: Services, text: str) -> Resolved:
    """Every handle of ``text`` that resolves, fetching unknown remote ones (concurrently).
    Call outside any transaction."""
    if not extract_mentions(text):
        return {}
    async with services.db.session() as session:
        resolved = await known_mentions(services, session, text)
    missing = [
        (name, domain)
        for name, domain in _handles(services, text)
        if domain is not None and mention_key(name, domain) not in resolved
    ]
    fetched = await asyncio.gather(*(_fetch(services, n, d) for n, d in missing))
    for (name, domain), actor in zip(missing, fetched, strict=True):
        if actor is not None and actor.domain is not None and not actor.suspended:
            resolved[mention_key(name, domain)] = actor
    return resolved


def links(resolved: Resolved) -> dict[MentionKey, str]:
    """What ``render_caption`` links each mention to: the profile page (the id if none)."""
    return {key: actor.url or actor.ap_id for key, actor in resolved.items()}


def render(services: Services, text: str, resolved: Resolved) -> str:
    """The caption's HTML with its resolved mentions linked (``content_html``)."""
    return render_caption(text, tag_url=services.urls.tags_base(), mentions=links(resolved))


def mentioned(resolved: Resolved) -> list[Actor]:
    """The distinct actors mentioned (two spellings of one handle are one mention)."""
    return list({actor.id: actor for actor in resolved.values()}.values())
