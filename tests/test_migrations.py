"""The migrations produce exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import SQLITE_CACHE_KIB, Database
from storage.migrate import pending, upgrade
from storage.models import ALL_TABLES


async def test_models_match_migrations(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    assert await pending(db) != []
    await upgrade(db)
    assert await pending(db) == []

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), ALL_TABLES)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        cache = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar()
    await db.dispose()
    assert differences == [], differences
    assert mode == "wal" and fks == 1
    assert cache == -SQLITE_CACHE_KIB  # negative: KiB, not pages


def test_heads_read_from_the_scripts_match_alembic() -> None:
    """The start-up fast path parses the scripts instead of asking Alembic: same answer."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, script_heads

    expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert set(script_heads()) == expected
    assert len(expected) == 1, "two heads: merge the migration branches"


async def test_ensure_current_applies_once_then_only_reads(tmp_path: Path) -> None:
    from storage.migrate import applied_heads, ensure_current, script_heads

    fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    behind = Database(f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}")
    try:
        assert await applied_heads(fresh) == frozenset()
        assert await ensure_current(fresh) is True
        assert await applied_heads(fresh) == script_heads()
        assert await pending(fresh) == []
        assert await ensure_current(fresh) is False
        # A database left at an older revision is brought forward, not skipped.
        await upgrade(behind, "0001")
        assert await applied_heads(behind) == frozenset({"0001"})
        assert await ensure_current(behind) is True
        assert await pending(behind) == []
    finally:
        await fresh.dispose()
        await behind.dispose()


async def test_reply_counts_are_recounted_to_public_and_unlisted_replies(tmp_path: Path) -> None:
    """0007: counts written when every reply counted are computed again (a followers-only
    or direct reply no longer shows in its parent's count)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    now = "2026-11-24 00:00:00"
    actor = (
        "INSERT INTO actor (id, username, username_lower, actor_type, display_name,"
        " bio_source, bio_html, ap_id, manually_approves_followers, discoverable, suspended,"
        " created_at, updated_at) VALUES (1, 'a', 'a', 'Person', '', '', '', 'https://x/a',"
        f" 0, 1, 0, '{now}', '{now}')"
    )

    def post(pid: int, parent: int | None, visibility: str, replies: int) -> str:
        return (
            "INSERT INTO post (id, actor_id, ap_id, local, visibility, caption_source,"
            " content_html, content_warning, sensitive, prompt, model_name, likes_count,"
            " boosts_count, replies_count, created_at, in_reply_to_id) VALUES"
            f" ({pid}, 1, 'https://x/p/{pid}', 1, '{visibility}', '', '', '', 0, '', '', 0, 0,"
            f" {replies}, '{now}', {'NULL' if parent is None else parent})"
        )

    try:
        await upgrade(db, "0006")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(actor)
            await conn.exec_driver_sql(post(1, None, "public", 4))  # was: every reply
            await conn.exec_driver_sql(post(3, None, "public", 7))  # was: plain wrong
            for pid, visibility in ((10, "public"), (11, "unlisted"), (12, "followers")):
                await conn.exec_driver_sql(post(pid, 1, visibility, 0))
            await conn.exec_driver_sql(post(13, 1, "direct", 0))
        await upgrade(db)
        async with db.engine.connect() as conn:
            counts = dict((await conn.exec_driver_sql("SELECT id, replies_count FROM post")).all())
    finally:
        await db.dispose()
    assert counts == {1: 2, 3: 0, 10: 0, 11: 0, 12: 0, 13: 0}
