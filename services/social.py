"""Relationship use cases: follow, unfollow, approve or reject a follower, block, unblock.

Each is one transaction holding the row change, the activities it sends (queued for the
delivery worker) and the notifications it leaves, so nothing is half done. The same
functions serve the web pages, the client API and inbox processing (an incoming Follow
for an account that approves followers by hand waits for :func:`approve_follow`).

Remote relationships follow Mastodon: a follow of a remote account stays ``pending``
until its server sends Accept; unfollowing sends ``Undo{Follow}``; removing or refusing a
remote follower sends ``Reject{Follow}``; a block removes follows both ways (with the Undo
and Reject a server needs to drop them too) and sends ``Block``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from federation import activities as act
from federation.addressing import personal_inbox
from services.context import Services
from services.federate import enqueue, notify, unnotify
from storage import accounts as accounts_q
from storage import delivery_queries as dq
from storage import home_feed
from storage import social_queries as social_q
from storage.federation_models import Block
from storage.ids import new_id
from storage.models import Actor, Follow
from tessera.errors import Forbidden, InvalidInput, NotFound

__all__ = ["approve_follow", "block", "follow", "reject_follow", "unblock", "unfollow"]


async def _pair(session: AsyncSession, actor: Actor, target: Actor) -> tuple[Actor, Actor]:
    """Fresh rows for both sides (callers may hold detached ones), refusing self-targets."""
    me = await session.get(Actor, actor.id)
    other = await session.get(Actor, target.id)
    if me is None or other is None:
        raise NotFound("No such account.")
    if me.id == other.id:
        raise InvalidInput("You cannot do that to yourself.")
    return me, other


async def _send_to(
    services: Services, session: AsyncSession, sender: Actor, to: Actor, activity: dict[str, Any]
) -> None:
    inbox = personal_inbox(to)
    if inbox:
        await enqueue(services, session, sender, activity, [inbox])


def _follow_activity(follow: Follow, follower: Actor, followee: Actor) -> dict[str, Any]:
    """The Follow as we sent it (its stored id wins over the one we would build now)."""
    activity = act.build_follow(follower, follow.id, followee.ap_id)
    if follow.ap_id:
        activity["id"] = follow.ap_id
    return activity


async def _received_follow(session: AsyncSession, follow: Follow, follower: Actor, me: Actor):  # type: ignore[no-untyped-def]
    """What an Accept/Reject embeds: the Follow as received, else its id, else a minimal
    Follow naming both sides (enough for a receiver to find the request)."""
    if follow.ap_id:
        raw = await dq.received_payload(session, follow.ap_id)
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return parsed
        return follow.ap_id
    return {"type": "Follow", "actor": follower.ap_id, "object": me.ap_id}


async def follow(services: Services, actor: Actor, target: Actor) -> Follow:
    """Follow ``target``. Local: accepted at once unless it approves followers by hand.
    Remote: pending until its server accepts; the Follow is queued. Idempotent."""
    async with services.db.transaction() as session:
        me, other = await _pair(session, actor, target)
        if other.suspended:
            raise NotFound("No such account.")
        if await social_q.blocks_either_way(session, me.id, other.id):
            raise Forbidden("You cannot follow this account.")
        existing = await accounts_q.follow_between(session, me.id, other.id)
        if existing is not None:
            return existing
        row = Follow(
            id=new_id(),
            follower_id=me.id,
            followee_id=other.id,
            state="pending",
            created_at=services.clock(),
        )
        if other.domain is None:
            if not other.manually_approves_followers:
                row.state = "accepted"
            session.add(row)
            if row.state == "accepted":
                await home_feed.backfill(session, me.id, other.id)
            kind = "follow_request" if row.state == "pending" else "follow"
            await notify(services, session, other, kind, me)
            return row
        if personal_inbox(other) is None:
            raise InvalidInput("This account's server gave no inbox; it cannot be followed.")
        row.ap_id = act.follow_id(me, row.id)
        session.add(row)
        await session.flush()
        await _send_to(services, session, me, other, act.build_follow(me, row.id, other.ap_id))
        return row


async def unfollow(services: Services, actor: Actor, target: Actor) -> bool:
    """Stop following (or withdraw a request); sends ``Undo{Follow}`` to a remote target.
    Returns False when there was nothing to undo."""
    async with services.db.transaction() as session:
        me, other = await _pair(session, actor, target)
        row = await accounts_q.follow_between(session, me.id, other.id)
        if row is None:
            return False
        await _drop_follow(services, session, row, follower=me, followee=other)
        return True


async def _drop_follow(
    services: Services, session: AsyncSession, row: Follow, *, follower: Actor, followee: Actor
) -> None:
    """Delete a follow and tell the other side: Undo when a local follower leaves a remote
    account, Reject when a local account drops a remote follower."""
    if followee.domain is not None and follower.domain is None:
        undo = act.build_undo(follower, _follow_activity(row, follower, followee))
        await _send_to(services, session, follower, followee, undo)
    elif follower.domain is not None and followee.domain is None:
        embedded = await _received_follow(session, row, follower, followee)
        reject = act.build_reject(followee, embedded, follow_row_id=row.id)
        await _send_to(services, session, followee, follower, reject)
    if row.state == "pending":
        await unnotify(session, followee.id, "follow_request", follower.id, None)
    await home_feed.remove_author(session, follower.id, followee.id)
    await session.delete(row)


async def _incoming_request(session: AsyncSession, me: Actor, follow_id: int) -> Follow:
    row = await session.get(Follow, follow_id)
    if row is None or row.followee_id != me.id:
        raise NotFound("No such follow request.")
    return row


async def approve_follow(services: Services, actor: Actor, follow_id: int) -> Follow:
    """Accept a pending follower: ``Accept{Follow}`` to a remote one, and a ``follow``
    notification in place of the request's. Accepting twice changes nothing."""
    async with services.db.transaction() as session:
        me = await session.get(Actor, actor.id)
        if me is None:
            raise NotFound("No such account.")
        row = await _incoming_request(session, me, follow_id)
        if row.state == "accepted":
            return row
        follower = await session.get(Actor, row.follower_id)
        if follower is None:
            raise NotFound("No such follow request.")
        row.state = "accepted"
        session.add(row)
        await home_feed.backfill(session, follower.id, me.id)
        await unnotify(session, me.id, "follow_request", follower.id, None)
        await notify(services, session, me, "follow", follower)
        if follower.domain is not None:
            embedded = await _received_follow(session, row, follower, me)
            accept = act.build_accept(me, embedded, follow_row_id=row.id)
            await _send_to(services, session, me, follower, accept)
        return row


