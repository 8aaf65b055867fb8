"""The set-based batch (``federation.inbox_batch``) must leave exactly what processing each
item alone, in claim order, leaves. The same stored activities are processed on two
instances, one with the batch and one without (``run_once(batch=False)``), and every row
they touch is compared, read by ActivityPub ids and usernames (ids differ)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlmodel import select

from federation import inbox_batch
from federation.fetch import get_actor
from federation.inbox_process import run_once
from federation.vocab import PUBLIC
from services import social
from services.accounts import create_user
from services.context import Services
from services.posts import PostFields, Upload, create_post
from storage import inbox_queries as q
from storage.federation_models import InboxItem, Mention, Notification
from storage.models import (
    Actor,
    Follow,
    Hashtag,
    HomeFeedEntry,
    Like,
    LocalUser,
    Post,
    PostHashtag,
)
from tests.conftest import make_config
from tests.imagegen import png_bytes
from tests.inbox_processing.helpers import deliver
from tests.inbox_processing.peer import Peer


@contextlib.contextmanager
def caplog_at_warning() -> Iterator[list[logging.LogRecord]]:
    """The batch's warnings, caught by a handler of our own on its logger."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("federation.inbox_batch")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@dataclass
class World:
    services: Services
    posts: dict[str, str]  # name -> ap_id of a local post
    users: dict[str, Actor]


async def _post(services: Services, author: Actor, visibility: str, seed: int) -> str:
    post = await create_post(
        services,
        author,
        [Upload(png_bytes(48, 32, seed=seed), "a.png", description="a tile")],
        PostFields(caption=f"post {seed}", visibility=visibility),
    )
    return post.ap_id


async def _world(services: Services, peer: Peer) -> World:
    """Local accounts and posts, remote accounts cached, alice following fred and blocking
    mallory: the same on every instance the test builds."""
    alice, _ = await create_user(services, "alice", "correct horse battery")
    bob, _ = await create_user(services, "bob", "correct horse battery")
    carol, _ = await create_user(services, "carol", "correct horse battery")
    dora, _ = await create_user(services, "dora", "correct horse battery")
    posts = {
        "public": await _post(services, alice, "public", 1),
        "unlisted": await _post(services, alice, "unlisted", 2),
        "followers": await _post(services, alice, "followers", 3),
        "bob": await _post(services, bob, "public", 4),
    }
    for name in ("r1", "r2", "r3", "r4", "fred", "mallory", "sus", "stale"):
        await get_actor(services, peer.add_actor(name))
    fred = await get_actor(services, peer.actor_url("fred"))
    mallory = await get_actor(services, peer.actor_url("mallory"))
    follow = await social.follow(services, alice, fred)
    await social.block(services, alice, mallory)
    await social.block(services, dora, await get_actor(services, peer.actor_url("r2")))
    async with services.db.transaction() as session:
        user = await session.get(LocalUser, carol.id)
        assert user is not None
        user.disabled = True  # a disabled account is named but not mentioned
        session.add(user)
        stale = await q.actor_by_ap_id(session, peer.actor_url("stale"))
        assert stale is not None
        stale.fetched_at = services.clock() - timedelta(days=30)  # fetched again
        session.add(stale)
        row = await session.get(Follow, follow.id)
        assert row is not None
        row.state = "accepted"  # as fred's Accept would (tested in test_follows)
        session.add(row)
        sus = await q.actor_by_ap_id(session, peer.actor_url("sus"))
        assert sus is not None
        sus.suspended = True
        session.add(sus)
    # rows already there before the run: a like, a stored note, a hashtag's spelling
    r3 = peer.actor_url("r3")
    for activity in (
        _like(r3, posts["unlisted"], 0),
        _create(peer.actor_url("fred"), 0, tags=("Dusk",)),
    ):
        await deliver(services, activity)
    assert await run_once(services, batch=False) == 2
    return World(services, posts, {"alice": alice, "bob": bob})


