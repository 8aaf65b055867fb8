"""The client API's cache of rendered statuses and accounts (``services.entity_cache``):
what it shows is never behind the ``post`` and ``actor`` rows, is behind other tables by
at most its TTL, and is emptied by any write through this process's API."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import select

from services.context import Services
from storage import api_queries as aq
from storage.models import Actor, MediaAttachment, Post
from tests.api.conftest import bearer, post_status
from tests.clocks import install
from web.api import render

HOME = "/api/v1/timelines/home"


async def home(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await client.get(HOME, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def change_elsewhere(services: Services, model: Any, row_id: int, **values: Any) -> None:
    """A change made outside this process's requests (the inbox worker, ``tessera
    worker``, the CLI): straight to the database, no request the cache could see."""
    async with services.db.transaction() as session:
        row = await session.get(model, row_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


async def test_changes_to_the_post_and_author_rows_show_at_once(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    install(services.entity_cache)
    actor, token = await make_token("alice")
    status = await post_status(client, token, "First light")
    first = await home(client, token)
    assert first[0]["favourites_count"] == 0
    assert len(services.entity_cache) == 2  # the status and its author
    assert (await home(client, token)) == first  # served from the cache, same answer

    post_id = int(status["id"])
    await change_elsewhere(services, Post, post_id, likes_count=3, content_html="<p>Edited</p>")
    again = (await home(client, token))[0]
    assert again["favourites_count"] == 3
    assert again["content"] == "<p>Edited</p>"
    await change_elsewhere(services, Actor, actor.id, display_name="Alice Liddell")
    renamed = (await home(client, token))[0]
    assert renamed["account"]["display_name"] == "Alice Liddell"


async def test_other_tables_are_behind_by_at_most_the_ttl(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    clock = install(services.entity_cache, ttl=5)
    _actor, token = await make_token("alice")
    status = await post_status(client, token, "Harbour")
    assert (await home(client, token))[0]["media_attachments"][0]["description"] in ("", None)

    media_id = int(status["media_attachments"][0]["id"])
    await change_elsewhere(services, MediaAttachment, media_id, description="Boats at dawn")
    clock.now += 4
    cached = (await home(client, token))[0]
    assert cached["media_attachments"][0]["description"] in ("", None)
    clock.now += 2  # past the TTL
    fresh = (await home(client, token))[0]
    assert fresh["media_attachments"][0]["description"] == "Boats at dawn"


async def test_a_write_through_the_api_empties_it(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    install(services.entity_cache, ttl=3600)
    _actor, token = await make_token("alice")
    await post_status(client, token, "Lighthouse")
    before = (await home(client, token))[0]
    assert before["account"]["fields"] == []
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bearer(token),
        data={"fields_attributes[0][name]": "Model", "fields_attributes[0][value]": "Flux"},
    )
    assert response.status_code == 200, response.text
    after = (await home(client, token))[0]
    assert after["account"]["fields"][0]["name"] == "Model"


async def test_viewer_marks_are_per_reader_never_cached(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    install(services.entity_cache, ttl=3600)
    _alice, alice = await make_token("alice")
    _bob, bob = await make_token("bob")
    status = await post_status(client, alice, "Meadow")
    follow = await client.post(
        f"/api/v1/accounts/{status['account']['id']}/follow", headers=bearer(bob)
    )
    assert follow.status_code == 200, follow.text
    liked = await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=bearer(bob))
    assert liked.status_code == 200, liked.text
    assert (await home(client, bob))[0]["favourited"] is True
    assert (await home(client, alice))[0]["favourited"] is False
    assert (await home(client, bob))[0]["favourited"] is True


async def test_ttl_zero_turns_it_off(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    install(services.entity_cache, ttl=0)
    _actor, token = await make_token("alice")
    await post_status(client, token, "Dunes")
    await home(client, token)
    assert len(services.entity_cache) == 0
    async with services.db.session() as session:
        assert (await session.exec(select(Post))).first() is not None


async def test_an_entity_rendered_across_a_write_is_not_kept(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    """A render that began before a write emptied the cache may hold what the write
    changed in other tables: it is answered, but not stored for the next reader."""
    install(services.entity_cache, ttl=3600)
    actor, token = await make_token("alice")
    await post_status(client, token, "Orchard")
    cache = services.entity_cache
    async with services.db.session() as session:
        post = (await session.exec(select(Post))).one()
        author = await session.get(Actor, actor.id)
    assert author is not None
    before = cache.generation
    cache.clear()  # a write answered while the render was reading
    entity = b'{"id":"%d"}' % post.id
    cache.keep_status(post, author, entity, generation=before)
    cache.keep_account(author, {"id": str(author.id)}, generation=before)
    assert len(cache) == 0
    cache.keep_status(post, author, entity, generation=cache.generation)
    assert cache.status(post, author) == entity


async def test_timelines_from_the_cache_read_as_statuses_rendered_apart(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    """Timelines embed cached statuses as JSON with the viewer's fields spliced in
    (``entities.status_json``); the single-status endpoint renders dicts. Both must say
    the same, for posts and boosts, liked or not, first render or cache hit."""
    install(services.entity_cache, ttl=3600)
    alice_actor, alice = await make_token("alice")
    _bob_actor, bob = await make_token("bob")
    followed = await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(bob))
    assert followed.status_code == 200, followed.text
    first = await post_status(client, alice, "Tidepools #sea", spoiler_text="wet")
    second = await post_status(client, alice, "Foghorn")
    for action, sid in (("favourite", first["id"]), ("reblog", second["id"])):
        done = await client.post(f"/api/v1/statuses/{sid}/{action}", headers=bearer(bob))
        assert done.status_code == 200, done.text
    for _ in range(2):  # rendered now, then from the cache
        for token in (alice, bob):
            page = await home(client, token)
            assert {s["id"] for s in page} >= {first["id"], second["id"]}
            for item in page:
                apart = await client.get(f"/api/v1/statuses/{item['id']}", headers=bearer(token))
                assert item == apart.json()
        assert len(services.entity_cache) >= 2
    public = (await client.get("/api/v1/timelines/public?local=true")).json()
    for item in public:
        assert item == (await client.get(f"/api/v1/statuses/{item['id']}")).json()
    assert "favourited" not in public[0]


async def test_a_home_page_reads_what_accounts_show_and_never_keys(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    actor, token = await make_token("alice")
    await post_status(client, token, "Keys stay home")
    async with services.db.session() as session:
        entries = await aq.home(session, actor.id, aq.Page(limit=10))
    assert len(entries) == 1
    author = entries[0].author
    assert author.id == actor.id and author.username == "alice"
    assert not hasattr(author, "private_key_pem") and not hasattr(author, "public_key_pem")
    assert set(author._fields) == set(aq.ACCOUNT_COLUMNS)


async def test_a_public_page_reads_what_accounts_show_and_never_keys(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    _actor, token = await make_token("alice")
    await post_status(client, token, "Keys stay home too")
    async with services.db.session() as session:
        entries = await aq.public(session, None, aq.Page(limit=10), local=True)
    assert len(entries) == 1
    assert set(entries[0].author._fields) == set(aq.ACCOUNT_COLUMNS)


async def test_an_account_timeline_reads_its_boosts_without_keys(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    _alice, alice = await make_token("alice")
    bob, bob_token = await make_token("bob")
    status = await post_status(client, alice, "Boost me")
    boosted = await client.post(
        f"/api/v1/statuses/{status['id']}/reblog", headers=bearer(bob_token)
    )
    assert boosted.status_code == 200
    async with services.db.session() as session:
        entries = await aq.by_account(session, bob.id, None, aq.Page(limit=10))
    [entry] = entries
    assert entry.boost is not None and entry.booster is not None
    assert str(entry.post.id) == status["id"] and entry.booster.id == bob.id
    assert set(entry.author._fields) == set(aq.ACCOUNT_COLUMNS)  # no keys of either
    assert set(entry.booster._fields) == set(aq.ACCOUNT_COLUMNS)
    listed = await client.get(f"/api/v1/accounts/{bob.id}/statuses", headers=bearer(bob_token))
    assert [s["reblog"]["id"] for s in listed.json()] == [status["id"]]


async def test_with_the_cache_off_timelines_still_read_as_statuses_rendered_apart(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    """``page_cache_seconds = 0``: nothing is kept, timelines encode each status as they
    render it and single statuses stay dicts; both say the same."""
    install(services.entity_cache, ttl=0)
    _actor, token = await make_token("alice")
    await post_status(client, token, "Lantern #night")
    page = await home(client, token)
    assert page and len(services.entity_cache) == 0
    for item in page:
        apart = await client.get(f"/api/v1/statuses/{item['id']}", headers=bearer(token))
        assert item == apart.json()


def test_what_orjson_refuses_stays_a_dict_and_is_not_kept() -> None:
    assert render._encoded({"id": "1", "n": 2**70}) is None
    assert render._encoded({"id": "1"}) == b'{"id":"1"}'
