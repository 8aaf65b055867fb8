"""Statuses through the API: publishing uploaded images, idempotency, edits, deletes,
threads, favourites, boosts and bookmarks, and proof that an API post federates exactly
like a web post (the same activity, queued for the same remote inboxes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlmodel import col, select

from services.context import Services
from storage.federation_models import Delivery, OutboxActivity
from storage.ids import new_id
from storage.models import Actor, Follow, Like, MediaAttachment, Post
from tests.api.conftest import PASSWORD, bearer, post_status, snapshot, upload
from tests.api.schemas import (
    ACCOUNT,
    CONTEXT,
    MEDIA_ATTACHMENT,
    NOTIFICATION,
    STATUS,
    check,
    list_of,
)
from tests.conftest import csrf_from, sign_in
from tests.imagegen import A1111_PARAMETERS, png_bytes
from tests.web.helpers import publish


async def remote_follower(services: Services, followee: Actor) -> Actor:
    """A remote account (as federation stores one) that follows ``followee``."""
    remote = Actor(
        id=new_id(),
        username="carol",
        username_lower="carol",
        domain="remote.example",
        ap_id="https://remote.example/users/carol",
        inbox_url="https://remote.example/users/carol/inbox",
        shared_inbox_url="https://remote.example/inbox",
    )
    async with services.db.transaction() as session:
        session.add(remote)
        await session.flush()
        session.add(
            Follow(id=new_id(), follower_id=remote.id, followee_id=followee.id, state="accepted")
        )
    return remote


async def outbox(services: Services) -> list[tuple[dict[str, Any], list[str]]]:
    async with services.db.session() as session:
        rows = (await session.exec(select(OutboxActivity).order_by(col(OutboxActivity.id)))).all()
        out = []
        for row in rows:
            inboxes = (
                await session.exec(select(Delivery.inbox_url).where(Delivery.activity_id == row.id))
            ).all()
            out.append((json.loads(row.payload), sorted(inboxes)))
    return out


async def test_publish_uploaded_images_with_alt_text(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _actor, token = await make_token()
    first = await upload(client, token, seed=1, description="red dawn")
    check(MEDIA_ATTACHMENT, first)
    assert first["description"] == "red dawn" and first["url"].startswith(
        "http://gallery.test/media/"
    )
    second = await upload(client, token, seed=2, parameters=A1111_PARAMETERS)
    moved = await client.put(
        f"/api/v1/media/{first['id']}",
        headers=bearer(token),
        data={"focus": "0.5,-0.25", "description": "red dawn over the bay"},
    )
    assert check(MEDIA_ATTACHMENT, moved.json())["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    polled = await client.get(f"/api/v1/media/{first['id']}", headers=bearer(token))
    assert polled.status_code == 200 and polled.json()["url"] == first["url"]
    response = await client.post(
        "/api/v1/statuses",
        headers=bearer(token),
        json={
            "status": "Two hours #sky",
            "media_ids": [second["id"], first["id"]],
            "spoiler_text": "bright",
            "visibility": "unlisted",
            "language": "en",
        },
    )
    assert response.status_code == 200, response.text
    status = check(STATUS, response.json())
    assert [m["id"] for m in status["media_attachments"]] == [second["id"], first["id"]]
    assert status["media_attachments"][1]["description"] == "red dawn over the bay"
    assert status["visibility"] == "unlisted" and status["sensitive"] is True
    assert status["spoiler_text"] == "bright" and status["language"] == "en"
    assert status["tags"] == [{"name": "sky", "url": "http://gallery.test/tags/sky"}]
    assert status["account"]["statuses_count"] == 1
    async with services.db.session() as session:
        post = await session.get(Post, int(status["id"]))
        assert post is not None and post.local
        # the generation metadata of the first image is read like on the web form
        assert post.prompt.startswith("a lighthouse on a cliff")
        assert post.model_name == "sd_xl_base_1.0"
    shown = await client.get(f"/api/v1/statuses/{status['id']}")
    assert check(STATUS, shown.json())["id"] == status["id"]
    assert "favourited" not in shown.json()  # viewer fields only for a signed-in viewer


async def test_api_and_web_posts_federate_the_same_way(
    client: httpx.AsyncClient, alice: Any, services: Services
) -> None:
    from services.api_tokens import create_script_token

    await remote_follower(services, alice)
    token = await create_script_token(services, "alice", scopes="read write")
    web = await publish(client, [("a.png", png_bytes(seed=3))], caption="from the web")
    assert web.status_code == 303
    await post_status(client, token, "from the api")
    (web_activity, web_inboxes), (api_activity, api_inboxes) = await outbox(services)
    assert web_inboxes == api_inboxes == ["https://remote.example/inbox"]
    for activity in (web_activity, api_activity):
        assert activity["type"] == "Create" and activity["object"]["type"] == "Note"
        assert activity["object"]["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
        assert len(activity["object"]["attachment"]) == 1
    assert set(web_activity["object"]) == set(api_activity["object"])


async def test_idempotency_key_returns_the_first_status(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _, token = await make_token()
    media = await upload(client, token)
    headers = {**bearer(token), "Idempotency-Key": "retry-42"}
    data = {"status": "once", "media_ids[]": [media["id"]]}
    first = await client.post("/api/v1/statuses", headers=headers, data=data)
    before = await snapshot(services)
    second = await client.post("/api/v1/statuses", headers=headers, data=data)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert await snapshot(services) == before


async def test_edit_caption_and_alt_text_then_delete(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    actor, token = await make_token()
    await remote_follower(services, actor)
    status = await post_status(client, token, "first words")
    media_id = status["media_attachments"][0]["id"]
    source = await client.get(f"/api/v1/statuses/{status['id']}/source", headers=bearer(token))
    assert source.json() == {"id": status["id"], "text": "first words", "spoiler_text": ""}
    edited = await client.put(
        f"/api/v1/statuses/{status['id']}",
        headers=bearer(token),
        data={
            "status": "better words #night",
            "media_ids[]": [media_id],
            "media_attributes[][id]": media_id,
            "media_attributes[][description]": "a moonlit tower",
        },
    )
    assert edited.status_code == 200, edited.text
    body = check(STATUS, edited.json())
    assert "better words" in body["content"] and body["edited_at"] is not None
    assert body["media_attachments"][0]["description"] == "a moonlit tower"
    assert [a["type"] for a, _ in await outbox(services)] == ["Create", "Update"]

    deleted = await client.delete(f"/api/v1/statuses/{status['id']}", headers=bearer(token))
    assert deleted.status_code == 200 and deleted.json()["text"] == "better words #night"
    assert (await client.get(f"/api/v1/statuses/{status['id']}")).status_code == 404
    assert [a["type"] for a, _ in await outbox(services)] == ["Create", "Update", "Delete"]
    async with services.db.session() as session:
        assert (await session.exec(select(MediaAttachment))).all() == []


async def test_favourite_boost_bookmark_and_who_did_it(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    _, alice = await make_token("alice")
    _bob_actor, bob = await make_token("bob")
    status = await post_status(client, alice, "look")
    sid = status["id"]
    liked = await client.post(f"/api/v1/statuses/{sid}/favourite", headers=bearer(bob))
    assert check(STATUS, liked.json())["favourited"] is True
    assert liked.json()["favourites_count"] == 1
    boosted = await client.post(f"/api/v1/statuses/{sid}/reblog", headers=bearer(bob))
    wrapper = check(STATUS, boosted.json())
    assert wrapper["reblog"]["id"] == sid and wrapper["account"]["username"] == "bob"
    assert wrapper["reblog"]["reblogged"] is True and wrapper["reblog"]["reblogs_count"] == 1
    assert (await client.get(f"/api/v1/statuses/{wrapper['id']}")).json()["reblog"]["id"] == sid
    marked = await client.post(f"/api/v1/statuses/{sid}/bookmark", headers=bearer(bob))
    assert marked.json()["bookmarked"] is True

    who_liked = await client.get(f"/api/v1/statuses/{sid}/favourited_by")
    assert [a["username"] for a in check(list_of(ACCOUNT), who_liked.json())] == ["bob"]
    who_boosted = await client.get(f"/api/v1/statuses/{sid}/reblogged_by")
    assert [a["username"] for a in who_boosted.json()] == ["bob"]
    bookmarks = await client.get("/api/v1/bookmarks", headers=bearer(bob))
    assert [s["id"] for s in check(list_of(STATUS), bookmarks.json())] == [sid]
    favourites = await client.get("/api/v1/favourites", headers=bearer(bob))
    assert [s["id"] for s in favourites.json()] == [sid]

    notes = await client.get("/api/v1/notifications", headers=bearer(alice))
    kinds = sorted(n["type"] for n in check(list_of(NOTIFICATION), notes.json()))
    assert kinds == ["favourite", "reblog"]
    assert all(n["status"]["id"] == sid for n in notes.json())

    for action in ("unfavourite", "unreblog", "unbookmark"):
        undone = await client.post(f"/api/v1/statuses/{sid}/{action}", headers=bearer(bob))
        assert undone.status_code == 200
    final = (await client.get(f"/api/v1/statuses/{sid}", headers=bearer(bob))).json()
    assert (final["favourited"], final["reblogged"], final["bookmarked"]) == (False, False, False)
    assert (final["favourites_count"], final["reblogs_count"]) == (0, 0)
    assert (await client.get("/api/v1/notifications", headers=bearer(alice))).json() == []


async def test_replies_and_context(client: httpx.AsyncClient, make_token: Any) -> None:
    _, alice = await make_token("alice")
    _, bob = await make_token("bob")
    root = await post_status(client, alice, "root")
    reply = await client.post(
        "/api/v1/statuses",
        headers=bearer(bob),
        data={"status": "nice one", "in_reply_to_id": root["id"]},
    )
    assert reply.status_code == 200, reply.text
    body = check(STATUS, reply.json())
    assert body["in_reply_to_id"] == root["id"]
    assert body["in_reply_to_account_id"] == root["account"]["id"]
    answer = await client.post(
        "/api/v1/statuses",
        headers=bearer(alice),
        data={"status": "thanks", "in_reply_to_id": body["id"]},
    )
    context = check(CONTEXT, (await client.get(f"/api/v1/statuses/{body['id']}/context")).json())
    assert [s["id"] for s in context["ancestors"]] == [root["id"]]
    assert [s["id"] for s in context["descendants"]] == [answer.json()["id"]]
    mentions = (await client.get("/api/v1/notifications", headers=bearer(alice))).json()
    assert [n["type"] for n in mentions] == ["mention"]
    assert mentions[0]["status"]["id"] == body["id"]
    history = await client.get(f"/api/v1/statuses/{root['id']}/history")
    assert len(history.json()) == 1 and "root" in history.json()[0]["content"]


async def test_only_public_and_unlisted_replies_are_counted(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    """As on Mastodon, ``replies_count`` counts the replies everyone may read: a
    followers-only reply neither adds to it nor, deleted, takes from it, and a reply whose
    visibility is edited (on the web form) moves in or out of the count."""
    _, alice = await make_token("alice")
    _, bob = await make_token("bob")
    root = await post_status(client, alice, "root")

    async def reply(visibility: str) -> str:
        response = await client.post(
            "/api/v1/statuses",
            headers=bearer(bob),
            data={"status": visibility, "in_reply_to_id": root["id"], "visibility": visibility},
        )
        assert response.status_code == 200, response.text
        assert response.json()["visibility"] == visibility
        return str(response.json()["id"])

    async def replies_count() -> int:
        response = await client.get(f"/api/v1/statuses/{root['id']}", headers=bearer(alice))
        return int(response.json()["replies_count"])

    private = await reply("private")
    assert await replies_count() == 0
    unlisted = await reply("unlisted")
    public = await reply("public")
    assert await replies_count() == 2
    gone = await client.delete(f"/api/v1/statuses/{private}", headers=bearer(bob))
    assert gone.status_code == 200, gone.text
    assert await replies_count() == 2

    assert (await sign_in(client, "bob", PASSWORD)).status_code == 303
    for visibility, expected in (("followers", 1), ("unlisted", 2), ("followers", 1)):
        path = f"/@bob/{public}/edit"
        form = {"csrf_token": await csrf_from(client, path), "caption": "edited"}
        edited = await client.post(path, data={**form, "visibility": visibility})
        assert edited.status_code == 303, edited.text
        assert await replies_count() == expected, visibility
    for status_id, expected in ((public, 1), (unlisted, 0)):
        gone = await client.delete(f"/api/v1/statuses/{status_id}", headers=bearer(bob))
        assert gone.status_code == 200, gone.text
        assert await replies_count() == expected


async def test_context_leaves_out_blocked_and_blocking_accounts(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    """As in Mastodon, a thread's context shows no post by an account the viewer blocks
    or that blocks the viewer, in either direction of the thread; the posts around them
    still show (the thread is walked through them)."""
    _, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")  # vic blocks bob
    _, carol = await make_token("carol")  # carol blocks vic
    _, dave = await make_token("dave")
    vic_actor, vic = await make_token("vic")
    _, other = await make_token("other")

    async def answer(token: str, parent: dict[str, Any], text: str) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/statuses",
            headers=bearer(token),
            data={"status": text, "in_reply_to_id": parent["id"]},
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    root = await post_status(client, alice, "root")
    by_bob = await answer(bob, root, "bob answers")
    by_carol = await answer(carol, by_bob, "carol answers bob")
    by_dave = await answer(dave, by_carol, "dave answers carol")
    blocked = await client.post(f"/api/v1/accounts/{bob_actor.id}/block", headers=bearer(vic))
    assert blocked.status_code == 200 and blocked.json()["blocking"] is True
    blocking = await client.post(f"/api/v1/accounts/{vic_actor.id}/block", headers=bearer(carol))
    assert blocking.status_code == 200 and blocking.json()["blocking"] is True

    async def context(status: dict[str, Any], token: str | None) -> tuple[list, list]:
        headers = bearer(token) if token else {}
        response = await client.get(f"/api/v1/statuses/{status['id']}/context", headers=headers)
        assert response.status_code == 200, response.text
        body = check(CONTEXT, response.json())
        return [s["id"] for s in body["ancestors"]], [s["id"] for s in body["descendants"]]

    everything = [by_bob["id"], by_carol["id"], by_dave["id"]]
    assert await context(root, vic) == ([], [by_dave["id"]])
    assert await context(by_dave, vic) == ([root["id"]], [])
    for unaffected in (other, None):
        assert await context(root, unaffected) == ([], everything)
        assert await context(by_dave, unaffected) == ([root["id"], *everything[:2]], [])


async def test_a_status_is_not_found_for_someone_its_author_blocks(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    """Mastodon's StatusPolicy: a public status is a 404 to an account its author blocks,
    and to everyone once its author is suspended; other readers still see it."""
    alice_actor, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")
    _, carol = await make_token("carol")
    status = await post_status(client, alice, "not for bob")
    carols = await post_status(client, carol, "a thread alice answers")
    answer = await post_status(client, alice, "alice answers", in_reply_to_id=carols["id"])
    for mark in ("favourite", "bookmark"):  # before the block: bob's own records
        done = await client.post(f"/api/v1/statuses/{status['id']}/{mark}", headers=bearer(bob))
        assert done.status_code == 200, done.text
    blocked = await client.post(f"/api/v1/accounts/{bob_actor.id}/block", headers=bearer(alice))
    assert blocked.status_code == 200, blocked.text

    async def status_code(token: str | None, path: str = "", post: str = "GET") -> int:
        headers = bearer(token) if token else {}
        url = f"/api/v1/statuses/{status['id']}{path}"
        response = await client.request(post, url, headers=headers)
        return response.status_code

    async def thread_ids(token: str | None) -> list[str]:
        headers = bearer(token) if token else {}
        response = await client.get(f"/api/v1/statuses/{carols['id']}/context", headers=headers)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["descendants"]]

    assert await status_code(bob) == 404
    assert await status_code(bob, "/context") == 404
    assert await status_code(bob, "/favourite", "POST") == 404
    # Undoing what was one's own before the block still works.
    assert await status_code(bob, "/unfavourite", "POST") == 200
    assert await status_code(bob, "/unbookmark", "POST") == 200
    async with services.db.session() as session:
        likes = (await session.exec(select(Like).where(Like.actor_id == bob_actor.id))).all()
    assert likes == []
    assert await status_code(carol) == 200 and await status_code(None) == 200
    assert await thread_ids(None) == [answer["id"]]
    async with services.db.transaction() as session:
        row = await session.get(Actor, alice_actor.id)
        assert row is not None
        row.suspended = True
        session.add(row)
    assert await status_code(carol) == 404 and await status_code(None) == 404
    assert await status_code(carol, "/unfavourite", "POST") == 404  # nothing of carol's
    assert await thread_ids(carol) == [] and await thread_ids(None) == []


async def test_home_shows_the_viewers_own_marks_on_posts_and_boosts(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    """Home reads the viewer's likes, boosts and bookmarks with its rows (``aq.home``);
    each status must show what the single-status endpoint (which reads them apart) shows,
    for the viewer and no one else."""
    _alice_actor, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")
    carol_actor, carol = await make_token("carol")
    for token, target in ((alice, bob_actor), (alice, carol_actor), (carol, bob_actor)):
        followed = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=bearer(token))
        assert followed.status_code == 200
    liked = (await post_status(client, bob, "liked"))["id"]
    reblogged = (await post_status(client, bob, "reblogged"))["id"]
    marked = (await post_status(client, bob, "bookmarked"))["id"]
    plain = (await post_status(client, bob, "untouched"))["id"]
    boosted_by_carol = (await post_status(client, bob, "boosted by carol"))["id"]
    for sid, action, token in (
        (liked, "favourite", alice),
        (reblogged, "reblog", alice),
        (marked, "bookmark", alice),
        (boosted_by_carol, "reblog", carol),
        (boosted_by_carol, "favourite", carol),
        (boosted_by_carol, "bookmark", alice),
    ):
        done = await client.post(f"/api/v1/statuses/{sid}/{action}", headers=bearer(token))
        assert done.status_code == 200, done.text

    def marks(status: dict[str, Any]) -> tuple[bool, bool, bool]:
        return status["favourited"], status["reblogged"], status["bookmarked"]

    for token in (alice, carol):
        page = (await client.get("/api/v1/timelines/home", headers=bearer(token))).json()
        assert page, "home has entries"
        for item in page:
            inner = item["reblog"] or item
            single = await client.get(f"/api/v1/statuses/{inner['id']}", headers=bearer(token))
            assert marks(inner) == marks(single.json()), (token == alice, inner["content"])
            if item["reblog"]:
                assert marks(item) == marks(inner)
    alice_page = (await client.get("/api/v1/timelines/home", headers=bearer(alice))).json()
    by_id = {(s["reblog"] or s)["id"]: (s["reblog"] or s) for s in alice_page}
    assert marks(by_id[liked]) == (True, False, False)
    assert marks(by_id[reblogged]) == (False, True, False)
    assert marks(by_id[marked]) == (False, False, True)
    assert marks(by_id[plain]) == (False, False, False)
    assert marks(by_id[boosted_by_carol]) == (False, False, True)
    assert any(s["reblog"] and s["account"]["username"] == "carol" for s in alice_page)
