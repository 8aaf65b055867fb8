"""WebFinger and host-meta over HTTP on the real app."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from federation.discovery import parse_webfinger
from storage.models import LocalUser
from tests.federation_docs.helpers import BASE


async def finger(client: httpx.AsyncClient, resource: str | None) -> httpx.Response:
    params = {} if resource is None else {"resource": resource}
    return await client.get("/.well-known/webfinger", params=params)


@pytest.mark.parametrize(
    "resource",
    [
        "acct:alice@gallery.test",
        "acct:ALICE@Gallery.Test",
        "alice@gallery.test",
        f"{BASE}/users/alice",
        f"{BASE}/@alice",
    ],
)
async def test_webfinger_finds_alice(client: httpx.AsyncClient, alice, resource: str) -> None:
    response = await finger(client, resource)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jrd+json")
    assert response.headers["access-control-allow-origin"] == "*"
    jrd = response.json()
    assert jrd["subject"] == "acct:alice@gallery.test"
    assert jrd["aliases"] == [f"{BASE}/@alice", f"{BASE}/users/alice"]
    links = {link["rel"]: link for link in jrd["links"]}
    assert links["self"] == {
        "rel": "self",
        "type": "application/activity+json",
        "href": f"{BASE}/users/alice",
    }
    assert links["http://webfinger.net/rel/profile-page"]["href"] == f"{BASE}/@alice"
    assert links["http://webfinger.net/rel/profile-page"]["type"] == "text/html"
    assert (
        links["http://ostatus.org/schema/1.0/subscribe"]["template"]
        == f"{BASE}/authorize_interaction?uri={{uri}}"
    )
    assert parse_webfinger(jrd) == f"{BASE}/users/alice"


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        ("acct:nobody@gallery.test", 404),
        ("acct:alice@elsewhere.example", 404),
        ("https://elsewhere.example/users/alice", 404),
        (None, 400),
        ("", 400),
        ("acct:alice", 400),
        ("mailto:alice", 400),
    ],
)
async def test_webfinger_errors(client, alice, resource: str | None, status: int) -> None:
    response = await finger(client, resource)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"
    assert "error" in response.json()


async def test_webfinger_hides_disabled_accounts(client, make_user, services) -> None:
    bob = await make_user("bob")
    assert (await finger(client, "acct:bob@gallery.test")).status_code == 200
    async with services.db.transaction() as session:
        user = (await session.exec(select(LocalUser).where(LocalUser.actor_id == bob.id))).one()
        user.disabled = True
        session.add(user)
    assert (await finger(client, "acct:bob@gallery.test")).status_code == 404
    assert (await client.get("/users/bob")).status_code == 404


async def test_webfinger_for_the_instance_actor(client) -> None:
    response = await finger(client, "acct:gallery.test@gallery.test")
    assert response.status_code == 200
    assert parse_webfinger(response.json()) == f"{BASE}/actor"
    by_url = await finger(client, f"{BASE}/actor")
    assert by_url.json() == response.json()


async def test_host_meta(client) -> None:
    xml = await client.get("/.well-known/host-meta")
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("application/xrd+xml")
    assert f'template="{BASE}/.well-known/webfinger?resource={{uri}}"' in xml.text
    as_json = await client.get("/.well-known/host-meta.json")
    assert as_json.status_code == 200
    assert as_json.json() == {
        "links": [{"rel": "lrdd", "template": f"{BASE}/.well-known/webfinger?resource={{uri}}"}]
    }
