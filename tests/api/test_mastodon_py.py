"""Mastodon.py, the Python client library, against a live Tessera on loopback: register
an app, authorize with the code flow through the web sign-in, upload an image with a
description, post it, read it back, favourite, boost, follow, read notifications,
paginate, edit and delete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mastodon import Mastodon, MastodonNotFoundError  # PyPI: mastodon-py (test extras)

from services.accounts import create_user
from services.api_tokens import create_script_token
from tests.api.live import browser_authorize, live_server
from tests.imagegen import png_bytes

PASSWORD = "correct horse battery"
CALLBACK = "https://client.example/callback"
SCOPES = ["read", "write", "follow"]


def scenario(base: str, bob_token: str) -> None:
    client_id, client_secret = Mastodon.create_app(
        "Mastodon.py test", scopes=SCOPES, redirect_uris=CALLBACK, api_base_url=base
    )
    alice = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
    url = alice.auth_request_url(
        redirect_uris=CALLBACK, scopes=SCOPES, state="xyz", allow_http=True
    )
    code = browser_authorize(url, "alice", PASSWORD)
    alice.log_in(code=code, redirect_uri=CALLBACK, scopes=SCOPES, allow_http=True)
    me = alice.account_verify_credentials()
    assert me.username == "alice" and me.acct == "alice"
    bob = Mastodon(access_token=bob_token, api_base_url=base)
    bob_me = bob.account_verify_credentials()

    media = alice.media_post(
        png_bytes(320, 240, seed=9), mime_type="image/png", description="a lighthouse at dusk"
    )
    assert media.url and media.description == "a lighthouse at dusk"
    posted = alice.status_post("Hello from Mastodon.py #tessera", media_ids=[media])
    assert posted.media_attachments[0].id == media.id
    assert "Hello from Mastodon.py" in posted.content

    home_ids = [s.id for s in alice.timeline_home()]
    assert posted.id in home_ids
    assert posted.id in [s.id for s in alice.timeline_public()]
    assert posted.id in [s.id for s in alice.timeline_hashtag("tessera")]

    # bob likes, boosts and follows alice; alice sees it all in her notifications
    assert bob.status_favourite(posted.id).favourited is True
    boost = bob.status_reblog(posted.id)
    assert boost.reblog.id == posted.id
    relationship = bob.account_follow(me.id)
    assert relationship.following is True
    kinds = sorted(n.type for n in alice.notifications())
    assert kinds == ["favourite", "follow", "reblog"]

    # alice follows bob back, and favourites and boosts his post
    bob_media = bob.media_post(png_bytes(200, 200, seed=10), mime_type="image/png")
    bob_post = bob.status_post("bob's picture", media_ids=[bob_media.id])
    assert alice.account_follow(bob_me.id).following is True
    assert alice.account_relationships(bob_me.id)[0].followed_by is True
    assert alice.status_favourite(bob_post.id).favourites_count == 1
    assert alice.status_reblog(bob_post.id).reblog.reblogged is True
    assert [a.username for a in alice.status_favourited_by(bob_post.id)] == ["alice"]

    # a few more posts, then page through the home timeline with the Link headers
    for i in range(3):
        more = alice.media_post(png_bytes(64, 64, seed=20 + i), mime_type="image/png")
        alice.status_post(f"post {i}", media_ids=[more.id])
    first = alice.timeline_home(limit=2)
    second = alice.fetch_next(first)
    assert len(first) == 2 and second is not None and len(second) == 2
    assert {s.id for s in first}.isdisjoint({s.id for s in second})
    assert max(s.id for s in second) < min(s.id for s in first)
    back = alice.fetch_previous(second)
    assert [s.id for s in back] == [s.id for s in first]

    edited = alice.status_update(posted.id, "Hello again, edited #tessera")
    assert "edited" in edited.content and edited.edited_at is not None
    assert alice.status(posted.id).media_attachments[0].description == "a lighthouse at dusk"
    deleted = alice.status_delete(posted.id)
    assert deleted.text == "Hello again, edited #tessera"
    with pytest.raises(MastodonNotFoundError):
        alice.status(posted.id)


async def test_mastodon_py_against_a_live_server(tmp_path: Path, migrated_template: Path) -> None:
    async with live_server(tmp_path / "live", migrated_template) as live:
        await create_user(live.services, "alice", PASSWORD)
        await create_user(live.services, "bob", PASSWORD)
        bob_token = await create_script_token(live.services, "bob", scopes="read write follow")
        await asyncio.to_thread(scenario, live.base, bob_token)
