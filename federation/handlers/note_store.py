"""Storing and removing remote posts: the parts Create, Update, Announce and Delete share.

A remote post is only stored when someone here has a reason to see it (see
``notes.on_create``); once it is, it is a ``post`` row like ours (``local=False``), with
its images copied (``federation.remote_media``), its hashtags in the same tables, its
mentions of local accounts as ``mention`` rows and the notifications they cause.

Reply threads: a reply whose parent we do not have is linked by ``in_reply_to_ap_id``
alone; ``walk_ancestors`` fetches missing parents from their own servers (a bounded
number) so a reply to a reply to one of our posts still shows up under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from federation.handlers.base import InboxContext, actor_or_none, fetch_or_none
from federation.parse import ParsedNote, parse_note, plain_text, same_origin, visibility_of
from federation.remote_media import RemoteMediaBatch, blob_keys, release_blobs
from storage import home_feed
from storage import inbox_queries as q
from storage import posts as posts_q
from storage.federation_models import Mention
from storage.ids import new_id
from storage.models import Actor, Post

MAX_ANCESTOR_FETCHES = 5
"""Unknown parents fetched per reply: enough for real threads, bounded against a server
that answers every fetch with yet another parent."""

MAX_WALK = 25
"""Steps up a thread through posts we already have."""


@dataclass
class Ancestry:
    """What walking up a reply chain found."""

    reaches_local: bool = False
    missing: list[ParsedNote] = field(default_factory=list)  # nearest parent first


def note_is_self_consistent(note: ParsedNote) -> bool:
    """A note's id must live on its author's server (else it speaks for someone else)."""
    return note.attributed_to is not None and same_origin(note.id, note.attributed_to)


async def walk_ancestors(ctx: InboxContext, in_reply_to: str | None) -> Ancestry:
    """Walk ``inReplyTo`` upwards: through stored posts, fetching unknown ones.

    ``missing`` lists the fetched parents that lie between the reply and the first stored
    post (those must be stored for the thread to link up); the walk stops at one of our
    own posts (``reaches_local``), a thread root, or the bounds.
    """
    found = Ancestry()
    ref, fetches, contiguous = in_reply_to, 0, True
    for _step in range(MAX_WALK):
        if not ref:
            break
        async with ctx.services.db.session() as session:
            post = await q.post_by_reference(session, ref)
        if post is not None:
            if post.local:
                found.reaches_local = True
                break
            contiguous = False
            ref = post.in_reply_to_ap_id
            continue
        if ctx.is_local(ref) or fetches >= MAX_ANCESTOR_FETCHES:
            break
        fetches += 1
        document = await fetch_or_none(ctx.services, ref)
        parent = parse_note(document) if document is not None else None
        if parent is None or not note_is_self_consistent(parent):
            break
        if contiguous:
            found.missing.append(parent)
        ref = parent.in_reply_to
    return found


@dataclass(frozen=True)
class Notices:
    """Who a stored note concerns here: ``mention`` rows and notifications to add."""

    mentioned: list[int]  # local accounts named, in the order named
    notifications: list[tuple[int, str]]  # (recipient, kind)


def notices_for(
    author_id: int, named: list[int], parent_author: int | None, blocking: set[int]
) -> Notices:
    """``mention`` rows and notifications for the local accounts a note names, and a
    ``reply`` notification for the author of a local parent - none of them for an
    account that blocks the note's author. Pure, so the one-at-a-time path and the batch
    (``federation.inbox_batch``) decide alike."""
    mentioned = [actor_id for actor_id in named if actor_id not in blocking]
    if parent_author in blocking:
        parent_author = None
    notifications = [(a, "mention") for a in mentioned if a != parent_author]
    if parent_author is not None and parent_author != author_id:
        notifications.append((parent_author, "reply"))
    return Notices(mentioned, notifications)


async def _notify_and_mention(
    session: AsyncSession, ctx: InboxContext, post: Post, note: ParsedNote, parent: Post | None
) -> None:
    named = [u for u in (*note.mentions, *note.to, *note.cc) if ctx.is_local(u)]
    locals_named = [a.id for a in await q.local_actors_by_ap_ids(session, named)]
    parent_author = parent.actor_id if parent is not None and parent.local else None
    concerned = set(locals_named) | ({parent_author} if parent_author else set())
    blocking = await q.blockers_of(session, concerned, post.actor_id)
    notices = notices_for(post.actor_id, locals_named, parent_author, blocking)
    for actor_id in notices.mentioned:
        session.add(Mention(post_id=post.id, actor_id=actor_id))
    for recipient_id, kind in notices.notifications:
        await q.ensure_notification(
            session,
            recipient_id=recipient_id,
            kind=kind,
            from_actor_id=post.actor_id,
            post_id=post.id,
        )


def note_post_row(
    note: ParsedNote,
    author_id: int,
    followers_url: str | None,
    parent_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of the ``post`` row for a remote note (not yet stored), as plain
    values: the batch (``federation.inbox_batch``) inserts these as they are, which skips
    the ~0.2 ms a model instance costs to build."""
    return {
        "id": new_id(),
        "actor_id": author_id,
        "ap_id": note.id,
        "url": note.url or note.id,
        "local": False,
        "visibility": visibility_of(note.to, note.cc, followers_url),
        "caption_source": plain_text(note.content_html),
        "content_html": note.content_html,
        "content_warning": note.summary,
        "sensitive": note.sensitive,
        "language": note.language,
        "prompt": note.prompt,
        "model_name": note.model_name,
        "in_reply_to_id": parent_id,
        "in_reply_to_ap_id": note.in_reply_to,
        "likes_count": 0,
        "boosts_count": 0,
        "replies_count": 0,
        "created_at": note.published or now,
        "edited_at": note.updated,
    }


