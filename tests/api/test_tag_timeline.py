"""``GET /api/v1/timelines/tag/:hashtag``: the public posts of one hashtag, newest first,
paged by cursor with a ``Link`` header, as Mastodon answers it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import bearer, post_status


async def test_a_hashtag_timeline_pages_its_public_posts(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    _actor, token = await make_token("alice")
    tagged = [(await post_status(client, token, f"Dusk {n} #Sunset"))["id"] for n in range(3)]
    await post_status(client, token, "Noon #harbour")
    await post_status(client, token, "Hidden #sunset", visibility="unlisted")

    first = await client.get("/api/v1/timelines/tag/sunset?limit=2")
    assert first.status_code == 200
    assert [s["id"] for s in first.json()] == tagged[::-1][:2]
    assert 'rel="next"' in first.headers["link"]
    rest = await client.get(f"/api/v1/timelines/tag/sunset?limit=2&max_id={tagged[1]}")
    assert [s["id"] for s in rest.json()] == [tagged[0]]
    # The same for a signed-in reader, and with the local filter (all are local here).
    signed_in = await client.get("/api/v1/timelines/tag/SUNSET", headers=bearer(token))
    assert [s["id"] for s in signed_in.json()] == tagged[::-1]
    local = await client.get("/api/v1/timelines/tag/sunset?local=true")
    assert [s["id"] for s in local.json()] == tagged[::-1]
    remote = await client.get("/api/v1/timelines/tag/sunset?remote=true")
    assert remote.json() == []
    assert (await client.get("/api/v1/timelines/tag/nothing")).json() == []
