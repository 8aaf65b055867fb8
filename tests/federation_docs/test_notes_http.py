"""Notes for posts: images as Documents, warnings, addressing, deleted and hidden posts."""

from __future__ import annotations

import re

from tests.conftest import csrf_from
from tests.federation_docs.helpers import AP, BASE, BROWSER, LD_AS, get_ap, publish_post
from tests.imagegen import A1111_PARAMETERS, png_bytes
from tests.web.helpers import publish

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
FOLLOWERS = f"{BASE}/users/alice/followers"


async def note(client, post_id: int, accept: str = AP):  # type: ignore[no-untyped-def]
    return await get_ap(client, f"/users/alice/statuses/{post_id}", accept)


async def test_six_images_in_order(client, alice) -> None:
    alts = [f"view number {i}" for i in range(5)] + [""]
    focus = ["0.5,-0.25"] + [""] * 5
    post_id = await publish_post(client, 6, alts=alts, focus=focus, caption="Six #Tiles")
    response = await note(client, post_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/activity+json; charset=utf-8"
    assert "accept" in response.headers["vary"].lower()
    doc = response.json()
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"
    terms = doc["@context"][1]
    assert terms["blurhash"] == "toot:blurhash" and terms["sensitive"] == "as:sensitive"
    assert doc["id"] == f"{BASE}/users/alice/statuses/{post_id}"
    assert doc["type"] == "Note"
    assert doc["attributedTo"] == f"{BASE}/users/alice"
    assert doc["url"] == f"{BASE}/@alice/{post_id}"
    assert doc["summary"] is None and doc["sensitive"] is False
    assert doc["inReplyTo"] is None
    assert "updated" not in doc
    assert doc["to"] == [PUBLIC] and doc["cc"] == [FOLLOWERS]

    attachments = doc["attachment"]
    assert [a["width"] for a in attachments] == [64 + i * 8 for i in range(6)]
    assert [a["name"] for a in attachments] == [*alts[:5], None]
    assert [a["summary"] for a in attachments] == [*alts[:5], None]
    for item in attachments:
        assert item["type"] == "Document"
        assert item["mediaType"] == "image/png"
        assert item["height"] == 48
        assert isinstance(item["blurhash"], str) and len(item["blurhash"]) >= 6
        assert item["url"].startswith(f"{BASE}/media/")
        served = await client.get(item["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
    assert attachments[0]["focalPoint"] == [0.5, -0.25]
    assert attachments[1]["focalPoint"] == [0.0, 0.0]

    more = re.search(r'<a href="([^"]+)">\+2 more</a>', doc["content"])
    assert more and more.group(1) == f"{BASE}/@alice/{post_id}"
    assert doc["tag"] == [{"type": "Hashtag", "href": f"{BASE}/tags/tiles", "name": "#Tiles"}]
    assert doc["replies"]["id"] == f"{doc['id']}/replies"
    assert doc["replies"]["type"] == "Collection"
    assert doc["likes"] == {"id": f"{doc['id']}/likes", "type": "Collection", "totalItems": 0}
    assert doc["shares"]["totalItems"] == 0


async def test_four_images_have_no_more_link(client, alice) -> None:
    doc = (await note(client, await publish_post(client, 4, caption="four"))).json()
    assert len(doc["attachment"]) == 4
    assert "more</a>" not in doc["content"]


async def test_content_warning_and_ai_metadata(client, alice) -> None:
    image = [("a.png", png_bytes(80, 60, parameters=A1111_PARAMETERS))]
    response = await publish(client, image, caption="Dusk", content_warning="flashing light")
    post_id = int(response.headers["location"].rsplit("/", 1)[1])
    doc = (await note(client, post_id)).json()
    assert doc["summary"] == "flashing light"
    assert doc["sensitive"] is True
    assert doc["tessera:prompt"].startswith("a lighthouse on a cliff")
    assert doc["tessera:model"] == "sd_xl_base_1.0"
    assert doc["@context"][1]["tessera"] == f"{BASE}/ns#"
    plain = (await note(client, await publish_post(client, seed=9))).json()
    assert "tessera:prompt" not in plain and "tessera:model" not in plain


async def test_unlisted_addressing(client, alice) -> None:
    doc = (await note(client, await publish_post(client, visibility="unlisted"))).json()
    assert doc["to"] == [FOLLOWERS]
    assert doc["cc"] == [PUBLIC]


async def test_followers_only_is_not_served_unsigned(client, alice) -> None:
    post_id = await publish_post(client, visibility="followers")
    assert (await note(client, post_id)).status_code == 404
    assert (await get_ap(client, f"/@alice/{post_id}", AP)).status_code == 404


async def test_deleted_post_answers_410_tombstone(client, alice) -> None:
    post_id = await publish_post(client)
    token = await csrf_from(client, f"/@alice/{post_id}")
    deleted = await client.post(f"/@alice/{post_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    response = await note(client, post_id)
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("application/activity+json")
    doc = response.json()
    assert doc["id"] == f"{BASE}/users/alice/statuses/{post_id}"
    assert doc["type"] == "Tombstone"
    assert doc["formerType"] == "Note"
    assert doc["deleted"].endswith("Z")
    assert (await get_ap(client, f"/@alice/{post_id}", AP)).status_code == 410


async def test_unknown_post_and_wrong_author(client, alice, make_user) -> None:
    post_id = await publish_post(client)
    await make_user("bob")
    assert (await get_ap(client, "/users/alice/statuses/12345")).status_code == 404
    assert (await get_ap(client, f"/users/bob/statuses/{post_id}")).status_code == 404


async def test_post_urls_negotiate(client, alice) -> None:
    post_id = await publish_post(client)
    browser = await note(client, post_id, BROWSER)
    assert browser.status_code == 302
    assert browser.headers["location"] == f"{BASE}/@alice/{post_id}"
    assert "accept" in browser.headers["vary"].lower()

    page_json = await get_ap(client, f"/@alice/{post_id}", LD_AS)
    assert page_json.status_code == 200
    assert page_json.json() == (await note(client, post_id)).json()
    assert "accept" in page_json.headers["vary"].lower()

    html = await get_ap(client, f"/@alice/{post_id}", BROWSER)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "accept" in html.headers["vary"].lower()


async def test_edited_post_has_updated(client, alice) -> None:
    post_id = await publish_post(client, caption="before")
    token = await csrf_from(client, f"/@alice/{post_id}/edit")
    edited = await client.post(
        f"/@alice/{post_id}/edit",
        data={"csrf_token": token, "caption": "after", "visibility": "public"},
    )
    assert edited.status_code == 303
    doc = (await note(client, post_id)).json()
    assert "after" in doc["content"]
    assert doc["updated"].endswith("Z")
    assert doc["updated"] >= doc["published"]