def _like(actor: str, obj: str, number: int) -> dict[str, Any]:
    return {"id": f"{actor}#likes/{number}", "type": "Like", "actor": actor, "object": obj}


def _create(
    actor: str,
    number: int,
    *,
    reply_to: str | None = None,
    to: tuple[str, ...] = (PUBLIC,),
    cc: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> dict[str, Any]:
    note_id = f"{actor}/statuses/{number}"
    tag = [{"type": "Mention", "href": m} for m in mentions]
    tag += [{"type": "Hashtag", "name": f"#{t}"} for t in tags]
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": actor,
        "content": f"<p>note {number} <b>#tags</b><script>x()</script></p>",
        "published": f"2026-11-24T10:00:{number % 60:02d}Z",
        "to": list(to),
        "cc": list(cc),
        "inReplyTo": reply_to,
        "tag": tag,
    }
    return {
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "object": note,
        "to": list(to),
        "cc": list(cc),
    }


def _no_published(create: dict[str, Any]) -> dict[str, Any]:
    del create["object"]["published"]
    return create


def _activities(world: World, peer: Peer, base: str) -> list[dict[str, Any]]:
    r1, r2, r3, fred, mallory, sus = (
        peer.actor_url(n) for n in ("r1", "r2", "r3", "fred", "mallory", "sus")
    )
    new = peer.add_actor("newcomer")  # not cached: its Like needs a fetch
    alice, bob = f"{base}/users/alice", f"{base}/users/bob"
    carol, dora = f"{base}/users/carol", f"{base}/users/dora"
    p = world.posts
    return [
        _like(r1, p["public"], 1),
        _like(r2, p["public"], 1),
        _like(r1, p["public"], 2),  # the same like again: done, nothing added
        _like(mallory, p["public"], 1),  # blocked by the author
        _like(sus, p["public"], 1),  # suspended here
        _like(r3, p["unlisted"], 1),  # liked before the run: done, nothing added
        _like(peer.actor_url("stale"), p["public"], 1),  # its document fetched again
        _like(r3, p["bob"], 2),
        _like(peer.actor_url("r4"), f"{base}/users/alice/statuses/404", 1),  # no such post
        _like(r3, "https://elsewhere.example/notes/1", 3),  # not ours
        _like(new, p["public"], 1),
        _like(new, p["unlisted"], 2),  # behind its sender's fetch
        _create(r3, 1, reply_to=p["public"], mentions=(bob,), cc=(bob,), tags=("Sunset", "sunset")),
        {**_create(r3, 1, reply_to=p["public"]), "id": f"{r3}/statuses/1/again"},  # again
        _create(r1, 2, reply_to=p["public"], to=(alice,), mentions=(alice,)),  # direct
        _create(fred, 3, tags=("Sunset", "dawn", "dusk")),  # followed by alice
        {**_create(fred, 0), "id": f"{fred}/statuses/0/again"},  # stored before the run
        _no_published(_create(r3, 11, reply_to=p["public"])),  # stored at the clock's time
        _create(r3, 12, reply_to=p["public"], mentions=(carol,), cc=(carol,)),  # disabled
        _create(r2, 13, to=(dora,), mentions=(dora,)),  # dora blocks r2: ignored
        _create(fred, 4, to=(f"{fred}/followers",)),  # followers-only, followed
        _create(fred, 10, to=("https://elsewhere.example/users/x",)),  # direct, not to us
        _create(r2, 5),  # nobody here has a reason to see it
        _create(r2, 6, to=(bob,), mentions=(bob,)),  # a direct message to bob
        _create(mallory, 7, reply_to=p["public"]),  # stored, but alice hears nothing
        _create(r1, 8, reply_to=f"{r3}/statuses/1"),  # a reply to a reply of this batch
        _create(r1, 9, reply_to=p["followers"]),  # a reply to a followers-only post
        _like(r2, p["followers"], 2),  # r2 does not follow alice: ignored
        {
            "id": f"{r1}#undo/1",
            "type": "Undo",
            "actor": r1,
            "object": _like(r1, p["public"], 1),
        },
        _like(r1, p["unlisted"], 3),  # after its sender's Undo
        _like(r1, p["public"], 4),  # after the Undo: liked again
    ]


