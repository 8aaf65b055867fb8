"""Outbox, followers, following and featured collections, paged."""

from __future__ import annotations

from urllib.parse import urlsplit

from services.context import Services
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.federation_docs.helpers import BASE, get_ap, publish_post

OUTBOX = f"{BASE}/users/alice/outbox"
REMOTE = "https://remote.example"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_outbox_pages(client, alice) -> None:
    ids = [await publish_post(client, seed=i) for i in range(25)]
    hidden = await publish_post(client, seed=99, visibility="followers")
    root = await get_ap(client, "/users/alice/outbox")
    assert root.status_code == 200
    assert root.headers["content-type"].startswith("application/activity+json")
    doc = root.json()
    assert doc["type"] == "OrderedCollection"
    assert doc["id"] == OUTBOX
    assert doc["totalItems"] == 25
    assert doc["first"] == f"{OUTBOX}?page=true"
    assert "orderedItems" not in doc

    first = (await get_ap(client, path_of(doc["first"]))).json()
    assert first["type"] == "OrderedCollectionPage"
    assert first["partOf"] == OUTBOX
    items = first["orderedItems"]
    assert len(items) == 20
    newest_first = list(reversed(ids))
    assert [i["object"]["id"] for i in items] == [
        f"{BASE}/users/alice/statuses/{p}" for p in newest_first[:20]
    ]
    assert all(i["type"] == "Create" and i["id"].endswith("#create") for i in items)
    assert all(i["actor"] == f"{BASE}/users/alice" for i in items)
    assert all("@context" not in i["object"] for i in items)
    assert len(items[0]["object"]["attachment"]) == 1
    assert first["next"] == f"{OUTBOX}?max_id={newest_first[19]}&page=true"

    second = (await get_ap(client, path_of(first["next"]))).json()
    assert [i["object"]["id"].rsplit("/", 1)[1] for i in second["orderedItems"]] == [
        str(p) for p in newest_first[20:]
    ]
    assert "next" not in second
    assert str(hidden) not in str(first) + str(second)


async def test_outbox_rejects_bad_cursor(client, alice) -> None:
    response = await get_ap(client, "/users/alice/outbox?page=true&max_id=abc")
    assert response.status_code == 400
    assert (await get_ap(client, "/users/nobody/outbox")).status_code == 404


async def follow(services: Services, follower: int, followee: int, state: str = "accepted") -> int:
    follow_id = new_id()
    async with services.db.transaction() as session:
        session.add(Follow(id=follow_id, follower_id=follower, followee_id=followee, state=state))
    return follow_id


async def remote_actor(services: Services, name: str) -> Actor:
    actor = Actor(
        id=new_id(),
        username=name,
        username_lower=name,
        domain="remote.example",
        ap_id=f"{REMOTE}/users/{name}",
    )
    async with services.db.transaction() as session:
        session.add(actor)
    return actor


async def test_followers_and_following(client, alice, services) -> None:
    fans = [await remote_actor(services, f"fan{i}") for i in range(42)]
    for fan in fans:
        await follow(services, fan.id, alice.id)
    pending = await remote_actor(services, "pending")
    await follow(services, pending.id, alice.id, "pending")
    await follow(services, alice.id, fans[0].id)

    root = (await get_ap(client, "/users/alice/followers")).json()
    assert root["type"] == "OrderedCollection"
    assert root["id"] == f"{BASE}/users/alice/followers"
    assert root["totalItems"] == 42
    first = (await get_ap(client, path_of(root["first"]))).json()
    assert len(first["orderedItems"]) == 40
    assert first["orderedItems"][0] == f"{REMOTE}/users/fan41"  # newest follow first
    second = (await get_ap(client, path_of(first["next"]))).json()
    assert second["orderedItems"] == [f"{REMOTE}/users/fan1", f"{REMOTE}/users/fan0"]
    assert "next" not in second
    assert "pending" not in str(first) + str(second)

    following = (await get_ap(client, "/users/alice/following")).json()
    assert following["totalItems"] == 1
    page = (await get_ap(client, path_of(following["first"]))).json()
    assert page["orderedItems"] == [f"{REMOTE}/users/fan0"]


async def test_featured_is_empty(client, alice) -> None:
    doc = (await get_ap(client, "/users/alice/collections/featured")).json()
    assert doc == {
        "@context": doc["@context"],
        "id": f"{BASE}/users/alice/collections/featured",
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }
