"""Named queries about posts, their images and tags.

Every list is a cursor page: ``max_id`` (exclusive) and a limit, newest first, so a page
costs the same however deep someone scrolls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, and_, bindparam, case, exists, func, not_, or_
from sqlalchemy import update as sa_update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block
from storage.in_lists import padded
from storage.models import (
    Actor,
    Boost,
    Follow,
    Hashtag,
    HomeFeedEntry,
    Like,
    LocalUser,
    MediaAttachment,
    Post,
    PostHashtag,
)


class unindexed(FunctionElement):
    """A column the query planner must not pick an index for (``+column`` in SQLite).

    SQLite plans without statistics (the app never runs ``ANALYZE``), so a filter on a
    low-cardinality column such as ``visibility`` looks selective to it: it would read
    every public post through ``ix_post_visibility_local_id`` and sort them, instead of
    walking the right index in page order and stopping after one page (150 ms against
    0.3 ms for a home page at 100,000 posts). Other databases get the bare column.
    """

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


class PostTile(Protocol):
    """One grid tile as a row: the few post and author columns a tile shows.

    Grid pages read these instead of whole ``Post``/``Actor`` entities: an ORM object per
    row (identity map, attribute instrumentation) was a third of a gallery request. The
    author's id is ``actor_id``; ``id`` is the post's.
    """

    id: int
    actor_id: int
    sensitive: bool
    content_warning: str
    caption_source: str
    content_html: str
    username: str
    domain: str | None
    display_name: str
    avatar_key: str | None


class MediaRow(Protocol):
    """The attachment columns pages show (not the raw generation metadata, which can be
    tens of kilobytes an image)."""

    id: int
    post_id: int
    description: str
    thumb_key: str | None
    display_key: str | None
    original_key: str | None
    original_mime: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    display_width: int
    display_height: int
    blurhash: str | None


_TILE_COLUMNS = (
    col(Post.id),
    col(Post.actor_id),
    col(Post.sensitive),
    col(Post.content_warning),
    col(Post.caption_source),
    col(Post.content_html),
    col(Actor.username),
    col(Actor.domain),
    col(Actor.display_name),
    col(Actor.avatar_key),
)
_MEDIA_COLUMNS = (
    col(MediaAttachment.id),
    col(MediaAttachment.post_id),
    col(MediaAttachment.description),
    col(MediaAttachment.thumb_key),
    col(MediaAttachment.display_key),
    col(MediaAttachment.original_key),
    col(MediaAttachment.original_mime),
    col(MediaAttachment.width),
    col(MediaAttachment.height),
    col(MediaAttachment.thumb_width),
    col(MediaAttachment.thumb_height),
    col(MediaAttachment.display_width),
    col(MediaAttachment.display_height),
    col(MediaAttachment.blurhash),
)


async def _tiles(session: AsyncSession, stmt: Any) -> list[PostTile]:
    return list((await session.exec(stmt)).all())


def _page(stmt, max_id: int | None, limit: int, key: Any = None):  # type: ignore[no-untyped-def]
    key = col(Post.id) if key is None else key
    if max_id is not None:
        stmt = stmt.where(key < max_id)
    return stmt.order_by(key.desc()).limit(limit)


def _visible_to(viewer_id: Any):  # type: ignore[no-untyped-def]
    """Public and unlisted for everyone; followers-only for the author and accepted followers.
    ``viewer_id`` is an id, a bound parameter, or None for a signed-out reader.

    A filter applied to rows another condition found, never a way in: see ``unindexed``.
    """
    visibility, author = unindexed(col(Post.visibility)), unindexed(col(Post.actor_id))
    clauses = [visibility.in_(("public", "unlisted"))]
    if viewer_id is not None:
        clauses.append(author == viewer_id)
        clauses.append(
            and_(
                visibility == "followers",
                exists().where(
                    col(Follow.follower_id) == viewer_id,
                    col(Follow.followee_id) == col(Post.actor_id),
                    col(Follow.state) == "accepted",
                ),
            )
        )
    return or_(*clauses)


def _paged_by_binds(stmt: Any, paged: bool, key: Any) -> Any:
    """``_page`` with the cursor and the page size bound at execution (``max_id``,
    ``limit``), for statements built once."""
    if paged:
        stmt = stmt.where(key < bindparam("max_id"))
    return stmt.order_by(key.desc()).limit(bindparam("limit", type_=Integer))


_LOCAL_GALLERY = {
    paged: _paged_by_binds(
        select(*_TILE_COLUMNS)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(
            col(Post.visibility) == "public",
            col(Post.local).is_(True),
            col(Post.in_reply_to_id).is_(None),
            col(Post.in_reply_to_ap_id).is_(None),
        ),
        paged,
        col(Post.id),
    )
    for paged in (False, True)
}


async def local_gallery(session: AsyncSession, *, max_id: int | None, limit: int) -> list[PostTile]:
    """The instance's public gallery: public local posts (not replies), as tiles."""
    params = {"max_id": max_id, "limit": limit}
    result = await session.exec(_LOCAL_GALLERY[max_id is not None], params=params)  # type: ignore[call-overload]
    return list(result.all())


