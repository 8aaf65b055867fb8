"""Accounts that cannot sign in are not there for other servers either.

A sign-up waiting for approval and a disabled account answer 404 to WebFinger, actor
fetches and their personal inbox; the shared inbox reaches them all the same, so the
handlers must refuse follows of them (no row, no Accept sent) and not store or notify
mentions of them.
"""

from __future__ import annotations

from typing import Any

from federation.vocab import PUBLIC
from services import accounts
from services.context import Services
from storage.federation_models import Delivery, Mention, Notification
from storage.models import Follow, Post
from tests.inbox_processing.helpers import process, rows
from tests.inbox_processing.peer import Peer


async def inactive_accounts(make_user: Any, services: Services) -> list[Any]:
    pending = await make_user("pending", approved=False)
    disabled = await make_user("disabled")
    await accounts.set_disabled(services, "disabled")
    return [pending, disabled]


async def test_follows_of_pending_or_disabled_accounts_are_ignored(
    services: Services, peer: Peer, make_user: Any
) -> None:
    bob = peer.add_actor("bob")
    active = await make_user("active")
    for number, target in enumerate([*await inactive_accounts(make_user, services), active]):
        follow = {"id": f"{bob}#follows/{number}", "type": "Follow", "actor": bob}
        state = await process(services, {**follow, "object": target.ap_id})
        assert state == ("done" if target is active else "ignored"), target.username
    [follow_row] = await rows(services, Follow)
    assert follow_row.followee_id == active.id and follow_row.state == "accepted"
    [delivery] = await rows(services, Delivery)  # the one Accept, to bob
    assert delivery.inbox_url == f"{bob}/inbox"
    assert [n.recipient_id for n in await rows(services, Notification)] == [active.id]


async def test_mentions_of_pending_or_disabled_accounts_are_not_stored(
    services: Services, peer: Peer, make_user: Any
) -> None:
    bob = peer.add_actor("bob")
    pending, disabled = await inactive_accounts(make_user, services)
    for number, target in enumerate((pending, disabled)):
        note = {
            "id": f"{bob}/statuses/{number}",
            "type": "Note",
            "attributedTo": bob,
            "content": f"<p>hello @{target.username}</p>",
            "to": [PUBLIC],
            "cc": [target.ap_id],
            "tag": [{"type": "Mention", "href": target.ap_id}],
        }
        create = {"id": f"{note['id']}/activity", "type": "Create", "actor": bob, "object": note}
        assert await process(services, create) == "ignored"
    assert await rows(services, Post, local=False) == []
    assert await rows(services, Mention) == []
    assert await rows(services, Notification) == []
