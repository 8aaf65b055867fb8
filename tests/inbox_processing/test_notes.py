"""Create, Update and Delete of notes from fake peers, processed by ``run_once`` and
checked in the rows, the blob store and the pages people see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from federation.fetch import get_actor, instance_signer
from federation.signatures import Verified
from federation.vocab import PUBLIC
from services.context import Services
from storage.federation_models import Mention, Notification
from storage.ids import new_id
from storage.models import Follow, Hashtag, MediaAttachment, Post, PostHashtag
from tests.inbox_processing.helpers import (
    ADMIN,
    adapt,
    deliver,
    image_post,
    process,
    reload,
    reply_with_image,
    reprocess,
    rows,
)
from tests.inbox_processing.peer import Peer


async def test_reply_with_image_is_stored_and_shown_under_the_post(
    services: Services, peer: Peer, alice: Any, client: httpx.AsyncClient
) -> None:
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    create = reply_with_image(peer, bob, post.ap_id)
    item_id = await deliver(services, create)
    assert await reprocess(services, item_id) == "done"
    assert await reprocess(services, item_id) == "done"  # a second run changes nothing

    [reply] = await rows(services, Post, local=False)
    assert reply.ap_id == f"{bob}/statuses/1" and reply.in_reply_to_id == post.id
    assert reply.content_html == "<p>What a view! </p>"  # script gone
    assert reply.visibility == "public" and reply.sensitive is False
    assert (await reload(services, Post, post.id)).replies_count == 1
    [media] = await rows(services, MediaAttachment, post_id=reply.id)
    assert (
        media.remote_url == f"{peer.base}/media/1.png" and media.description == "a red lighthouse"
    )
    assert (media.width, media.height, media.original_mime) == (160, 120, "image/png")
    for key in (media.original_key, media.display_key, media.thumb_key):
        assert key and services.blobs.exists(key)
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id, note.post_id) == ("reply", alice.id, reply.id)

    page = await client.get(f"/@alice/{post.id}")
    assert page.status_code == 200
    assert "What a view!" in page.text and "1 replies" in page.text
    assert f"@bob@{peer.base.removeprefix('http://')}" in page.text
    remote_page = await client.get(f"/@bob@{peer.base.removeprefix('http://')}/{reply.id}")
    assert remote_page.status_code == 200
    assert f"/media/{media.display_key}" in remote_page.text
    assert f"{peer.base}/media/1.png" not in remote_page.text  # never hot-linked


async def test_only_public_and_unlisted_replies_are_counted(
    services: Services, peer: Peer, alice: Any, client: httpx.AsyncClient
) -> None:
    """As on Mastodon, a parent's ``replies_count`` counts only the replies everyone may
    read: followers-only and direct replies are stored for their audience, but they add
    nothing to the count, and deleting them takes nothing away."""
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    followers = f"{bob}/followers"
    audiences = {
        "public": ([PUBLIC], [followers]),
        "unlisted": ([followers], [PUBLIC]),
        "followers": ([followers], []),
        "direct": ([alice.ap_id], []),
    }
    ap_ids = {}
    for number, (visibility, (to, cc)) in enumerate(audiences.items(), start=1):
        create = reply_with_image(peer, bob, post.ap_id, number=number)
        create["object"]["to"], create["object"]["cc"] = to, cc  # the peer serves it too
        create["to"], create["cc"] = to, cc
        assert await process(services, create) == "done", visibility
        ap_ids[visibility] = create["object"]["id"]
    stored = {p.ap_id: p for p in await rows(services, Post, local=False)}
    assert {v: stored[ap_ids[v]].visibility for v in audiences} == {v: v for v in audiences}

    async def replies_count() -> int:
        response = await client.get(f"/api/v1/statuses/{post.id}")
        assert response.status_code == 200, response.text
        assert (
            response.json()["replies_count"]
            == (await reload(services, Post, post.id)).replies_count
        )
        return int(response.json()["replies_count"])

    assert await replies_count() == 2
    gargron = "http://mastodon.example.org/users/gargron"
    status = f"{gargron}/statuses/99620895606148759"
    expected = {"followers": 2, "direct": 2, "unlisted": 1, "public": 0}
    for number, (visibility, left) in enumerate(expected.items(), start=1):
        delete = adapt("mastodon-delete-note.json", {status: ap_ids[visibility], gargron: bob})
        delete["id"] = f"{bob}#delete/{number}"
        assert await process(services, delete) == "done", visibility
        assert await replies_count() == left, visibility


async def test_declared_sizes_focal_points_and_blurhashes_are_checked(
    services: Services, peer: Peer, alice: Any, client: httpx.AsyncClient
) -> None:
    """Videos are not copied, so their rows keep what the sender declared: a side that is
    no sane number (here one too large for an integer column, which failed the whole
    Create) is dropped, an area over ``media.max_pixels`` too, a focal point is kept
    inside the image and a blurhash no client could decode, or whose first character
    claims more than 9x9 components, is left out."""
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    create = reply_with_image(peer, bob, post.ap_id)

    def video(number: int, **declared: Any) -> dict[str, Any]:
        url = f"{peer.base}/media/{number}.mp4"
        return {"type": "Document", "mediaType": "video/mp4", "url": url, **declared}

    create["object"]["attachment"] = [
        video(1, width=1e20, height=10**30, blurhash="UBL_:rOpGG-oBUNG<qRj2so|=eE1w^n4S5NH"),
        video(2, width=16_000, height=16_000, focalPoint=[4, -7]),  # 256 megapixels
        video(3, width="1280", height=720, focalPoint=[0.25, -0.5], blurhash="00AAAA"),
        video(4, width=640),  # one side alone gives no aspect ratio
        video(5, blurhash="}" + "A" * 23),  # first character 81: 1x10, past 9x9
    ]
    assert await process(services, create) == "done"
    [reply] = await rows(services, Post, local=False)
    media = sorted(await rows(services, MediaAttachment, post_id=reply.id), key=_position)
    assert [(m.width, m.height) for m in media] == [(0, 0), (0, 0), (1280, 720), (0, 0), (0, 0)]
    assert [(m.focal_x, m.focal_y) for m in media][:3] == [(None, None), (1, -1), (0.25, -0.5)]
    assert [m.blurhash for m in media] == [None, None, "00AAAA", None, None]
    assert not any(m.original_key for m in media)  # placeholders: videos are not copied
    shown = await client.get(f"/api/v1/statuses/{reply.id}")
    assert shown.status_code == 200, shown.text
    metas = [a["meta"] for a in shown.json()["media_attachments"]]
    assert metas[2]["original"]["width"] == 1280 and metas[1]["focus"] == {"x": 1, "y": -1}


def _position(media: MediaAttachment) -> int:
    return media.position


async def test_delete_note_removes_it_with_its_files(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob, carol = peer.add_actor("bob"), peer.add_actor("carol")
    assert await process(services, reply_with_image(peer, bob, post.ap_id)) == "done"
    [reply] = await rows(services, Post, local=False)
    [media] = await rows(services, MediaAttachment, post_id=reply.id)
    keys = [media.original_key, media.display_key, media.thumb_key]

    gargron = "http://mastodon.example.org/users/gargron"
    status = f"{gargron}/statuses/99620895606148759"
    by_carol = adapt("mastodon-delete-note.json", {status: reply.ap_id, gargron: carol})
    by_carol["id"] = f"{carol}#delete/1"
    assert await process(services, by_carol) == "ignored"  # not carol's note
    assert len(await rows(services, Post, local=False)) == 1

    delete = adapt("mastodon-delete-note.json", {status: reply.ap_id, gargron: bob})
    assert await process(services, delete) == "done"
    assert await rows(services, Post, local=False) == []
    assert await rows(services, MediaAttachment, post_id=reply.id) == []
    assert not any(services.blobs.exists(k) for k in keys if k)
    assert (await reload(services, Post, post.id)).replies_count == 0
    assert await rows(services, Notification) == []
    # a Delete of a local post by a remote actor changes nothing
    local = adapt("mastodon-delete-note.json", {status: post.ap_id, gargron: bob})
    local["id"] = f"{post.ap_id}#delete-attempt"
    assert await process(services, local) == "ignored"
    assert await reload(services, Post, post.id) is not None


async def test_update_note_by_its_author_only(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob, carol = peer.add_actor("bob"), peer.add_actor("carol")
    create = reply_with_image(peer, bob, post.ap_id)
    assert await process(services, create) == "done"
    [reply] = await rows(services, Post, local=False)

    edited = {
        **create["object"],
        "content": "<p>Edited by a stranger #hacked</p>",
        "tag": [{"type": "Hashtag", "name": "#hacked"}],
    }
    as_bob = {"id": f"{carol}#u1", "type": "Update", "actor": carol, "object": edited}
    assert await process(services, as_bob) == "ignored"  # carol cannot edit bob's note
    claims_carol = {**as_bob, "id": f"{carol}#u2", "object": {**edited, "attributedTo": carol}}
    assert await process(services, claims_carol) == "ignored"
    unchanged = await reload(services, Post, reply.id)
    assert "stranger" not in unchanged.content_html and unchanged.edited_at is None

    mine = {
        **create["object"],
        "content": "<p>Edited: the lighthouse at dusk #Seascape</p>",
        "summary": "bright light",
        "updated": "2024-06-01T12:00:00Z",
        "tag": [{"type": "Hashtag", "name": "#Seascape"}],
    }
    mine["attachment"] = [{**mine["attachment"][0], "name": "a red lighthouse at dusk"}]
    update = {"id": f"{bob}#u3", "type": "Update", "actor": bob, "object": mine}
    assert await process(services, update) == "done"
    changed = await reload(services, Post, reply.id)
    assert changed.content_html == "<p>Edited: the lighthouse at dusk #Seascape</p>"
    assert changed.content_warning == "bright light" and changed.sensitive is True
    assert changed.edited_at is not None and changed.edited_at.year == 2024
    [media] = await rows(services, MediaAttachment, post_id=reply.id)
    assert media.description == "a red lighthouse at dusk" and media.original_key
    [tag] = await rows(services, Hashtag)
    assert (tag.name, tag.display_name) == ("seascape", "Seascape")
    assert len(await rows(services, PostHashtag, post_id=reply.id)) == 1


async def test_reply_to_a_reply_fetches_the_missing_parent(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    carol = other_peer.add_actor("carol")
    middle = reply_with_image(peer, bob, post.ap_id, number=5)["object"]  # never delivered
    create = reply_with_image(other_peer, carol, middle["id"], number=6)
    assert await process(services, create) == "done"
    assert len(peer.fetched("/users/bob/statuses/5")) == 1
    by_id = {p.ap_id: p for p in await rows(services, Post, local=False)}
    assert set(by_id) == {middle["id"], create["object"]["id"]}
    assert by_id[middle["id"]].in_reply_to_id == post.id
    assert by_id[create["object"]["id"]].in_reply_to_id == by_id[middle["id"]].id
    assert (await reload(services, Post, post.id)).replies_count == 1


async def test_signed_fetch_verifies_at_the_peer(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    signer = await instance_signer(services)
    instance = await get_actor(services, signer.key_id.split("#")[0])
    peer.known_keys[signer.key_id] = instance.public_key_pem or ""
    bob = peer.add_actor("bob")
    middle = reply_with_image(peer, bob, post.ap_id, number=8)["object"]
    create = reply_with_image(peer, bob, middle["id"], number=9)
    assert await process(services, create) == "done"
    [fetch] = peer.fetched("/users/bob/statuses/8")
    assert isinstance(fetch.verdict, Verified) and fetch.verdict.key_id == signer.key_id


async def test_posts_nobody_here_needs_are_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    await make_user("alice")
    bob = peer.add_actor("bob")
    create = reply_with_image(peer, bob, f"{peer.base}/users/dave/statuses/1")
    assert await process(services, create) == "ignored"
    assert await rows(services, Post) == []
    assert await rows(services, MediaAttachment) == []
    assert peer.fetched("/media/1.png") == []  # nothing fetched for a post we drop


async def test_followed_author_mentions_and_direct_messages(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice, dave = await make_user("alice"), await make_user("dave")
    bob = await get_actor(services, peer.add_actor("bob"))
    lain = "http://localtesting.pleroma.lol/users/lain"
    cw = adapt("mastodon-create-note-sensitive-cw.json", {ADMIN: bob.ap_id, lain: dave.ap_id})
    assert await process(services, cw) == "done"  # mentions dave
    [post] = await rows(services, Post)
    assert post.content_warning == "cw" and post.sensitive is True
    assert post.visibility == "public"
    assert [(m.actor_id) for m in await rows(services, Mention)] == [dave.id]
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id) == ("mention", dave.id)
    [tag] = await rows(services, Hashtag)
    assert (tag.name, tag.display_name) == ("nsfw", "NSFW")

    direct = {
        "id": f"{bob.ap_id}/statuses/20/activity",
        "type": "Create",
        "actor": bob.ap_id,
        "object": {
            "id": f"{bob.ap_id}/statuses/20",
            "type": "Note",
            "attributedTo": bob.ap_id,
            "content": "<p>just between us</p>",
            "to": [f"{peer.base}/users/erin"],
        },
    }
    async with services.db.transaction() as session:
        session.add(Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="accepted"))
    assert await process(services, direct) == "ignored"  # a DM to someone else: never stored
    public = {
        **direct,
        "id": f"{bob.ap_id}/statuses/21/activity",
        "object": {**direct["object"], "id": f"{bob.ap_id}/statuses/21", "to": [PUBLIC]},
    }
    assert await process(services, public) == "done"  # alice follows bob
    assert {p.ap_id for p in await rows(services, Post)} == {post.ap_id, f"{bob.ap_id}/statuses/21"}


async def test_cross_origin_objects_are_refetched_or_dropped(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    carol = other_peer.add_actor("carol")
    # bob's Create embeds a "note by bob" whose id lives on carol's server
    genuine = reply_with_image(other_peer, carol, post.ap_id, number=3)["object"]
    forged = {**genuine, "attributedTo": bob, "content": "<p>forged</p>"}
    create = {"id": f"{bob}/activity/1", "type": "Create", "actor": bob, "object": forged}
    assert await process(services, create) == "ignored"
    assert len(other_peer.fetched("/users/carol/statuses/3")) == 1  # asked the origin
    # an embedded object its origin does not serve is dropped
    gone = {**forged, "id": f"{other_peer.base}/users/carol/statuses/404"}
    assert (
        await process(services, {**create, "id": f"{bob}/activity/2", "object": gone}) == "ignored"
    )
    assert await rows(services, Post, local=False) == []


async def test_unavailable_images_keep_a_placeholder_row(
    services: Services, peer: Peer, alice: Any, client: httpx.AsyncClient
) -> None:
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    create = reply_with_image(peer, bob, post.ap_id, number=4)
    peer.failing["/media/4.png"] = 404
    assert await process(services, create) == "done"
    [reply] = await rows(services, Post, local=False)
    [media] = await rows(services, MediaAttachment, post_id=reply.id)
    assert media.remote_url == f"{peer.base}/media/4.png"
    assert (media.original_key, media.display_key, media.thumb_key) == (None, None, None)
    assert media.description == "a red lighthouse"
    page = await client.get(f"/@bob@{peer.base.removeprefix('http://')}/{reply.id}")
    assert page.status_code == 200
    assert "/static/unavailable.svg" in page.text and media.remote_url not in page.text
