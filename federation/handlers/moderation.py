"""Block, Undo{Block} and Flag.

A remote Block of a local account is recorded (so we stop delivering that account's posts
to the blocker and hide its interactions) and ends follows in both directions, as
Mastodon does. A Flag becomes a ``report`` row for the admins: the reporter is the
activity's actor (often a server's instance actor), the target is the first object that
is an account we know, and the other objects (usually post ids) are kept as they came.
"""

from __future__ import annotations

import json
from typing import Any

from federation.handlers.base import DONE, IGNORED, InboxContext
from federation.parse import first, id_of, plain_text
from storage import home_feed
from storage import inbox_queries as q
from storage.federation_models import Block, Report
from storage.ids import new_id

MAX_REPORT_COMMENT = 5000
MAX_REPORTED_OBJECTS = 100


async def on_block(ctx: InboxContext) -> str:
    target_url = ctx.activity.object_id
    if not ctx.is_local(target_url):
        return IGNORED
    blocker = await ctx.actor()
    if blocker is None or blocker.domain is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        target = await q.local_actor_by_ap_id(session, target_url)
        if target is None:
            return IGNORED
        if await q.block_between(session, blocker.id, target.id) is None:
            ap_id = ctx.activity.id
            if ap_id and await q.block_by_ap_id(session, ap_id) is not None:
                ap_id = None  # the id names another block already: keep the fact, not the id
            session.add(Block(id=new_id(), actor_id=blocker.id, target_id=target.id, ap_id=ap_id))
        await q.delete_follows_between(session, blocker.id, target.id)
        await home_feed.remove_author(session, target.id, blocker.id)
    return DONE


async def on_undo_block(ctx: InboxContext, inner: Any) -> str:
    blocker = await ctx.actor()
    if blocker is None:
        return IGNORED
    async with ctx.services.db.transaction() as session:
        block = await q.block_by_ap_id(session, id_of(inner))
        if block is not None and block.actor_id != blocker.id:
            return IGNORED
        if block is None and isinstance(inner, dict):
            target = await q.local_actor_by_ap_id(session, id_of(first(inner.get("object"))))
            if target is not None:
                block = await q.block_between(session, blocker.id, target.id)
        if block is None:
            return IGNORED
        await session.delete(block)
    return DONE


async def on_flag(ctx: InboxContext) -> str:
    reporter = await ctx.actor()
    if reporter is None or reporter.domain is None:
        return IGNORED
    objects = list(dict.fromkeys(ctx.activity.object_ids))[:MAX_REPORTED_OBJECTS]
    async with ctx.services.db.transaction() as session:
        if await q.report_by_ap_id(session, ctx.activity.id) is not None:
            return DONE
        target_id, target_url = None, None
        for url in objects:
            known = await q.actor_by_ap_id(session, url)
            if known is not None:
                target_id, target_url = known.id, url
                break
        if target_id is None and not objects:
            return IGNORED
        session.add(
            Report(
                id=new_id(),
                reporter_id=reporter.id,
                target_id=target_id,
                post_ap_ids=json.dumps([u for u in objects if u != target_url]),
                comment=plain_text(ctx.activity.content, MAX_REPORT_COMMENT),
                ap_id=ctx.activity.id,
            )
        )
    return DONE
