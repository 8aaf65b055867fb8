"""Two Tessera instances on two loopback ports federating through the real protocol:
WebFinger, signed fetches, signed deliveries, inbox verification and the workers."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import select

from services.accounts import create_user
from storage.models import Follow, MediaAttachment, Post
from tests.e2e.live import csrf, eventually, live_instance, signed_in
from tests.imagegen import png_bytes

PASSWORD = "correct horse battery"


async def test_follow_post_like_boost_reply_undo_delete(
    tmp_path: Path, migrated_template: Path
) -> None:
    async with (
        live_instance(tmp_path / "a", migrated_template) as a,
        live_instance(tmp_path / "b", migrated_template) as b,
    ):
        await create_user(a.services, "alice", PASSWORD)
        await create_user(b.services, "bob", PASSWORD)
        alice = await signed_in(a, "alice", PASSWORD)
        bob = await signed_in(b, "bob", PASSWORD)
        b_domain = b.base.removeprefix("http://")
        bob_handle = f"@bob@{b_domain}"

        # alice finds bob with WebFinger and follows him
        found = await alice.get("/search", params={"q": bob_handle})
        assert found.status_code == 303 and found.headers["location"] == f"/{bob_handle}"
        profile = await alice.get(f"/{bob_handle}")
        assert profile.status_code == 200 and "Follow" in profile.text
        followed = await alice.post(
            f"/{bob_handle}/follow", data={"csrf_token": await csrf(alice, "/")}
        )
        assert followed.status_code == 303

        async def follow_state(instance, state):  # type: ignore[no-untyped-def]
            async with instance.services.db.session() as session:
                rows = (await session.exec(select(Follow))).all()
                return rows if rows and all(f.state == state for f in rows) else None

        await eventually(lambda: follow_state(a, "accepted"))  # bob's server sent Accept
        await eventually(lambda: follow_state(b, "accepted"))

        # bob posts three images; alice sees them in her home timeline, served from A
        alts = ["red dawn", "blue noon", "violet dusk"]
        token = await csrf(bob, "/compose")
        posted = await bob.post(
            "/compose",
            data={
                "csrf_token": token,
                "caption": "Three hours #sky",
                "visibility": "public",
                "alt": alts,
            },
            files=[
                ("images", (f"{i}.png", png_bytes(320, 240, seed=50 + i), "image/png"))
                for i in range(3)
            ],
        )
        assert posted.status_code == 303

        async def home_shows_cover() -> str | None:
            page = (await alice.get("/home")).text
            return page if f'alt="{alts[0]}"' in page else None

        await eventually(home_shows_cover)

        async def remote_post() -> Post | None:
            async with a.services.db.session() as session:
                return (await session.exec(select(Post).where(Post.local.is_(False)))).first()

        post = await eventually(remote_post)
        async with a.services.db.session() as session:
            media = (
                await session.exec(
                    select(MediaAttachment)
                    .where(MediaAttachment.post_id == post.id)
                    .order_by(MediaAttachment.position)
                )
            ).all()
        assert [m.description for m in media] == alts
        assert all(m.original_key for m in media), "remote images must be stored locally"
        page = await alice.get(f"/{bob_handle}/{post.id}")
        assert page.status_code == 200
        for url in set(re.findall(r'src="(http://127\.0\.0\.1:\d+/media/[^"]+)"', page.text)):
            assert url.startswith(a.base), "never hot-link the other server"
            assert (await alice.get(url)).status_code == 200

        # alice likes, boosts and replies; bob sees each
        token = await csrf(alice, "/")
        assert (
            await alice.post(f"/posts/{post.id}/like", data={"csrf_token": token})
        ).status_code == 303
        assert (
            await alice.post(f"/posts/{post.id}/boost", data={"csrf_token": token})
        ).status_code == 303
        assert (
            await alice.post(
                f"/posts/{post.id}/reply", data={"csrf_token": token, "caption": "Gorgeous light!"}
            )
        ).status_code == 303

        async def bob_post() -> Post | None:
            async with b.services.db.session() as session:
                row = (
                    await session.exec(
                        select(Post).where(Post.local.is_(True), Post.in_reply_to_id.is_(None))
                    )
                ).first()
                return (
                    row
                    if row
                    and row.likes_count == 1
                    and row.boosts_count == 1
                    and row.replies_count == 1
                    else None
                )

        original = await eventually(bob_post)
        notifications = (await bob.get("/notifications")).text
        for phrase in (
            "followed you",
            "liked your post",
            "boosted your post",
            "replied to your post",
        ):
            assert phrase in notifications, phrase
        assert "Gorgeous light!" in (await bob.get(f"/@bob/{original.id}")).text

        # undo propagates
        await alice.post(f"/posts/{post.id}/unlike", data={"csrf_token": token})
        await alice.post(f"/posts/{post.id}/unboost", data={"csrf_token": token})

        async def undone() -> bool:
            async with b.services.db.session() as session:
                row = await session.get(Post, original.id)
                return bool(row and row.likes_count == 0 and row.boosts_count == 0)

        await eventually(undone)

        # bob deletes his post; alice's copy and its files go away
        token_b = await csrf(bob, "/")
        assert (
            await bob.post(f"/@bob/{original.id}/delete", data={"csrf_token": token_b})
        ).status_code == 303

        async def gone() -> bool:
            async with a.services.db.session() as session:
                return await session.get(Post, post.id) is None

        await eventually(gone)
        assert 'alt="red dawn"' not in (await alice.get("/home")).text