async def by_actor(
    session: AsyncSession,
    actor_id: int,
    *,
    viewer_id: int | None,
    max_id: int | None,
    limit: int,
) -> list[tuple[Post, Actor]]:
    """Whole posts of one account that the viewer may see (feeds need every field)."""
    stmt = select(Post, Actor).join(Actor, col(Actor.id) == col(Post.actor_id))
    stmt = _page(_by_actor_filter(stmt, actor_id, viewer_id), max_id, limit)
    return [(p, a) for p, a in (await session.exec(stmt)).all()]


def _by_actor_filter(stmt, actor_id: Any, viewer_id: Any):  # type: ignore[no-untyped-def]
    """``actor_id`` and ``viewer_id`` are values or bound parameters (None: signed out)."""
    return stmt.where(col(Post.actor_id) == actor_id, _visible_to(viewer_id))


def _by_actor_tiles_statement(signed_in: bool, paged: bool) -> Any:
    stmt = select(*_TILE_COLUMNS).join(Actor, col(Actor.id) == col(Post.actor_id))
    stmt = _by_actor_filter(
        stmt, bindparam("actor_id"), bindparam("viewer_id") if signed_in else None
    )
    return _paged_by_binds(stmt, paged, col(Post.id))


_BY_ACTOR_TILES = {
    (signed_in, paged): _by_actor_tiles_statement(signed_in, paged)
    for signed_in in (False, True)
    for paged in (False, True)
}
"""Built once, with bound parameters: building the statement (its visibility rules, the
follow probe, the ordering) was about a sixth of a signed-in profile page's CPU, which the
page cache never serves (the anonymous page is built once per cache period)."""


async def by_actor_tiles(
    session: AsyncSession,
    actor_id: int,
    *,
    viewer_id: int | None,
    max_id: int | None,
    limit: int,
) -> list[PostTile]:
    """``by_actor`` as grid tiles (the profile page)."""
    stmt = _BY_ACTOR_TILES[(viewer_id is not None, max_id is not None)]
    params = {"actor_id": actor_id, "viewer_id": viewer_id, "max_id": max_id, "limit": limit}
    return list((await session.exec(stmt, params=params)).all())  # type: ignore[call-overload]


async def by_tag(
    session: AsyncSession, tag: str, *, max_id: int | None, limit: int
) -> list[PostTile]:
    # Walk ix_post_hashtag_tag_post newest first and stop after one page: the page order
    # is post_hashtag.post_id (the same number as post.id), and visibility only filters.
    stmt = (
        select(*_TILE_COLUMNS)
        .join(PostHashtag, col(PostHashtag.post_id) == col(Post.id))
        .join(Hashtag, col(Hashtag.id) == col(PostHashtag.hashtag_id))
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Hashtag.name) == tag.lower(), unindexed(col(Post.visibility)) == "public")
    )
    return await _tiles(session, _page(stmt, max_id, limit, key=col(PostHashtag.post_id)))


