"""Apply Alembic migrations from inside the program (no alembic.ini needed).

Every ``tessera`` command that opens the database first brings it to the newest schema.
On a database that is already current - every start but the first after an upgrade -
that used to cost the import of Alembic (and Mako, through it) and a walk of the
migration scripts: about a tenth of a second of start-up and several megabytes that
stayed resident for the life of the server. ``ensure_current`` answers that common case
with one ``SELECT`` against ``alembic_version`` and a read of the revision ids in the
scripts' source, and imports Alembic only when something is left to apply.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str = "") -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _assigned(tree: ast.Module, name: str) -> object:
    """The literal assigned to a module-level ``name`` (plain or annotated assignment)."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        else:
            continue
        if name in targets and node.value is not None:
            return ast.literal_eval(node.value)
    raise ValueError(f"no literal {name} in a migration script")


@cache
def script_heads() -> frozenset[str]:
    """The head revision(s) of the scripts, read from their source without Alembic.

    A revision is a head when no other script names it as ``down_revision``. The scripts
    are parsed, not imported (importing them would import Alembic's ``op``);
    ``tests/test_migrations.py`` checks the answer against Alembic's own.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        revisions.add(str(_assigned(tree, "revision")))
        down = _assigned(tree, "down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


async def applied_heads(db: Database) -> frozenset[str]:
    """The revisions recorded in the database (empty before the first migration)."""
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return frozenset(str(r[0]) for r in rows)
    except (OperationalError, ProgrammingError):  # no alembic_version table yet
        return frozenset()


async def ensure_current(db: Database) -> bool:
    """Bring the schema to the newest revision; True when something was applied."""
    if await applied_heads(db) == script_heads():
        return False
    await upgrade(db)
    return True


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction."""
    from alembic import command

    cfg = alembic_config(db.url)

    def _do(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_do)


async def pending(db: Database) -> list[str]:
    """Revisions not yet applied (empty when the schema is current)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(db.url))

    def _current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with db.engine.connect() as conn:
        heads = await conn.run_sync(_current)
    todo = []
    for rev in script.walk_revisions():
        if rev.revision in heads:
            break
        todo.append(rev.revision)
    return list(reversed(todo))
