"""On PostgreSQL, the migrations produce exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database
from storage.migrate import pending
from storage.models import ALL_TABLES
from tessera.config import Config


async def test_models_match_migrations_on_postgresql(config: Config) -> None:
    db = Database(config.database.url)

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), ALL_TABLES)

    try:
        assert await pending(db) == []
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(diff)
            dialect = conn.dialect.name
    finally:
        await db.dispose()
    assert dialect == "postgresql"
    assert differences == [], differences