async def _snapshot(services: Services) -> dict[str, Any]:
    recent = services.clock() - timedelta(minutes=10)  # a note without its own time
    async with services.db.session() as session:
        actors = {a.id: a.ap_id for a in (await session.exec(select(Actor))).all()}
        posts = list((await session.exec(select(Post))).all())
        post_ap = {post.id: post.ap_id for post in posts}
        tags = {t.id: (t.name, t.display_name) for t in (await session.exec(select(Hashtag))).all()}

        likes = (await session.exec(select(Like))).all()
        notes = (await session.exec(select(Notification))).all()
        mentions = (await session.exec(select(Mention))).all()
        feed = (await session.exec(select(HomeFeedEntry))).all()
        post_tags = (await session.exec(select(PostHashtag))).all()
        items = (await session.exec(select(InboxItem))).all()
    return {
        "posts": sorted(
            (
                p.ap_id,
                actors[p.actor_id],
                p.local,
                p.visibility,
                p.content_html,
                p.caption_source,
                post_ap.get(p.in_reply_to_id) if p.in_reply_to_id else None,
                p.in_reply_to_ap_id,
                p.likes_count,
                p.replies_count,
                p.boosts_count,
                None if p.local else "now" if p.created_at > recent else p.created_at,
            )
            for p in posts
        ),
        "likes": sorted((actors[x.actor_id], post_ap[x.post_id], x.ap_id) for x in likes),
        "notifications": sorted(
            (actors[n.recipient_id], n.kind, actors[n.from_actor_id], post_ap.get(n.post_id))
            for n in notes
        ),
        "mentions": sorted((post_ap[m.post_id], actors[m.actor_id]) for m in mentions),
        "feed": sorted((actors[f.owner_id], post_ap[f.post_id]) for f in feed),
        "tags": sorted((post_ap[t.post_id], *tags[t.hashtag_id]) for t in post_tags),
        "items": sorted((i.activity_id, i.state, i.attempts, i.last_error) for i in items),
    }


async def _run(services: Services, peer: Peer, *, batch: bool) -> tuple[dict[str, Any], int]:
    world = await _world(services, peer)
    for activity in _activities(world, peer, services.config.base_url):
        await deliver(services, activity)
    claimed = await run_once(services, batch=batch)
    assert await run_once(services, batch=batch) == 0
    # local posts' ids differ between instances: name them as the world does
    text = json.dumps(await _snapshot(services), default=str)
    for name, ap_id in world.posts.items():
        text = text.replace(ap_id, f"local:{name}")
    return json.loads(text), claimed


async def test_the_batch_ends_as_one_at_a_time_does(
    services: Services, peer: Peer, tmp_path: Path, migrated_template: Path
) -> None:
    other_dir = tmp_path / "alone"
    other_dir.mkdir()
    shutil.copy(migrated_template, other_dir / "tessera.db")
    alone = Services.from_config(make_config(other_dir))
    try:
        expected, claimed_alone = await _run(alone, peer, batch=False)
    finally:
        await alone.close()
    with caplog_at_warning() as records:
        got, claimed = await _run(services, peer, batch=True)
    assert not records, [r.getMessage() for r in records]  # the batch did not fall back
    alice = f"{services.config.base_url}/users/alice"
    assert claimed == claimed_alone == 31
    for key in expected:
        assert got[key] == expected[key], key
    # what the scenario is meant to reach, so a change to it cannot hollow the comparison
    states = {state for _, state, _, _ in got["items"]}
    assert states == {"done", "ignored"}
    assert len(got["posts"]) == 15 and len(got["likes"]) == 8 and len(got["mentions"]) == 3
    kinds = sorted(kind for _, kind, _, _ in got["notifications"])
    assert kinds == ["favourite"] * 8 + ["mention"] * 2 + ["reply"] * 5
    assert sorted({(name, shown) for _, name, shown in got["tags"]}) == [
        ("dawn", "dawn"),
        ("dusk", "Dusk"),  # spelled so before the run
        ("sunset", "Sunset"),
    ]
    assert sum(post[-1] == "now" for post in got["posts"]) == 1  # no published time
    fred = peer.actor_url("fred")
    assert [alice, f"{fred}/statuses/3"] in got["feed"]
    assert [alice, f"{fred}/statuses/4"] in got["feed"]


