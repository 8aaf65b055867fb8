"""Mentions in local posts, end to end through the web forms.

Alice publishes on a Tessera listening on a real port; a fake remote server (signature-
verifying inboxes, WebFinger) holds bob, whom we already know, and dave, whom we have never
seen and must look up. Each test checks what people see (the page), what is stored (the
``mention`` rows, notifications), what the Note says (tag, cc) and what the remote server
actually receives, verified with alice's key fetched from our running instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlmodel import col, select

from federation.content import mention_html
from federation.delivery import DeliveryWorker
from federation.vocab import PUBLIC
from services.context import Services
from storage.federation_models import Mention, Notification
from storage.models import Actor
from tests.conftest import csrf_from, sign_in
from tests.imagegen import png_bytes
from tests.mentions.conftest import WebfingerPeer
from tests.outbox.conftest import deliveries, insert
from tests.web.helpers import publish

AP = "application/activity+json"


async def post_with(client: httpx.AsyncClient, caption: str, **fields: Any) -> int:
    response = await publish(client, [("a.png", png_bytes(40, 40))], caption=caption, **fields)
    assert response.status_code == 303, response.text[:500]
    return int(response.headers["location"].rsplit("/", 1)[1])


async def mentioned_ids(services: Services, post_id: int) -> set[int]:
    async with services.db.session() as session:
        rows = await session.exec(select(Mention).where(col(Mention.post_id) == post_id))
        return {m.actor_id for m in rows.all()}


async def notifications(services: Services, recipient: Actor) -> list[tuple[str, int, int | None]]:
    async with services.db.session() as session:
        rows = await session.exec(
            select(Notification)
            .where(col(Notification.recipient_id) == recipient.id)
            .order_by(col(Notification.id))
        )
        return [(n.kind, n.from_actor_id, n.post_id) for n in rows.all()]


async def actor_at(services: Services, ap_id: str) -> Actor | None:
    async with services.db.session() as session:
        return (await session.exec(select(Actor).where(Actor.ap_id == ap_id))).first()


async def note_of(client: httpx.AsyncClient, post_id: int) -> dict[str, Any]:
    response = await client.get(f"/users/alice/statuses/{post_id}", headers={"accept": AP})
    assert response.status_code == 200
    return response.json()


async def test_local_and_remote_mentions(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
    tessera: str,
    make_user: Callable[..., Any],
) -> None:
    carol = await make_user("carol")
    bob = peer.actor_row("bob")
    await insert(services, bob)
    peer.known = {"dave"}
    host = peer.host
    post_id = await post_with(
        client, f"Hello @carol, @bob@{host} and @Dave@{host}! Not @nobody@{host} #art"
    )

    dave = await actor_at(services, peer.actor_url("dave"))
    assert dave is not None and dave.domain == host  # looked up through WebFinger
    assert f"acct:bob@{host}" not in peer.webfinger_hits  # known: no lookup

    page = await client.get(f"/@alice/{post_id}")
    assert page.status_code == 200
    assert mention_html("carol", f"{tessera}/@carol") in page.text
    assert mention_html("bob", f"{peer.base}/@bob") in page.text
    assert mention_html("Dave", dave.url or dave.ap_id) in page.text
    assert f"Not @nobody@{host}" in page.text  # unresolved: plain text

    assert await mentioned_ids(services, post_id) == {carol.id, bob.id, dave.id}

    note = await note_of(client, post_id)
    by_id = sorted([carol, bob, dave], key=lambda a: a.id)
    assert note["to"] == [PUBLIC]
    assert note["cc"] == [f"{tessera}/users/alice/followers"] + [a.ap_id for a in by_id]
    mention_tags = [t for t in note["tag"] if t["type"] == "Mention"]
    local_domain = tessera.removeprefix("http://")
    assert sorted((t["href"], t["name"]) for t in mention_tags) == sorted(
        [
            (carol.ap_id, f"@carol@{local_domain}"),
            (bob.ap_id, f"@bob@{host}"),
            (dave.ap_id, f"@dave@{host}"),
        ]
    )
    assert any(t["type"] == "Hashtag" and t["name"] == "#art" for t in note["tag"])

    assert await worker.run_once() == 2
    assert sorted(r.path for r in peer.received) == ["/users/bob/inbox", "/users/dave/inbox"]
    for received in peer.received:
        assert received.authentic, received.verdict
        assert received.activity["type"] == "Create"
        assert received.activity["object"]["tag"] == note["tag"]
        assert received.activity["cc"] == note["cc"]
        assert mention_html("bob", f"{peer.base}/@bob") in received.activity["object"]["content"]
    assert all(d.state == "delivered" for d in await deliveries(services))

    assert await notifications(services, carol) == [("mention", alice.id, post_id)]
    assert await notifications(services, alice) == []


async def test_a_reply_to_a_mentioned_author_notifies_once(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    make_user: Callable[..., Any],
) -> None:
    carol = await make_user("carol", "carol's password!")
    erin = await make_user("erin")
    post_id = await post_with(client, "a picture")
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/compose")})
    assert (await sign_in(client, "carol", "carol's password!")).status_code == 303
    token = await csrf_from(client, f"/@alice/{post_id}")
    response = await client.post(
        f"/posts/{post_id}/reply",
        data={"csrf_token": token, "caption": "@alice lovely! cc @erin"},
    )
    assert response.status_code == 303, response.text[:300]
    async with services.db.session() as session:
        reply = (
            await session.exec(select(Mention.post_id).where(col(Mention.actor_id) == erin.id))
        ).one()
    assert await mentioned_ids(services, reply) == {alice.id, erin.id}
    assert await notifications(services, alice) == [("reply", carol.id, reply)]
    assert await notifications(services, erin) == [("mention", carol.id, reply)]


async def test_an_edit_resolves_mentions_again(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
    tessera: str,
    make_user: Callable[..., Any],
) -> None:
    carol = await make_user("carol")
    bob = peer.actor_row("bob")
    await insert(services, bob)
    post_id = await post_with(client, f"for @bob@{peer.host}")
    assert await worker.run_once() == 1
    assert await notifications(services, carol) == []

    token = await csrf_from(client, f"/@alice/{post_id}/edit")
    edited = await client.post(
        f"/@alice/{post_id}/edit",
        data={"csrf_token": token, "caption": "for @carol now", "visibility": "public"},
    )
    assert edited.status_code == 303, edited.text[:300]

    assert await mentioned_ids(services, post_id) == {carol.id}
    assert await notifications(services, carol) == [("mention", alice.id, post_id)]
    page = await client.get(f"/@alice/{post_id}")
    assert mention_html("carol", f"{tessera}/@carol") in page.text
    assert f"{peer.base}/@bob" not in page.text

    # bob's server holds a copy that mentions him: it gets the Update that removes him
    assert await worker.run_once() == 1
    update = peer.received[-1]
    assert update.authentic and update.path == "/users/bob/inbox"
    assert update.activity["type"] == "Update"
    note = update.activity["object"]
    assert [t["href"] for t in note["tag"] if t["type"] == "Mention"] == [carol.ap_id]
    assert bob.ap_id not in note["cc"] and carol.ap_id in note["cc"]


async def test_followers_only_post_names_mentions_in_cc(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    bob = peer.actor_row("bob")
    await insert(services, bob)
    post_id = await post_with(client, f"just for @bob@{peer.host}", visibility="followers")
    assert await worker.run_once() == 1
    [create] = peer.received
    assert create.authentic and create.path == "/users/bob/inbox"
    assert create.activity["to"] == [f"{tessera}/users/alice/followers"]
    assert create.activity["cc"] == [bob.ap_id]
    assert PUBLIC not in create.activity["object"]["to"] + create.activity["object"]["cc"]
    assert await mentioned_ids(services, post_id) == {bob.id}


async def test_an_unreachable_server_leaves_the_mention_unlinked(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
) -> None:
    post_id = await post_with(client, "hi @ghost@127.0.0.1:9 and @nobody")
    page = await client.get(f"/@alice/{post_id}")
    assert "hi @ghost@127.0.0.1:9 and @nobody" in page.text
    assert 'class="u-url mention"' not in page.text
    assert await mentioned_ids(services, post_id) == set()
    assert await deliveries(services) == []
    assert await worker.run_once() == 0
