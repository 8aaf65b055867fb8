"""Named queries for the client API's lists: timelines, favourites, bookmarks, followers,
notifications and threads.

Every list is a cursor page on a time-ordered id (Mastodon's ``max_id``, ``since_id``,
``min_id`` and ``limit``): ``min_id`` walks forwards from a point (ascending, then handed
back newest first), the others walk backwards from the newest. A boost is a timeline entry
of its own, with the boost row's id as its status id, exactly as Mastodon shows reblogs.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, bindparam, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import column_rows
from storage.federation_models import Block, Notification
from storage.in_lists import padded
from storage.models import (
    Actor,
    Boost,
    Follow,
    Hashtag,
    HomeFeedEntry,
    Like,
    MediaAttachment,
    Post,
    PostHashtag,
)
from storage.oauth_models import Bookmark
from storage.plain_select import PlainSelect
from storage.posts import _not_blocked, _visible_to, unindexed

MAX_LIMIT = 40
# The booster of a boost, a second ``actor`` in one statement. Made once: the first use of
# a fresh alias's columns builds its column lookup, a tenth of a home page's Python time.


@dataclass(frozen=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


PostRow = Post | Any
"""A post entity, or the same columns read as attributes of a named tuple (see
``home``)."""
ActorRow = Actor | Any
BoostRow = Boost | Any


class Marks(NamedTuple):
    """Whether ``viewer_id`` has liked, boosted and bookmarked an entry's post, when the
    statement that found the entry read them too (``home``)."""

    viewer_id: int
    liked: bool
    boosted: bool
    bookmarked: bool


@dataclass
class Entry:
    """One status in a list: a post, or a boost of it (``boost`` and ``booster`` set)."""

    post: PostRow
    author: ActorRow
    boost: BoostRow | None = None
    booster: ActorRow | None = None
    cursor: int = 0  # the id the list is paged by (a like's or bookmark's id in those lists)
    marks: Marks | None = None

    @property
    def id(self) -> int:
        return self.boost.id if self.boost is not None else self.post.id


def _paged(stmt: Any, id_col: Any, page: Page) -> Any:
    if page.max_id is not None:
        stmt = stmt.where(id_col < page.max_id)
    if page.since_id is not None:
        stmt = stmt.where(id_col > page.since_id)
    if page.min_id is not None:
        return stmt.where(id_col > page.min_id).order_by(id_col.asc()).limit(page.limit)
    return stmt.order_by(id_col.desc()).limit(page.limit)


async def _run(session: AsyncSession, stmt: Any, id_col: Any, page: Page) -> list[Any]:
    rows = list((await session.exec(_paged(stmt, id_col, page))).all())
    return rows[::-1] if page.min_id is not None else rows


async def _run_columns(session: AsyncSession, stmt: Any, id_col: Any, page: Page) -> list[Any]:
    """As ``_run``, for a statement of plain columns (``column_rows``)."""
    rows = list(await column_rows(session, _paged(stmt, id_col, page)))
    return rows[::-1] if page.min_id is not None else rows


def _merge(a: list[Entry], b: list[Entry], page: Page) -> list[Entry]:
    """Two pages of the same id space as one page, newest first."""
    merged = sorted(a + b, key=lambda e: e.cursor, reverse=True)
    if page.min_id is not None:
        return merged[-page.limit :] if len(merged) > page.limit else merged
    return merged[: page.limit]


def _has_media() -> Any:
    return exists().where(col(MediaAttachment.post_id) == col(Post.id))


def _not_reply() -> Any:
    """A filter, never a way in: ``ix_post_in_reply_to_id`` finds nearly every post for
    ``IS NULL``, which SQLite would then sort in full for one page."""
    return and_(
        unindexed(col(Post.in_reply_to_id)).is_(None), col(Post.in_reply_to_ap_id).is_(None)
    )


async def _posts(
    session: AsyncSession, page: Page, *conditions: Any, tag: str | None = None
) -> list[Entry]:
    """Posts with their authors, read as plain columns (as ``home`` reads them): the
    post's, and of the author only what an account shows (``ACCOUNT_COLUMNS``).

    With ``tag``, the way in is the hashtag's rows of ``post_hashtag``, paged by their
    ``post_id`` (the same number as the post's id), so SQLite walks
    ``ix_post_hashtag_tag_post`` newest first and stops after a page, as the hashtag page
    does; a ``post.id IN (the tag's posts)`` listed every post of the tag first."""
    post_names, author_names = _HOME_NAMES[0], _HOME_NAMES[1]
    stmt = select(*_HOME_COLUMNS[0], *_HOME_COLUMNS[1])
    key = col(Post.id)
    if tag is not None:
        stmt = stmt.join_from(PostHashtag, _POST_T, _POST_T.c.id == col(PostHashtag.post_id)).join(
            Hashtag, col(Hashtag.id) == col(PostHashtag.hashtag_id)
        )
        conditions = (*conditions, col(Hashtag.name) == tag.lower())
        key = col(PostHashtag.post_id)
    stmt = stmt.join(_ACTOR_T, _ACTOR_T.c.id == _POST_T.c.actor_id).where(*conditions)
    rows = await _run_columns(session, stmt, key, page)
    entries = []
    for row in rows:
        post = _columns_of(row, 0, post_names)
        author = _columns_of(row, len(post_names), author_names)
        if post is not None and author is not None:
            entries.append(Entry(post=post, author=author, cursor=post.id))
    return entries


async def _boosts(session: AsyncSession, page: Page, *conditions: Any) -> list[Entry]:
    """Boosts with their posts, authors and boosters, read as plain columns as ``home``
    reads them (of the accounts only ``ACCOUNT_COLUMNS``: never their keys)."""
    stmt = _boost_statement().where(
        unindexed(_POST_T.c.visibility).in_(("public", "unlisted")), *conditions
    )
    return _boost_entries(await _run_columns(session, stmt, _BOOST_T.c.id, page))


def _boost_statement() -> Any:
    return (
        select(*_HOME_COLUMNS[2], *_HOME_COLUMNS[3], *_HOME_COLUMNS[0], *_HOME_COLUMNS[1])
        .join_from(_BOOST_T, _BOOSTER_T, _BOOSTER_T.c.id == _BOOST_T.c.actor_id)
        .join(_POST_T, _POST_T.c.id == _BOOST_T.c.post_id)
        .join(_ACTOR_T, _ACTOR_T.c.id == _POST_T.c.actor_id)
    )


def _boost_entries(rows: Sequence[Any]) -> list[Entry]:
    post_names, author_names, boost_names, booster_names = _HOME_NAMES
    entries = []
    for row in rows:
        start = 0
        parts = []
        for names in (boost_names, booster_names, post_names, author_names):
            parts.append(_columns_of(row, start, names))
            start += len(names)
        boost, booster, post, author = parts
        if boost is not None and booster is not None and post is not None and author is not None:
            entries.append(
                Entry(post=post, author=author, boost=boost, booster=booster, cursor=boost.id)
            )
    return entries


BOOSTER = aliased(Actor)
_POST_T = Post.__table__  # type: ignore[attr-defined]
_ACTOR_T = Actor.__table__  # type: ignore[attr-defined]
_BOOST_T = Boost.__table__  # type: ignore[attr-defined]
_BOOSTER_T = _ACTOR_T.alias("booster")
ACCOUNT_COLUMNS = (
    "id",
    "username",
    "domain",
    "actor_type",
    "display_name",
    "bio_html",
    "avatar_key",
    "header_key",
    "ap_id",
    "url",
    "manually_approves_followers",
    "discoverable",
    "created_at",
    "moved_to_id",
)
"""The ``actor`` columns an account entity shows (``web.api.entities.account``) and the
entity cache compares: what a timeline reads of authors and boosters. Not the keys: the
full row would carry every local author's private key into each page (and it was a fifth
of the home query's time, 0.55 against 0.40 ms in SQLite for forty rows)."""

_HOME_COLUMNS = [
    list(_POST_T.c),
    [_ACTOR_T.c[name] for name in ACCOUNT_COLUMNS],
    list(_BOOST_T.c),
    [_BOOSTER_T.c[name] for name in ACCOUNT_COLUMNS],
]
_HOME_NAMES = [[c.key for c in columns] for columns in _HOME_COLUMNS]


_ROW_TYPES: dict[tuple[str, ...], Any] = {}


def _row_type(names: list[str]) -> Any:
    """A named tuple of ``names``, made once per column list: a page builds 160 of
    these, and a ``SimpleNamespace`` from a dict of the names cost about eight times a
    tuple's making (a sixteenth of an API home request)."""
    key = tuple(names)
    found = _ROW_TYPES.get(key)
    if found is None:
        found = _ROW_TYPES[key] = namedtuple("ColumnRow", key)
    return found


def _columns_of(row: Any, start: int, names: list[str]) -> Any:
    """One table's columns of a Core row, read as attributes like the entity's (None
    for an outer join that found nothing); read-only, as every reader only reads."""
    values = row[start : start + len(names)]
    if values[0] is None:  # the primary key: the join found no row
        return None
    return _row_type(names)._make(values)


def _home_statement(max_id: bool, since_id: bool, min_id: bool) -> Any:
    """The home page statement for one shape of cursor, with every value a parameter:
    built once per shape (building and keying a statement of 80 columns cost more than
    SQLite spends answering it)."""
    feed = HomeFeedEntry
    viewer = bindparam("viewer")
    is_post = col(feed.boost_id).is_(None)
    post_id = _POST_T.c.id
    marks = [  # aliases: the statement already joins ``boost`` for the feed's boosts
        exists().where(table.c.actor_id == viewer, table.c.post_id == post_id)
        for table in _MARK_TABLES
    ]
    stmt = (
        select(col(feed.entry_id), *(c for columns in _HOME_COLUMNS for c in columns), *marks)
        .join_from(HomeFeedEntry, _POST_T, _POST_T.c.id == col(feed.post_id))
        .join(_ACTOR_T, _ACTOR_T.c.id == _POST_T.c.actor_id)
        .join(_BOOST_T, _BOOST_T.c.id == col(feed.boost_id), isouter=True)
        .join(_BOOSTER_T, _BOOSTER_T.c.id == _BOOST_T.c.actor_id, isouter=True)
        .where(
            col(feed.owner_id) == viewer,
            or_(
                and_(is_post, _visible_to(viewer)),
                and_(
                    ~is_post,
                    unindexed(col(Post.visibility)).in_(("public", "unlisted")),
                    unindexed(col(Post.actor_id)) != viewer,
                ),
            ),
            _not_blocked(viewer, col(Post.actor_id)),
        )
    )
    key = col(feed.entry_id)
    if max_id:
        stmt = stmt.where(key < bindparam("max_id"))
    if since_id:
        stmt = stmt.where(key > bindparam("since_id"))
    order = key.asc() if min_id else key.desc()
    if min_id:
        stmt = stmt.where(key > bindparam("min_id"))
    return stmt.order_by(order).limit(bindparam("limit", type_=Integer))


def _spans(groups: list[list[str]], start: int) -> tuple[list[tuple[int, int, Any]], int]:
    """Where each table's columns lie in a row, with the named tuple to read them as."""
    spans = []
    for names in groups:
        spans.append((start, start + len(names), _row_type(names)))
        start += len(names)
    return spans, start


_HOME_SPANS, _HOME_MARKS_AT = _spans(_HOME_NAMES, 1)  # after the feed's entry id
_MARK_TABLES = [m.__table__.alias(f"viewer_{m.__tablename__}") for m in (Like, Boost, Bookmark)]  # type: ignore[attr-defined]
_HOME_STATEMENTS: dict[tuple[bool, bool, bool], PlainSelect] = {}


async def home(session: AsyncSession, viewer_id: int, page: Page) -> list[Entry]:
    """Own posts and those of followed accounts, plus their boosts (not of own posts).

    One walk of the viewer's home feed (``storage.home_feed``) by its key, newest first:
    an index search that stops after one page, whoever the viewer follows. Visibility and
    blocks are still checked on the rows found, as they were when home walked ``post``.
    Each row also says whether the viewer liked, boosted or bookmarked its post (three
    probes of unique indexes), so the page needs no statement of its own for them
    (``Entry.marks``).

    The rows are read as plain columns, not ORM entities: a page names forty posts and
    their authors, and building an entity for each was two thirds of the query's time
    (2.4 ms against 0.75 ms for the same rows). What the client API renders from them
    only reads attributes. On SQLite the statement runs as its compiled SQL on the driver
    (``storage.plain_select``), past SQLAlchemy's per-execution work.
    """
    shape = (page.max_id is not None, page.since_id is not None, page.min_id is not None)
    stmt = _HOME_STATEMENTS.get(shape)
    if stmt is None:
        stmt = _HOME_STATEMENTS[shape] = PlainSelect(_home_statement(*shape))
    params = {"viewer": viewer_id, "limit": page.limit}
    params.update(max_id=page.max_id, since_id=page.since_id, min_id=page.min_id)
    rows = await stmt.rows(session, params)
    if page.min_id is not None:
        rows.reverse()
    (p0, p1, post_row), (a0, a1, author_row), (b0, b1, boost_row), (r0, r1, booster_row) = (
        _HOME_SPANS
    )
    m = _HOME_MARKS_AT
    entries = []
    for row in rows:  # post and author are inner joins; a boost's rows are outer ones
        boost = None if row[b0] is None else boost_row._make(row[b0:b1])
        booster = None if boost is None or row[r0] is None else booster_row._make(row[r0:r1])
        entries.append(
            Entry(
                post=post_row._make(row[p0:p1]),
                author=author_row._make(row[a0:a1]),
                boost=boost,
                booster=booster,
                cursor=row[0],
                marks=Marks(viewer_id, bool(row[m]), bool(row[m + 1]), bool(row[m + 2])),
            )
        )
    return entries


async def public(
    session: AsyncSession,
    viewer_id: int | None,
    page: Page,
    *,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
    tag: str | None = None,
) -> list[Entry]:
    """Public posts (no replies, no boosts), optionally of one hashtag.

    The way in is a hashtag's posts (``post_hashtag``), or else
    ``ix_post_visibility_local_id`` searched by (visibility, local), which hands back rows
    already in page order; every other condition filters the rows walked (see
    ``unindexed``), so a page stops after about ``limit`` rows instead of sorting every
    public post. The whole public timeline is the local and the remote walk merged.
    """
    if local and remote:
        return []
    if tag is None and not local and not remote:
        mine = await public(session, viewer_id, page, local=True, only_media=only_media)
        theirs = await public(session, viewer_id, page, remote=True, only_media=only_media)
        return _merge(mine, theirs, page)
    conditions: list[Any] = [_not_blocked(viewer_id, col(Post.actor_id))]
    if tag is None:
        conditions += [col(Post.visibility) == "public", col(Post.local) == local, _not_reply()]
    else:
        conditions.append(unindexed(col(Post.visibility)) == "public")
        if local or remote:
            conditions.append(unindexed(col(Post.local)) == local)
    if only_media:
        conditions.append(_has_media())
    return await _posts(session, page, *conditions, tag=tag)


async def by_account(
    session: AsyncSession,
    account_id: int,
    viewer_id: int | None,
    page: Page,
    *,
    only_media: bool = False,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
) -> list[Entry]:
    conditions: list[Any] = [col(Post.actor_id) == account_id, _visible_to(viewer_id)]
    if only_media:
        conditions.append(_has_media())
    if exclude_replies:
        conditions.append(_not_reply())
    posts = await _posts(session, page, *conditions)
    if only_media or exclude_reblogs:
        return posts
    boosts = await _boosts(session, page, col(Boost.actor_id) == account_id)
    return _merge(posts, boosts, page)


async def _marked(
    session: AsyncSession, model: type[Like] | type[Bookmark], viewer_id: int, page: Page
) -> list[Entry]:
    stmt = (
        select(model, Post, Actor)
        .join(Post, col(Post.id) == col(model.post_id))
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(model.actor_id) == viewer_id, _visible_to(viewer_id))
    )
    rows = await _run(session, stmt, col(model.id), page)
    return [Entry(post=p, author=a, cursor=m.id) for m, p, a in rows]


async def favourites(session: AsyncSession, viewer_id: int, page: Page) -> list[Entry]:
    return await _marked(session, Like, viewer_id, page)


async def bookmarks(session: AsyncSession, viewer_id: int, page: Page) -> list[Entry]:
    return await _marked(session, Bookmark, viewer_id, page)


async def reactors(
    session: AsyncSession, model: type[Like] | type[Boost], post_id: int, page: Page
) -> list[tuple[int, Actor]]:
    """(row id, account) of who liked or boosted a post."""
    stmt = (
        select(model.id, Actor)
        .join(Actor, col(Actor.id) == col(model.actor_id))
        .where(col(model.post_id) == post_id)
    )
    return [(i, a) for i, a in await _run(session, stmt, col(model.id), page)]


async def follows(
    session: AsyncSession, account_id: int, page: Page, *, followers: bool, state: str = "accepted"
) -> list[tuple[int, Actor]]:
    """(follow id, account): who follows ``account_id`` (``followers``), or whom it follows."""
    mine, other = (
        (Follow.followee_id, Follow.follower_id)
        if followers
        else (Follow.follower_id, Follow.followee_id)
    )
    stmt = (
        select(Follow.id, Actor)
        .join(Actor, col(Actor.id) == col(other))
        .where(col(mine) == account_id, col(Follow.state) == state)
    )
    return [(i, a) for i, a in await _run(session, stmt, col(Follow.id), page)]


async def blocked(session: AsyncSession, actor_id: int, page: Page) -> list[tuple[int, Actor]]:
    """(block id, account) of the accounts ``actor_id`` blocks."""
    stmt = (
        select(Block.id, Actor)
        .join(Actor, col(Actor.id) == col(Block.target_id))
        .where(col(Block.actor_id) == actor_id)
    )
    return [(i, a) for i, a in await _run(session, stmt, col(Block.id), page)]


async def notifications(
    session: AsyncSession,
    recipient_id: int,
    page: Page,
    *,
    kinds: set[str] | None = None,
    exclude: set[str] | None = None,
    from_account_id: int | None = None,
) -> list[tuple[Notification, Actor, Post | None]]:
    stmt = (
        select(Notification, Actor, Post)
        .join(Actor, col(Actor.id) == col(Notification.from_actor_id))
        .join(Post, col(Post.id) == col(Notification.post_id), isouter=True)
        .where(col(Notification.recipient_id) == recipient_id)
    )
    if kinds is not None:
        stmt = stmt.where(col(Notification.kind).in_(sorted(kinds)))
    if exclude:
        stmt = stmt.where(col(Notification.kind).not_in(sorted(exclude)))
    if from_account_id is not None:
        stmt = stmt.where(col(Notification.from_actor_id) == from_account_id)
    rows = await _run(session, stmt, col(Notification.id), page)
    return [(n, a, p) for n, a, p in rows]


async def ancestors(session: AsyncSession, post: Post, *, limit: int = 40) -> list[Post]:
    """The posts above ``post`` in its thread, oldest first."""
    chain: list[Post] = []
    seen = {post.id}
    parent_id = post.in_reply_to_id
    while parent_id is not None and parent_id not in seen and len(chain) < limit:
        parent = await session.get(Post, parent_id)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.id)
        parent_id = parent.in_reply_to_id
    return chain[::-1]


