"""Actor documents: people at /users/NAME (and /@NAME for AP clients), the instance actor."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from sqlmodel import select

from storage.models import Actor
from tests.federation_docs.helpers import AP, BASE, BROWSER, LD_AS, get_ap


async def row(services, username: str) -> Actor:
    async with services.db.session() as session:
        return (await session.exec(select(Actor).where(Actor.username == username))).one()


async def test_person_document(client, alice, services) -> None:
    response = await get_ap(client, "/users/alice")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/activity+json; charset=utf-8"
    assert "accept" in response.headers["vary"].lower()
    doc = response.json()
    context = doc["@context"]
    assert context[:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    terms = context[2]
    assert terms["manuallyApprovesFollowers"] == "as:manuallyApprovesFollowers"
    assert terms["discoverable"] == "toot:discoverable"
    assert terms["featured"] == {"@id": "toot:featured", "@type": "@id"}
    assert terms["focalPoint"] == {"@container": "@list", "@id": "toot:focalPoint"}
    assert terms["PropertyValue"] == "schema:PropertyValue"
    actor = f"{BASE}/users/alice"
    assert doc["id"] == actor
    assert doc["type"] == "Person"
    assert doc["preferredUsername"] == "alice"
    assert doc["url"] == f"{BASE}/@alice"
    assert doc["inbox"] == f"{actor}/inbox"
    assert doc["outbox"] == f"{actor}/outbox"
    assert doc["followers"] == f"{actor}/followers"
    assert doc["following"] == f"{actor}/following"
    assert doc["featured"] == f"{actor}/collections/featured"
    assert doc["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert doc["manuallyApprovesFollowers"] is False
    assert doc["discoverable"] is True and doc["indexable"] is True
    assert doc["published"].endswith("Z") and "T" in doc["published"]
    assert "icon" not in doc  # no avatar uploaded

    key = doc["publicKey"]
    assert key["id"] == f"{actor}#main-key"
    assert key["owner"] == doc["id"]
    stored = await row(services, "alice")
    assert key["publicKeyPem"] == stored.public_key_pem
    public = serialization.load_pem_public_key(key["publicKeyPem"].encode())
    private = serialization.load_pem_private_key(stored.private_key_pem.encode(), None)
    assert public.public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]
    assert "PRIVATE" not in response.text
    assert stored.private_key_pem not in response.text


async def test_avatar_becomes_icon(client, alice, services) -> None:
    key = "ab/cd/" + "0" * 64 + ".webp"
    async with services.db.transaction() as session:
        actor = await session.get(Actor, alice.id)
        actor.avatar_key = key
        actor.header_key = key.replace(".webp", ".png")
        session.add(actor)
    doc = (await get_ap(client, "/users/alice")).json()
    assert doc["icon"] == {"type": "Image", "mediaType": "image/webp", "url": f"{BASE}/media/{key}"}
    assert doc["image"]["mediaType"] == "image/png"


async def test_unknown_actor_is_404(client) -> None:
    assert (await get_ap(client, "/users/nobody")).status_code == 404


async def test_browsers_are_sent_to_the_profile_page(client, alice) -> None:
    response = await get_ap(client, "/users/alice", BROWSER)
    assert response.status_code == 302
    assert response.headers["location"] == f"{BASE}/@alice"
    assert "accept" in response.headers["vary"].lower()
    # no Accept at all: the document (servers that send none still federate)
    bare = await client.get("/users/alice", headers={"accept": ""})
    assert bare.status_code == 200
    assert bare.json()["id"] == f"{BASE}/users/alice"


async def test_profile_url_negotiates(client, alice) -> None:
    as_json = await get_ap(client, "/@alice", AP)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"].startswith("application/activity+json")
    assert as_json.json() == (await get_ap(client, "/users/alice")).json()
    assert "accept" in as_json.headers["vary"].lower()
    assert (await get_ap(client, "/@alice", LD_AS)).json()["type"] == "Person"
    assert (await get_ap(client, "/@alice@gallery.test", AP)).json()["type"] == "Person"

    html = await get_ap(client, "/@alice", BROWSER)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "accept" in html.headers["vary"].lower()
    assert (await get_ap(client, "/@nobody", AP)).status_code == 404


async def test_atom_feed_still_served(client, alice) -> None:
    feed = await client.get("/@alice.atom")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")


async def test_instance_actor(client, services) -> None:
    first = await get_ap(client, "/actor")
    assert first.status_code == 200
    doc = first.json()
    assert doc["id"] == f"{BASE}/actor"
    assert doc["type"] == "Application"
    assert doc["preferredUsername"] == "gallery.test"
    assert doc["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert doc["publicKey"]["owner"] == doc["id"]
    serialization.load_pem_public_key(doc["publicKey"]["publicKeyPem"].encode())
    assert "PRIVATE" not in first.text
    # made once: the same key on the next fetch
    again = (await get_ap(client, "/actor")).json()
    assert again["publicKey"] == doc["publicKey"]
    # it is not a person: no profile page, no /users/ document
    name = (await row(services, "instance.actor")).username
    assert (await client.get(f"/@{name}")).status_code == 404
    outbox = await get_ap(client, "/actor/outbox")
    assert outbox.json()["totalItems"] == 0
