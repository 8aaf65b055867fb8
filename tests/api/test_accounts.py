"""Accounts through the API: profile edits (with images and fields), profiles and their
statuses, follows (open and locked accounts), relationships, lookup, search, blocks."""

from __future__ import annotations

from typing import Any

import httpx

from services.context import Services
from tests.api.conftest import bearer, post_status
from tests.api.schemas import (
    ACCOUNT,
    CREDENTIAL_ACCOUNT,
    RELATIONSHIP,
    SEARCH,
    STATUS,
    check,
    list_of,
)
from tests.imagegen import png_bytes


async def test_update_credentials(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _, token = await make_token()
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bearer(token),
        data={
            "display_name": "Alice A.",
            "note": "I paint with #light",
            "locked": "true",
            "bot": "false",
            "fields_attributes[0][name]": "Site",
            "fields_attributes[0][value]": "https://alice.example",
            "fields_attributes[1][name]": "Tools",
            "fields_attributes[1][value]": "<b>brushes</b>",
        },
        files={
            "avatar": ("a.png", png_bytes(200, 200, seed=4), "image/png"),
            "header": ("h.png", png_bytes(900, 300, seed=5), "image/png"),
        },
    )
    assert response.status_code == 200, response.text
    me = check(CREDENTIAL_ACCOUNT, response.json())
    assert me["display_name"] == "Alice A." and me["locked"] is True
    assert "#<span>light</span>" in me["note"] and me["source"]["note"] == "I paint with #light"
    assert me["avatar"].startswith("http://gallery.test/media/")
    assert me["header"].startswith("http://gallery.test/media/")
    assert me["fields"][0]["value"].startswith('<a href="https://alice.example"')
    assert me["fields"][1]["value"] == "&lt;b&gt;brushes&lt;/b&gt;"
    assert me["source"]["fields"][1]["value"] == "<b>brushes</b>"
    # the profile page shows what the API changed: one profile, whichever way it is edited
    page = await client.get("/@alice")
    assert "Alice A." in page.text
    shown = await client.get(f"/api/v1/accounts/{me['id']}")
    assert check(ACCOUNT, shown.json())["fields"] == me["fields"]
    too_many = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bearer(token),
        json={"fields_attributes": [{"name": f"n{i}", "value": "v"} for i in range(5)]},
    )
    assert too_many.status_code == 422 and "at most 4" in too_many.json()["error"]
    unchanged = (
        await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    ).json()
    assert len(unchanged["fields"]) == 2 and unchanged["display_name"] == "Alice A."


async def test_profiles_statuses_and_filters(client: httpx.AsyncClient, make_token: Any) -> None:
    alice_actor, alice = await make_token("alice")
    _, bob = await make_token("bob")
    post = await post_status(client, alice, "picture")
    await client.post(
        "/api/v1/statuses",
        headers=bearer(alice),
        data={"status": "a reply without an image", "in_reply_to_id": post["id"]},
    )
    url = f"/api/v1/accounts/{alice_actor.id}/statuses"
    everything = check(list_of(STATUS), (await client.get(url)).json())
    assert len(everything) == 2
    media_only = (await client.get(url, params={"only_media": "true"})).json()
    assert [s["id"] for s in media_only] == [post["id"]]
    no_replies = (await client.get(url, params={"exclude_replies": "1"})).json()
    assert [s["id"] for s in no_replies] == [post["id"]]
    assert (await client.get(url, params={"pinned": "true"})).json() == []
    await client.post(f"/api/v1/statuses/{post['id']}/reblog", headers=bearer(bob))
    bob_id = (await client.get("/api/v1/accounts/lookup", params={"acct": "bob"})).json()["id"]
    bob_statuses = (await client.get(f"/api/v1/accounts/{bob_id}/statuses")).json()
    assert [s["reblog"]["id"] for s in bob_statuses] == [post["id"]]
    looked = await client.get("/api/v1/accounts/lookup", params={"acct": "alice@gallery.test"})
    assert check(ACCOUNT, looked.json())["acct"] == "alice"


