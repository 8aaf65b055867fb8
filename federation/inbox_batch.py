"""Processing the commonest activities a batch at a time: Likes of our posts, and notes
whose whole story is in the delivery (a reply to one of our posts, a post by someone
followed here, a note naming a local account) with nothing to fetch.

Why: processed one at a time, an activity costs about ten small statements, and each
statement's way through SQLAlchemy and to SQLite's thread costs several times what SQLite
spends on it; that held processing at ~250-300 activities/s (bench/analysis.md). Here the
questions of a whole claimed batch are asked once each (``storage.inbox_batch_queries``),
the decisions are made in Python, and each kind of row is written by one
``executemany``, all in one transaction with the items' outcomes.

The batch must end exactly as processing each item alone in claim order would, so it
only takes what it can decide without guessing, and leaves the rest to the per-item path
(``inbox_process``), which runs after it:

* only Likes naming a local post by id and Creates with an embedded note from the
  sender's own origin, without attachments, are candidates;
* a sender's items after its first item that is not a candidate stay out (an Undo after
  its Like must come after the Like), and so do a sender's items after one the batch
  declines once it has read the database (a sender not cached or stale, a post named by
  URL, a post only some may see, a reply whose parent is not one of our posts);
* decisions that depend on each other (two Likes of one post by one account, two Creates
  of one note) are made in order against what the batch has already added.

If the transaction fails for any reason, nothing of it is kept and every item goes
through the per-item path instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from federation import json_documents
from federation.fetch import is_fresh
from federation.handlers.base import DONE, IGNORED, InboxServices
from federation.handlers.note_store import note_is_self_consistent, note_post_row, notices_for
from federation.parse import (
    NOTE_TYPES,
    ParsedNote,
    id_of,
    parse_activity,
    same_origin,
    type_of,
    visibility_of,
)
from storage import home_feed
from storage import inbox_batch_queries as bq
from storage import inbox_queries as q
from storage import posts as post_queries
from storage.inbox_writer import MAX_YIELD
from storage.models import Like
from storage.sqlite_driver import deferred_writes

__all__ = ["Candidate", "plan", "run_batch"]

log = logging.getLogger(__name__)

VISIBLE_TO_ALL = ("public", "unlisted")


@dataclass
class Candidate:
    """A claimed item the batch may take, with what its payload says."""

    item: q.ClaimedItem
    kind: str  # "like" or "note"
    state: str = ""  # the outcome, once decided ("" = declined: the per-item path runs it)
    ref: str | None = None  # a Like's object
    ap_id: str | None = None  # a Like's own id
    note: ParsedNote | None = None  # a Create's note


def _candidate(item: q.ClaimedItem, base_url: str) -> Candidate | None:
    """What the payload makes of ``item``: a candidate, one already decided (a payload
    processing would ignore whatever the database says), or None for the per-item path.

    Anything reading the payload raises sends the item to the per-item path, which
    records the failure against that item alone: one sender's bad payload (a lone
    surrogate in a note's content makes the HTML sanitiser raise) must not fail the pass
    and keep every other claimed item waiting."""
    if item.activity_type not in ("Like", "Create"):
        return None
    try:
        return _read_candidate(item, base_url)
    except Exception as exc:
        log.debug("inbox item %s left to the per-item path: %s", item.id, exc)
        return None


def _read_candidate(item: q.ClaimedItem, base_url: str) -> Candidate | None:
    try:
        document: Any = json_documents.loads(item.payload)
    except ValueError:
        return None
    if not isinstance(document, dict) or type_of(document) not in ("Like", "Create"):
        return None
    activity = parse_activity(document)
    if activity.actor is None or activity.actor != item.actor_ap_id:
        return None
    if same_origin(activity.actor, base_url):
        return None  # the per-item path ignores it; no need to reason about it here
    if activity.type == "Like":
        ref = activity.object_id
        found = Candidate(item, "like", ref=ref, ap_id=activity.id)
        if not ref or not same_origin(ref, base_url):
            found.state = IGNORED
        return found
    obj = activity.object
    if not isinstance(obj, dict) or type_of(obj) not in NOTE_TYPES:
        return None
    object_id = id_of(obj)
    if not object_id or same_origin(object_id, base_url):
        return Candidate(item, "note", state=IGNORED)
    if not same_origin(object_id, activity.actor):
        return None  # the note must be fetched from its own origin
    note = activity.note  # parse_activity read the embedded object already
    if note is None or not note_is_self_consistent(note) or note.attributed_to != activity.actor:
        return Candidate(item, "note", state=IGNORED)
    if note.attachments:
        return None  # images to fetch
    return Candidate(item, "note", note=note)


def plan(items: Sequence[q.ClaimedItem], base_url: str) -> tuple[list[Candidate], list[int]]:
    """Split claimed items (in claim order) into the batch's candidates and the ids of
    the items left to the per-item path. Pure: reads payloads only."""
    candidates: list[Candidate] = []
    rest: list[int] = []
    held_back: set[str] = set()
    for item in items:
        found = None if item.actor_ap_id in held_back else _candidate(item, base_url)
        if found is None:
            held_back.add(item.actor_ap_id)
            rest.append(item.id)
        else:
            candidates.append(found)
    return candidates, rest


@dataclass
class _Facts:
    """What the database said, read once for the whole batch."""

    actors: dict[str, bq.ActorFacts]
    posts: dict[str, bq.PostFacts]
    blocks: set[tuple[int, int]]
    liked: set[tuple[int, int]]
    like_ids: set[str]
    followed: set[int]
    locals_by_ap_id: dict[str, int]


@dataclass
class _Writes:
    likes: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[tuple[int, int]] = field(default_factory=list)
    hashtags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    replies: dict[int, int] = field(default_factory=dict)  # parent id -> replies counted


def _named_locals(note: ParsedNote, base_url: str) -> list[str]:
    return [u for u in (*note.mentions, *note.to, *note.cc) if same_origin(u, base_url)]


async def _read(session: Any, open_: list[Candidate], base_url: str) -> _Facts:
    senders = {c.item.actor_ap_id for c in open_}
    refs = {c.ref for c in open_ if c.ref}
    notes = [c.note for c in open_ if c.note is not None]
    refs |= {n.id for n in notes} | {n.in_reply_to for n in notes if n.in_reply_to}
    actors = await bq.actors_by_ap_ids(session, senders)
    posts = await bq.posts_by_ap_ids(session, refs)
    named = {u for n in notes for u in _named_locals(n, base_url)}
    locals_found = await q.local_actors_by_ap_ids(session, named)
    locals_by_ap_id = {a.ap_id: a.id for a in locals_found}
    actor_ids = {a.id for a in actors.values()}
    blockers = {p.actor_id for p in posts.values() if p.local} | set(locals_by_ap_id.values())
    blocks = await bq.block_pairs(session, blockers, actor_ids)
    liked_posts = {posts[c.ref].id for c in open_ if c.kind == "like" and c.ref in posts}
    like_ids = {c.ap_id for c in open_ if c.kind == "like" and c.ap_id}
    liked, taken = await bq.existing_likes(session, actor_ids, liked_posts, like_ids)
    followed = await bq.with_local_followers(session, actor_ids) if notes else set()
    return _Facts(actors, posts, blocks, liked, taken, followed, locals_by_ap_id)


def _sender(facts: _Facts, candidate: Candidate, now: datetime) -> bq.ActorFacts | str:
    """The sender's row, or the outcome when there is none to use: declined ("") when it
    must be fetched, ``ignored`` when it must not be heard (as ``actor_or_none``)."""
    actor = facts.actors.get(candidate.item.actor_ap_id)
    if actor is None or actor.domain is None or not is_fresh(actor, now):  # type: ignore[arg-type]
        return ""
    return IGNORED if actor.suspended else actor


def _decide_like(c: Candidate, facts: _Facts, writes: _Writes, now: datetime) -> str:
    """``reactions.on_like`` and ``_react``, against the batch's facts."""
    post = facts.posts.get(c.ref or "")
    if post is None:
        return ""  # perhaps named by its URL: the per-item path looks further
    if not post.local:
        return IGNORED
    actor = _sender(facts, c, now)
    if isinstance(actor, str):
        return actor
    if post.visibility not in VISIBLE_TO_ALL and post.actor_id != actor.id:
        return ""  # followers-only or direct: the per-item path checks who may see it
    if (post.actor_id, actor.id) in facts.blocks:
        return IGNORED
    if (actor.id, post.id) in facts.liked:
        return DONE
    if c.ap_id and c.ap_id in facts.like_ids:
        return IGNORED  # the id already names another reaction: a replay
    facts.liked.add((actor.id, post.id))
    if c.ap_id:
        facts.like_ids.add(c.ap_id)
    writes.likes.append(
        {"actor_id": actor.id, "post_id": post.id, "ap_id": c.ap_id, "created_at": now}
    )
    writes.notifications.append(
        {
            "recipient_id": post.actor_id,
            "kind": "favourite",
            "from_actor_id": actor.id,
            "post_id": post.id,
        }
    )
    return DONE