async def home(
    session: AsyncSession, viewer_id: int, *, max_id: int | None, limit: int
) -> list[PostTile]:
    """The viewer's own posts, those of accounts they follow and those they boosted
    (a boosted post sits at its own place in time, not at the boost's, and shows once),
    as grid tiles (the page is the same grid as the gallery's, which shows no likes).

    Read from the viewer's home feed (``storage.home_feed``), walked newest first by
    ``ix_home_feed_entry_owner_post`` and grouped by post, so a page is one index search
    that stops after ``limit`` posts however quiet the followed accounts are (the walk
    through ``post`` this replaces read the whole table for someone whose follows never
    post). The viewer's own boosts are API timeline entries only, as before.
    """
    params = {"viewer_id": viewer_id, "max_id": max_id, "limit": limit}
    result = await session.exec(_HOME[max_id is not None], params=params)  # type: ignore[call-overload]
    return list(result.all())


def _home_statement(paged: bool) -> Any:
    """``home``'s statement, built once (as ``by_actor_tiles``'s) with the reader, the
    cursor and the page size bound at execution."""
    feed = HomeFeedEntry
    viewer = bindparam("viewer_id")
    newest = (
        select(col(feed.post_id))
        .join(Post, col(Post.id) == col(feed.post_id))
        .where(
            col(feed.owner_id) == viewer,
            or_(col(feed.boost_id).is_(None), col(feed.via_id) != viewer),
            _visible_to(viewer),
            _not_blocked(viewer, col(Post.actor_id)),
        )
        .group_by(col(feed.post_id))
    )
    return (
        select(*_TILE_COLUMNS)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Post.id).in_(_paged_by_binds(newest, paged, col(feed.post_id))))
        .order_by(col(Post.id).desc())
    )


async def post_with_author(session: AsyncSession, post_id: int) -> tuple[Post, Actor] | None:
    result = await session.exec(
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Post.id) == post_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


def _shown_account(username: str, domain: str | None, *extra: Any):  # type: ignore[no-untyped-def]
    """The account a page path names, when its pages may be shown: local accounts only
    with an enabled, approved user (one query instead of an actor and a user lookup)."""
    stmt = select(Actor, *extra).where(col(Actor.username_lower) == username.lower())
    if domain is not None:
        return stmt.where(col(Actor.domain) == domain)
    return _local_shown(stmt)


def _local_shown(stmt: Any) -> Any:
    """A local account's pages are shown while its user is enabled and approved."""
    return stmt.join(LocalUser, col(LocalUser.actor_id) == col(Actor.id)).where(
        col(Actor.domain).is_(None),
        col(LocalUser.disabled).is_(False),
        col(LocalUser.approved).is_(True),
    )


async def page_account(session: AsyncSession, username: str, domain: str | None) -> Actor | None:
    """``_shown_account`` for a post page (suspension is the caller's check)."""
    return (await session.exec(_shown_account(username, domain))).first()


def _follow_count(column: Any) -> Any:
    return (
        select(func.count())
        .select_from(Follow)
        .where(column == col(Actor.id), col(Follow.state) == "accepted")
        .scalar_subquery()
    )


def _profile_account_statement(remote: bool) -> Any:
    """``_shown_account`` with both counts, its name (and domain) bound at execution."""
    stmt = select(
        Actor, _follow_count(col(Follow.followee_id)), _follow_count(col(Follow.follower_id))
    ).where(col(Actor.username_lower) == bindparam("username_lower"))
    if remote:
        return stmt.where(col(Actor.domain) == bindparam("domain"))
    return _local_shown(stmt)


_PROFILE_ACCOUNT = {remote: _profile_account_statement(remote) for remote in (False, True)}