async def test_follow_unfollow_and_relationships(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    alice_actor, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")
    followed = await client.post(f"/api/v1/accounts/{bob_actor.id}/follow", headers=bearer(alice))
    assert followed.status_code == 200
    assert check(RELATIONSHIP, followed.json())["following"] is True
    rels = await client.get(
        "/api/v1/accounts/relationships",
        params=[("id[]", str(bob_actor.id)), ("id[]", str(alice_actor.id))],
        headers=bearer(bob),
    )
    by_id = {r["id"]: r for r in check(list_of(RELATIONSHIP), rels.json())}
    assert by_id[str(bob_actor.id)]["following"] is False
    assert by_id[str(alice_actor.id)]["followed_by"] is True
    followers = (await client.get(f"/api/v1/accounts/{bob_actor.id}/followers")).json()
    assert [a["username"] for a in followers] == ["alice"]
    following = (await client.get(f"/api/v1/accounts/{alice_actor.id}/following")).json()
    assert [a["username"] for a in following] == ["bob"]
    bob_post = await post_status(client, bob, "for my followers", visibility="private")
    home = (await client.get("/api/v1/timelines/home", headers=bearer(alice))).json()
    assert [s["id"] for s in home] == [bob_post["id"]] and home[0]["visibility"] == "private"
    assert (await client.get(f"/api/v1/statuses/{bob_post['id']}")).status_code == 404
    notes = (await client.get("/api/v1/notifications", headers=bearer(bob))).json()
    assert [n["type"] for n in notes] == ["follow"]
    gone = await client.post(f"/api/v1/accounts/{bob_actor.id}/unfollow", headers=bearer(alice))
    assert gone.json()["following"] is False
    assert (await client.get("/api/v1/timelines/home", headers=bearer(alice))).json() == []
    myself = await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(alice))
    assert myself.status_code == 422


async def test_locked_account_and_follow_requests(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    alice_actor, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=bearer(bob), data={"locked": "1"}
    )
    asked = await client.post(f"/api/v1/accounts/{bob_actor.id}/follow", headers=bearer(alice))
    assert asked.json()["requested"] is True and asked.json()["following"] is False
    requests = (await client.get("/api/v1/follow_requests", headers=bearer(bob))).json()
    assert [a["username"] for a in check(list_of(ACCOUNT), requests)] == ["alice"]
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=bearer(bob))).json()
    assert me["source"]["follow_requests_count"] == 1
    ok = await client.post(
        f"/api/v1/follow_requests/{alice_actor.id}/authorize", headers=bearer(bob)
    )
    assert check(RELATIONSHIP, ok.json())["followed_by"] is True
    assert (await client.get("/api/v1/follow_requests", headers=bearer(bob))).json() == []
    again = await client.post(
        f"/api/v1/follow_requests/{alice_actor.id}/reject", headers=bearer(bob)
    )
    assert again.status_code == 404


async def test_blocks(client: httpx.AsyncClient, make_token: Any) -> None:
    alice_actor, alice = await make_token("alice")
    bob_actor, bob = await make_token("bob")
    await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(bob))
    blocked = await client.post(f"/api/v1/accounts/{bob_actor.id}/block", headers=bearer(alice))
    assert blocked.json()["blocking"] is True and blocked.json()["followed_by"] is False
    listed = (await client.get("/api/v1/blocks", headers=bearer(alice))).json()
    assert [a["username"] for a in listed] == ["bob"]
    refused = await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(bob))
    assert refused.status_code == 403
    await post_status(client, bob, "hidden from alice")
    public = (await client.get("/api/v1/timelines/public", headers=bearer(alice))).json()
    assert public == []
    unblocked = await client.post(f"/api/v1/accounts/{bob_actor.id}/unblock", headers=bearer(alice))
    assert unblocked.json()["blocking"] is False


async def test_search_accounts_and_hashtags(client: httpx.AsyncClient, make_token: Any) -> None:
    _, alice = await make_token("alice")
    await make_token("alicia")
    await post_status(client, alice, "#Sunset over the bay")
    found = await client.get("/api/v2/search", params={"q": "ali"}, headers=bearer(alice))
    body = check(SEARCH, found.json())
    assert sorted(a["username"] for a in body["accounts"]) == ["alice", "alicia"]
    tags = (await client.get("/api/v2/search", params={"q": "#sun", "type": "hashtags"})).json()
    assert [t["name"] for t in tags["hashtags"]] == ["Sunset"]
    by_handle = await client.get(
        "/api/v1/accounts/search", params={"q": "@alicia@gallery.test"}, headers=bearer(alice)
    )
    assert [a["username"] for a in by_handle.json()] == ["alicia"]
    status_url = (await client.get("/api/v1/timelines/public")).json()[0]["url"]
    by_url = (await client.get("/api/v2/search", params={"q": status_url})).json()
    assert len(by_url["statuses"]) == 1
