"""Rows to entities: batch-load what the serializers in ``entities`` need (counts, media,
tags, mentions, the viewer's likes, boosts and bookmarks) and call them.

A page of twenty statuses costs a fixed handful of queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlmodel.ext.asyncio.session import AsyncSession

from services.context import Services
from storage import ap_queries as apq
from storage import api_batch as b
from storage import posts as q
from storage.api_queries import ActorRow, Entry
from storage.federation_models import Notification
from storage.models import Actor, Post
from storage.sqlite_driver import reads_on_thread
from web.api import entities as E


async def accounts(
    session: AsyncSession, svc: Services, actors: Sequence[ActorRow], *, nest: bool = True
) -> dict[int, dict[str, Any]]:
    """Account entities by id: from the entity cache where the actor row is unchanged,
    else rendered (counts and profile fields in one lookup each for all of them).

    An account that moved carries the account it moved to as ``moved``, as on Mastodon;
    that one is rendered with ``nest=False``: without a ``moved`` of its own (a chain or a
    cycle of moves stops there) and not kept in the cache in that shape."""
    cache = svc.entity_cache
    generation = cache.generation  # before any read: see EntityCache.keep_status
    out: dict[int, dict[str, Any]] = {}
    missing: dict[int, ActorRow] = {}
    for actor in actors:
        if actor.id in out or actor.id in missing:
            continue
        hit = cache.account(actor)
        if hit is not None:
            out[actor.id] = hit
        else:
            missing[actor.id] = actor
    if missing:
        # Counting an account's followers reads an index entry per follower: on
        # SQLite's thread even for a request that reads inline (``reads_inline``).
        with reads_on_thread():
            stats = await b.account_stats(session, list(missing))
            local = [i for i, a in missing.items() if a.domain is None]
            fields = await b.profile_fields(session, local)
        moved_ids = {a.moved_to_id for a in missing.values() if a.moved_to_id} if nest else set()
        moved = await b.moved_targets(session, list(moved_ids))
        nested = await accounts(session, svc, list(moved.values()), nest=False) if moved else {}
        urls = svc.urls
        for i, actor in missing.items():
            entity = E.account(actor, stats[i], fields.get(i, []), urls=urls)
            if actor.moved_to_id in nested:
                entity["moved"] = nested[actor.moved_to_id]
            if nest:
                cache.keep_account(actor, entity, generation=generation)
            out[i] = entity
    if not nest:
        return {i: {k: v for k, v in e.items() if k != "moved"} for i, e in out.items()}
    return out


async def account(session: AsyncSession, svc: Services, actor: Actor) -> dict[str, Any]:
    return (await accounts(session, svc, [actor]))[actor.id]


async def account_list(
    session: AsyncSession, svc: Services, actors: Sequence[Actor]
) -> list[dict[str, Any]]:
    rendered = await accounts(session, svc, actors)
    return [rendered[a.id] for a in actors]


def _encoded(entity: dict[str, Any]) -> bytes | None:
    """A status's JSON for the cache and for ``as_json``; None for what orjson refuses
    (an integer past 64 bits): that one stays a dict, which ``json_body`` can still
    write, and is not kept."""
    try:
        return orjson.dumps(entity)
    except TypeError:
        return None


async def statuses(
    session: AsyncSession,
    svc: Services,
    entries: Sequence[Entry],
    viewer_id: int | None,
    *,
    with_source: bool = False,
    as_json: bool = False,
) -> list[Any]:
    """Status entities for a page of entries. The viewer-independent part of each comes
    from the entity cache when its post row is unchanged (``services.entity_cache``);
    only the others cost the media, tag, mention, parent and account lookups. The
    viewer's marks are read for the whole page every time (with the entries, where the
    query read them).

    With ``as_json``, each status is its JSON for ``orjson`` to embed (a
    ``Fragment``), for a response that only serializes the list: a cached status is
    then never turned back into a dict. Otherwise each is a dict of its own."""
    cache = svc.entity_cache
    # Read before the lookups below; the entries themselves were read just before this.
    generation = cache.generation
    posts = {e.post.id: e.post for e in entries}
    authors = {e.post.id: e.author for e in entries}
    ids = list(posts)
    cached: dict[int, bytes] = {}  # viewer-independent JSON, from the cache
    bases: dict[int, dict[str, Any]] = {}  # viewer-independent dicts, rendered now
    if not with_source:
        for post_id, post in posts.items():
            hit = cache.status(post, authors[post_id])
            if hit is not None:
                cached[post_id] = hit
    todo = [i for i in ids if i not in cached]
    people = [e.booster for e in entries if e.booster]
    people += [e.author for e in entries if e.post.id not in cached]
    rendered = await accounts(session, svc, people)
    if todo:
        with reads_on_thread():  # four lookups per page of misses, as in ``accounts``
            media = await q.attachments_for(session, todo)
            tags = await apq.tags_for(session, todo)
            mentions = await b.mentions_of(session, todo)
            parent_ids = [posts[i].in_reply_to_id for i in todo if posts[i].in_reply_to_id]
            parents = await b.authors_of(session, parent_ids)
        urls = svc.urls
        for post_id in todo:
            post = posts[post_id]
            base = E.status(
                E.StatusParts(
                    post=post,
                    account=rendered[authors[post_id].id],
                    media=[E.media_attachment(m, urls) for m in media.get(post_id, [])],
                    tags=tags.get(post_id, []),
                    mentions=mentions.get(post_id, []),
                    in_reply_to_account_id=parents.get(post.in_reply_to_id or 0),
                ),
                urls,
                with_source=with_source,
            )
            encoded = _encoded(base) if not with_source and (as_json or cache.ttl > 0) else None
            if encoded is not None:
                cache.keep_status(post, authors[post_id], encoded, generation=generation)
                if as_json:
                    cached[post_id] = encoded
            bases[post_id] = base
    liked: set[int] = set()
    boosted: set[int] = set()
    marked: set[int] = set()
    if viewer_id is not None:
        read = [e.marks for e in entries]
        if all(m is not None and m.viewer_id == viewer_id for m in read):
            # Read with the entries (``aq.home``): no statement of their own.
            liked = {e.post.id for e in entries if e.marks and e.marks.liked}
            boosted = {e.post.id for e in entries if e.marks and e.marks.boosted}
            marked = {e.post.id for e in entries if e.marks and e.marks.bookmarked}
        else:
            liked, boosted, marked = await b.viewer_marks(session, viewer_id, ids)
    out = []
    for entry in entries:
        post = entry.post
        viewer = None
        if viewer_id is not None:
            viewer = E.Viewer(
                favourited=post.id in liked,
                reblogged=post.id in boosted,
                bookmarked=post.id in marked,
                pinned=False if post.actor_id == viewer_id else None,
            )
        inner: dict[str, Any] | orjson.Fragment
        if as_json and post.id in cached:
            inner = E.status_json(cached[post.id], viewer)
        else:
            base = bases.get(post.id) or orjson.loads(cached[post.id])
            inner = {**base, **E.viewer_fields(viewer)}  # a copy: ``bases`` are shared
        if entry.boost is not None and entry.booster is not None:
            out.append(
                E.reblog(
                    entry.boost.id,
                    entry.boost.ap_id,
                    entry.boost.created_at,
                    rendered[entry.booster.id],
                    inner,
                    viewer,
                    post=post,
                )
            )
        else:
            out.append(inner)
    return out


async def entries_for_posts(session: AsyncSession, posts: Sequence[Post]) -> list[Entry]:
    authors: dict[int, Actor] = {}
    for post in posts:
        if post.actor_id not in authors:
            actor = await session.get(Actor, post.actor_id)
            if actor is not None:
                authors[post.actor_id] = actor
    return [
        Entry(post=p, author=authors[p.actor_id], cursor=p.id)
        for p in posts
        if p.actor_id in authors
    ]


async def status(
    session: AsyncSession, svc: Services, post: Post, viewer_id: int | None, **kw: Any
) -> dict[str, Any]:
    entries = await entries_for_posts(session, [post])
    return (await statuses(session, svc, entries, viewer_id, **kw))[0]


async def notifications(
    session: AsyncSession,
    svc: Services,
    rows: Sequence[tuple[Notification, Actor, Post | None]],
    viewer_id: int,
) -> list[dict[str, Any]]:
    rendered = await accounts(session, svc, [who for _, who, _ in rows])
    posts = [p for _, _, p in rows if p is not None]
    entries = await entries_for_posts(session, posts)
    by_post = dict(
        zip(
            [e.post.id for e in entries],
            await statuses(session, svc, entries, viewer_id),
            strict=True,
        )
    )
    return [
        E.notification(
            note.id, note.kind, note.created_at, rendered[who.id], by_post.get(p.id) if p else None
        )
        for note, who, p in rows
    ]