async def profile_account(
    session: AsyncSession, username: str, domain: str | None
) -> tuple[Actor, int, int] | None:
    """The account for a profile page with its (followers, following) counts of accepted
    follows, in one query: each count is an index search of ``follow``. The statement is
    built once (as ``by_actor_tiles``'s)."""
    params = {"username_lower": username.lower(), "domain": domain}
    result = await session.exec(_PROFILE_ACCOUNT[domain is not None], params=params)  # type: ignore[call-overload]
    row = result.first()
    return (row[0], int(row[1]), int(row[2])) if row else None


COUNTED_REPLY_VISIBILITIES = frozenset({"public", "unlisted"})
"""Replies a parent's ``replies_count`` counts. As on Mastodon, only those anyone may
read: the count is shown to everyone, and followers-only or direct replies would tell
people who cannot see them that they exist."""


def counts_as_reply(post: Post) -> bool:
    """Whether ``post`` is a reply its parent's ``replies_count`` counts."""
    return post.in_reply_to_id is not None and post.visibility in COUNTED_REPLY_VISIBILITIES


async def add_to_replies_count(session: AsyncSession, parent_id: int, change: int) -> None:
    """Move a parent's ``replies_count`` by ``change``, never below zero (a parent gone
    meanwhile changes nothing). One ``UPDATE`` computing from the stored count, so two
    replies counted at once (another process, or PostgreSQL's READ COMMITTED) both count;
    a read, a change in Python and a write could lose one."""
    moved = col(Post.replies_count) + change
    await session.exec(  # type: ignore[call-overload]
        sa_update(Post)
        .where(col(Post.id) == parent_id)
        .values(replies_count=case((moved < 0, 0), else_=moved))
        .execution_options(synchronize_session="fetch")
    )


async def count_reply(session: AsyncSession, post: Post, change: int) -> None:
    """Count a reply in its parent (``change`` +1 when it is stored, -1 when it goes), if
    it is one that counts. Storing and deleting both ask this, with the post as it is, so
    a reply that was never counted is never taken away; a change of visibility between a
    counted and an uncounted one is the caller's to carry over (``add_to_replies_count``).
    """
    if counts_as_reply(post) and post.in_reply_to_id is not None:
        await add_to_replies_count(session, post.in_reply_to_id, change)


async def can_view(session: AsyncSession, post: Post, viewer_id: int | None) -> bool:
    if post.visibility in ("public", "unlisted") or post.actor_id == viewer_id:
        return True
    if viewer_id is None or post.visibility != "followers":
        return False
    result = await session.exec(
        select(Follow.id).where(
            Follow.follower_id == viewer_id,
            Follow.followee_id == post.actor_id,
            Follow.state == "accepted",
        )
    )
    return result.first() is not None


async def attachments_for(
    session: AsyncSession, post_ids: Sequence[int]
) -> dict[int, list[MediaAttachment]]:
    if not post_ids:
        return {}
    result = await session.exec(
        select(MediaAttachment)
        .where(col(MediaAttachment.post_id).in_(padded(post_ids)))
        .order_by(col(MediaAttachment.post_id), col(MediaAttachment.position))
    )
    grouped: dict[int, list[MediaAttachment]] = defaultdict(list)
    for media in result.all():
        assert media.post_id is not None
        grouped[media.post_id].append(media)
    return grouped


_MEDIA_ROWS = (
    select(*_MEDIA_COLUMNS)
    .where(
        col(MediaAttachment.post_id).in_(bindparam("post_ids", expanding=True, type_=BigInteger))
    )
    .order_by(col(MediaAttachment.post_id), col(MediaAttachment.position))
)
"""Built once: every grid page and timeline asks it, with one expanding ``IN`` list."""


async def media_rows_for(
    session: AsyncSession, post_ids: Sequence[int]
) -> dict[int, list[MediaRow]]:
    """What pages show of these posts' images, in order: ``attachments_for`` without
    loading entities or the generation metadata columns."""
    if not post_ids:
        return {}
    result = await session.exec(_MEDIA_ROWS, params={"post_ids": padded(post_ids)})  # type: ignore[call-overload]
    grouped: dict[int, list[MediaRow]] = defaultdict(list)
    for media in result.all():
        grouped[media.post_id].append(media)  # type: ignore[arg-type]
    return grouped


