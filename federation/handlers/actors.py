"""Update{Person} and Delete{actor} (Move: ``federation.handlers.moves``).

An actor may only describe itself: an Update whose embedded actor is not the activity's
actor is ignored, and the embedded document goes through the same tolerant-but-strict
reader as a fetched one (``federation.remote_actors.parse_actor``), written by the same
upsert (which refuses to touch local accounts or take another row's handle).

Delete{actor} (actor == object) removes what that account left here - follows both ways,
likes and boosts (with their counters), posts and their files, blocks, notifications - and
keeps the actor row, marked suspended, so reports that name it still resolve and a late
activity from it is recognised and refused.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from federation.fetch import actor_record as _record
from federation.fetch import get_actor
from federation.handlers.base import DONE, IGNORED, InboxContext
from federation.handlers.note_store import delete_post_rows, release_blobs
from federation.remote_actors import parse_actor
from storage import inbox_queries as q
from storage import remote_queries
from storage.models import Actor, Boost, Like, Post
from storage.sqlite_driver import reads_on_thread


async def on_update_actor(ctx: InboxContext) -> str:
    """Refresh the sender's row from the embedded document (its id must be the sender)."""
    actor_url = ctx.activity.actor
    if not actor_url or ctx.is_local(actor_url) or ctx.activity.object_id != actor_url:
        return IGNORED
    embedded = ctx.activity.object
    if not isinstance(embedded, dict):
        await get_actor(ctx.services, actor_url, refresh=True)
        return DONE
    fields = parse_actor(embedded, fetched_from=actor_url)
    if fields is None:
        return IGNORED
    async with ctx.services.db.session() as session:
        current = await q.actor_by_ap_id(session, actor_url)
    if current is not None and current.suspended:
        return IGNORED
    try:
        await remote_queries.upsert_remote_actor(
            ctx.services.db, _record(fields), now=ctx.services.clock()
        )
    except remote_queries.HandleTaken:
        return IGNORED
    return DONE


async def _drop_reactions(session: AsyncSession, actor_id: int) -> None:
    for model, counter in ((Like, "likes_count"), (Boost, "boosts_count")):
        for row in await q.reactions_of(session, model, actor_id):
            post = await session.get(Post, row.post_id)
            if post is not None:
                setattr(post, counter, max(0, getattr(post, counter) - 1))
                session.add(post)
            await session.delete(row)


async def on_delete_actor(ctx: InboxContext) -> str:
    actor_url = ctx.activity.actor
    if not actor_url or ctx.activity.object_id != actor_url or ctx.is_local(actor_url):
        return IGNORED
    keys: set[str] = set()
    # every post, reaction and follow of the account: reads without bound, off the loop
    with reads_on_thread():
        async with ctx.services.db.transaction() as session:
            actor = await q.actor_by_ap_id(session, actor_url)
            if actor is None or actor.domain is None:
                return IGNORED  # never heard of them: nothing to remove
            await _drop_reactions(session, actor.id)
            for post in await q.posts_of(session, actor.id):
                keys |= await delete_post_rows(session, post)
            await q.delete_follows_of(session, actor.id)
            await q.delete_blocks_of(session, actor.id)
            await q.delete_notifications_from(session, actor.id)
            row = await session.get(Actor, actor.id)
            if row is not None:
                row.suspended = True
                session.add(row)
    await release_blobs(ctx.services, keys)
    return DONE
