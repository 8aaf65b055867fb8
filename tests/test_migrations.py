"""The migrations produce exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database
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
    await db.dispose()
    assert differences == [], differences
    assert mode == "wal" and fks == 1
