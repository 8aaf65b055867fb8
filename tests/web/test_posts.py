"""Publishing through the web form, end to end: HTTP in, files and rows out."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from services.context import Services
from storage.models import MediaAttachment, Post, PostHashtag, Tombstone
from tests.conftest import csrf_from
from tests.imagegen import A1111_PARAMETERS, jpeg_with_gps, png_bomb, png_bytes, truncated_png
from tests.web.helpers import media_urls, publish


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def count(services: Services, model: type) -> int:
    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_upload_shows_every_image_with_alt_text(client: httpx.AsyncClient, alice, services):
    images = [(f"img{i}.png", png_bytes(300 + i * 10, 200, seed=i)) for i in range(3)]
    alts = ["A red lighthouse", "Waves on rocks", "A gull in flight"]
    response = await publish(client, images, alts=alts, caption="Three views #seaside")
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    for alt in alts:
        assert f'alt="{alt}"' in page.text
    assert page.text.count('<figure class="image"') == 3
    assert 'href="http://gallery.test/tags/seaside"' in page.text
    # each image has original, display and thumbnail, all served from our domain
    for url in media_urls(page.text):
        served = await client.get(url)
        assert served.status_code == 200
        assert served.headers["cache-control"].startswith("public")
    # the gallery and the tag page show it
    assert "A red lighthouse" in (await client.get("/")).text
    assert "A red lighthouse" in (await client.get("/tags/seaside")).text
    assert await count(services, MediaAttachment) == 3


async def test_served_files_carry_no_exif_or_gps(client, alice):
    response = await publish(client, [("camera.jpg", jpeg_with_gps(orientation=6))], alts=["x"])
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    urls = media_urls(page.text)
    assert len(urls) == 3
    for url in urls:
        body = (await client.get(url)).content
        assert b"SecretCameraMaker" not in body
        assert b"Model X-Ray" not in body
        image = Image.open(io.BytesIO(body))
        exif = image.getexif()
        assert 0x8825 not in exif and 0x010F not in exif, f"{url} still has EXIF {dict(exif)}"
    # orientation 6 means the stored 800x600 pixels are shown as 600x800
    assert 'width="600" height="800"' in page.text or "600w" in page.text


async def test_generation_metadata_kept_and_prompt_prefilled(client, alice, services):
    response = await publish(client, [("gen.png", png_bytes(parameters=A1111_PARAMETERS))])
    assert response.status_code == 303
    async with services.db.session() as session:
        media = (await session.exec(select(MediaAttachment))).one()
        post = (await session.exec(select(Post))).one()
    assert media.a1111_parameters == A1111_PARAMETERS
    assert post.prompt.startswith("a lighthouse on a cliff at dusk")
    assert post.model_name == "sd_xl_base_1.0"
    page = await client.get(response.headers["location"])
    assert "sd_xl_base_1.0" in page.text
    # the served original has no text chunk left
    original = [u for u in media_urls(page.text) if u.endswith(".png")]
    assert original
    body = (await client.get(original[0])).content
    assert b"Negative prompt" not in body and b"parameters" not in body


async def test_deleted_post_leaves_no_orphan_files_and_answers_410(client, alice, services, config):
    response = await publish(client, [("a.png", png_bytes(seed=11)), ("b.png", png_bytes(seed=12))])
    post_url = response.headers["location"]
    assert len(stored_files(config.media.root)) == 6
    token = await csrf_from(client, post_url)
    post_id = post_url.rsplit("/", 1)[1]
    deleted = await client.post(f"/@alice/{post_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert stored_files(config.media.root) == []
    assert await count(services, MediaAttachment) == 0
    assert await count(services, PostHashtag) == 0
    assert await count(services, Tombstone) == 1
    assert (await client.get(post_url)).status_code == 410


async def test_shared_image_survives_deleting_one_of_two_posts(client, alice, config):
    image = png_bytes(seed=21)
    first = await publish(client, [("a.png", image)])
    second = await publish(client, [("a.png", image)])
    files = stored_files(config.media.root)
    assert len(files) == 3  # same bytes, same files
    token = await csrf_from(client, first.headers["location"])
    await client.post(
        first.headers["location"].replace("gallery.test", "gallery.test") + "/delete",
        data={"csrf_token": token},
    )
    assert stored_files(config.media.root) == files
    page = await client.get(second.headers["location"])
    for url in media_urls(page.text):
        assert (await client.get(url)).status_code == 200


async def refused(client, services, config, response: httpx.Response, message: str) -> None:
    assert response.status_code in (400, 413, 422), response.status_code
    assert message in response.text
    assert await count(services, Post) == 0
    assert await count(services, MediaAttachment) == 0
    assert stored_files(config.media.root) == []


async def test_non_image_is_refused_and_nothing_saved(client, alice, services, config):
    response = await publish(client, [("notes.png", b"these are not the pixels you want")])
    await refused(client, services, config, response, "not an image")


async def test_truncated_image_refused(client, alice, services, config):
    response = await publish(client, [("half.png", truncated_png())])
    await refused(client, services, config, response, "Image 1 (half.png)")


async def test_bomb_refused_from_header(client, alice, services, config):
    response = await publish(client, [("bomb.png", png_bomb())])
    await refused(client, services, config, response, "(100,000,000 pixels)")


async def test_second_bad_image_leaves_first_unsaved(client, alice, services, config):
    response = await publish(
        client, [("good.png", png_bytes(seed=5)), ("bad.png", truncated_png())]
    )
    await refused(client, services, config, response, "Image 2 (bad.png)")


async def test_too_many_images_refused(client, alice, services, config):
    images = [(f"{i}.png", png_bytes(64, 64, seed=i)) for i in range(11)]
    response = await publish(client, images)
    await refused(client, services, config, response, "at most 10 images")


async def test_empty_post_refused(client, alice, services, config):
    token = await csrf_from(client, "/compose")
    response = await client.post("/compose", data={"csrf_token": token, "caption": "hello"})
    await refused(client, services, config, response, "at least one image")


async def test_oversized_upload_refused(client, alice, services, config):
    big = png_bytes(2500, 2500, seed=9)  # a real PNG, padded past the limit
    limit = config.media.max_upload_bytes
    response = await publish(client, [("big.png", big + b"\0" * (limit - len(big) + 1))])
    await refused(client, services, config, response, "the limit is 16.0 MB")


async def test_post_without_csrf_token_is_refused(client, alice, services, config):
    response = await client.post(
        "/compose",
        data={"caption": "sneaky"},
        files=[("images", ("x.png", png_bytes(64, 64), "image/png"))],
    )
    assert response.status_code == 403
    assert await count(services, Post) == 0
    assert stored_files(config.media.root) == []


async def test_edit_caption_and_alt_text(client, alice, services):
    response = await publish(client, [("a.png", png_bytes())], alts=["old alt"], caption="old #one")
    url = response.headers["location"]
    async with services.db.session() as session:
        media = (await session.exec(select(MediaAttachment))).one()
    token = await csrf_from(client, url + "/edit")
    edited = await client.post(
        url + "/edit",
        data={
            "csrf_token": token,
            "caption": "new words #two",
            f"alt_{media.id}": "new alt",
            "visibility": "public",
        },
    )
    assert edited.status_code == 303
    page = (await client.get(url)).text
    assert 'alt="new alt"' in page and "new words" in page and "old alt" not in page
    assert "new alt" in (await client.get("/tags/two")).text
    assert "new alt" not in (await client.get("/tags/one")).text


async def test_others_cannot_edit_or_delete(client, alice, make_user, services):
    response = await publish(client, [("a.png", png_bytes())])
    url = response.headers["location"]
    await make_user("mallory", "mallory password")
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/")})
    from tests.conftest import sign_in

    await sign_in(client, "mallory", "mallory password")
    token = await csrf_from(client, "/")
    post_id = url.rsplit("/", 1)[1]
    assert (await client.get(url + "/edit")).status_code == 404
    attempt = await client.post(f"/@alice/{post_id}/delete", data={"csrf_token": token})
    assert attempt.status_code == 403
    assert await count(services, Post) == 1


async def test_followers_only_post_hidden_from_strangers(client, alice, services):
    response = await publish(
        client, [("a.png", png_bytes())], alts=["private view"], visibility="followers"
    )
    url = response.headers["location"]
    assert "private view" in (await client.get(url)).text
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/")})
    assert (await client.get(url)).status_code == 404
    assert "private view" not in (await client.get("/@alice")).text
    assert "private view" not in (await client.get("/")).text


async def test_like_and_boost_counts(client, alice, services):
    response = await publish(client, [("a.png", png_bytes())])
    url = response.headers["location"]
    post_id = url.rsplit("/", 1)[1]
    token = await csrf_from(client, url)
    assert (
        await client.post(f"/posts/{post_id}/like", data={"csrf_token": token})
    ).status_code == 303
    assert (
        await client.post(f"/posts/{post_id}/boost", data={"csrf_token": token})
    ).status_code == 303
    await client.post(f"/posts/{post_id}/like", data={"csrf_token": token})  # idempotent
    page = (await client.get(url)).text
    assert "1 likes" in page and "1 boosts" in page
    await client.post(f"/posts/{post_id}/unlike", data={"csrf_token": token})
    assert "0 likes" in (await client.get(url)).text


async def test_gallery_paginates_by_cursor(client, alice):
    for i in range(33):
        await publish(client, [(f"{i}.png", png_bytes(32, 32, seed=100 + i))], alts=[f"tile {i}"])
    first = await client.get("/")
    assert first.text.count('class="tile"') == 30
    import re

    next_url = re.search(r'href="(/\?max_id=\d+)" rel="next"', first.text)
    assert next_url
    second = await client.get(next_url.group(1).replace("&amp;", "&"))
    assert second.text.count('class="tile"') == 3
    assert 'alt="tile 0"' in second.text and 'alt="tile 0"' not in first.text
    assert (await client.get("/?max_id=abc")).status_code == 400


async def test_opengraph_and_feed(client, alice):
    response = await publish(
        client, [("a.png", png_bytes())], alts=["the alt"], caption="Dusk #sky"
    )
    url = response.headers["location"]
    page = (await client.get(url)).text
    assert '<meta property="og:image" content="http://gallery.test/media/' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert '<meta property="og:image:alt" content="the alt">' in page
    profile = (await client.get("/@alice")).text
    assert 'property="og:title"' in profile and "application/atom+xml" in profile
    feed = await client.get("/@alice.atom")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    from xml.etree import ElementTree

    root = ElementTree.fromstring(feed.content)
    entries = root.findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 1
    assert "the alt" in entries[0].find("{http://www.w3.org/2005/Atom}content").text


async def test_security_headers(client):
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp.replace("style-src-attr 'unsafe-inline'", "")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
