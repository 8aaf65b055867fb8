"""Hooks that turn a local action into queued activities and local notifications.

Each hook runs inside the caller's transaction (``session``), so a post and its Create,
a like and its Like, commit together or not at all; the delivery worker sends them later.
Who receives what:

* Create / Update / Delete of a post: our remote followers (one delivery per server, to
  its shared inbox), the author of the post it answers, the people it mentions; Update and
  Delete also go to the servers of remote accounts that boosted it (they hold a copy).
* Like / Undo{Like}: the post's author only.
* Announce / Undo{Announce}: our followers and the post's author.

Local recipients get ``notification`` rows instead (favourite, reblog, reply, mention).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from federation import activities as act
from federation.addressing import inboxes_for
from federation.documents import actor_document, note_object
from federation.outbox import enqueue_activity
from services.context import Services
from storage import delivery_queries as dq
from storage import mention_queries as mq
from storage import posts as q
from storage.federation_models import Notification, OutboxActivity
from storage.ids import new_id
from storage.models import Actor, Boost, Like, Post

__all__ = [
    "enqueue",
    "notify",
    "post_created",
    "post_deleted",
    "post_updated",
    "profile_updated",
    "reaction_changed",
    "unnotify",
]


async def enqueue(
    services: Services,
    session: AsyncSession,
    actor: Actor,
    activity: dict[str, Any],
    inboxes: Iterable[str],
) -> OutboxActivity | None:
    """Queue ``activity`` (signed later with ``actor``'s key) to the remote ``inboxes``."""
    return await enqueue_activity(
        session,
        actor=actor,
        activity=activity,
        inboxes=inboxes,
        local_base_url=services.config.base_url,
        now=services.clock(),
    )


async def notify(
    services: Services,
    session: AsyncSession,
    recipient: Actor | None,
    kind: str,
    from_actor: Actor,
    post_id: int | None = None,
) -> None:
    """A notification for a local recipient; nobody is notified of their own doing."""
    if recipient is None or recipient.domain is not None or recipient.id == from_actor.id:
        return
    session.add(
        Notification(
            id=new_id(),
            recipient_id=recipient.id,
            kind=kind,
            from_actor_id=from_actor.id,
            post_id=post_id,
            created_at=services.clock(),
        )
    )


async def unnotify(
    session: AsyncSession, recipient_id: int, kind: str, from_actor_id: int, post_id: int | None
) -> None:
    """Remove the notification an undone action left (an unlike, a withdrawn request)."""
    stmt = sa_delete(Notification).where(
        col(Notification.recipient_id) == recipient_id,
        col(Notification.kind) == kind,
        col(Notification.from_actor_id) == from_actor_id,
    )
    if post_id is not None:
        stmt = stmt.where(col(Notification.post_id) == post_id)
    await session.exec(stmt)  # type: ignore[call-overload]


# --- posts -------------------------------------------------------------------------------


async def _note(services: Services, session: AsyncSession, author: Actor, post: Post) -> dict:
    media = (await q.attachments_for(session, [post.id])).get(post.id, [])
    tags = await q.tags_of(session, post.id)
    mentions = (await mq.mentions_for(session, [post.id])).get(post.id, [])
    return note_object(post, author, media, tags, services.urls, mentions)


async def _post_audience(
    services: Services,
    session: AsyncSession,
    author: Actor,
    post: Post,
    *,
    copies: bool,
    also: Sequence[Actor] = (),
) -> set[str]:
    """Followers' servers, plus the personal inboxes of the people the post names (its
    mentions, the author it answers, and ``also``: those an edit stopped mentioning)."""
    base = services.config.base_url
    inboxes = inboxes_for(await dq.follower_actors(session, author.id), local_base_url=base)
    named = [*await dq.mentioned_actors(session, post.id), *also]
    parent = await dq.parent_author(session, post)
    if parent is not None:
        named.append(parent)
    inboxes |= inboxes_for(named, local_base_url=base, shared=False)
    if copies:
        inboxes |= inboxes_for(await dq.boosters_of(session, post.id), local_base_url=base)
    return inboxes


async def post_created(
    services: Services, session: AsyncSession, author: Actor, post: Post
) -> None:
    """Queue ``Create{Note}``; notify a local parent's author and local mentions."""
    note = await _note(services, session, author, post)
    inboxes = await _post_audience(services, session, author, post, copies=False)
    await enqueue(services, session, author, act.build_create(note, services.urls.base), inboxes)
    parent = await dq.parent_author(session, post)
    await notify(services, session, parent, "reply", author, post.id)
    for mentioned in await dq.mentioned_actors(session, post.id):
        if parent is None or mentioned.id != parent.id:
            await notify(services, session, mentioned, "mention", author, post.id)


async def post_updated(
    services: Services,
    session: AsyncSession,
    author: Actor,
    post: Post,
    *,
    newly_mentioned: Sequence[Actor] = (),
    unmentioned: Sequence[Actor] = (),
) -> None:
    """Queue ``Update{Note}`` carrying the edited Note.

    People the edit newly mentions are notified (unless the post answers them: their
    ``reply`` notification came with the post); people it no longer mentions still get the
    Update, so the copy their server holds loses the mention too.
    """
    if not post.local:
        return
    note = await _note(services, session, author, post)
    when = post.edited_at or services.clock()
    activity = act.build_update_note(note, services.urls.base, updated_at=when)
    inboxes = await _post_audience(services, session, author, post, copies=True, also=unmentioned)
    await enqueue(services, session, author, activity, inboxes)
    parent = await dq.parent_author(session, post)
    for mentioned in newly_mentioned:
        if parent is None or mentioned.id != parent.id:
            await notify(services, session, mentioned, "mention", author, post.id)


async def post_deleted(services: Services, session: AsyncSession, post: Post) -> None:
    """Queue ``Delete{Tombstone}`` for a local post (call before the row is deleted).

    The Delete is the author's even when an administrator removes the post: only the
    author's key can speak for the author's objects.
    """
    if not post.local:
        return
    author = await session.get(Actor, post.actor_id)
    if author is None:
        return
    inboxes = await _post_audience(services, session, author, post, copies=True)
    await enqueue(services, session, author, act.build_delete_note(author, post.ap_id), inboxes)


# --- reactions ---------------------------------------------------------------------------


async def reaction_changed(
    services: Services,
    session: AsyncSession,
    actor: Actor,
    post: Post,
    row: Like | Boost,
    *,
    on: bool,
) -> None:
    """A like or boost was added (``on``) or removed: Like/Announce or their Undo, and the
    author's notification (added or withdrawn)."""
    author = await session.get(Actor, post.actor_id)
    if author is None:
        return
    base = services.config.base_url
    kind = "favourite" if isinstance(row, Like) else "reblog"
    if isinstance(row, Like):
        if on:
            row.ap_id = act.like_id(actor, row.id)
            activity = act.build_like(actor, row.id, post.ap_id)
        else:
            activity = act.build_undo_like(actor, row.id, post.ap_id)
        inboxes = inboxes_for([author], local_base_url=base, shared=False)
    else:
        published = row.created_at if on else (row.created_at or services.clock())
        details = {"author_ap_id": author.ap_id, "published": published}
        if on:
            row.ap_id = act.announce_id(actor, row.id)
            activity = act.build_announce(
                actor, row.id, post.ap_id, visibility=post.visibility, **details
            )
        else:
            activity = act.build_undo_announce(
                actor, row.id, post.ap_id, visibility=post.visibility, **details
            )
        inboxes = inboxes_for(await dq.follower_actors(session, actor.id), local_base_url=base)
        inboxes |= inboxes_for([author], local_base_url=base, shared=False)
    if on:
        session.add(row)
        await notify(services, session, author, kind, actor, post.id)
    else:
        await unnotify(session, author.id, kind, actor.id, post.id)
    await enqueue(services, session, actor, activity, inboxes)


# --- profile -----------------------------------------------------------------------------


async def profile_updated(services: Services, session: AsyncSession, actor: Actor) -> None:
    """Queue ``Update{Person}`` to our followers' servers after a profile edit."""
    person = actor_document(actor, services.urls)
    activity = act.build_update_person(person, services.urls.base, updated_at=services.clock())
    inboxes = inboxes_for(
        await dq.follower_actors(session, actor.id), local_base_url=services.config.base_url
    )
    await enqueue(services, session, actor, activity, inboxes)
