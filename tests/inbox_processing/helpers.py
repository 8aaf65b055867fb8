"""Helpers for the inbox-processing tests: corpus payloads adapted to our fake peers, the
queue driven through ``run_once``, and row lookups."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import SQLModel, select

from federation.inbox_process import run_once
from services.context import Services
from services.posts import PostFields, Upload, create_post
from storage.federation_models import InboxItem
from storage.ids import new_id
from storage.models import Actor, Post
from tests.conformance import load_json
from tests.imagegen import png_bytes
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
STATUS_2018 = f"{ADMIN}/statuses/99541822081679796"
IMAGE_2018 = (
    "http://mastodon.example.org/system/media_attachments/files/000/000/002/original/"
    "334ce029e7bfb920.jpg"
)


def adapt(name: str, replacements: dict[str, str]) -> dict[str, Any]:
    """A corpus activity with its URLs pointed elsewhere (our posts, a fake peer).

    Replacement happens on the JSON text, longest key first, so an actor URL and the
    status URLs under it are rewritten consistently, exactly where the original had them.
    """
    text = json.dumps(load_json(f"activities/{name}"))
    for old in sorted(replacements, key=len, reverse=True):
        text = text.replace(json.dumps(old)[1:-1], json.dumps(replacements[old])[1:-1])
    return json.loads(text)  # type: ignore[no-any-return]


async def deliver(
    services: Services, document: dict[str, Any], *, sender: str | None = None
) -> int:
    """Store an activity as the inbox endpoint would after verifying it; returns the row id."""
    item_id = new_id()
    async with services.db.transaction() as session:
        session.add(
            InboxItem(
                id=item_id,
                activity_id=str(document.get("id") or f"urn:test:{item_id}"),
                actor_ap_id=sender or str(document["actor"]),
                activity_type=str(document.get("type", "")),
                payload=json.dumps(document),
                key_id=f"{sender or document['actor']}#main-key",
            )
        )
    return item_id


async def item(services: Services, item_id: int) -> InboxItem:
    async with services.db.session() as session:
        found = await session.get(InboxItem, item_id)
    assert found is not None
    return found


async def process(
    services: Services, document: dict[str, Any], *, sender: str | None = None
) -> str:
    """Deliver one activity, run the worker once, and return the item's final state."""
    item_id = await deliver(services, document, sender=sender)
    assert await run_once(services) == 1
    found = await item(services, item_id)
    assert found.last_error is None, found.last_error
    return found.state


async def reprocess(services: Services, item_id: int) -> str:
    """Put a processed item back in the queue and run it again (idempotency checks)."""
    async with services.db.transaction() as session:
        row = await session.get(InboxItem, item_id)
        assert row is not None
        row.state, row.processed_at = "pending", None
        session.add(row)
    assert await run_once(services) == 1
    return (await item(services, item_id)).state


async def rows(services: Services, model: type[SQLModel], **where: Any) -> list[Any]:
    stmt = select(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    async with services.db.session() as session:
        return list((await session.exec(stmt)).all())


async def reload(services: Services, model: type[SQLModel], key: int) -> Any:
    async with services.db.session() as session:
        return await session.get(model, key)


async def actor_row(services: Services, ap_id: str) -> Actor | None:
    found = await rows(services, Actor, ap_id=ap_id)
    return found[0] if found else None


async def image_post(services: Services, author: Actor, caption: str = "A lighthouse") -> Post:
    return await create_post(
        services,
        author,
        [Upload(png_bytes(96, 64, seed=3), "a.png", description="a lighthouse")],
        PostFields(caption=caption),
    )


def reply_with_image(peer: Peer, author: str, parent: str, number: int = 1) -> dict[str, Any]:
    """Mastodon's 2018 Create{Note} with one image, pointed at the peer, replying to
    ``parent``; the peer serves the image (a real PNG) and the note itself."""
    image = peer.put_file(f"/media/{number}.png", png_bytes(160, 120, seed=number), "image/png")
    note_id = f"{author}/statuses/{number}"
    create = adapt(
        "mastodon-create-note-with-attachment-2018.json",
        {STATUS_2018: note_id, ADMIN: author, IMAGE_2018: image},
    )
    create["object"]["inReplyTo"] = parent
    create["object"]["content"] = f"<p>What a view! <script>alert({number})</script></p>"
    create["object"]["attachment"][0]["name"] = "a red lighthouse"
    peer.put(f"/users/{author.rsplit('/', 1)[-1]}/statuses/{number}", create["object"])
    return create
