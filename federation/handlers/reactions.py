"""Like, Announce and their Undo.

Likes are only recorded for our own posts (a remote post's count is its server's business).
Boosts are recorded for our posts (counter, ``reblog`` notification) and for remote posts
boosted by someone a local user follows, so the boost reaches that user's home timeline;
the boosted post is fetched from its own server when we do not have it yet.

Counters move in the same transaction as the row, and only when a row is added or
removed, so a duplicate Like or a repeated Undo changes nothing.
"""

from __future__ import annotations

from typing import Any

from federation.handlers.base import DONE, IGNORED, InboxContext, actor_or_none
from federation.handlers.note_store import note_is_self_consistent, store_note
from federation.parse import first, id_of, parse_note, visibility_of
from storage import home_feed
from storage import inbox_queries as q
from storage import posts as post_queries
from storage.models import Actor, Boost, Like, Post

BOOSTABLE = ("public", "unlisted")

_COUNTER = {Like: "likes_count", Boost: "boosts_count"}
_KIND = {Like: "favourite", Boost: "reblog"}


async def _react(ctx: InboxContext, model: type[Like] | type[Boost], post_id: int) -> str:
    """Add one like/boost row by the activity's actor (idempotent) with its counter and,
    for our own posts, a notification to the author."""
    actor = await ctx.actor()
    if actor is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        post = await session.get(Post, post_id)
        if post is None or not await post_queries.can_view(session, post, actor.id):
            return IGNORED
        if model is Boost and post.visibility not in BOOSTABLE:
            return IGNORED
        if await q.block_between(session, post.actor_id, actor.id) is not None:
            return IGNORED  # the author blocks them: no like, boost or notification
        ap_id = ctx.activity.id
        existing = await q.reactions_like(session, model, actor.id, post.id, ap_id)
        if any(row.actor_id == actor.id and row.post_id == post.id for row in existing):
            return DONE
        if existing:
            return IGNORED  # the id already names another reaction: a replay
        await q.add_reaction(
            session,
            model,
            actor_id=actor.id,
            post_id=post.id,
            ap_id=ap_id,
            now=ctx.services.clock(),
        )
        if model is Boost:
            await home_feed.add_boost(session, actor.id, post.id)
        if post.local:
            await q.ensure_notification(
                session,
                recipient_id=post.actor_id,
                kind=_KIND[model],
                from_actor_id=actor.id,
                post_id=post.id,
            )
    return DONE


async def on_like(ctx: InboxContext) -> str:
    ref = ctx.activity.object_id
    if not ctx.is_local(ref):
        return IGNORED
    async with ctx.services.db.session() as session:
        post = await q.post_by_reference(session, ref)
    if post is None or not post.local:
        return IGNORED
    return await _react(ctx, Like, post.id)


async def _remote_boosted_post(ctx: InboxContext) -> Post | None:
    """The remote post an Announce names: stored already, or fetched from its origin."""
    ref = ctx.activity.object_id
    async with ctx.services.db.session() as session:
        post = await q.post_by_reference(session, ref)
    if post is not None:
        return post
    document = await ctx.trusted_object(ctx.activity.object)
    note = parse_note(document) if document is not None else None
    if note is None or not note_is_self_consistent(note):
        return None
    author = await _author(ctx, note.attributed_to)
    if author is None or visibility_of(note.to, note.cc, author.followers_url) not in BOOSTABLE:
        return None
    return await store_note(ctx, note, author)


async def _author(ctx: InboxContext, url: str | None) -> Actor | None:
    if ctx.is_local(url):
        return None
    return await actor_or_none(ctx.services, url)


async def on_announce(ctx: InboxContext) -> str:
    ref = ctx.activity.object_id
    if not ref:
        return IGNORED
    if ctx.is_local(ref):
        async with ctx.services.db.session() as session:
            post = await q.post_by_reference(session, ref)
        if post is None or not post.local:
            return IGNORED
        return await _react(ctx, Boost, post.id)
    booster = await ctx.actor()
    if booster is None:
        return IGNORED
    async with ctx.services.db.session() as session:
        if not await q.has_local_follower(session, booster.id):
            return IGNORED  # nobody here would see this boost
    post = await _remote_boosted_post(ctx)
    if post is None:
        return IGNORED
    return await _react(ctx, Boost, post.id)


async def on_undo_reaction(ctx: InboxContext, inner: Any, model: type[Like] | type[Boost]) -> str:
    """Undo{Like} / Undo{Announce}: remove the actor's own row and its counter."""
    actor = await ctx.actor()
    if actor is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        row = await q.reaction_by_ap_id(session, model, id_of(inner))
        if row is not None and row.actor_id != actor.id:
            return IGNORED  # somebody else's reaction
        if row is None and isinstance(inner, dict):
            post = await q.post_by_reference(session, id_of(first(inner.get("object"))))
            if post is not None:
                row = await q.reaction_between(session, model, actor.id, post.id)
        if row is None:
            return IGNORED
        post = await session.get(Post, row.post_id)
        if post is not None:
            counter = _COUNTER[model]
            setattr(post, counter, max(0, getattr(post, counter) - 1))
            session.add(post)
            await q.delete_notifications(
                session, kind=_KIND[model], from_actor_id=actor.id, post_id=post.id
            )
        await session.delete(row)
    return DONE
