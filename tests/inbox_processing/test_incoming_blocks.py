"""A block holds for what arrives from the blocked account's server too.

alice blocks bob (a remote account). bob's server does not have to honour the Block, and
its activities still reach us: his mentions must not notify her or store mention rows, his
replies must not notify her nor show under her post, and his likes and boosts of her posts
must not count.
"""

from __future__ import annotations

from typing import Any

import httpx

from federation.fetch import get_actor
from federation.vocab import PUBLIC
from services import social
from services.context import Services
from storage.federation_models import Mention, Notification
from storage.models import Boost, Like, Post
from tests.inbox_processing.helpers import image_post, process, reload, rows
from tests.inbox_processing.peer import Peer


def create_note(author: str, number: int, content: str, **fields: Any) -> dict[str, Any]:
    note_id = f"{author}/statuses/{number}"
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": author,
        "content": content,
        "to": [PUBLIC],
        "cc": [],
        "published": "2024-05-01T10:00:00Z",
        **fields,
    }
    return {"id": f"{note_id}/activity", "type": "Create", "actor": author, "object": note}


async def test_mentions_from_a_blocked_account_are_dropped(
    services: Services, peer: Peer, make_user: Any
) -> None:
    alice = await make_user("alice")
    dave = await make_user("dave")
    bob = peer.add_actor("bob")
    await social.block(services, alice, await get_actor(services, bob))
    tag = {"type": "Mention", "href": alice.ap_id, "name": "@alice"}

    only_alice = create_note(bob, 1, "<p>hey @alice</p>", cc=[alice.ap_id], tag=[tag])
    assert await process(services, only_alice) == "ignored"  # no one else to store it for
    assert await rows(services, Post, local=False) == []

    both = create_note(
        bob,
        2,
        "<p>hey @alice @dave</p>",
        cc=[alice.ap_id, dave.ap_id],
        tag=[tag, {"type": "Mention", "href": dave.ap_id, "name": "@dave"}],
    )
    assert await process(services, both) == "done"  # dave is still mentioned
    [post] = await rows(services, Post, local=False)
    assert [m.actor_id for m in await rows(services, Mention, post_id=post.id)] == [dave.id]
    assert await rows(services, Notification, recipient_id=alice.id) == []
    [note] = await rows(services, Notification, recipient_id=dave.id)
    assert note.kind == "mention"


async def test_replies_likes_and_boosts_from_a_blocked_account(
    services: Services, peer: Peer, alice: Any, client: httpx.AsyncClient
) -> None:
    post = await image_post(services, alice, caption="my lighthouse")
    bob = peer.add_actor("bob")
    carol = peer.add_actor("carol")  # not blocked: the same activities count
    await social.block(services, alice, await get_actor(services, bob))

    for number, author in ((1, bob), (2, carol)):
        words = f"<p>REPLY-FROM-{author.rsplit('/', 1)[-1].upper()}</p>"
        reply = create_note(author, number, words, inReplyTo=post.ap_id)
        assert await process(services, reply) == "done"
    replies = {r.actor_id: r for r in await rows(services, Post, in_reply_to_id=post.id)}
    assert len(replies) == 2
    notes = await rows(services, Notification, recipient_id=alice.id)
    bob_row, carol_row = await get_actor(services, bob), await get_actor(services, carol)
    assert [(n.kind, n.from_actor_id) for n in notes] == [("reply", carol_row.id)]
    page = await client.get(f"/@alice/{post.id}")
    assert "REPLY-FROM-CAROL" in page.text and "REPLY-FROM-BOB" not in page.text

    for number, author in ((3, bob), (4, carol)):
        like = {"id": f"{author}#likes/{number}", "type": "Like", "actor": author}
        boost = {"id": f"{author}/statuses/{number}/activity", "type": "Announce", "actor": author}
        expected = "ignored" if author == bob else "done"
        assert await process(services, {**like, "object": post.ap_id}) == expected
        assert await process(services, {**boost, "object": post.ap_id, "to": [PUBLIC]}) == expected
    assert [like.actor_id for like in await rows(services, Like)] == [carol_row.id]
    assert [boost.actor_id for boost in await rows(services, Boost)] == [carol_row.id]
    stored = await reload(services, Post, post.id)
    assert (stored.likes_count, stored.boosts_count) == (1, 1)
    kinds = {(n.kind, n.from_actor_id) for n in await rows(services, Notification)}
    assert not any(who == bob_row.id for _kind, who in kinds)
