"""Following, follow requests, blocking, notifications, search and replies in the web UI
(between local accounts; the same pages drive remote accounts through federation)."""

from __future__ import annotations

import httpx

from tests.conftest import csrf_from, sign_in
from tests.imagegen import png_bytes
from tests.web.helpers import publish


async def switch(client: httpx.AsyncClient, name: str, password: str) -> None:
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/")})
    assert (await sign_in(client, name, password)).status_code == 303


async def test_follow_home_timeline_and_notifications(client, alice, make_user):
    await make_user("bob", "bob password")
    token = await csrf_from(client, "/@bob")
    assert 'action="/@bob/follow"' in (await client.get("/@bob")).text
    assert (await client.post("/@bob/follow", data={"csrf_token": token})).status_code == 303
    assert 'action="/@bob/unfollow"' in (await client.get("/@bob")).text
    await switch(client, "bob", "bob password")
    assert "followed you" in (await client.get("/notifications")).text
    await publish(
        client,
        [("b.png", png_bytes(seed=3))],
        alts=["bob's followers-only tile"],
        visibility="followers",
    )
    await switch(client, "alice", "correct horse battery")
    home = (await client.get("/home")).text
    assert "bob&#39;s followers-only tile" in home or "bob's followers-only tile" in home


async def test_locked_account_approves_requests(client, alice, make_user, services):
    from services.accounts import update_profile

    bob = await make_user("bob", "bob password")
    await update_profile(services, bob.id, display_name="Bob", bio="", locked=True)
    token = await csrf_from(client, "/@bob")
    await client.post("/@bob/follow", data={"csrf_token": token})
    assert "Cancel follow request" in (await client.get("/@bob")).text
    await switch(client, "bob", "bob password")
    requests = (await client.get("/follow_requests")).text
    assert "@alice@gallery.test" in requests
    import re

    follow_id = re.search(r"/follow_requests/(\d+)/approve", requests).group(1)
    token = await csrf_from(client, "/follow_requests")
    assert (
        await client.post(f"/follow_requests/{follow_id}/approve", data={"csrf_token": token})
    ).status_code == 303
    assert "No one is waiting" in (await client.get("/follow_requests")).text
    await switch(client, "alice", "correct horse battery")
    assert 'action="/@bob/unfollow"' in (await client.get("/@bob")).text
    assert "Cancel follow request" not in (await client.get("/@bob")).text


async def test_block_removes_follow(client, alice, make_user):
    await make_user("bob", "bob password")
    token = await csrf_from(client, "/@bob")
    await client.post("/@bob/follow", data={"csrf_token": token})
    assert (await client.post("/@bob/block", data={"csrf_token": token})).status_code == 303
    page = (await client.get("/@bob")).text
    assert 'action="/@bob/unblock"' in page and 'action="/@bob/follow"' not in page
    assert "0 followers" in page
    assert (await client.post("/@bob/unblock", data={"csrf_token": token})).status_code == 303
    assert 'action="/@bob/follow"' in (await client.get("/@bob")).text


async def test_cannot_follow_yourself(client, alice):
    token = await csrf_from(client, "/@alice")
    response = await client.post("/@alice/follow", data={"csrf_token": token})
    assert response.status_code == 422


async def test_local_search_and_unknown_remote(client, alice, make_user):
    await make_user("bobby", "bob password")
    page = (await client.get("/search", params={"q": "bob"})).text
    assert "@bobby@gallery.test" in page
    assert "No account found" in (await client.get("/search", params={"q": "zed"})).text
    remote = await client.get("/search", params={"q": "@nobody@127.0.0.1:9"})
    assert remote.status_code == 200 and 'class="error"' in remote.text


async def test_reply_and_notification(client, alice, make_user, services):
    response = await publish(client, [("a.png", png_bytes(seed=8))], alts=["alice art"])
    url = response.headers["location"]
    post_id = url.rsplit("/", 1)[1]
    await make_user("bob", "bob password")
    await switch(client, "bob", "bob password")
    token = await csrf_from(client, url)
    empty = await client.post(
        f"/posts/{post_id}/reply", data={"csrf_token": token, "caption": "  "}
    )
    assert empty.status_code == 422
    replied = await client.post(
        f"/posts/{post_id}/reply", data={"csrf_token": token, "caption": "Love the #colours"}
    )
    assert replied.status_code == 303
    page = (await client.get(url)).text
    assert "Love the" in page and "1 replies" in page
    await switch(client, "alice", "correct horse battery")
    notes = await client.get("/notifications")
    assert "replied to your post" in notes.text
    assert '<span class="count">' not in (await client.get("/")).text  # read once seen


async def test_posts_without_images_show_as_text_tiles(client, alice, make_user):
    response = await publish(client, [("a.png", png_bytes(seed=9))], alts=["alice art"])
    post_id = response.headers["location"].rsplit("/", 1)[1]
    token = await csrf_from(client, "/")
    await client.post(
        f"/posts/{post_id}/reply", data={"csrf_token": token, "caption": "A words-only answer"}
    )
    profile = (await client.get("/@alice")).text
    assert 'class="tile text-tile"' in profile and "A words-only answer" in profile
    assert 'alt="alice art"' in profile
