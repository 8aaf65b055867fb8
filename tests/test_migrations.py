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