async def descendants(session: AsyncSession, post: Post, *, limit: int = 60) -> list[Post]:
    """Replies below ``post``, breadth first, each level in time order."""
    found: list[Post] = []
    level = [post.id]
    seen = {post.id}
    while level and len(found) < limit:
        result = await session.exec(
            select(Post).where(col(Post.in_reply_to_id).in_(padded(level))).order_by(col(Post.id))
        )
        level = []
        for child in result.all():
            if child.id not in seen and len(found) < limit:
                seen.add(child.id)
                found.append(child)
                level.append(child.id)
    return found


async def shown_in_thread(
    session: AsyncSession, posts: list[Post], viewer_id: int | None
) -> list[Post]:
    """The posts of a thread (``ancestors``, ``descendants``) the viewer may see, in order.

    The audience check of ``can_view`` (``_visible_to``), the block check of every
    timeline (``_not_blocked``: neither the viewer nor the author blocks the other) and no
    suspended author, in one query for the whole thread. A thread is walked through the posts this drops, so a reply
    to a hidden post still shows, as in Mastodon's context.
    """
    if not posts:
        return []
    result = await session.exec(
        select(col(Post.id)).where(
            col(Post.id).in_(padded(p.id for p in posts)),
            _visible_to(viewer_id),
            _not_blocked(viewer_id, col(Post.actor_id)),
            ~exists().where(col(Actor.id) == col(Post.actor_id), col(Actor.suspended)),
        )
    )
    shown = set(result.all())
    return [p for p in posts if p.id in shown]


async def boost_entry(session: AsyncSession, boost_id: int) -> Entry | None:
    """One boost as whole rows: ``statuses`` checks the author's and the post's state."""
    booster = BOOSTER
    result = await session.exec(
        select(Boost, booster, Post, Actor)
        .join(booster, col(booster.id) == col(Boost.actor_id))
        .join(Post, col(Post.id) == col(Boost.post_id))
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Boost.id) == boost_id)
    )
    row = result.first()
    if row is None:
        return None
    b, r, p, a = row
    return Entry(post=p, author=a, boost=b, booster=r, cursor=b.id)


async def boost_by(session: AsyncSession, actor_id: int, post_id: int) -> Entry | None:
    """The actor's boost of a post, as a timeline entry."""
    result = await session.exec(
        select(Boost.id).where(Boost.actor_id == actor_id, Boost.post_id == post_id)
    )
    boost_id = result.first()
    return await boost_entry(session, boost_id) if boost_id is not None else None
