"""Seed a benchmark database: accounts, posts with images, hashtags and follows.

This is set-up, not the measured work, so rows go in with batched ``executemany`` through
SQLAlchemy core on the SQLite file (100,000 posts through ``create_post`` would take an
hour of image processing). What pages read must still be real: every post has real
attachments whose blobs exist on disk (a few images processed by the real media pipeline,
shared among posts), hashtag rows the tag pages join through, accepted follows the home
timeline filters on, and local users with a real argon2 password hash so the benchmark can
sign in through ``/login`` like a browser.

The schema comes from the real migrations. Column defaults come from the SQLModel classes
(``_defaults``), so a column added to a model later is filled the way the app fills it.
"""

from __future__ import annotations

import asyncio
import io
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin
from sqlalchemy import create_engine, insert
from sqlmodel import SQLModel

from federation.keys import generate_rsa_keypair
from federation.urls import Urls
from media.pipeline import process_image
from services.passwords import hash_password
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.home_feed import rebuild_statement
from storage.migrate import upgrade
from storage.models import Actor, Follow, Hashtag, LocalUser, MediaAttachment, Post, PostHashtag

PASSWORD = "benchmark password 1"
A1111 = (
    "a lighthouse on a cliff at dusk, volumetric light, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567, Size: 1024x1024, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0"
)
TAGS = [f"tag{i:02d}" for i in range(50)]
BATCH = 5000


@dataclass(frozen=True)
class SeedSize:
    accounts: int = 1000
    posts: int = 100_000
    follows_per_user: int = 200

    @property
    def key(self) -> str:
        # "hf": databases seeded before home feeds existed are not reused from the cache.
        return f"a{self.accounts}-p{self.posts}-f{self.follows_per_user}-hf"


def noisy_png(width: int, height: int, seed: int, *, parameters: str | None = A1111) -> bytes:
    """A PNG with real detail (gradient + noise + tint) and A1111 generation parameters, so
    the encoders and the metadata reader do the work a real AI image makes them do."""
    rnd = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    overlay = Image.effect_noise((width, height), 40 + seed % 7).convert("RGB")
    image = Image.blend(image, overlay, 0.35)
    tint = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
    image = Image.blend(image, tint, 0.4)
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _defaults(model: type[SQLModel], **required: Any) -> dict[str, Any]:
    """Every column of ``model`` with the value the app would give it by default."""
    row = model(**required).model_dump()
    columns = {c.name for c in model.__table__.columns}  # type: ignore[attr-defined]
    return {k: v for k, v in row.items() if k in columns}


def _ids(moments: list[datetime], rnd: random.Random) -> list[int]:
    """Time-ordered ids like ``storage.ids.new_id`` for given (sorted) moments."""
    out: list[int] = []
    last = 0
    for moment in moments:
        candidate = (int(moment.timestamp() * 1000) << 16) | rnd.getrandbits(12)
        candidate = max(candidate, last + 1)
        out.append(candidate)
        last = candidate
    return out


def _images(blobs: LocalBlobStore, count: int = 4) -> list[dict[str, Any]]:
    """A few real images through the real pipeline; their renditions are shared by posts."""
    out = []
    for i in range(count):
        done = process_image(noisy_png(1024 + 128 * i, 1024 - 96 * i, seed=100 + i))
        out.append(
            {
                "original_key": blobs.put(done.original.data, done.original.ext),
                "original_mime": done.original.mime,
                "original_size": len(done.original.data),
                "display_key": blobs.put(done.display.data, done.display.ext),
                "thumb_key": blobs.put(done.thumbnail.data, done.thumbnail.ext),
                "width": done.width,
                "height": done.height,
                "display_width": done.display.width,
                "display_height": done.display.height,
                "thumb_width": done.thumbnail.width,
                "thumb_height": done.thumbnail.height,
                "blurhash": done.blurhash,
                "source_format": done.format,
                "a1111_parameters": done.generation.a1111_parameters,
            }
        )
    return out


def _insert(conn: Any, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start : start + BATCH])