async def _claimed_in_order(services: Services, activities: list[dict[str, Any]]) -> list[Any]:
    for activity in activities:
        await deliver(services, activity)
    async with services.db.transaction() as session:
        now = services.clock()
        claimed = await q.claim_due_items(session, now=now, lock_until=now, limit=100)
    return sorted(claimed, key=lambda item: item.id)


async def test_what_the_batch_takes_and_leaves(services: Services, peer: Peer) -> None:
    """The split itself: the batch takes the Likes and self-contained notes it can decide
    and leaves the rest, with every later item of a sender it left, in claim order."""
    world = await _world(services, peer)
    base = services.config.base_url
    activities = _activities(world, peer, base)
    claimed = await _claimed_in_order(services, activities)
    activity_of = {item.id: item.payload for item in claimed}
    candidates, rest = inbox_batch.plan(claimed, base)

    def ids(item_ids: list[int]) -> list[str]:
        return [json.loads(activity_of[i])["id"] for i in item_ids]

    r1, r2, r4, new = (peer.actor_url(n) for n in ("r1", "r2", "r4", "newcomer"))
    # the Undo is no candidate, and its sender's later items stay behind it
    assert ids(rest) == [f"{r1}#undo/1", f"{r1}#likes/3", f"{r1}#likes/4"]
    left = await inbox_batch.run_batch(services, candidates)
    assert ids(left) == [
        f"{peer.actor_url('stale')}#likes/1",  # a sender cached too long ago: fetched again
        f"{r4}#likes/1",  # a post we do not have by that id: the single path looks further
        f"{new}#likes/1",  # a sender not cached: fetched by the single path
        f"{new}#likes/2",  # behind it
        f"{r1}/statuses/8/activity",  # a reply to a remote post: a thread to walk
        f"{r1}/statuses/9/activity",  # behind it
        f"{r2}#likes/2",  # a followers-only post: who may see it is the single path's
    ]
    taken = {c.item.id for c in candidates} - set(left)
    async with services.db.session() as session:
        states = {
            item.id: item.state
            for item in (await session.exec(select(InboxItem))).all()
            if item.id in taken
        }
    assert len(states) == 21 and set(states.values()) == {"done", "ignored"}


