"""Create, Update and Delete of notes (Question, Article and Page are read as notes).

Which remote posts are stored (Create): those someone here has a reason to see -

* a reply, at any depth, to one of our posts (the thread is walked up, fetching unknown
  parents from their own servers);
* a post by an account a local user follows (it belongs in their home timeline);
* a post that mentions a local user (``mention`` rows and notifications).

A direct message is stored only when it mentions a local user. Everything else is
ignored: a server is not a cache of the whole fediverse.

Only a note's author may change it: Update and Delete of a post whose stored author is not
the activity's actor change nothing.
"""

from __future__ import annotations

from federation.handlers.base import DONE, IGNORED, InboxContext
from federation.handlers.note_store import (
    delete_post_rows,
    note_is_self_consistent,
    release_blobs,
    store_with_ancestors,
    walk_ancestors,
)
from federation.parse import ParsedNote, parse_note, plain_text, visibility_of
from federation.remote_media import RemoteMediaBatch, blob_keys
from storage import inbox_queries as q
from storage.models import Actor, MediaAttachment, Post


async def _trusted_note(ctx: InboxContext) -> ParsedNote | None:
    """The activity's note, as given when it is the actor's own, else fetched from its
    origin; None when it cannot be had or its author is not the activity's actor."""
    document = await ctx.trusted_object(ctx.activity.object)
    note = parse_note(document) if document is not None else None
    if note is None or not note_is_self_consistent(note):
        return None
    if note.attributed_to != ctx.activity.actor:
        return None
    return note


async def on_create(ctx: InboxContext) -> str:
    note = await _trusted_note(ctx)
    if note is None:
        return IGNORED
    async with ctx.services.db.session() as session:
        if await q.post_by_ap_id(session, note.id) is not None:
            return DONE  # already stored (a duplicate delivery, or fetched as a parent)
    author = await ctx.actor()
    if author is None or author.domain is None:
        return IGNORED
    named = [u for u in (*note.mentions, *note.to, *note.cc) if ctx.is_local(u)]
    async with ctx.services.db.session() as session:
        locals_named = {a.id for a in await q.local_actors_by_ap_ids(session, named)}
        # A mention by someone the account blocks is no reason to store the note.
        mentions_local = bool(locals_named - await q.blockers_of(session, locals_named, author.id))
        followed = await q.has_local_follower(session, author.id)
    visibility = visibility_of(note.to, note.cc, author.followers_url)
    if visibility == "direct" and not mentions_local:
        return IGNORED
    ancestry = await walk_ancestors(ctx, note.in_reply_to)
    if not (ancestry.reaches_local or followed or mentions_local):
        return IGNORED
    await store_with_ancestors(ctx, note, author, ancestry)
    return DONE


async def on_update(ctx: InboxContext) -> str:
    """Edit a stored remote post in place (content, warning, tags, images, alt texts)."""
    note = await _trusted_note(ctx)
    if note is None:
        return IGNORED
    async with ctx.services.db.session() as session:
        post = await q.post_by_ap_id(session, note.id)
        if post is None or post.ap_id != note.id:
            return IGNORED  # we never stored it: nothing to edit
        author = await session.get(Actor, post.actor_id)
        old_media = await q.media_of(session, post.id)
    if author is None or author.domain is None or author.ap_id != ctx.activity.actor:
        return IGNORED
    known = {m.remote_url: m for m in old_media if m.remote_url}
    wanted = list(note.attachments)[: ctx.services.config.media.max_attachments]
    batch = RemoteMediaBatch(ctx.services)
    fresh: dict[str, MediaAttachment] = {}
    for position, parsed in enumerate(wanted):
        if parsed.url not in known and parsed.url not in fresh:
            fresh[parsed.url] = await batch.fetch(parsed, actor_id=author.id, position=position)
    removed: list[MediaAttachment] = []
    try:
        async with ctx.services.db.transaction() as session:
            row = await session.get(Post, post.id)
            if row is None:
                await batch.discard()
                return IGNORED
            row.content_html = note.content_html
            row.caption_source = plain_text(note.content_html)
            row.content_warning = note.summary
            row.sensitive = note.sensitive
            row.language = note.language
            row.edited_at = note.updated or row.edited_at or ctx.services.clock()
            session.add(row)
            urls = {p.url for p in wanted}
            for media in await q.media_of(session, post.id):
                if media.remote_url not in urls:
                    removed.append(media)
                    await session.delete(media)
            for position, parsed in enumerate(wanted):
                item = fresh.get(parsed.url)
                if item is None:
                    item = await session.get(MediaAttachment, known[parsed.url].id)
                    if item is None:
                        continue
                    item.description = parsed.alt
                    if parsed.focal_point is not None:
                        item.focal_x, item.focal_y = parsed.focal_point
                item.post_id, item.position = post.id, position
                session.add(item)
            await q.set_post_hashtags(session, post.id, note.hashtags)
    except BaseException:
        await batch.discard()
        raise
    await release_blobs(ctx.services, blob_keys(removed))
    return DONE


async def on_delete(ctx: InboxContext) -> str:
    """Delete{Note | Tombstone | id}: only the author's own post, with its files."""
    ref = ctx.activity.object_id
    if not ref or ctx.is_local(ref):
        return IGNORED
    async with ctx.services.db.transaction() as session:
        post = await q.post_by_ap_id(session, ref)
        if post is None or post.local or post.ap_id != ref:
            return IGNORED
        author = await session.get(Actor, post.actor_id)
        if author is None or author.ap_id != ctx.activity.actor:
            return IGNORED
        keys = await delete_post_rows(session, post)
    await release_blobs(ctx.services, keys)
    return DONE