async def reject_follow(services: Services, actor: Actor, follow_id: int) -> None:
    """Refuse a request, or remove a follower: the row goes, a remote follower's server
    receives ``Reject{Follow}``."""
    async with services.db.transaction() as session:
        me = await session.get(Actor, actor.id)
        if me is None:
            raise NotFound("No such account.")
        row = await _incoming_request(session, me, follow_id)
        follower = await session.get(Actor, row.follower_id)
        if follower is None:
            raise NotFound("No such follow request.")
        await _drop_follow(services, session, row, follower=follower, followee=me)


async def block(services: Services, actor: Actor, target: Actor) -> Block:
    """Block ``target``: follows both ways end, and a remote target's server gets the
    matching Undo/Reject and then ``Block``. Idempotent."""
    async with services.db.transaction() as session:
        me, other = await _pair(session, actor, target)
        existing = (
            await session.exec(
                select(Block).where(Block.actor_id == me.id, Block.target_id == other.id)
            )
        ).first()
        if existing is not None:
            return existing
        for follower, followee in ((me, other), (other, me)):
            row = await accounts_q.follow_between(session, follower.id, followee.id)
            if row is not None:
                await _drop_follow(services, session, row, follower=follower, followee=followee)
        block_id = new_id()
        row_block = Block(
            id=block_id,
            actor_id=me.id,
            target_id=other.id,
            ap_id=act.block_id(me, block_id),
            created_at=services.clock(),
        )
        session.add(row_block)
        await session.flush()
        if other.domain is not None:
            await _send_to(services, session, me, other, act.build_block(me, block_id, other.ap_id))
        return row_block


async def unblock(services: Services, actor: Actor, target: Actor) -> bool:
    """Lift a block; a remote target's server gets ``Undo{Block}``. False if none."""
    async with services.db.transaction() as session:
        me, other = await _pair(session, actor, target)
        row = (
            await session.exec(
                select(Block).where(Block.actor_id == me.id, Block.target_id == other.id)
            )
        ).first()
        if row is None:
            return False
        if other.domain is not None:
            undo = act.build_block(me, row.id, other.ap_id)
            if row.ap_id:
                undo["id"] = row.ap_id
            await _send_to(services, session, me, other, act.build_undo(me, undo))
        await session.delete(row)
        return True