def _not_blocked(viewer_id: Any, author_col: Any) -> Any:
    """Neither the viewer nor the author has blocked the other (``viewer_id``: an id, a
    bound parameter, or None for a signed-out reader)."""
    if viewer_id is None:
        return True
    return not_(
        exists().where(
            or_(
                and_(col(Block.actor_id) == viewer_id, col(Block.target_id) == author_col),
                and_(col(Block.actor_id) == author_col, col(Block.target_id) == viewer_id),
            )
        )
    )


_HOME = {paged: _home_statement(paged) for paged in (False, True)}


def _not_blocked_by(blocker_ids: Sequence[int]):  # type: ignore[no-untyped-def]
    """The post's author is not blocked by any of ``blocker_ids``."""
    return ~exists().where(
        col(Block.actor_id).in_(list(blocker_ids)),
        col(Block.target_id) == col(Post.actor_id),
    )


async def replies_to(
    session: AsyncSession,
    post_id: int,
    *,
    viewer_id: int | None,
    parent_author_id: int | None = None,
    limit: int = 100,
) -> list[tuple[Post, Actor]]:
    """Replies to a post that ``viewer_id`` (None: anonymous) may see, oldest first.

    A reply is a post like any other: followers-only and direct replies stay with their
    audience. Replies by suspended accounts are hidden, and so are replies by accounts the
    viewer blocks or the parent's author blocks (a block keeps someone out of your threads,
    even when their server still sends us their replies), and replies by accounts that
    block the viewer (whose own post pages the viewer cannot open either).
    """
    blockers = [i for i in (viewer_id, parent_author_id) if i is not None]
    stmt = (
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(
            col(Post.in_reply_to_id) == post_id,
            col(Actor.suspended).is_(False),
            _visible_to(viewer_id),
        )
    )
    if blockers:
        stmt = stmt.where(_not_blocked_by(blockers))
    if viewer_id is not None:
        stmt = stmt.where(
            ~exists().where(
                col(Block.actor_id) == col(Post.actor_id), col(Block.target_id) == viewer_id
            )
        )
    result = await session.exec(stmt.order_by(col(Post.id)).limit(limit))
    return [(p, a) for p, a in result.all()]


async def interactions_of(
    session: AsyncSession, viewer_id: int, post_ids: Sequence[int]
) -> tuple[set[int], set[int]]:
    """Which of these posts the viewer has liked, and which boosted."""
    if not post_ids:
        return set(), set()
    liked = await session.exec(
        select(Like.post_id).where(
            Like.actor_id == viewer_id, col(Like.post_id).in_(padded(post_ids))
        )
    )
    boosted = await session.exec(
        select(Boost.post_id).where(
            Boost.actor_id == viewer_id, col(Boost.post_id).in_(padded(post_ids))
        )
    )
    return set(liked.all()), set(boosted.all())


async def hashtag_by_name(session: AsyncSession, name: str) -> Hashtag | None:
    return (await session.exec(select(Hashtag).where(Hashtag.name == name.lower()))).first()


async def tags_of(session: AsyncSession, post_id: int) -> list[Hashtag]:
    result = await session.exec(
        select(Hashtag)
        .join(PostHashtag, col(PostHashtag.hashtag_id) == col(Hashtag.id))
        .where(col(PostHashtag.post_id) == post_id)
    )
    return list(result.all())


async def blob_is_referenced(session: AsyncSession, key: str) -> bool:
    """Whether any row still points at this blob (images, avatars, headers)."""
    media = await session.exec(
        select(MediaAttachment.id)
        .where(
            or_(
                col(MediaAttachment.original_key) == key,
                col(MediaAttachment.display_key) == key,
                col(MediaAttachment.thumb_key) == key,
            )
        )
        .limit(1)
    )
    if media.first() is not None:
        return True
    actors = await session.exec(
        select(Actor.id)
        .where(or_(col(Actor.avatar_key) == key, col(Actor.header_key) == key))
        .limit(1)
    )
    return actors.first() is not None
