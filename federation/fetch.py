"""Dereferencing remote actors, keys and objects, with the actor table as a cache.

Every fetch goes through the one transport and is signed by the instance actor: servers in
authorized-fetch mode (GoToSocial always, Mastodon optionally) refuse unsigned GETs, and a
fetch made for the server itself (verifying an inbox delivery) has no user to sign it.

Actors are cached for :data:`ACTOR_TTL`; a caller that knows the cache is wrong (a
signature that no longer verifies: keys rotate) asks for ``refresh=True``. A document is
only ever stored under its own id, which must live on the host it was fetched from, so a
server can describe its own accounts and nobody else's.

Key ids come in two shapes: ``ACTOR#main-key`` (the key inside the actor document:
Mastodon, Pleroma, Misskey) and a separate key document (GoToSocial's ``ACTOR/main-key``,
``{"id", "owner", "publicKeyPem"}``). Either way the key is only trusted once the owner
actor's own document lists it.

This module takes the application's services object without importing ``services``
(layering): anything with ``config``, ``db``, ``clock``, ``urls`` and ``transport`` works.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urldefrag, urlsplit

from federation.discovery import WebfingerError, parse_webfinger
from federation.documents import instance_actor_url, new_instance_actor
from federation.keys import generate_rsa_keypair
from federation.remote_actors import (
    ACTOR_TYPES,
    RemoteActorFields,
    host_of,
    id_of,
    is_key_document,
    parse_actor,
)
from federation.transport import (
    BadDocument,
    FetchTimeout,
    NetworkError,
    RemoteHTTPError,
    Signer,
    Transport,
)
from federation.urls import Urls
from storage import ap_queries, remote_queries
from storage.db import Database
from storage.models import Actor
from tessera.config import Config
from tessera.errors import InvalidInput, NotFound

__all__ = [
    "ACTOR_TTL",
    "FetchContext",
    "fetch_object",
    "get_actor",
    "get_actor_by_key_id",
    "instance_signer",
    "is_fresh",
    "resolve_handle",
    "store_actor_document",
]

ACTOR_TTL = timedelta(hours=24)
"""How long a fetched actor (and its key) is used without asking its server again."""

GONE_STATUSES = frozenset({404, 410})
"""Answers meaning the document is gone for good (a deleted account or key)."""

JRD_ACCEPT = "application/jrd+json, application/json;q=0.9"
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class FetchContext(Protocol):
    """What fetching needs from the application (``services.context.Services`` fits)."""

    config: Config
    db: Database
    clock: Callable[[], datetime]

    @property
    def urls(self) -> Urls: ...

    @property
    def transport(self) -> Transport: ...


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_fresh(actor: Actor, now: datetime) -> bool:
    """Whether a cached remote actor was fetched within :data:`ACTOR_TTL` of ``now``."""
    if actor.fetched_at is None:
        return False
    return _aware(now) - _aware(actor.fetched_at) < ACTOR_TTL


def _is_local(ctx: FetchContext, url: str) -> bool:
    return host_of(url) == host_of(ctx.config.base_url)


_instance_signers: weakref.WeakKeyDictionary[Database, Signer] = weakref.WeakKeyDictionary()


async def instance_signer(ctx: FetchContext) -> Signer:
    """The instance actor's key (the actor row is created with its key pair on first use).

    Kept per database once read: the row's key pair is made once and never replaced, and
    every signed fetch (a delivery from a sender not seen before, a remote post, its
    media) asks for it; reading the row each time cost a session, a query and an ORM
    object a fetch."""
    known = _instance_signers.get(ctx.db)
    if known is not None:
        return known
    urls, domain = ctx.urls, ctx.config.instance.domain

    async def make() -> Actor:
        keypair = await asyncio.to_thread(generate_rsa_keypair)
        return new_instance_actor(urls, domain, keypair)

    actor = await ap_queries.get_or_create_instance_actor(ctx.db, instance_actor_url(urls), make)
    assert actor.private_key_pem, "the instance actor always has a private key"
    signer = Signer(actor.key_id or f"{actor.ap_id}#main-key", actor.private_key_pem)
    _instance_signers[ctx.db] = signer
    return signer


async def fetch_object(ctx: FetchContext, url: str) -> dict[str, Any]:
    """GET an ActivityPub object, signed by the instance actor; its id is on its own host."""
    return await ctx.transport.fetch_ap_object(url, signer=await instance_signer(ctx))


def actor_record(fields: RemoteActorFields) -> remote_queries.ActorRecord:
    """The row values a parsed actor document gives (shared with Update{Person})."""
    return remote_queries.ActorRecord(
        ap_id=fields.ap_id,
        domain=fields.domain,
        actor_type=fields.actor_type,
        username=fields.username,
        display_name=fields.display_name,
        bio_html=fields.summary_html,
        url=fields.url,
        inbox_url=fields.inbox,
        shared_inbox_url=fields.shared_inbox,
        outbox_url=fields.outbox,
        followers_url=fields.followers,
        following_url=fields.following,
        key_id=fields.key_id,
        public_key_pem=fields.public_key_pem,
        avatar_remote_url=fields.avatar_url,
        header_remote_url=fields.header_url,
        manually_approves_followers=fields.manually_approves_followers,
        discoverable=fields.discoverable,
    )


async def _store_actor(
    ctx: FetchContext, data: dict[str, Any], *, fetched_from: str, want_key_id: str | None = None
) -> Actor:
    fields = parse_actor(data, fetched_from=fetched_from, want_key_id=want_key_id)
    if fields is None:
        raise BadDocument.for_url(fetched_from, "the document is not a usable actor")
    if _is_local(ctx, fields.ap_id):
        raise BadDocument.for_url(fetched_from, "the document claims a local id")
    try:
        return await remote_queries.upsert_remote_actor(
            ctx.db, actor_record(fields), now=ctx.clock()
        )
    except remote_queries.HandleTaken:
        raise BadDocument.for_url(
            fetched_from, "another account of that server already has this name"
        ) from None


async def store_actor_document(
    ctx: FetchContext, data: dict[str, Any], *, fetched_from: str
) -> Actor:
    """Store an actor document just fetched from ``fetched_from`` (with ``fetch_object``)
    for a caller that also reads something of the document the row does not keep, such as
    ``alsoKnownAs`` when a Move is checked. Raises ``BadDocument`` as ``get_actor`` does."""
    return await _store_actor(ctx, data, fetched_from=fetched_from)


async def _local_actor(ctx: FetchContext, ap_id: str) -> Actor:
    async with ctx.db.session() as session:
        found = await remote_queries.actor_by_ap_id(session, ap_id)
    if found is None or found.domain is not None:
        raise NotFound("No such account on this server.")
    return found


async def get_actor(ctx: FetchContext, actor_url: str, *, refresh: bool = False) -> Actor:
    """The actor at ``actor_url``: the cached row when fresh, else fetched and stored.

    Our own URLs are answered from the database (a local account is never fetched or
    overwritten). Raises a ``FetchError`` subclass when the server fails us or the document
    is not an actor of that server.
    """
    if _is_local(ctx, actor_url):
        return await _local_actor(ctx, actor_url)
    if not refresh:
        async with ctx.db.session() as session:
            cached = await remote_queries.actor_by_ap_id(session, actor_url)
        if cached is not None and cached.domain is not None and is_fresh(cached, ctx.clock()):
            return cached
    data = await fetch_object(ctx, actor_url)
    return await _store_actor(ctx, data, fetched_from=actor_url)


def _is_actor_document(data: dict[str, Any]) -> bool:
    kinds = data.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(kind in ACTOR_TYPES for kind in kinds)


async def get_actor_by_key_id(ctx: FetchContext, key_id: str, *, refresh: bool = False) -> Actor:
    """The actor that owns the key ``key_id``, with that key stored on its row.

    The key id's URL (without fragment) is fetched. An actor document must list the key
    itself; a key document names its ``owner``, which is then fetched, and the owner's
    document must list this very key id - a key document alone proves nothing.
    """
    if _is_local(ctx, key_id):
        found = await _local_actor(ctx, urldefrag(key_id).url)
        if found.key_id != key_id:
            raise NotFound("No such key on this server.")
        return found
    cached: Actor | None = None
    if not refresh:
        async with ctx.db.session() as session:
            cached = await remote_queries.actor_by_key_id(session, key_id)
        if cached is not None and is_fresh(cached, ctx.clock()):
            return cached
    try:
        return await _fetch_key_owner(ctx, key_id)
    except RemoteHTTPError as exc:
        if cached is None or exc.remote_status in GONE_STATUSES:
            raise
        return cached  # a stale key beats none while its server has a bad moment
    except (FetchTimeout, NetworkError):
        if cached is None:
            raise
        return cached


async def _fetch_key_owner(ctx: FetchContext, key_id: str) -> Actor:
    document_url = urldefrag(key_id).url
    data = await fetch_object(ctx, document_url)
    if not _is_actor_document(data) and is_key_document(data):
        owner = id_of(data.get("owner"))
        if data.get("id") != key_id or owner is None or host_of(owner) != host_of(key_id):
            raise BadDocument.for_url(document_url, "the key document does not match its id")
        actor = await get_actor(ctx, owner, refresh=True)
    else:
        actor = await _store_actor(ctx, data, fetched_from=document_url, want_key_id=key_id)
    if actor.key_id != key_id or not actor.public_key_pem:
        raise BadDocument.for_url(document_url, "the actor does not publish this key")
    return actor


def _split_handle(handle: str) -> tuple[str, str]:
    text = handle.strip()
    text = text[5:] if text.lower().startswith("acct:") else text
    name, sep, domain = text.removeprefix("@").partition("@")
    if (
        not sep
        or not name
        or not domain
        or any(ch in text for ch in "/?#\\ \t\r\n")
        or "@" in domain
        or host_of(f"https://{domain}") is None
    ):
        raise InvalidInput("Enter an account as @name@domain.")
    return name, domain


def _webfinger_url(ctx: FetchContext, name: str, domain: str) -> str:
    """``https`` always, except plain ``http`` to a loopback host when private addresses
    are allowed (tests and local development run peers on 127.0.0.1 without TLS)."""
    hostname = urlsplit(f"http://{domain}").hostname or ""
    loopback = hostname.lower() in _LOOPBACK_NAMES
    scheme = "http" if ctx.config.federation.allow_private_addresses and loopback else "https"
    resource = quote(f"acct:{name}@{domain}", safe="")
    return f"{scheme}://{domain}/.well-known/webfinger?resource={resource}"


async def _webfinger(ctx: FetchContext, name: str, domain: str) -> str:
    url = _webfinger_url(ctx, name, domain)
    document = await ctx.transport.get_json(url, signer=None, accept=JRD_ACCEPT)
    try:
        return parse_webfinger(document.data)
    except WebfingerError as exc:
        raise BadDocument.for_url(url, str(exc)) from None


async def resolve_handle(ctx: FetchContext, handle: str) -> Actor:
    """``@name@domain`` (or ``name@domain``, ``acct:name@domain``, an actor/profile URL)
    to an actor row, through WebFinger's ``self`` link.

    When WebFinger on one domain points at an actor on another host (a split-domain set-up,
    or a server lying about accounts elsewhere), the actor's own server must confirm the
    handle: WebFinger there for ``name@actor-host`` has to lead back to the same actor.
    """
    if handle.strip().lower().startswith(("http://", "https://")):
        return await get_actor(ctx, handle.strip())
    name, domain = _split_handle(handle)
    if domain.lower() == ctx.config.instance.domain.lower():
        async with ctx.db.session() as session:
            found = await ap_queries.federated_local_actor(session, name)
        if found is None:
            raise NotFound("No such account on this server.")
        return found
    actor_url = await _webfinger(ctx, name, domain)
    actor = await get_actor(ctx, actor_url)
    if actor.username.lower() != name.lower():
        raise BadDocument.for_url(actor_url, "the actor's name does not match the handle")
    if host_of(actor.ap_id) != domain.lower():
        confirmed = await _webfinger(ctx, actor.username, actor.domain or "")
        if confirmed != actor.ap_id:
            raise BadDocument.for_url(actor_url, "the actor's server does not confirm the handle")
    return actor
