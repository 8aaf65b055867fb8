"""Sign-up in every registration mode, sign-in, sessions, CSRF and the admin pages."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from storage.models import Actor, LocalUser, WebSession
from tests.conftest import csrf_from, sign_in


async def signup(client: httpx.AsyncClient, name: str, **extra: str) -> httpx.Response:
    token = await csrf_from(client, "/login")  # one token per browser, valid for every form
    data = {
        "csrf_token": token,
        "username": name,
        "password": "a good password",
        "password_confirm": "a good password",
        **extra,
    }
    return await client.post("/signup", data=data)


async def user_count(services) -> int:
    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(LocalUser))).one())


async def test_open_signup_signs_in(client, services):
    response = await signup(client, "newbie")
    assert response.status_code == 303
    home = await client.get("/")
    assert "@newbie" in home.text and "Sign out" in home.text


@pytest.mark.parametrize("config_overrides", [{"instance": {"registrations": "closed"}}])
async def test_closed_signup_refused(client, services):
    page = await client.get("/signup")
    assert "closed" in page.text
    response = await client.post(
        "/signup",
        data={
            "csrf_token": re.search(r'value="([^"]+)"', (await client.get("/login")).text).group(1),
            "username": "x",
            "password": "a good password",
            "password_confirm": "a good password",
        },
    )
    assert response.status_code == 403
    assert await user_count(services) == 0


@pytest.mark.parametrize("config_overrides", [{"instance": {"registrations": "approval"}}])
async def test_approval_queue(client, services, make_user):
    missing_reason = await signup(client, "hopeful")
    assert missing_reason.status_code == 422 and "why you want to join" in missing_reason.text
    pending = await signup(client, "hopeful", reason="I make watercolour-style SDXL art")
    assert pending.status_code == 200 and "waiting for a moderator" in pending.text
    refused = await sign_in(client, "hopeful", "a good password")
    assert refused.status_code == 403 and "approval" in refused.text
    # an admin approves
    await make_user("boss", "boss password", is_admin=True)
    await sign_in(client, "boss", "boss password")
    admin = await client.get("/admin")
    assert "watercolour-style" in admin.text
    async with services.db.session() as session:
        actor = (await session.exec(select(Actor).where(Actor.username == "hopeful"))).one()
    token = await csrf_from(client, "/admin")
    decided = await client.post(
        f"/admin/signups/{actor.id}", data={"csrf_token": token, "decision": "approve"}
    )
    assert decided.status_code == 303
    await client.post("/logout", data={"csrf_token": token})
    assert (await sign_in(client, "hopeful", "a good password")).status_code == 303


@pytest.mark.parametrize("config_overrides", [{"instance": {"registrations": "invite"}}])
async def test_invite_links(client, services, make_user):
    assert (await signup(client, "stranger")).status_code == 403
    await make_user("boss", "boss password", is_admin=True)
    await sign_in(client, "boss", "boss password")
    token = await csrf_from(client, "/admin")
    created = await client.post(
        "/admin/invites", data={"csrf_token": token, "max_uses": "1", "expires": "1d"}
    )
    assert created.status_code == 303
    code = re.search(r"/invite/([A-Za-z0-9_-]+)", (await client.get("/admin")).text).group(1)
    await client.post("/logout", data={"csrf_token": token})
    assert "You were invited" in (await client.get(f"/invite/{code}")).text
    assert (await signup(client, "friend", invite=code)).status_code == 303
    await client.post("/logout", data={"csrf_token": await csrf_from(client, "/")})
    used_up = await signup(client, "second", invite=code)
    assert used_up.status_code == 403 or "used up" in used_up.text
    assert await user_count(services) == 2


async def test_wrong_password_and_rate_limit(client, make_user):
    await make_user("alice", "correct horse battery")
    for _ in range(10):
        wrong = await sign_in(client, "alice", "nope nope nope")
        assert wrong.status_code == 403 and "Wrong username or password" in wrong.text
    limited = await sign_in(client, "alice", "correct horse battery")
    assert limited.status_code == 429 and "Too many" in limited.text
    assert int(limited.headers["retry-after"]) > 0


async def test_signout_ends_session(client, alice, services):
    assert "Sign out" in (await client.get("/")).text
    token = await csrf_from(client, "/")
    await client.post("/logout", data={"csrf_token": token})
    assert "Sign in" in (await client.get("/")).text
    async with services.db.session() as session:
        assert (await session.exec(select(func.count()).select_from(WebSession))).one() == 0
    assert (await client.get("/compose")).status_code == 303


async def test_session_cookie_is_signed_and_flagged(client, make_user, services):
    await make_user("alice", "correct horse battery")
    response = await sign_in(client, "alice", "correct horse battery")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    value = client.cookies["tessera_session"]
    token, _, signature = value.rpartition(".")
    assert token and signature
    assert "Sign out" in (await client.get("/")).text
    # the stored token hash matches, but a cookie with a forged signature is ignored
    for forged in (token + ".forged", token, value):
        client.cookies.clear()
        client.cookies.set("tessera_session", forged)
        signed_in = "Sign out" in (await client.get("/")).text
        assert signed_in == (forged == value), forged


async def test_forms_without_csrf_are_refused(client, alice, services):
    for path, data in [
        ("/logout", {}),
        ("/settings/password", {"current_password": "x"}),
        ("/settings/profile", {"display_name": "hacked"}),
    ]:
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
    wrong = await client.post(
        "/settings/profile", data={"display_name": "hacked", "csrf_token": "0" * 64}
    )
    assert wrong.status_code == 403
    async with services.db.session() as session:
        actor = (await session.exec(select(Actor).where(Actor.username == "alice"))).one()
    assert actor.display_name == "alice"


async def test_disabled_user_cannot_sign_in(client, services, make_user):
    from services.accounts import set_disabled

    await make_user("alice", "correct horse battery")
    await set_disabled(services, "alice", True)
    response = await sign_in(client, "alice", "correct horse battery")
    assert response.status_code == 403 and "disabled" in response.text
    assert (await client.get("/@alice")).status_code == 404


async def test_admin_disables_and_promotes(client, services, make_user):
    await make_user("boss", "boss password", is_admin=True)
    await make_user("bob", "bob password")
    await sign_in(client, "boss", "boss password")
    token = await csrf_from(client, "/admin")
    assert (
        await client.post("/admin/users/bob", data={"csrf_token": token, "action": "make_admin"})
    ).status_code == 303
    assert (
        await client.post("/admin/users/bob", data={"csrf_token": token, "action": "disable"})
    ).status_code == 303
    own = await client.post("/admin/users/boss", data={"csrf_token": token, "action": "disable"})
    assert own.status_code == 422
    async with services.db.session() as session:
        bob = (
            await session.exec(
                select(LocalUser)
                .join(Actor, Actor.id == LocalUser.actor_id)
                .where(Actor.username == "bob")
            )
        ).one()
    assert bob.is_admin and bob.disabled


async def test_admin_page_needs_admin(client, alice):
    assert (await client.get("/admin")).status_code == 403


async def test_settings_profile_and_password(client, alice):
    from tests.imagegen import png_bytes

    token = await csrf_from(client, "/settings")
    saved = await client.post(
        "/settings/profile",
        data={"csrf_token": token, "display_name": "Alice A.", "bio": "I paint with #flux"},
        files=[("avatar", ("me.png", png_bytes(200, 200), "image/png"))],
    )
    assert saved.status_code == 200 and "Profile saved" in saved.text
    profile = (await client.get("/@alice")).text
    assert "Alice A." in profile and 'href="http://gallery.test/tags/flux"' in profile
    assert re.search(r'class="avatar large" src="http://gallery.test/media/', profile)
    bad = await client.post(
        "/settings/password",
        data={
            "csrf_token": token,
            "current_password": "wrong",
            "new_password": "brand new pass",
            "new_password_confirm": "brand new pass",
        },
    )
    assert bad.status_code == 422
    good = await client.post(
        "/settings/password",
        data={
            "csrf_token": token,
            "current_password": "correct horse battery",
            "new_password": "brand new pass",
            "new_password_confirm": "brand new pass",
        },
    )
    assert good.status_code == 200 and "Password changed" in good.text


async def test_unknown_pages_are_404_html_and_json(client):
    page = await client.get("/@nobody")
    assert page.status_code == 404 and "No such account" in page.text
    api = await client.get("/@nobody", headers={"accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"error": "No such account."}


async def test_settings_header_image_shows_on_the_profile_and_in_the_api(client, alice, services):
    """The header chosen in Settings is stored at display size, drawn across the top of
    the profile, federated as the actor's ``image``, and a replaced
    header's file is removed."""
    from storage.models import Actor as ActorRow
    from tests.imagegen import png_bytes

    assert 'class="profile-header"' not in (await client.get("/@alice")).text
    keys = []
    for seed in (1, 2):
        token = await csrf_from(client, "/settings")
        saved = await client.post(
            "/settings/profile",
            data={"csrf_token": token, "display_name": "Alice", "bio": ""},
            files=[("header", ("banner.png", png_bytes(1500, 500, seed=seed), "image/png"))],
        )
        assert saved.status_code == 200 and "Profile saved" in saved.text
        async with services.db.session() as session:
            row = await session.get(ActorRow, alice.id)
        assert row.header_key and row.avatar_key is None  # the avatar was left alone
        keys.append(row.header_key)
        profile = (await client.get("/@alice")).text
        assert f'class="profile-header" src="http://gallery.test/media/{row.header_key}"' in (
            profile
        )
        account = (
            await client.get("/users/alice", headers={"accept": "application/activity+json"})
        ).json()
        assert account["image"]["url"] == f"http://gallery.test/media/{row.header_key}"
    assert keys[0] != keys[1]
    assert not services.blobs.exists(keys[0])  # the first header's file is gone
    assert services.blobs.exists(keys[1])


async def test_settings_refuses_a_header_that_is_not_an_image(client, alice, services):
    """A bad header file is a 4xx on the settings page and leaves the profile and the
    media folder as they were, even with a good avatar sent beside it."""
    from storage.models import Actor as ActorRow
    from tests.imagegen import png_bytes

    media_root = services.config.media.root
    before = sorted(p for p in media_root.rglob("*") if p.is_file())
    token = await csrf_from(client, "/settings")
    refused = await client.post(
        "/settings/profile",
        data={"csrf_token": token, "display_name": "Changed", "bio": ""},
        files=[
            ("avatar", ("me.png", png_bytes(200, 200, seed=3), "image/png")),
            ("header", ("banner.png", b"not an image at all", "image/png")),
        ],
    )
    assert 400 <= refused.status_code < 500
    assert 'class="error" role="alert"' in refused.text
    async with services.db.session() as session:
        row = await session.get(ActorRow, alice.id)
    assert row.header_key is None and row.avatar_key is None
    assert row.display_name != "Changed"
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == before