def seed_database(db_path: Path, media_root: Path, base_url: str, size: SeedSize) -> dict:
    """Create and fill a database at ``db_path``; return facts the benchmarks need."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(media_root, ignore_errors=True)
    media_root.mkdir(parents=True)

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    rnd = random.Random(5)
    urls = Urls(base_url)
    now = datetime.now(UTC)
    keys = [generate_rsa_keypair() for _ in range(4)]
    password_hash = hash_password(PASSWORD)
    images = _images(LocalBlobStore(media_root))

    joined = sorted(
        now - timedelta(days=400, seconds=rnd.randrange(86400)) for _ in range(size.accounts)
    )
    actor_ids = _ids(joined, rnd)
    actor_base = _defaults(Actor, id=0, username="x", username_lower="x", ap_id="x")
    user_base = _defaults(LocalUser, actor_id=0, password_hash="x")
    actors, users, names = [], [], []
    for i, actor_id in enumerate(actor_ids):
        name = f"user{i:04d}"
        names.append(name)
        private_pem, public_pem = keys[i % len(keys)]
        actors.append(
            {
                **actor_base,
                "id": actor_id,
                "username": name,
                "username_lower": name,
                "display_name": f"User {i}",
                "ap_id": urls.actor(name),
                "url": urls.profile(name),
                "inbox_url": urls.inbox(name),
                "shared_inbox_url": urls.shared_inbox(),
                "outbox_url": urls.outbox(name),
                "followers_url": urls.followers(name),
                "following_url": urls.following(name),
                "key_id": urls.key_id(name),
                "public_key_pem": public_pem,
                "private_key_pem": private_pem,
                "created_at": joined[i],
                "updated_at": joined[i],
            }
        )
        users.append(
            {
                **user_base,
                "actor_id": actor_id,
                "password_hash": password_hash,
                "created_at": joined[i],
            }
        )

    moments = sorted(
        now - timedelta(seconds=rnd.uniform(60, 60 * 86400)) for _ in range(size.posts)
    )
    post_ids = _ids(moments, rnd)
    post_base = _defaults(Post, id=0, actor_id=0, ap_id="x")
    media_base = _defaults(MediaAttachment, id=0, actor_id=0)
    tag_ids = _ids(sorted(now - timedelta(days=500, seconds=i) for i in range(len(TAGS))), rnd)
    posts, media, post_tags = [], [], []
    media_moments = sorted(moments + moments[: size.posts // 10])
    media_ids = iter(_ids(media_moments, rnd))
    for i, (post_id, moment) in enumerate(zip(post_ids, moments, strict=True)):
        author = rnd.randrange(size.accounts)
        name = names[author]
        roll = rnd.random()
        visibility = "public" if roll < 0.9 else ("unlisted" if roll < 0.95 else "followers")
        tag = TAGS[i % len(TAGS)]
        caption = f"Seeded image {i} #{tag}"
        posts.append(
            {
                **post_base,
                "id": post_id,
                "actor_id": actor_ids[author],
                "ap_id": urls.post_id(name, post_id),
                "url": urls.post_page(name, post_id),
                "visibility": visibility,
                "caption_source": caption,
                "content_html": f'<p>Seeded image {i} <a href="{urls.tag(tag)}" class="mention hashtag" rel="tag">#<span>{tag}</span></a></p>',
                "prompt": "a lighthouse on a cliff at dusk",
                "model_name": "sd_xl_base_1.0",
                "likes_count": rnd.randrange(20),
                "created_at": moment,
            }
        )
        post_tags.append({"post_id": post_id, "hashtag_id": tag_ids[i % len(TAGS)]})
        for position in range(2 if i % 10 == 0 else 1):
            image = images[(i + position) % len(images)]
            media.append(
                {
                    **media_base,
                    **image,
                    "id": next(media_ids),
                    "actor_id": actor_ids[author],
                    "post_id": post_id,
                    "position": position,
                    "description": f"Alt text for image {i}.{position}",
                    "created_at": moment,
                }
            )
    follow_base = _defaults(Follow, id=0, follower_id=0, followee_id=0)
    follows = []
    follow_moments = sorted(
        now - timedelta(days=300, seconds=rnd.randrange(86400 * 30))
        for _ in range(size.accounts * size.follows_per_user)
    )
    follow_ids = iter(_ids(follow_moments, rnd))
    for follower in range(size.accounts):
        others = [
            a for a in rnd.sample(range(size.accounts), size.follows_per_user + 1) if a != follower
        ]
        for followee in others[: size.follows_per_user]:
            follows.append(
                {
                    **follow_base,
                    "id": next(follow_ids),
                    "follower_id": actor_ids[follower],
                    "followee_id": actor_ids[followee],
                    "state": "accepted",
                    "ap_id": None,
                }
            )
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        _insert(conn, Actor, actors)
        _insert(conn, LocalUser, users)
        _insert(
            conn,
            Hashtag,
            [{"id": t, "name": n, "display_name": n} for t, n in zip(tag_ids, TAGS, strict=True)],
        )
        _insert(conn, Post, posts)
        _insert(conn, MediaAttachment, media)
        _insert(conn, PostHashtag, post_tags)
        _insert(conn, Follow, follows)
        # Home feeds as the app would hold them: each account's newest lines, in SQL.
        for actor_id in actor_ids:
            conn.execute(rebuild_statement(actor_id))
        feed_rows = conn.exec_driver_sql("SELECT count(*) FROM home_feed_entry").scalar()
    with engine.connect() as conn:  # no ANALYZE: the app never runs it, so neither do we
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    by_id = dict(zip(actor_ids, names, strict=True))
    sample_posts = [
        (by_id[p["actor_id"]], p["id"])
        for p in rnd.sample(posts, 500)
        if p["visibility"] == "public"
    ]
    return {
        "base_url": base_url,
        "accounts": names,
        "password": PASSWORD,
        "tags": TAGS,
        "sample_posts": sample_posts,
        "post_ids": [post_ids[0], post_ids[-1]],
        "rows": {
            "actor": len(actors),
            "post": len(posts),
            "media_attachment": len(media),
            "follow": len(follows),
            "post_hashtag": len(post_tags),
            "home_feed_entry": feed_rows,
        },
    }
