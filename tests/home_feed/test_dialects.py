"""The feed's statements in PostgreSQL's words, not only SQLite's.

The suite runs on SQLite; these compile what the feed and migration 0005 would send to
PostgreSQL and check the parts that differ between the two (found in review: SQLite's
``INSERT OR IGNORE`` and unary ``+`` are syntax errors there, and an untyped literal id
would be taken for a 32-bit integer that our ids overflow).
"""

from __future__ import annotations

import importlib.util

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from storage import home_feed
from storage.migrate import MIGRATIONS

BIG_ID = 2**62 + 5


def _lines() -> object:
    return select(
        home_feed._id(1), home_feed._id(BIG_ID), home_feed._id(BIG_ID), None, home_feed._id(2)
    )


def test_feed_inserts_skip_duplicates_in_each_dialect() -> None:
    pg = str(home_feed._insert(_lines(), "postgresql").compile(dialect=postgresql.dialect()))
    assert pg.startswith("INSERT INTO home_feed_entry") and pg.rstrip().endswith(
        "ON CONFLICT DO NOTHING"
    )
    assert "OR IGNORE" not in pg
    assert pg.count("::BIGINT") == 4  # every id typed 64-bit
    lite = str(home_feed._insert(_lines()).compile(dialect=sqlite.dialect()))
    assert lite.startswith("INSERT OR IGNORE INTO home_feed_entry")


def test_migration_0005_backfill_in_each_dialect() -> None:
    path = MIGRATIONS / "versions" / "0005_home_feed.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pg = module.backfill_sql("postgresql")
    assert "OR IGNORE" not in pg and "+p." not in pg
    assert "ON CONFLICT DO NOTHING" in pg and ") AS lines" in pg
    lite = module.backfill_sql("sqlite")
    assert "INSERT OR IGNORE" in lite and "+p.visibility" in lite and "ON CONFLICT" not in lite