def _decide_note(c: Candidate, facts: _Facts, writes: _Writes, now: datetime, base_url: str) -> str:
    """``notes.on_create`` and ``store_note`` for a note with nothing to fetch."""
    note = c.note
    assert note is not None
    if note.id in facts.posts:
        return DONE  # already stored (or stored earlier in this batch)
    author = _sender(facts, c, now)
    if isinstance(author, str):
        return author
    parent: bq.PostFacts | None = None
    if note.in_reply_to:
        parent = facts.posts.get(note.in_reply_to)
        if parent is None or not parent.local:
            return ""  # a thread to walk, perhaps parents to fetch
    named = [
        facts.locals_by_ap_id[u]
        for u in dict.fromkeys(_named_locals(note, base_url))
        if u in facts.locals_by_ap_id
    ]
    blocking = {a for a in named if (a, author.id) in facts.blocks}
    mentions_local = bool(set(named) - blocking)
    visibility = visibility_of(note.to, note.cc, author.followers_url)
    if visibility == "direct" and not mentions_local:
        return IGNORED
    if not (parent is not None or author.id in facts.followed or mentions_local):
        return IGNORED
    post = note_post_row(note, author.id, author.followers_url, parent.id if parent else None, now)
    post_id = post["id"]
    facts.posts[note.id] = bq.PostFacts(post_id, note.id, author.id, False, post["visibility"])
    writes.posts.append(post)
    if note.hashtags:
        writes.hashtags[post_id] = note.hashtags
    parent_author = parent.actor_id if parent is not None else None
    if parent_author is not None and (parent_author, author.id) in facts.blocks:
        blocking.add(parent_author)
    notices = notices_for(author.id, named, parent_author, blocking)
    writes.mentions.extend((post_id, actor_id) for actor_id in notices.mentioned)
    writes.notifications.extend(
        {"recipient_id": r, "kind": kind, "from_actor_id": author.id, "post_id": post_id}
        for r, kind in notices.notifications
    )
    if parent is not None and post["visibility"] in post_queries.COUNTED_REPLY_VISIBILITIES:
        writes.replies[parent.id] = writes.replies.get(parent.id, 0) + 1
    return DONE


