"""Follow, Accept, Reject and Undo{Follow}.

A remote Follow of a local account becomes a ``follow`` row: accepted at once (with an
``Accept`` queued to the follower's inbox in the same transaction, and a ``follow``
notification) unless the account approves followers by hand, in which case it waits as
``pending`` with a ``follow_request`` notification until its owner answers (the Accept or
Reject is then sent by ``services.social``). A local account that blocked the follower
answers with a Reject and stores nothing.

Accept and Reject answer *our* follows. They are matched by the Follow's id first; when
the other server names the Follow differently (inlined with another id, or by a bare id we
do not know), by who follows whom, and as a last resort by the only pending request we
have to that actor.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from federation.activities import build_accept, build_reject
from federation.addressing import personal_inbox
from federation.handlers.base import DONE, IGNORED, InboxContext
from federation.outbox import enqueue_activity
from federation.parse import first, id_of
from storage import home_feed
from storage import inbox_queries as q
from storage.ids import new_id
from storage.models import Actor, Follow


async def _answer(
    session: AsyncSession,
    ctx: InboxContext,
    *,
    local: Actor,
    follower: Actor,
    follow_row_id: int,
    accept: bool,
) -> None:
    """Queue our Accept/Reject of a received Follow to the follower's own inbox."""
    inbox = personal_inbox(follower)
    if inbox is None:
        return
    follow_doc: dict[str, Any] | str = ctx.activity.raw or (ctx.activity.id or "")
    build = build_accept if accept else build_reject
    await enqueue_activity(
        session,
        actor=local,
        activity=build(local, follow_doc, follow_row_id=follow_row_id),
        inboxes=[inbox],
        local_base_url=ctx.base_url,
    )


async def on_follow(ctx: InboxContext) -> str:
    target_url = ctx.activity.object_id
    if not ctx.is_local(target_url):
        return IGNORED
    follower = await ctx.actor()
    if follower is None or follower.domain is None:
        return IGNORED
    ap_id = ctx.activity.id
    async with ctx.services.db.transaction() as session:
        # Only an account that can sign in gains followers: a pending or disabled one is a
        # 404 to other servers, and the shared inbox reaches it all the same.
        target = await q.active_local_actor_by_ap_id(session, target_url)
        if target is None:
            return IGNORED
        if await q.block_between(session, target.id, follower.id) is not None:
            # A fresh id per refusal: Reject ids are derived from the row they answer.
            await _answer(
                session, ctx, local=target, follower=follower, follow_row_id=new_id(), accept=False
            )
            return DONE
        follow = await q.follow_between(session, follower.id, target.id)
        if follow is not None and follow.ap_id != ap_id and follow.state == "accepted":
            # A new Follow for a pair we already have: the other side lost its state.
            # A fresh row gets a fresh Accept id, so the Accept is delivered again.
            await session.delete(follow)
            await session.flush()
            follow = None
        if follow is None:
            taken = await q.follow_by_ap_id(session, ap_id)
            if taken is not None:
                return IGNORED  # that id already names another follow: a replay
            follow = Follow(
                id=new_id(),
                follower_id=follower.id,
                followee_id=target.id,
                state="pending" if target.manually_approves_followers else "accepted",
                ap_id=ap_id,
            )
            session.add(follow)
            await session.flush()
        elif follow.ap_id != ap_id and await q.follow_by_ap_id(session, ap_id) is None:
            follow.ap_id = ap_id  # a repeated request: answer the newest Follow
            session.add(follow)
        await q.ensure_notification(
            session,
            recipient_id=target.id,
            kind="follow" if follow.state == "accepted" else "follow_request",
            from_actor_id=follower.id,
        )
        if follow.state == "accepted":
            await _answer(
                session, ctx, local=target, follower=follower, follow_row_id=follow.id, accept=True
            )
    return DONE


async def _our_follow(session: AsyncSession, ctx: InboxContext, followee: Actor) -> Follow | None:
    """The follow of ours that an Accept/Reject from ``followee`` answers."""
    inner = ctx.activity.object
    found = await q.follow_by_ap_id(session, id_of(inner))
    if found is not None and found.followee_id == followee.id:
        follower = await session.get(Actor, found.follower_id)
        if follower is not None and follower.domain is None:
            return found
    if isinstance(inner, dict):
        follower_url = id_of(first(inner.get("actor")))
        if id_of(first(inner.get("object"))) == followee.ap_id and ctx.is_local(follower_url):
            local = await q.local_actor_by_ap_id(session, follower_url)
            if local is not None:
                return await q.follow_between(session, local.id, followee.id)
    pending = await q.pending_local_follows_to(session, followee.id)
    return pending[0] if len(pending) == 1 else None


async def on_accept(ctx: InboxContext) -> str:
    followee = await ctx.actor()
    if followee is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        follow = await _our_follow(session, ctx, followee)
        if follow is None:
            return IGNORED
        if follow.state != "accepted":
            follow.state = "accepted"
            session.add(follow)
            await home_feed.backfill(session, follow.follower_id, follow.followee_id)
    return DONE


async def on_reject(ctx: InboxContext) -> str:
    """A refused request, or the other side removing us as a follower."""
    followee = await ctx.actor()
    if followee is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        follow = await _our_follow(session, ctx, followee)
        if follow is None:
            return IGNORED
        await home_feed.remove_author(session, follow.follower_id, follow.followee_id)
        await session.delete(follow)
    return DONE


async def on_undo_follow(ctx: InboxContext, inner: Any) -> str:
    """Undo{Follow}: the follower (the Undo's actor, checked by the dispatcher) leaves."""
    follower = await ctx.actor()
    if follower is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        follow = await q.follow_by_ap_id(session, id_of(inner))
        if follow is not None and follow.follower_id != follower.id:
            return IGNORED
        if follow is None and isinstance(inner, dict):
            target = await q.local_actor_by_ap_id(session, id_of(first(inner.get("object"))))
            if target is not None:
                follow = await q.follow_between(session, follower.id, target.id)
        if follow is None:
            return IGNORED
        for kind in ("follow", "follow_request"):
            await q.delete_notifications(
                session, kind=kind, from_actor_id=follower.id, recipient_id=follow.followee_id
            )
        await session.delete(follow)
    return DONE