async def store_note(ctx: InboxContext, note: ParsedNote, author: Actor) -> Post:
    """Insert a remote note (images first, then every row in one transaction).

    Idempotent: a note already stored (a duplicate Create, a race with another path that
    stored it) is returned as it is.
    """
    if note.attachments:  # worth a look before fetching images; the insert checks again
        async with ctx.services.db.session() as session:
            existing = await q.post_by_ap_id(session, note.id)
        if existing is not None:
            return existing
    batch = RemoteMediaBatch(ctx.services)
    media = await batch.fetch_all(
        note.attachments, actor_id=author.id, limit=ctx.services.config.media.max_attachments
    )
    try:
        async with ctx.services.db.transaction() as session:
            again = await q.post_by_ap_id(session, note.id)
            if again is not None:
                await batch.discard()
                return again
            parent = await q.post_by_reference(session, note.in_reply_to)
            post = Post(
                **note_post_row(
                    note,
                    author.id,
                    author.followers_url,
                    parent.id if parent is not None else None,
                    ctx.services.clock(),
                )
            )
            await q.insert_post(session, post)
            for row in media:
                row.post_id = post.id
                session.add(row)
            await q.set_post_hashtags(session, post.id, note.hashtags, fresh=True)
            await home_feed.add_post(session, post)
            await _notify_and_mention(session, ctx, post, note, parent)
            await posts_q.count_reply(session, post, +1)  # public and unlisted replies only
        return post
    except BaseException:
        await batch.discard()
        raise


async def store_with_ancestors(
    ctx: InboxContext, note: ParsedNote, author: Actor, ancestry: Ancestry
) -> Post:
    """Store the missing parents (oldest first, so each links to its own parent) and then
    the note itself. A parent whose author cannot be fetched, or that is a direct message,
    ends the chain: the note then links to its parent by id only."""
    for parent in reversed(ancestry.missing):
        parent_author = await actor_or_none(ctx.services, parent.attributed_to)
        if parent_author is None or parent_author.domain is None:
            continue
        if visibility_of(parent.to, parent.cc, parent_author.followers_url) == "direct":
            continue
        await store_note(ctx, parent, parent_author)
    return await store_note(ctx, note, author)


async def delete_post_rows(session: AsyncSession, post: Post) -> set[str]:
    """Delete a post, its attachments and its place in its parent's reply count (when it
    was counted: ``storage.posts.count_reply``); return the blob keys to release after
    commit. Likes, boosts, mentions and notifications go with the row (foreign keys
    cascade); replies keep their ``in_reply_to_ap_id``."""
    media = await q.media_of(session, post.id)
    keys = blob_keys(media)
    await posts_q.count_reply(session, post, -1)
    for item in media:
        await session.delete(item)
    await session.delete(post)
    await session.flush()
    return keys


__all__ = [
    "Ancestry",
    "Notices",
    "delete_post_rows",
    "note_is_self_consistent",
    "note_post_row",
    "notices_for",
    "release_blobs",
    "store_note",
    "store_with_ancestors",
    "walk_ancestors",
]