async def test_a_failed_batch_leaves_nothing_and_each_item_runs_alone(
    services: Services, peer: Peer
) -> None:
    """A batch whose transaction fails keeps none of its rows; every item then runs on its
    own, and only the one at fault records the failure. The fault is real: a trigger in
    the database refuses one note's row."""
    world = await _world(services, peer)
    r1, r2 = peer.actor_url("r1"), peer.actor_url("r2")
    refused = f"{r2}/statuses/1"
    async with services.db.transaction() as session:
        await session.exec(  # type: ignore[call-overload]
            text(
                "CREATE TRIGGER refuse_note BEFORE INSERT ON post "
                f"WHEN NEW.ap_id = '{refused}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    activities = [
        _like(r1, world.posts["public"], 1),
        _create(r2, 1, reply_to=world.posts["public"]),
        _create(r1, 2, reply_to=world.posts["public"]),
    ]
    claimed = await _claimed_in_order(services, activities)
    candidates, rest = inbox_batch.plan(claimed, services.config.base_url)
    assert rest == [] and len(candidates) == 3
    with caplog_at_warning() as records:
        left = await inbox_batch.run_batch(services, candidates)
    assert left == [item.id for item in claimed]
    assert any("inbox batch of 3 failed" in r.getMessage() for r in records)
    async with services.db.session() as session:
        assert len((await session.exec(select(Like))).all()) == 1  # the one from before
        remote = (await session.exec(select(Post).where(Post.local == False))).all()  # noqa: E712
        assert [p.ap_id for p in remote] == [f"{peer.actor_url('fred')}/statuses/0"]
        pending = {i.state for i in (await session.exec(select(InboxItem))).all() if i.id in left}
    assert pending == {"pending"}
    # the per-item path: release the claim and process normally
    async with services.db.transaction() as session:
        await q.release_all_item_locks(session)
    assert await run_once(services) == 3
    async with services.db.session() as session:
        items = {i.activity_id: i for i in (await session.exec(select(InboxItem))).all()}
        assert len((await session.exec(select(Like))).all()) == 2
        stored = (await session.exec(select(Post).where(Post.local == False))).all()  # noqa: E712
    assert sorted(p.ap_id for p in stored) == [
        f"{peer.actor_url('fred')}/statuses/0",
        f"{r1}/statuses/2",
    ]
    failed = items[f"{refused}/activity"]
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert "refused" in (failed.last_error or "")
    assert items[f"{r1}#likes/1"].state == items[f"{r1}/statuses/2/activity"].state == "done"


async def test_the_batch_reads_by_index(services: Services, peer: Peer) -> None:
    """Each of the batch's questions is an index search however long its ``IN`` lists: a
    batch of 64 senders once made SQLite walk every local account's follows through
    ``ix_actor_domain`` to find which senders have local followers."""
    world = await _world(services, peer)
    senders = [peer.add_actor(f"many{i}") for i in range(64)]
    for sender in senders:
        await get_actor(services, sender)
    activities = [_like(s, world.posts["public"], 1) for s in senders]
    activities += [
        _create(s, 1, mentions=(f"{services.config.base_url}/users/bob",)) for s in senders
    ]
    claimed = await _claimed_in_order(services, activities)
    candidates, _rest = inbox_batch.plan(claimed, services.config.base_url)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert await inbox_batch.run_batch(services, candidates) == []
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
    db_file = Path(services.config.database.url.split(":///", 1)[1])
    plans = []
    with sqlite3.connect(db_file) as conn:
        for statement, params in statements:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", tuple(params or ())).fetchall()
            plans.append((" ".join(statement.split())[:200], [row[3] for row in rows]))
    assert len(plans) >= 6
    bad = [
        (statement, line)
        for statement, lines in plans
        for line in lines
        if line.startswith("SCAN ") or "ix_actor_domain" in line
    ]
    assert not bad, bad


async def test_a_payload_that_cannot_be_read_fails_alone(services: Services, peer: Peer) -> None:
    """A note whose content the HTML sanitiser cannot take (a lone surrogate: valid JSON,
    stored by the inbox) fails on its own, as it would alone; the batch takes the rest."""
    world = await _world(services, peer)
    r1, r2 = peer.actor_url("r1"), peer.actor_url("r2")
    bad = _create(r2, 1, reply_to=world.posts["public"])
    bad["object"]["content"] = "<p>broken \ud800 text</p>"
    good = [_like(r1, world.posts["public"], 1), _create(r1, 2, reply_to=world.posts["public"])]
    for activity in (good[0], bad, good[1]):
        await deliver(services, activity)
    assert await run_once(services) == 3
    async with services.db.session() as session:
        items = {i.activity_id: i for i in (await session.exec(select(InboxItem))).all()}
    failed = items[bad["id"]]
    assert (failed.state, failed.attempts) == ("pending", 1)
    assert failed.last_error and "UnicodeEncodeError" in failed.last_error
    assert failed.locked_until is None  # released for its retry, not held until the lock ends
    assert [items[a["id"]].state for a in good] == ["done", "done"]
