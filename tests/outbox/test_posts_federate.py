"""What alice does on the web reaches remote servers: a fake peer with a follower of hers
receives Create, Update and Delete, and a remote author receives likes and boosts.

Every request the peer receives is checked the way a real server checks it: it fetches
alice's key from our running instance and verifies the HTTP signature."""

from __future__ import annotations

import httpx

from federation.delivery import DeliveryWorker
from federation.vocab import PUBLIC
from services.context import Services
from storage.ids import new_id
from storage.models import Actor, Follow, Like, Post
from tests.conftest import csrf_from
from tests.imagegen import png_bytes
from tests.outbox.conftest import deliveries, insert
from tests.outbox.peers import FakePeer
from tests.web.helpers import publish


async def remote_follower(services: Services, peer: FakePeer, alice: Actor, name: str = "bob"):  # type: ignore[no-untyped-def]
    bob = peer.actor_row(name)
    follow = Follow(
        id=new_id(),
        follower_id=bob.id,
        followee_id=alice.id,
        state="accepted",
        ap_id=f"{bob.ap_id}#follows/1",
    )
    await insert(services, bob, follow)
    return bob


async def test_a_remote_follower_receives_create_update_and_delete(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    await remote_follower(services, peer, alice)
    images = [("a.png", png_bytes(80, 60, seed=1)), ("b.png", png_bytes(60, 80, seed=2))]
    response = await publish(
        client, images, alts=["A red cube", "A blue sphere"], caption="Shapes #render"
    )
    assert response.status_code == 303
    post_id = int(response.headers["location"].rsplit("/", 1)[1])
    note_id = f"{tessera}/users/alice/statuses/{post_id}"

    assert await worker.run_once() == 1
    [create] = peer.received
    assert create.authentic, create.verdict
    assert create.path == "/inbox"  # the shared inbox
    activity = create.activity
    assert activity["type"] == "Create" and activity["id"] == f"{note_id}#create"
    assert activity["actor"] == f"{tessera}/users/alice"
    assert activity["to"] == [PUBLIC]
    note = activity["object"]
    assert note["id"] == note_id and "Shapes" in note["content"]
    assert [a["name"] for a in note["attachment"]] == ["A red cube", "A blue sphere"]
    for attachment in note["attachment"]:
        assert attachment["type"] == "Document" and attachment["mediaType"] == "image/png"
        served = await client.get(attachment["url"])  # the image the peer would copy
        assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    assert await worker.run_once() == 0  # delivered once, never again

    token = await csrf_from(client, f"/@alice/{post_id}/edit")
    edited = await client.post(
        f"/@alice/{post_id}/edit",
        data={"csrf_token": token, "caption": "Shapes, edited", "visibility": "public"},
    )
    assert edited.status_code == 303
    assert await worker.run_once() == 1
    update = peer.received[-1]
    assert update.authentic
    assert update.activity["type"] == "Update"
    assert update.activity["id"].startswith(f"{note_id}#updates/")
    assert update.activity["object"]["id"] == note_id
    assert "edited" in update.activity["object"]["content"]
    assert update.activity["object"]["updated"]

    token = await csrf_from(client, f"/@alice/{post_id}")
    gone = await client.post(f"/@alice/{post_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert await worker.run_once() == 1
    delete = peer.received[-1]
    assert delete.authentic
    assert delete.activity == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}#delete",
        "type": "Delete",
        "actor": f"{tessera}/users/alice",
        "to": [PUBLIC],
        "object": {"id": note_id, "type": "Tombstone"},
    }
    assert peer.types() == ["Create", "Update", "Delete"]
    assert all(d.state == "delivered" and d.attempts == 1 for d in await deliveries(services))


async def test_a_post_without_remote_followers_queues_nothing(
    client: httpx.AsyncClient, alice: Actor, services: Services, worker: DeliveryWorker
) -> None:
    response = await publish(client, [("a.png", png_bytes(40, 40))])
    assert response.status_code == 303
    assert await deliveries(services) == []
    assert await worker.run_once() == 0


async def remote_post(services: Services, peer: FakePeer) -> tuple[Actor, Post]:
    carol = peer.actor_row("carol")
    post_id = new_id()
    post = Post(
        id=post_id,
        actor_id=carol.id,
        ap_id=f"{carol.ap_id}/statuses/{post_id}",
        url=f"{peer.base}/@carol/{post_id}",
        local=False,
        visibility="public",
        content_html="<p>a remote picture</p>",
    )
    await insert(services, carol, post)
    return carol, post


async def react(client: httpx.AsyncClient, post_id: int, action: str) -> None:
    token = await csrf_from(client, "/compose")
    response = await client.post(
        f"/posts/{post_id}/{action}", data={"csrf_token": token, "back": "/"}
    )
    assert response.status_code == 303, response.text


async def test_likes_and_boosts_of_a_remote_post_reach_its_author(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    carol, post = await remote_post(services, peer)
    me = f"{tessera}/users/alice"

    await react(client, post.id, "like")
    await react(client, post.id, "like")  # liking twice is one like, one activity
    assert await worker.run_once() == 1
    like = peer.received[-1]
    assert like.authentic and like.path == "/users/carol/inbox"
    async with services.db.session() as session:
        [row] = (await session.exec(Like.__table__.select())).all()  # type: ignore[attr-defined]
    assert like.activity == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{me}#likes/{row.id}",
        "type": "Like",
        "actor": me,
        "object": post.ap_id,
    }
    assert row.ap_id == like.activity["id"]

    await react(client, post.id, "unlike")
    assert await worker.run_once() == 1
    undo = peer.received[-1]
    assert undo.authentic
    assert undo.activity["type"] == "Undo"
    assert undo.activity["id"] == f"{me}#likes/{row.id}/undo"
    assert undo.activity["object"]["type"] == "Like"
    assert undo.activity["object"]["id"] == like.activity["id"]

    await react(client, post.id, "boost")
    assert await worker.run_once() == 1
    announce = peer.received[-1]
    assert announce.authentic and announce.path == "/users/carol/inbox"
    assert announce.activity["type"] == "Announce"
    assert announce.activity["object"] == post.ap_id
    assert announce.activity["to"] == [PUBLIC]
    assert announce.activity["cc"] == [carol.ap_id, f"{me}/followers"]
    assert announce.activity["id"].startswith(f"{me}/statuses/")

    await react(client, post.id, "unboost")
    assert await worker.run_once() == 1
    unboost = peer.received[-1]
    assert unboost.authentic
    assert unboost.activity["type"] == "Undo"
    assert unboost.activity["object"]["id"] == announce.activity["id"]
    assert unboost.activity["object"]["type"] == "Announce"
    assert peer.types() == ["Like", "Undo", "Announce", "Undo"]


async def test_a_boost_also_reaches_our_followers_servers(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
) -> None:
    await remote_follower(services, peer, alice)  # on the same server as the author
    _carol, post = await remote_post(services, peer)
    await react(client, post.id, "boost")
    inboxes = sorted(d.inbox_url for d in await deliveries(services, "Announce"))
    assert inboxes == [f"{peer.base}/inbox", f"{peer.base}/users/carol/inbox"]
    assert await worker.run_once() == 2
    assert all(r.authentic for r in peer.received)
