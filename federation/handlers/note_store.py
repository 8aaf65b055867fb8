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


async def _notify_and_mention(
    session: AsyncSession, ctx: InboxContext, post: Post, note: ParsedNote, parent: Post | None
) -> None:
    """``mention`` rows and notifications for local accounts the note names, and a
    ``reply`` notification for the author of a local parent - none of them for an
    account that blocks the note's author."""
    named = [u for u in (*note.mentions, *note.to, *note.cc) if ctx.is_local(u)]
    locals_named = await q.local_actors_by_ap_ids(session, named)
    parent_author = parent.actor_id if parent is not None and parent.local else None
    concerned = {a.id for a in locals_named} | ({parent_author} if parent_author else set())
    blocking = await q.blockers_of(session, concerned, post.actor_id)
    locals_named = [a for a in locals_named if a.id not in blocking]
    if parent_author in blocking:
        parent_author = None
    for local in locals_named:
        session.add(Mention(post_id=post.id, actor_id=local.id))
        if local.id != parent_author:
            await q.ensure_notification(
                session,
                recipient_id=local.id,
                kind="mention",
                from_actor_id=post.actor_id,
                post_id=post.id,
            )
    if parent_author is not None and parent_author != post.actor_id:
        await q.ensure_notification(
            session,
            recipient_id=parent_author,
            kind="reply",
            from_actor_id=post.actor_id,
            post_id=post.id,
        )


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
            now = ctx.services.clock()
            post = Post(
                id=new_id(),
                actor_id=author.id,
                ap_id=note.id,
                url=note.url or note.id,
                local=False,
                visibility=visibility_of(note.to, note.cc, author.followers_url),
                caption_source=plain_text(note.content_html),
                content_html=note.content_html,
                content_warning=note.summary,
                sensitive=note.sensitive,
                language=note.language,
                prompt=note.prompt,
                model_name=note.model_name,
                in_reply_to_id=parent.id if parent is not None else None,
                in_reply_to_ap_id=note.in_reply_to,
                created_at=note.published or now,
                edited_at=note.updated,
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
    "delete_post_rows",
    "note_is_self_consistent",
    "release_blobs",
    "store_note",
    "store_with_ancestors",
    "walk_ancestors",
]