async def _write(session: Any, writes: _Writes) -> None:
    await q.insert_posts(session, writes.posts)
    await bq.add_post_hashtags(session, writes.hashtags)
    await home_feed.add_posts(session, writes.posts)
    await bq.add_mentions(session, writes.mentions)
    await bq.count_replies(session, writes.replies)
    await q.add_reactions(session, Like, writes.likes)
    await q.ensure_notifications(session, writes.notifications)


async def run_batch(
    services: InboxServices, candidates: list[Candidate], *, give_way: float = MAX_YIELD
) -> list[int]:
    """Process ``candidates``: read what they need (outside any transaction, as the
    per-item path does before its first write), decide each in claim order, then write
    every row and outcome in one transaction right away, so SQLite's write lock is held
    only for the writes and what was read is at most a decision's time old. Returns the ids
    of the items left to the per-item path (all of them if anything failed: a row the
    reads did not foresee, such as a post deleted meanwhile, fails the insert and the
    per-item path then decides each item afresh)."""
    base_url = services.config.base_url
    writer = services.inbox_writer
    try:
        await writer.wait_idle(give_way)
        now = services.clock()
        open_ = [c for c in candidates if not c.state]
        facts = None
        if open_:
            async with services.db.session() as session:
                facts = await _read(session, open_, base_url)
        writes = _Writes()
        declined: set[str] = set()  # senders with an item left: their later ones wait
        for c in candidates:
            if c.item.actor_ap_id in declined:
                c.state = ""
            elif not c.state and facts is not None:
                c.state = (
                    _decide_like(c, facts, writes, now)
                    if c.kind == "like"
                    else _decide_note(c, facts, writes, now, base_url)
                )
            if not c.state:
                declined.add(c.item.actor_ap_id)
        # one hand-off for the whole transaction: SQLite's lock is held for its work
        # alone, not for the event loop's turns between statements (deferred_writes)
        with deferred_writes():
            async with writer.writing(), services.db.transaction() as session:
                await _write(session, writes)
                for state in (DONE, IGNORED):
                    ids = [c.item.id for c in candidates if c.state == state]
                    await q.finish_items(session, ids, state=state, now=now)
    except Exception as exc:
        log.warning("inbox batch of %d failed, items run one at a time: %s", len(candidates), exc)
        return [c.item.id for c in candidates]
    return [c.item.id for c in candidates if not c.state]
