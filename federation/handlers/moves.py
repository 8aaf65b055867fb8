"""Move: an account moved to another server, and its followers here go with it.

Mastodon's account migration, handled as Mastodon handles it (``Move`` activity and
``MoveWorker``), so a Tessera user following someone who moves keeps them:

- Only the account itself announces its move: the Move's ``actor`` (verified by the inbox)
  and ``object`` are that account; ``target`` is the new one.
- The new account must agree. Its document, fetched again from its own server, lists the
  old account in ``alsoKnownAs``. Anybody can send a Move naming any target; only the
  target's server can make that claim true, so a Move cannot take followers to an account
  its owner does not control.
- The old account is marked moved (``actor.moved_to_id``): its profile and its client-API
  entity (``moved``) point to the new one.
- Each local account following the old one (accepted follows: a request the old account
  never answered stays where it is, as on Mastodon) follows the new one (a ``Follow``
  sent there, pending until its server accepts, as any follow of a remote account) and
  stops following the old one (``Undo{Follow}`` sent to it). A follower who blocks the new account, or is
  blocked by it, keeps the old follow. One who already follows (or asked to follow) the
  new account only leaves the old one. The old account's posts stay in their home
  timelines.
- Each local account that blocked the old account blocks the new one too (a ``Block``
  sent there), unless it follows the new account (Mastodon's rule too); a follow the new
  account has of it ends, as any block ends it.
- The old account is marked moved and the new one unmarked first (a move back clears the
  first move's mark); followers and blocks then move a hundred at a time, each batch in a
  transaction of its own. A replayed Move finds nothing left to do. A move to an account
  of this instance, or to the moving account itself, is ignored.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from federation import activities as act
from federation.addressing import personal_inbox
from federation.fetch import store_actor_document
from federation.handlers.base import DONE, IGNORED, InboxContext, fetch_or_none
from federation.outbox import enqueue_activity
from federation.parse import first, id_of
from federation.transport import BadDocument
from storage import accounts as accounts_q
from storage import move_queries as mq
from storage import social_queries as social_q
from storage.federation_models import Block
from storage.ids import new_id
from storage.models import Actor, Follow

__all__ = ["aliases", "on_move"]


def aliases(document: dict[str, Any]) -> set[str]:
    """The ids an actor document lists in ``alsoKnownAs`` (a string or a list of ids or
    objects, as servers send it)."""
    value = document.get("alsoKnownAs")
    items = value if isinstance(value, list) else [value]
    return {found for item in items if (found := id_of(item))}


BATCH = 100
"""Followers (and blockers) moved per transaction: a popular account's move must not hold
SQLite's write lock for all of them at once. A replay finds the moved ones done."""


async def on_move(ctx: InboxContext) -> str:
    origin_url = ctx.activity.actor
    if not origin_url or ctx.is_local(origin_url) or ctx.activity.object_id != origin_url:
        return IGNORED
    target_url = id_of(first(ctx.activity.raw.get("target")))
    if not target_url or target_url == origin_url or ctx.is_local(target_url):
        return IGNORED
    origin = await ctx.actor()
    if origin is None:
        return IGNORED
    document = await fetch_or_none(ctx.services, target_url)  # from its own server
    if document is None or origin_url not in aliases(document):
        return IGNORED
    try:
        target = await store_actor_document(ctx.services, document, fetched_from=target_url)
    except BadDocument:
        return IGNORED
    if target.suspended or target.id == origin.id:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        await mq.mark_moved(session, origin.id, target.id)
    after = 0
    while True:
        async with ctx.services.db.transaction() as session:
            follows = await mq.local_followers_of(session, origin.id, after=after, limit=BATCH)
            for follow, follower in follows:
                await _move_follow(ctx, session, follow, follower, origin, target)
        if len(follows) < BATCH:
            break
        after = follows[-1][0].id
    after = 0
    while True:
        async with ctx.services.db.transaction() as session:
            blocks = await mq.local_blocks_of(session, origin.id, after=after, limit=BATCH)
            for _block_id, blocker in blocks:
                await _carry_block(ctx, session, blocker, target)
        if len(blocks) < BATCH:
            break
        after = blocks[-1][0]
    return DONE


async def _send(
    ctx: InboxContext, session: AsyncSession, sender: Actor, to: Actor, activity: dict[str, Any]
) -> None:
    inbox = personal_inbox(to)
    if inbox is not None:
        await enqueue_activity(
            session,
            actor=sender,
            activity=activity,
            inboxes=[inbox],
            local_base_url=ctx.base_url,
            now=ctx.services.clock(),
        )


async def _move_follow(
    ctx: InboxContext,
    session: AsyncSession,
    old: Follow,
    follower: Actor,
    origin: Actor,
    target: Actor,
) -> None:
    if await social_q.blocks_either_way(session, follower.id, target.id):
        return  # they cannot follow the new account: the old follow stays
    existing = await accounts_q.follow_between(session, follower.id, target.id)
    if existing is None:
        if personal_inbox(target) is None:
            return  # the new account cannot be followed: the old follow stays
        row = Follow(
            id=new_id(),
            follower_id=follower.id,
            followee_id=target.id,
            state="pending",
            created_at=ctx.services.clock(),
        )
        row.ap_id = act.follow_id(follower, row.id)
        session.add(row)
        await session.flush()
        await _send(
            ctx, session, follower, target, act.build_follow(follower, row.id, target.ap_id)
        )
    sent = act.build_follow(follower, old.id, origin.ap_id)
    if old.ap_id:
        sent["id"] = old.ap_id  # the Follow as we sent it
    await _send(ctx, session, follower, origin, act.build_undo(follower, sent))
    await session.delete(old)


async def _carry_block(
    ctx: InboxContext, session: AsyncSession, blocker: Actor, target: Actor
) -> None:
    """Block the new account as the old one was blocked (Mastodon's ``carry_blocks_over``):
    not when the blocker already blocks it or follows it (their choice, made knowing the
    account). A follow of the new account to the blocker ends, with a Reject, as a block
    ends it."""
    if await social_q.block_between(session, blocker.id, target.id) is not None:
        return
    if await accounts_q.follow_between(session, blocker.id, target.id) is not None:
        return
    theirs = await accounts_q.follow_between(session, target.id, blocker.id)
    if theirs is not None:
        embedded: dict[str, Any] | str = theirs.ap_id or {
            "type": "Follow",
            "actor": target.ap_id,
            "object": blocker.ap_id,
        }
        reject = act.build_reject(blocker, embedded, follow_row_id=theirs.id)
        await _send(ctx, session, blocker, target, reject)
        await social_q.delete_follow_notifications(session, blocker.id, target.id)
        await session.delete(theirs)
    block_id = new_id()
    session.add(
        Block(
            id=block_id,
            actor_id=blocker.id,
            target_id=target.id,
            ap_id=act.block_id(blocker, block_id),
            created_at=ctx.services.clock(),
        )
    )
    await session.flush()
    await _send(ctx, session, blocker, target, act.build_block(blocker, block_id, target.ap_id))
