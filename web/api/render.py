"""Rows to entities: batch-load what the serializers in ``entities`` need (counts, media,
tags, mentions, the viewer's likes, boosts and bookmarks) and call them.

A page of twenty statuses costs a fixed handful of queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.context import Services
from storage import ap_queries as apq
from storage import api_batch as b
from storage import posts as q
from storage.api_queries import Entry
from storage.federation_models import Notification
from storage.models import Actor, Post
from web.api import entities as E


async def accounts(
    session: AsyncSession, svc: Services, actors: Sequence[Actor]
) -> dict[int, dict[str, Any]]:
    unique = {a.id: a for a in actors}
    stats = await b.account_stats(session, list(unique))
    fields = await b.profile_fields(session, [i for i, a in unique.items() if a.domain is None])
    return {i: E.account(a, stats[i], fields.get(i, []), urls=svc.urls) for i, a in unique.items()}


async def account(session: AsyncSession, svc: Services, actor: Actor) -> dict[str, Any]:
    return (await accounts(session, svc, [actor]))[actor.id]


async def account_list(
    session: AsyncSession, svc: Services, actors: Sequence[Actor]
) -> list[dict[str, Any]]:
    rendered = await accounts(session, svc, actors)
    return [rendered[a.id] for a in actors]


async def statuses(
    session: AsyncSession,
    svc: Services,
    entries: Sequence[Entry],
    viewer_id: int | None,
    *,
    with_source: bool = False,
) -> list[dict[str, Any]]:
    posts = {e.post.id: e.post for e in entries}
    ids = list(posts)
    media = await q.attachments_for(session, ids)
    tags = await apq.tags_for(session, ids)
    mentions = await b.mentions_of(session, ids)
    parent_ids = [p.in_reply_to_id for p in posts.values() if p.in_reply_to_id]
    parents = await b.authors_of(session, parent_ids)
    people = [e.author for e in entries] + [e.booster for e in entries if e.booster]
    rendered = await accounts(session, svc, people)
    liked: set[int] = set()
    boosted: set[int] = set()
    marked: set[int] = set()
    if viewer_id is not None:
        liked, boosted, marked = await b.viewer_marks(session, viewer_id, ids)
    urls = svc.urls
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
        inner = E.status(
            E.StatusParts(
                post=post,
                account=rendered[entry.author.id],
                media=[E.media_attachment(m, urls) for m in media.get(post.id, [])],
                tags=tags.get(post.id, []),
                mentions=mentions.get(post.id, []),
                in_reply_to_account_id=parents.get(post.in_reply_to_id or 0),
                viewer=viewer,
            ),
            urls,
            with_source=with_source,
        )
        if entry.boost is not None and entry.booster is not None:
            out.append(
                E.reblog(
                    entry.boost.id,
                    entry.boost.ap_id,
                    entry.boost.created_at,
                    rendered[entry.booster.id],
                    inner,
                    viewer,
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
